/* graft_vexpf and graft_vsigmoidf (csrc/ops/vecmath.h) against libm in double precision:
 * every 997th float in the range e^x is computed over, the clamped ends, NaN. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../../csrc/ops/vecmath.h"
#include "tap.h"

static float from_bits(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

int main(void) {
    tap_plan(6);
    double worst_exp = 0, worst_sig = 0;
    long checked = 0;
    for (uint64_t b = 0; b < 0x100000000ull; b += 997) {
        float x = from_bits((uint32_t)b);
        if (x != x || fabsf(x) > 87.0f) continue;
        double e = exp((double)x), rel = fabs(graft_vexpf(x) - e) / e;
        if (rel > worst_exp) worst_exp = rel;
        double s = 1.0 / (1.0 + exp(-(double)x)), srel = fabs(graft_vsigmoidf(x) - s) / s;
        if (srel > worst_sig) worst_sig = srel;
        checked++;
    }
    printf("# %ld values; worst relative error: exp %.3g, sigmoid %.3g (float epsilon %.3g)\n", checked, worst_exp,
           worst_sig, (double)FLT_EPSILON);
    tap_ok(checked > 2000000, "the sweep covers millions of floats");
    tap_ok(worst_exp <= 2.5 * FLT_EPSILON, "graft_vexpf is within 2.5 float epsilons of exp over [-87, 87]");
    tap_ok(worst_sig <= 3.0 * FLT_EPSILON, "graft_vsigmoidf is within 3 float epsilons of the logistic function");
    tap_ok(graft_vsigmoidf(-200.0f) < 1e-37f && graft_vsigmoidf(-200.0f) >= 0.0f && graft_vsigmoidf(200.0f) == 1.0f,
           "sigmoid saturates to 0 and 1 without overflow");
    tap_ok(isfinite(graft_vexpf(1000.0f)) && graft_vexpf(-1000.0f) > 0.0f, "e^x is clamped, never inf or 0");
    tap_ok(graft_vsigmoidf(NAN) != graft_vsigmoidf(NAN), "sigmoid of NaN is NaN");
    return tap_done();
}
