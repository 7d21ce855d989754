/* Walks several same-shaped strided operands element by element, calling a kernel once
 * per innermost run. Dims that are contiguous for every operand are merged first, so a
 * contiguous op is one long run; large walks are split across graft's threads. */
#ifndef GRAFT_ITER_H
#define GRAFT_ITER_H

#include <stdint.h>

#include "tensor.h"

#define GRAFT_ITER_MAX_OPS 4

typedef struct {
    int nops, ndim;                                      /* ndim >= 1 after merging */
    int64_t numel;
    int64_t size[GRAFT_MAX_DIMS];
    int64_t step[GRAFT_ITER_MAX_OPS][GRAFT_MAX_DIMS];   /* bytes */
    char *base[GRAFT_ITER_MAX_OPS];
} graft_iter;

/* p[k] points at operand k's first element of the run, step[k] is its byte step,
 * n the run length. arg is the caller's. Must not fail. */
typedef void (*graft_iter_fn)(char **p, const int64_t *step, int64_t n, const void *arg);

/* ops[k] must all have shape (ndim, size) -- broadcast inputs are expanded views
 * (stride 0) of their tensors. */
void graft_iter_init(graft_iter *it, int nops, const graft_tensor *const *ops);
/* Runs fn over every element; `cost` is a rough per-element cost used to decide on threads. */
void graft_iter_run(const graft_iter *it, graft_iter_fn fn, const void *arg, int cost);

#endif
