/* What the CPU offers graft's kernels, and the paths they take, decided once per process
 * from its features (never from a table of models, which a CPU newer than the table falls
 * out of: Debian's OpenBLAS 0.3.21 runs its SSE3 kernels on Emerald Rapids) and from the
 * environment: GRAFT_ISA=avx512|avx2|generic forces an instruction set, GRAFT_GEMM=openblas
 * sends graft_sgemm's products to cblas_sgemm (default "graft"). Naming a set the CPU lacks,
 * or a value neither takes, is an error graft_paths_chosen reports. */
#ifndef GRAFT_CPU_H
#define GRAFT_CPU_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef enum { GRAFT_ISA_GENERIC, GRAFT_ISA_AVX2, GRAFT_ISA_AVX512 } graft_isa;

typedef struct {
    graft_isa isa;      /* the instruction set graft's kernels use */
    bool gemm_on_blas;  /* GRAFT_GEMM=openblas */
} graft_paths;

/* The paths. The choice is made on the first call and never changes; a bad GRAFT_ISA or
 * GRAFT_GEMM makes every call fail with the same message (GRAFT_EINVAL). */
graft_status graft_paths_chosen(graft_paths *paths, graft_error *err);
/* The chosen set and GEMM, for kernels (whose callers checked graft_paths_chosen when the
 * module loaded); GRAFT_ISA_GENERIC and graft's GEMM if the choice failed. */
graft_isa graft_isa_in_use(void);
bool graft_gemm_on_blas(void);
/* Whether this CPU can run isa's kernels. */
int graft_cpu_has(graft_isa isa);
/* The widest set this CPU can run: what graft uses unless GRAFT_ISA says otherwise. */
graft_isa graft_cpu_best(void);
/* "avx512", "avx2" or "generic": the names GRAFT_ISA takes. */
const char *graft_isa_name(graft_isa isa);
/* The CPU's model name (cpuid's brand string, else /proc/cpuinfo's, else "unknown"), and its
 * family and model numbers (0 where not x86). */
void graft_cpu_model(char *name, size_t size, int *family, int *model);

#endif
