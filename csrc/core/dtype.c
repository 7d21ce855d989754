/* dtype names, sizes and promotion. */
#include "dtype.h"

#include <string.h>

static const char *const names[GRAFT_NUM_DTYPES] = {"f32", "i64", "u8"};
static const size_t sizes[GRAFT_NUM_DTYPES] = {4, 8, 1};

size_t graft_dtype_size(graft_dtype dt) { return sizes[dt]; }

const char *graft_dtype_name(graft_dtype dt) { return names[dt]; }

int graft_dtype_from_name(const char *name, graft_dtype *out) {
    for (int i = 0; i < GRAFT_NUM_DTYPES; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (graft_dtype)i;
            return 1;
        }
    }
    return 0;
}

graft_dtype graft_dtype_promote(graft_dtype a, graft_dtype b) {
    if (a == GRAFT_F32 || b == GRAFT_F32) return GRAFT_F32;
    if (a == GRAFT_I64 || b == GRAFT_I64) return GRAFT_I64;
    return GRAFT_U8;
}
