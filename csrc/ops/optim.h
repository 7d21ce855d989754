/* Optimizer updates on contiguous f32 arrays of n elements, in place, following
 * torch.optim's single-tensor formulas exactly. */
#ifndef GRAFT_OPS_OPTIM_H
#define GRAFT_OPS_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, first;   /* first: the momentum buffer starts as the gradient */
} graft_sgd_opts;

/* p -= lr * d, d = g + wd p, with momentum: buf = m buf + (1 - dampening) d (buf = d at the
 * first step), d = nesterov ? d + m buf : buf. buf may be NULL when momentum is 0. */
void graft_sgd_update(float *p, const float *g, float *buf, int64_t n, const graft_sgd_opts *o);

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    int64_t step;           /* the step being taken, from 1 */
    bool decoupled;         /* AdamW: p *= 1 - lr wd instead of g += wd p */
} graft_adam_opts;

/* m, v: the running averages of g and g^2, updated in place. */
void graft_adam_update(float *p, const float *g, float *m, float *v, int64_t n, const graft_adam_opts *o);

#endif
