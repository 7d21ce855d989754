/* Large tensor buffers taken straight from the OS as whole pages. malloc keeps freed
 * memory of this size on its heap (glibc raises its mmap threshold after the first large
 * free), so a training loop's resident size grew by hundreds of megabytes past what its
 * tensors held; pages given back with munmap leave at once. Whole pages can also be split
 * and joined again, which the block cache in ctx.c uses to reuse them for other sizes. */
#ifndef GRAFT_PAGES_H
#define GRAFT_PAGES_H

#include <stddef.h>

/* Smaller buffers come from malloc. Above this size malloc's heap trims and grows again as
 * a loop frees and takes buffers (a fresh page fault each time: 450 per resnet18 forward
 * at 256 KB), where the block cache keeps them resident. */
#define GRAFT_PAGES_MIN_BYTES ((size_t)64 << 10)

size_t graft_page_size(void);
/* bytes rounded up to whole pages. */
size_t graft_pages_round(size_t bytes);
/* Fresh zeroed pages (bytes a multiple of the page size), or NULL. */
void *graft_pages_map(size_t bytes);
/* Returns pages to the OS; any page-aligned part of what graft_pages_map gave may be
 * returned on its own, and adjacent parts together. */
void graft_pages_unmap(void *p, size_t bytes);
/* Under AddressSanitizer, marks pages that no tensor owns (cached, or the tail past a
 * tensor's end) so that a stray access is reported; no-ops otherwise. */
void graft_pages_hide(void *p, size_t bytes);
void graft_pages_show(void *p, size_t bytes);

#endif
