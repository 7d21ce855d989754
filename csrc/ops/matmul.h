/* Matrix products with torch.matmul's rules: 1-D x 1-D is a dot product, 2-D x 2-D a
 * matrix product, and N-D operands are stacks of matrices whose batch dims broadcast; a
 * 1-D operand is a row (left) or column (right) vector whose dim is dropped again. f32 runs
 * on graft's GEMM (gemm.h; cblas_sgemm with GRAFT_GEMM=openblas), reading transposed views
 * without copying; integer dtypes use a plain loop in i64. */
#ifndef GRAFT_OPS_MATMUL_H
#define GRAFT_OPS_MATMUL_H

#include "../core/tensor.h"

/* out (empty header) = a @ b. */
graft_status graft_matmul(graft_ctx *ctx, graft_tensor *out, const graft_tensor *a,
                          const graft_tensor *b, graft_error *err);

/* C (m, n; row stride ldc) = alpha * op(A) op(B) + beta * C on row-major f32 data, where
 * op(X) is X or its transpose: graft's GEMM, or cblas_sgemm where GRAFT_GEMM=openblas. */
void graft_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                 float *c, int64_t ldc);

#endif
