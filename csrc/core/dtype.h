/* Element types: f32 for compute, i64 for indices and labels, u8 for raw pixels and masks. */
#ifndef GRAFT_DTYPE_H
#define GRAFT_DTYPE_H

#include <stddef.h>

typedef enum { GRAFT_F32 = 0, GRAFT_I64 = 1, GRAFT_U8 = 2 } graft_dtype;
#define GRAFT_NUM_DTYPES 3

size_t graft_dtype_size(graft_dtype dt);
const char *graft_dtype_name(graft_dtype dt);           /* "f32", "i64", "u8" */
int graft_dtype_from_name(const char *name, graft_dtype *out); /* 1 if known */
/* The type two operands of an arithmetic op compute in, as PyTorch promotes: f32 > i64 > u8. */
graft_dtype graft_dtype_promote(graft_dtype a, graft_dtype b);

#endif
