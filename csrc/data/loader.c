/* Worker pool: one mutex guards the queue of batches; each batch hands out its samples in
 * order and counts those finished. A waiting caller takes its own batch's samples too, so
 * nothing idles and a pool without threads still works. */
#include "loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../io/image.h"

typedef struct {
    graft_fimage img;
    graft_rng rng;
    graft_status status;
    graft_error err;
} sample_result;

struct graft_batch {
    graft_pool *pool;          /* NULL once the pool is gone */
    graft_batch *next;         /* the pool's queue, oldest first */
    int n, next_sample, started, finished;
    int cancelled;
    char **paths;
    uint64_t (*seeds)[3];
    graft_tf *steps;
    int nsteps, channels;
    int64_t max_pixels;
    sample_result *results;
};

struct graft_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;       /* a sample was queued, or stop */
    pthread_cond_t done;       /* a sample finished */
    graft_batch *queue;
    int stop;
    int nthreads;
    pthread_t *threads;
};

static void run_sample(graft_batch *b, int i) {
    sample_result *r = &b->results[i];
    graft_image img;
    graft_rng_seed_words(&r->rng, b->seeds[i], 3);
    r->status = graft_image_read(NULL, b->paths[i], b->max_pixels, &img, &r->err);
    if (r->status != GRAFT_OK) return;
    int c = b->channels ? b->channels : img.channels;
    r->status = graft_fimage_alloc(&r->img, c, img.height, img.width, &r->err);
    if (r->status == GRAFT_OK) r->status = graft_image_to_f32(&img, b->channels, r->img.data, &r->err);
    graft_image_free(&img);
    if (r->status == GRAFT_OK) r->status = graft_tf_apply(b->steps, b->nsteps, &r->rng, &r->img, &r->err);
    if (r->status != GRAFT_OK) {
        graft_fimage_free(&r->img);
        /* Messages from the kernels do not name the file; those from the decoders do. */
        if (!strstr(r->err.msg, b->paths[i])) {
            graft_error e = r->err;
            graft_error_set(&r->err, r->status, "%s: %s", b->paths[i], e.msg);
        }
    }
}

/* Takes the next sample of b (lock held); -1 when none is left. */
static int take(graft_batch *b) {
    if (b->cancelled || b->next_sample >= b->n) return -1;
    b->started++;
    return b->next_sample++;
}

/* Runs sample i of b outside the lock, then counts it (lock held on entry and exit). */
static void run_unlocked(graft_pool *pool, graft_batch *b, int i) {
    pthread_mutex_unlock(&pool->lock);
    run_sample(b, i);
    pthread_mutex_lock(&pool->lock);
    b->finished++;
    pthread_cond_broadcast(&pool->done);
}

static void *worker(void *arg) {
    graft_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    while (!pool->stop) {
        graft_batch *b = pool->queue;
        int i = -1;
        for (; b && (i = take(b)) < 0; b = b->next) {}
        if (i < 0) {
            pthread_cond_wait(&pool->work, &pool->lock);
            continue;
        }
        run_unlocked(pool, b, i);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

graft_status graft_pool_new(graft_pool **out, int workers, graft_error *err) {
    *out = NULL;
    graft_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return graft_error_set(err, GRAFT_ENOMEM, "out of memory");
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->threads = calloc((size_t)(workers > 0 ? workers : 1), sizeof *pool->threads);
    if (!pool->threads) {
        graft_pool_free(pool);
        return graft_error_set(err, GRAFT_ENOMEM, "out of memory");
    }
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker, pool) != 0) {
            graft_pool_free(pool);
            return graft_error_set(err, GRAFT_EIO, "cannot start loader thread %d of %d", i + 1, workers);
        }
        pool->nthreads++;
    }
    *out = pool;
    return GRAFT_OK;
}

/* Takes b off its pool's queue (lock held; nothing of b may be running). */
static void unlink_batch(graft_pool *pool, graft_batch *b) {
    for (graft_batch **p = &pool->queue; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    b->pool = NULL;
}

/* Stops handing out b's samples, waits out those running, and unlinks b (lock held). */
static void detach(graft_pool *pool, graft_batch *b) {
    b->cancelled = 1;
    while (b->finished < b->started) pthread_cond_wait(&pool->done, &pool->lock);
    unlink_batch(pool, b);
}

void graft_pool_free(graft_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    while (pool->queue) detach(pool, pool->queue);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nthreads; i++) pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->work);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}

static void free_batch_memory(graft_batch *b) {
    for (int i = 0; b->paths && i < b->n; i++) free(b->paths[i]);
    for (int i = 0; b->results && i < b->n; i++) graft_fimage_free(&b->results[i].img);
    free(b->paths);
    free(b->seeds);
    free(b->steps);
    free(b->results);
    free(b);
}

