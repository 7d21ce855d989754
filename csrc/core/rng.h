/* A seedable random generator (xoshiro256**, seeded through splitmix64). Its state is
 * plain data owned by whoever holds it (a lua_State's context, a loader's sample), so
 * two states never share one. */
#ifndef GRAFT_RNG_H
#define GRAFT_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} graft_rng;

#define GRAFT_RNG_STATE_BYTES 32

void graft_rng_seed(graft_rng *r, uint64_t seed);
/* Seeds from several words (e.g. seed, epoch, index): distinct tuples give unrelated streams. */
void graft_rng_seed_words(graft_rng *r, const uint64_t *words, int n);
uint64_t graft_rng_u64(graft_rng *r);
double graft_rng_uniform(graft_rng *r);                 /* [0, 1), 53 bits */
int64_t graft_rng_integer(graft_rng *r, int64_t lo, int64_t hi); /* [lo, hi], unbiased; lo <= hi */
void graft_rng_fill_uniform(graft_rng *r, float *out, int64_t n, float lo, float hi);
void graft_rng_fill_normal(graft_rng *r, float *out, int64_t n, float mean, float std);

#endif
