/* The strided walk behind every elementwise op. */
#include "iter.h"

#include <string.h>

#include "threads.h"

void graft_iter_init(graft_iter *it, int nops, const graft_tensor *const *ops) {
    const graft_tensor *t0 = ops[0];
    it->nops = nops;
    it->numel = graft_tensor_numel(t0);
    int nd = 0;
    /* Drop size-1 dims, then merge dim i into the following one where every operand
     * steps over it as if the two were one dim. */
    for (int d = 0; d < t0->ndim; d++) {
        if (t0->size[d] == 1) continue;
        int64_t sz = t0->size[d];
        if (nd > 0) {
            int mergeable = 1;
            for (int k = 0; k < nops; k++)
                if (it->step[k][nd - 1] != ops[k]->stride[d] * sz *
                                               (int64_t)graft_dtype_size(ops[k]->dtype))
                    mergeable = 0;
            if (mergeable) {
                it->size[nd - 1] *= sz;
                for (int k = 0; k < nops; k++)
                    it->step[k][nd - 1] = ops[k]->stride[d] * (int64_t)graft_dtype_size(ops[k]->dtype);
                continue;
            }
        }
        it->size[nd] = sz;
        for (int k = 0; k < nops; k++)
            it->step[k][nd] = ops[k]->stride[d] * (int64_t)graft_dtype_size(ops[k]->dtype);
        nd++;
    }
    if (nd == 0) {
        it->size[0] = 1;
        for (int k = 0; k < nops; k++) it->step[k][0] = 0;
        nd = 1;
    }
    it->ndim = nd;
    for (int k = 0; k < nops; k++) it->base[k] = graft_tensor_data(ops[k]);
}

/* Runs rows [r0, r1), a row being one innermost run. */
static void run_rows(const graft_iter *it, graft_iter_fn fn, const void *arg, int64_t r0,
                     int64_t r1) {
    int last = it->ndim - 1, nops = it->nops;
    int64_t idx[GRAFT_MAX_DIMS] = {0};
    char *p[GRAFT_ITER_MAX_OPS];
    int64_t rem = r0;
    for (int d = last - 1; d >= 0; d--) {
        idx[d] = rem % it->size[d];
        rem /= it->size[d];
    }
    for (int k = 0; k < nops; k++) {
        p[k] = it->base[k];
        for (int d = 0; d < last; d++) p[k] += idx[d] * it->step[k][d];
    }
    int64_t inner_step[GRAFT_ITER_MAX_OPS];
    for (int k = 0; k < nops; k++) inner_step[k] = it->step[k][last];
    for (int64_t r = r0; r < r1; r++) {
        fn(p, inner_step, it->size[last], arg);
        for (int d = last - 1; d >= 0; d--) {   /* odometer increment of the outer index */
            for (int k = 0; k < nops; k++) p[k] += it->step[k][d];
            if (++idx[d] < it->size[d]) break;
            for (int k = 0; k < nops; k++) p[k] -= it->step[k][d] * it->size[d];
            idx[d] = 0;
        }
    }
}

void graft_iter_run(const graft_iter *it, graft_iter_fn fn, const void *arg, int cost) {
    if (it->numel == 0) return;
    int last = it->ndim - 1;
    int64_t rows = it->numel / it->size[last];
    int nt = graft_threads_for(it->numel * (cost > 0 ? cost : 1));
    if (nt <= 1) {
        run_rows(it, fn, arg, 0, rows);
    } else if (rows < nt) {
        /* Few long runs (often one, when everything is contiguous): split each run. */
        int64_t n = it->size[last];
        int64_t step[GRAFT_ITER_MAX_OPS];
        for (int k = 0; k < it->nops; k++) step[k] = it->step[k][last];
        for (int64_t r = 0; r < rows; r++) {
                    char *start[GRAFT_ITER_MAX_OPS];
            int64_t rem = r;
            for (int k = 0; k < it->nops; k++) start[k] = it->base[k];
            for (int d = last - 1; d >= 0; d--) {
                for (int k = 0; k < it->nops; k++) start[k] += (rem % it->size[d]) * it->step[k][d];
                rem /= it->size[d];
            }
#pragma omp parallel for num_threads(nt) schedule(static)
            for (int t = 0; t < nt; t++) {
                int64_t a = n * t / nt, b = n * (t + 1) / nt;
                char *p[GRAFT_ITER_MAX_OPS];
                for (int k = 0; k < it->nops; k++) p[k] = start[k] + a * step[k];
                if (b > a) fn(p, step, b - a, arg);
            }
        }
    } else {
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int t = 0; t < nt; t++) {
            int64_t a = rows * t / nt, b = rows * (t + 1) / nt;
            if (b > a) run_rows(it, fn, arg, a, b);
        }
    }
}
