/* Whole pages from mmap, for large tensor buffers (see pages.h). */
#define _DEFAULT_SOURCE   /* MAP_ANONYMOUS, madvise */
#include "pages.h"

#include <sys/mman.h>
#include <unistd.h>

/* Its poisoning macros are no-ops unless AddressSanitizer is on. */
#include <sanitizer/asan_interface.h>

/* Buffers of 2 MB and more ask for transparent huge pages: one fault per 2 MB instead of
 * 512, where the kernel is set to grant them on request ("madvise"). */
#define HUGE_PAGE_BYTES ((size_t)2 << 20)

size_t graft_page_size(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

size_t graft_pages_round(size_t bytes) {
    size_t page = graft_page_size();
    return (bytes + page - 1) / page * page;
}

void *graft_pages_map(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_PAGE_BYTES) madvise(p, bytes, MADV_HUGEPAGE);   /* a hint: may fail */
#endif
    return p;
}

void graft_pages_unmap(void *p, size_t bytes) {
    graft_pages_show(p, bytes);   /* the shadow must not outlive the mapping */
    munmap(p, bytes);
}

void graft_pages_hide(void *p, size_t bytes) {
    ASAN_POISON_MEMORY_REGION(p, bytes);
}

void graft_pages_show(void *p, size_t bytes) {
    ASAN_UNPOISON_MEMORY_REGION(p, bytes);
}
