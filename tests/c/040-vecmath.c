/* graft_vexpf, graft_vsigmoidf and graft_vnormcdff (csrc/ops/vecmath.h) against libm in
 * double precision: every 997th float in the range e^x is computed over, the clamped ends,
 * NaN. */
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
    tap_plan(9);
    double worst_exp = 0, worst_sig = 0, worst_cdf_abs = 0, worst_tail_rel = 0;
    long checked = 0;
    for (uint64_t b = 0; b < 0x100000000ull; b += 997) {
        float x = from_bits((uint32_t)b);
        if (x != x || fabsf(x) > 87.0f) continue;
        double e = exp((double)x), rel = fabs(graft_vexpf(x) - e) / e;
        if (rel > worst_exp) worst_exp = rel;
        double s = 1.0 / (1.0 + exp(-(double)x)), srel = fabs(graft_vsigmoidf(x) - s) / s;
        if (srel > worst_sig) worst_sig = srel;
        double phi = 0.5 * erfc(-(double)x / sqrt(2.0)), cdf_abs = fabs(graft_vnormcdff(x) - phi);
        if (cdf_abs > worst_cdf_abs) worst_cdf_abs = cdf_abs;
        if (x < 0 && x > -8 && cdf_abs / phi > worst_tail_rel) worst_tail_rel = cdf_abs / phi;
        checked++;
    }
    printf("# %ld values; worst relative error: exp %.3g, sigmoid %.3g (float epsilon %.3g)\n", checked, worst_exp,
           worst_sig, (double)FLT_EPSILON);
    printf("# normal CDF: worst absolute error %.3g, worst relative error in the lower tail (-8, 0) %.3g\n",
           worst_cdf_abs, worst_tail_rel);
    tap_ok(checked > 2000000, "the sweep covers millions of floats");
    tap_ok(worst_exp <= 2.5 * FLT_EPSILON, "graft_vexpf is within 2.5 float epsilons of exp over [-87, 87]");
    tap_ok(worst_sig <= 3.0 * FLT_EPSILON, "graft_vsigmoidf is within 3 float epsilons of the logistic function");
    tap_ok(graft_vsigmoidf(-200.0f) < 1e-37f && graft_vsigmoidf(-200.0f) >= 0.0f && graft_vsigmoidf(200.0f) == 1.0f,
           "sigmoid saturates to 0 and 1 without overflow");
    tap_ok(isfinite(graft_vexpf(1000.0f)) && graft_vexpf(-1000.0f) > 0.0f, "e^x is clamped, never inf or 0");
    tap_ok(graft_vsigmoidf(NAN) != graft_vsigmoidf(NAN), "sigmoid of NaN is NaN");
    tap_ok(worst_cdf_abs <= 4e-7, "graft_vnormcdff is within 4e-7 of the normal CDF (the formula's 7.5e-8, then float rounding)");
    tap_ok(worst_tail_rel <= 0.06, "... and within 6% relative in the lower tail down to -8, where 1 + erf would cancel");
    tap_ok(graft_vnormcdff(NAN) != graft_vnormcdff(NAN) && graft_vnormcdff(-INFINITY) == 0.0f &&
               graft_vnormcdff(INFINITY) == 1.0f, "the CDF of NaN is NaN; of -inf 0, of +inf 1");
    return tap_done();
}
