/* Tensor storage blocks: mmap from the size where malloc would itself switch to it anyway. */
#define _DEFAULT_SOURCE   /* MAP_ANONYMOUS */
#include "block.h"

#include <stdlib.h>
#include <sys/mman.h>

#define GRAFT_BLOCK_MMAP_BYTES ((size_t)128 << 10)

void *graft_block_alloc(size_t bytes) {
    if (bytes < GRAFT_BLOCK_MMAP_BYTES) return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void graft_block_free(void *p, size_t bytes) {
    if (!p) return;
    if (bytes < GRAFT_BLOCK_MMAP_BYTES) free(p);
    else munmap(p, bytes);
}
