/* CPU features and the instruction set graft's kernels use. */
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
static graft_isa chosen;
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

static void choose(void) {
    chosen = graft_cpu_best();
    const char *forced = getenv("GRAFT_ISA");
    if (!forced || !*forced) return;
    for (int i = 0; i < 3; i++)
        if (strcmp(forced, names[i]) == 0) {
            if (!graft_cpu_has((graft_isa)i)) {
                chosen_status = graft_error_set(&chosen_error, GRAFT_EINVAL,
                                                "GRAFT_ISA=%s, but this CPU has no %s (it runs %s)", forced,
                                                i == GRAFT_ISA_AVX512 ? "AVX-512F and FMA" : "AVX2 and FMA",
                                                names[chosen]);
                chosen = GRAFT_ISA_GENERIC;
                return;
            }
            chosen = (graft_isa)i;
            return;
        }
    chosen_status = graft_error_set(&chosen_error, GRAFT_EINVAL,
                                    "GRAFT_ISA=%.40s is not one of avx512, avx2, generic", forced);
    chosen = GRAFT_ISA_GENERIC;
}

graft_status graft_cpu_isa(graft_isa *isa, graft_error *err) {
    pthread_mutex_lock(&choice_lock);
    if (!decided) choose(), decided = true;
    graft_status st = chosen_status;
    *isa = chosen;
    if (st != GRAFT_OK && err) *err = chosen_error;
    pthread_mutex_unlock(&choice_lock);
    return st;
}

graft_isa graft_isa_in_use(void) {
    graft_isa isa;
    graft_cpu_isa(&isa, NULL);
    return isa;
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
