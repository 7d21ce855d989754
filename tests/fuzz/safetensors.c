/* Fuzzes the safetensors reader: the header's validation (graft_st_open), then every
 * tensor's read and conversion (graft_st_read), as graft.load does. */
#include "../../csrc/core/ctx.h"
#include "../../csrc/io/safetensors.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    graft_ctx ctx;
    graft_ctx_init(&ctx, 0);
    graft_error err;
    graft_st_file f;
    if (graft_st_open(&f, NULL, fuzz_file(data, size, ".safetensors"), &err) == GRAFT_OK) {
        for (int i = 0; i < f.n; i++) {
            graft_tensor t;
            graft_tensor_init_empty(&t);
            if (graft_st_read(&f, i, &ctx, &t, &err) == GRAFT_OK) graft_tensor_release(&t);
        }
        graft_st_close(&f);
    }
    graft_ctx_close(&ctx);
    return 0;
}
