/* SGD and Adam(W) updates, elementwise and in parallel. */
#include "optim.h"

#include <math.h>

#include "../core/threads.h"

void graft_sgd_update(float *p, const float *g, float *buf, int64_t n, const graft_sgd_opts *o) {
    const float lr = (float)o->lr, wd = (float)o->weight_decay, mom = (float)o->momentum;
    const float damp = (float)(1.0 - o->dampening);
    int nt = graft_threads_for(n * 4);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0) d += wd * p[i];
        if (buf) {
            buf[i] = o->first ? d : mom * buf[i] + damp * d;
            d = o->nesterov ? d + mom * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

void graft_adam_update(float *p, const float *g, float *m, float *v, int64_t n, const graft_adam_opts *o) {
    const double bc1 = 1.0 - pow(o->beta1, (double)o->step), bc2 = 1.0 - pow(o->beta2, (double)o->step);
    const float step_size = (float)(o->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->eps, wd = (float)o->weight_decay;
    const float decay = (float)(1.0 - o->lr * o->weight_decay);
    int nt = graft_threads_for(n * 8);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        if (o->decoupled) p[i] *= decay;
        else if (wd != 0) gi += wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;      /* torch: lerp(m, g, 1 - b1) */
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}
