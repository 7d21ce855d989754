/* CPU features, and the paths graft's kernels take. */
#include "cpu.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#define X86 1
#else
#define X86 0
#endif

static const char *const names[] = {"generic", "avx2", "avx512"};

/* Set once, read-only afterwards; decided and read under a mutex (not pthread_once, whose
 * ordering Helgrind cannot see: tests/slow/870). */
static pthread_mutex_t choice_lock = PTHREAD_MUTEX_INITIALIZER;
static bool decided;
static graft_paths chosen;
static graft_error chosen_error;
static graft_status chosen_status;

const char *graft_isa_name(graft_isa isa) { return names[isa]; }

int graft_cpu_has(graft_isa isa) {
#if X86
    switch (isa) {
        case GRAFT_ISA_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
        case GRAFT_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        default: return 1;
    }
#else
    return isa == GRAFT_ISA_GENERIC;
#endif
}

graft_isa graft_cpu_best(void) {
    return graft_cpu_has(GRAFT_ISA_AVX512) ? GRAFT_ISA_AVX512
           : graft_cpu_has(GRAFT_ISA_AVX2) ? GRAFT_ISA_AVX2
                                            : GRAFT_ISA_GENERIC;
}

/* The instruction set GRAFT_ISA asks for, else the widest the CPU has. */
static graft_status choose_isa(graft_isa *isa, graft_error *err) {
    *isa = graft_cpu_best();
    const char *forced = getenv("GRAFT_ISA");
    if (!forced || !*forced) return GRAFT_OK;
    for (int i = 0; i < 3; i++)
        if (strcmp(forced, names[i]) == 0) {
            if (!graft_cpu_has((graft_isa)i))
                return graft_error_set(err, GRAFT_EINVAL, "GRAFT_ISA=%s, but this CPU has no %s (it runs %s)", forced,
                                       i == GRAFT_ISA_AVX512 ? "AVX-512F and FMA" : "AVX2 and FMA", names[*isa]);
            *isa = (graft_isa)i;
            return GRAFT_OK;
        }
    return graft_error_set(err, GRAFT_EINVAL, "GRAFT_ISA=%.40s is not one of avx512, avx2, generic", forced);
}

/* Whether GRAFT_GEMM sends products to the BLAS. */
static graft_status choose_gemm(bool *on_blas, graft_error *err) {
    const char *path = getenv("GRAFT_GEMM");
    *on_blas = path && strcmp(path, "openblas") == 0;
    if (!path || !*path || *on_blas || strcmp(path, "graft") == 0) return GRAFT_OK;
    return graft_error_set(err, GRAFT_EINVAL, "GRAFT_GEMM=%.40s is not one of graft, openblas", path);
}

static void choose(void) {
    chosen_status = choose_isa(&chosen.isa, &chosen_error);
    if (chosen_status == GRAFT_OK) chosen_status = choose_gemm(&chosen.gemm_on_blas, &chosen_error);
    if (chosen_status != GRAFT_OK) chosen = (graft_paths){GRAFT_ISA_GENERIC, false};
}

graft_status graft_paths_chosen(graft_paths *paths, graft_error *err) {
    pthread_mutex_lock(&choice_lock);
    if (!decided) choose(), decided = true;
    graft_status st = chosen_status;
    *paths = chosen;
    if (st != GRAFT_OK && err) *err = chosen_error;
    pthread_mutex_unlock(&choice_lock);
    return st;
}

graft_isa graft_isa_in_use(void) {
    graft_paths p;
    graft_paths_chosen(&p, NULL);
    return p.isa;
}

bool graft_gemm_on_blas(void) {
    graft_paths p;
    graft_paths_chosen(&p, NULL);
    return p.gemm_on_blas;
}

/* Trims leading and trailing blanks in place. */
static void trim(char *s) {
    size_t start = strspn(s, " \t"), len = strlen(s);
    while (len > start && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\t')) len--;
    memmove(s, s + start, len - start);
    s[len - start] = '\0';
}

void graft_cpu_model(char *name, size_t size, int *family, int *model) {
    *family = *model = 0;
    snprintf(name, size, "unknown");
#if X86
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        int base = (int)((a >> 8) & 0xF), ext = (int)((a >> 20) & 0xFF);
        *family = base == 0xF ? base + ext : base;
        *model = (int)((a >> 4) & 0xF);
        if (base == 0x6 || base == 0xF) *model |= (int)(((a >> 16) & 0xF) << 4);
    }
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned brand[12];
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &brand[4 * i], &brand[4 * i + 1], &brand[4 * i + 2], &brand[4 * i + 3]);
        char text[49];
        memcpy(text, brand, 48);
        text[48] = '\0';
        trim(text);
        if (*text) {
            snprintf(name, size, "%s", text);
            return;
        }
    }
#endif
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (colon && strncmp(line, "model name", 10) == 0) {
            trim(colon + 1);
            snprintf(name, size, "%s", colon + 1);
            break;
        }
    }
    fclose(f);
}
