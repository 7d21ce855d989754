/* Fuzzes the IDX reader (gzip-compressed or plain), as Fashion-MNIST's files are read. */
#include "../../csrc/core/ctx.h"
#include "../../csrc/io/idx.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    graft_ctx ctx;
    graft_ctx_init(&ctx, 0);
    graft_error err;
    graft_tensor t;
    if (graft_idx_read(&ctx, &t, fuzz_file(data, size, ".gz"), &err) == GRAFT_OK) graft_tensor_release(&t);
    graft_ctx_close(&ctx);
    return 0;
}
