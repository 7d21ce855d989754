/* Tensor storage blocks. Large blocks come straight from the kernel (mmap) and go straight
 * back (munmap): malloc would keep a freed block in its heap, so a process's memory would
 * stay at the high-water mark of every size it ever freed. The ctx's cache of freed blocks
 * (ctx.h) is what saves the page faults of fresh memory. */
#ifndef GRAFT_BLOCK_H
#define GRAFT_BLOCK_H

#include <stddef.h>

/* 64-byte aligned, or NULL. */
void *graft_block_alloc(size_t bytes);
/* bytes: as given to graft_block_alloc. */
void graft_block_free(void *p, size_t bytes);

#endif