graft_status graft_batch_submit(graft_pool *pool, int n, const graft_sample_spec *samples,
                                const graft_tf *steps, int nsteps, int channels, int64_t max_pixels,
                                graft_batch **out, graft_error *err) {
    *out = NULL;
    graft_batch *b = calloc(1, sizeof *b);
    if (!b) return graft_error_set(err, GRAFT_ENOMEM, "out of memory queueing a batch");
    b->n = n, b->nsteps = nsteps, b->channels = channels, b->max_pixels = max_pixels;
    b->paths = calloc((size_t)(n ? n : 1), sizeof *b->paths);
    b->seeds = malloc(sizeof *b->seeds * (size_t)(n ? n : 1));
    b->steps = malloc(sizeof *b->steps * (size_t)(nsteps ? nsteps : 1));
    b->results = calloc((size_t)(n ? n : 1), sizeof *b->results);
    int ok = b->paths && b->seeds && b->steps && b->results;
    for (int i = 0; ok && i < n; i++) {
        ok = (b->paths[i] = strdup(samples[i].path)) != NULL;
        memcpy(b->seeds[i], samples[i].seed, sizeof b->seeds[i]);
    }
    if (!ok) {
        free_batch_memory(b);
        return graft_error_set(err, GRAFT_ENOMEM, "out of memory queueing a batch");
    }
    if (nsteps) memcpy(b->steps, steps, sizeof *steps * (size_t)nsteps);
    pthread_mutex_lock(&pool->lock);
    graft_batch **tail = &pool->queue;
    while (*tail) tail = &(*tail)->next;
    *tail = b;
    b->pool = pool;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    *out = b;
    return GRAFT_OK;
}

void graft_batch_wait(graft_batch *b) {
    graft_pool *pool = b->pool;
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        int i = take(b);
        if (i >= 0) run_unlocked(pool, b, i);
        else if (b->finished < b->started) pthread_cond_wait(&pool->done, &pool->lock);
        else break;
    }
    unlink_batch(pool, b);   /* done: the workers need not look at it again */
    pthread_mutex_unlock(&pool->lock);
}

graft_status graft_batch_status(const graft_batch *b, int i, graft_error *err) {
    if (i < 0 || i >= b->n) return graft_error_set(err, GRAFT_EINVAL, "sample %d is not in a batch of %d", i + 1, b->n);
    if (b->cancelled || i >= b->next_sample) return graft_error_set(err, GRAFT_EINVAL, "the batch was cancelled");
    if (b->results[i].status != GRAFT_OK && err) *err = b->results[i].err;
    return b->results[i].status;
}

int graft_batch_count(const graft_batch *b) { return b->n; }

const graft_rng *graft_batch_rng(const graft_batch *b, int i) { return &b->results[i].rng; }

graft_status graft_batch_collate(graft_batch *b, const char *keep, graft_ctx *ctx, graft_tensor *out,
                                 graft_error *err) {
    graft_tensor_init_empty(out);
    const graft_fimage *first = NULL;
    int64_t k = 0;
    for (int i = 0; i < b->n; i++) {
        if (keep && !keep[i]) continue;
        graft_status st = graft_batch_status(b, i, err);
        if (st != GRAFT_OK) return st;
        const graft_fimage *im = &b->results[i].img;
        if (first && (im->c != first->c || im->h != first->h || im->w != first->w))
            return graft_error_set(err, GRAFT_EINVAL,
                                   "samples differ in shape ({%d, %d, %d} and {%d, %d, %d}): end the transform "
                                   "with a fixed-size Resize or crop", first->c, first->h, first->w, im->c, im->h,
                                   im->w);
        if (!first) first = im;
        k++;
    }
    int64_t size[4] = {k, first ? first->c : 0, first ? first->h : 0, first ? first->w : 0};
    graft_status st = graft_tensor_alloc(out, ctx, GRAFT_F32, 4, size, err);
    if (st != GRAFT_OK) return st;
    float *dst = graft_tensor_data(out);
    const size_t each = (size_t)size[1] * size[2] * size[3];
    for (int i = 0; i < b->n; i++) {
        if (keep && !keep[i]) continue;
        memcpy(dst, b->results[i].img.data, each * sizeof(float));
        dst += each;
    }
    return GRAFT_OK;
}

graft_status graft_batch_sample(graft_batch *b, int i, graft_ctx *ctx, graft_tensor *out, graft_error *err) {
    graft_tensor_init_empty(out);
    graft_status st = graft_batch_status(b, i, err);
    if (st != GRAFT_OK) return st;
    const graft_fimage *im = &b->results[i].img;
    int64_t size[3] = {im->c, im->h, im->w};
    st = graft_tensor_alloc(out, ctx, GRAFT_F32, 3, size, err);
    if (st == GRAFT_OK) memcpy(graft_tensor_data(out), im->data, sizeof(float) * (size_t)(im->c * im->h * im->w));
    return st;
}

void graft_batch_free(graft_batch *b) {
    if (!b) return;
    graft_pool *pool = b->pool;
    if (pool) {
        pthread_mutex_lock(&pool->lock);
        detach(pool, b);
        pthread_mutex_unlock(&pool->lock);
    }
    free_batch_memory(b);
}
