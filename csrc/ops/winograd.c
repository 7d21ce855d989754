/* F(2x2, 3x3) Winograd convolution: weight, input and output transforms around 16 GEMMs. */
#include "winograd.h"

#include <omp.h>
#include <string.h>

#include "../core/threads.h"
#include "matmul.h"
#include "vecmath.h"

/* Measured on ResNet's layers (bench/suite.lua): the weight transform, done per call, is
 * repaid over two or more images but not one (a prepared transform always is), and maps
 * under 8x8 leave GEMMs too narrow. */
bool graft_winograd_applies(const graft_conv2d_shape *s, bool prepared) {
    return s->kh == 3 && s->kw == 3 && s->sh == 1 && s->sw == 1 && s->dh == 1 && s->dw == 1 && s->groups == 1 &&
           s->ph <= 2 && s->pw <= 2 && s->cin >= 16 && s->cout >= 16 && (prepared || s->n >= 2) && s->ho >= 8 &&
           s->wo >= 8 && s->h >= 8 && s->w >= 8;
}

graft_conv2d_shape graft_winograd_input_grad_shape(const graft_conv2d_shape *s) {
    graft_conv2d_shape g = *s;
    g.cin = s->cout;
    g.h = s->ho;
    g.w = s->wo;
    g.cout = s->cin;
    g.ho = s->h;
    g.wo = s->w;
    g.ph = 2 - s->ph;
    g.pw = 2 - s->pw;
    return g;
}

static int64_t tiles(const graft_conv2d_shape *s) { return ((s->ho + 1) / 2) * ((s->wo + 1) / 2); }
/* The distance between the 16 tile positions' matrices in V and M: a whole number of cache
 * lines plus one, never a multiple of 4 KiB, whose 16 streams would all fall in one L1 set. */
static int64_t skewed(int64_t floats) { return (floats + 15) / 16 * 16 + 16; }
/* One image's V (cin x tiles) and M (cout x tiles) for all 16 positions. */
static size_t image_floats(const graft_conv2d_shape *s) {
    return (size_t)(16 * (skewed(s->cin * tiles(s)) + skewed(s->cout * tiles(s))));
}
/* A channel's zero-padded input rows (2 th + 2 of 2 tw + 2 floats) and one more row to pad
 * them in; also the output's two row buffers. */
static size_t pad_floats(const graft_conv2d_shape *s) {
    return (size_t)(2 * ((s->ho + 1) / 2) + 3) * (size_t)((s->wo + 1) / 2 * 2 + 2);
}

size_t graft_winograd_weight_floats(const graft_conv2d_shape *s) { return 16 * (size_t)(s->cout * s->cin); }

/* Image threads each hold one image's V and M; an image alone is shared by the whole
 * team, every member with its own row buffers. */
size_t graft_winograd_scratch(const graft_conv2d_shape *s, int threads) {
    if (threads < 1) threads = 1;
    int team = graft_threads_get() > threads ? graft_threads_get() : threads;
    return (size_t)threads * image_floats(s) + (size_t)team * pad_floats(s);
}

/* U[xi][co][ci] = G g G^T, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
void graft_winograd_transform_weights(float *u, const float *w, const graft_conv2d_shape *s, bool flipped) {
    int64_t co_n = s->cout, ci_n = s->cin, plane = co_n * ci_n;
#pragma omp parallel for num_threads(graft_threads_for(plane * 64)) schedule(static)
    for (int64_t co = 0; co < co_n; co++)
        for (int64_t ci = 0; ci < ci_n; ci++) {
            float g[3][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)   /* flipped: the input gradient's rotated, transposed weight */
                    g[i][j] = flipped ? w[(ci * co_n + co) * 9 + (2 - i) * 3 + (2 - j)] : w[(co * ci_n + ci) * 9 + i * 3 + j];
            float a[4][3];
            for (int j = 0; j < 3; j++) {
                a[0][j] = g[0][j];
                a[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
                a[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
                a[3][j] = g[2][j];
            }
            for (int i = 0; i < 4; i++) {
                float *ui = u + (int64_t)(i * 4) * plane + co * ci_n + ci;
                ui[0] = a[i][0];
                ui[plane] = 0.5f * (a[i][0] + a[i][1] + a[i][2]);
                ui[2 * plane] = 0.5f * (a[i][0] - a[i][1] + a[i][2]);
                ui[3 * plane] = a[i][2];
            }
        }
}

/* One row of tiles of the input transform: V[xi][t] = B^T d B for t = 0..tw-1, B^T = [1 0 -1 0;
 * 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. Tile t's 4x4 d is columns 2t..2t+3 of four zero-padded input
 * rows, each stored as its even columns then its odd ones (tw + 1 of each), so that every
 * load is unit-stride and the loop vectorises across tiles. */
GRAFT_CLONES
static void input_row(float *restrict v, int64_t plane, const float *restrict rows, int64_t tw) {
    const int64_t half = tw + 1, width = 2 * half;
    for (int64_t t = 0; t < tw; t++) {
        float q[4][4];   /* B^T d: combinations of rows */
        for (int j = 0; j < 4; j++) {
            const float *col = rows + (j & 1) * half + t + (j >> 1);   /* column 2t + j */
            float d0 = col[0], d1 = col[width], d2 = col[2 * width], d3 = col[3 * width];
            q[0][j] = d0 - d2;
            q[1][j] = d1 + d2;
            q[2][j] = d2 - d1;
            q[3][j] = d1 - d3;
        }
        for (int i = 0; i < 4; i++) {   /* (B^T d) B: combinations of columns */
            v[(i * 4 + 0) * plane + t] = q[i][0] - q[i][2];
            v[(i * 4 + 1) * plane + t] = q[i][1] + q[i][2];
            v[(i * 4 + 2) * plane + t] = q[i][2] - q[i][1];
            v[(i * 4 + 3) * plane + t] = q[i][1] - q[i][3];
        }
    }
}

/* Input row src (NULL: a padding row) zero-padded to 2 half columns in `line`, then stored
 * at `out` as its even columns followed by its odd ones: plain copies and a stride-2 split
 * that vectorise, where a per-element bounds test did not. */
GRAFT_CLONES
static void split_row(float *restrict out, float *restrict line, const float *restrict src, const graft_conv2d_shape *s,
                      int64_t half) {
    if (!src) {
        memset(out, 0, sizeof(float) * (size_t)(2 * half));
        return;
    }
    memset(line, 0, sizeof(float) * (size_t)(2 * half));
    memcpy(line + s->pw, src, sizeof(float) * (size_t)s->w);   /* w + 2 pw <= 2 half */
    for (int64_t k = 0; k < half; k++) {
        out[k] = line[2 * k];
        out[half + k] = line[2 * k + 1];
    }
}

/* V[xi][c][t] for channel c: its input rows are padded and split once each into `pad`,
 * then every row of tiles reads four of them. */
static void transform_input(float *v, const float *x, const graft_conv2d_shape *s, float *pad, int64_t c) {
    int64_t tw = (s->wo + 1) / 2, th = (s->ho + 1) / 2, nt = th * tw, plane = skewed(s->cin * nt), half = tw + 1;
    int64_t rows = 2 * th + 2, width = 2 * half;
    const float *xc = x + c * s->h * s->w;
    float *line = pad + rows * width;
    for (int64_t r = 0; r < rows; r++) {
        int64_t yy = r - s->ph;
        split_row(pad + r * width, line, yy >= 0 && yy < s->h ? xc + yy * s->w : NULL, s, half);
    }
    for (int64_t ty = 0; ty < th; ty++) input_row(v + c * nt + ty * tw, plane, pad + 2 * ty * width, tw);
}

/* One row of tiles of the output transform into two rows `out` of 2 tw floats:
 * A^T m A with A^T = [1 1 1 0; 0 1 -1 -1]. */
GRAFT_CLONES
static void output_row(float *restrict out0, float *restrict out1, const float *restrict m, int64_t plane, int64_t tw) {
    for (int64_t t = 0; t < tw; t++) {
        float q[16];
        for (int i = 0; i < 16; i++) q[i] = m[i * plane + t];
        float a[4], c[4];
        for (int j = 0; j < 4; j++) {
            a[j] = q[j] + q[4 + j] + q[8 + j];
            c[j] = q[4 + j] - q[8 + j] - q[12 + j];
        }
        out0[2 * t] = a[0] + a[1] + a[2];
        out0[2 * t + 1] = a[1] - a[2] - a[3];
        out1[2 * t] = c[0] + c[1] + c[2];
        out1[2 * t + 1] = c[1] - c[2] - c[3];
    }
}

/* y = (or +=) output channel c's tiles + its bias, through two row buffers in `pad` (the
 * last row or column of a tile is dropped where the output's size is odd). */
static void transform_output(float *y, const float *m, const float *b, const graft_conv2d_shape *s, bool accumulate,
                             float *pad, int64_t c) {
    int64_t tw = (s->wo + 1) / 2, th = (s->ho + 1) / 2, nt = th * tw, plane = skewed(s->cout * nt);
    float bias = b ? b[c] : 0.0f;
    float *yc = y + c * s->ho * s->wo;
    for (int64_t ty = 0; ty < th; ty++) {
        output_row(pad, pad + 2 * tw, m + c * nt + ty * tw, plane, tw);
        for (int i = 0; i < 2 && 2 * ty + i < s->ho; i++) {
            const float *src = pad + i * 2 * tw;
            float *row = yc + (2 * ty + i) * s->wo;
            if (accumulate)
                for (int64_t k = 0; k < s->wo; k++) row[k] += src[k] + bias;
            else
                for (int64_t k = 0; k < s->wo; k++) row[k] = src[k] + bias;
        }
    }
}

/* One image's product at tile position xi: M[xi] (cout, tiles) = U[xi] (cout, cin) V[xi] (cin, tiles). */
static void product(float *m, const float *u, const float *v, const graft_conv2d_shape *s, int64_t xi) {
    int64_t nt = tiles(s), vp = skewed(s->cin * nt), mp = skewed(s->cout * nt);
    graft_sgemm(false, false, s->cout, nt, s->cin, 1.0f, u + xi * s->cout * s->cin, s->cin, v + xi * vp, nt, 0.0f,
                m + xi * mp, nt);
}

/* One image on one thread. */
static void image_alone(float *y, const float *x, const float *u, const float *b, const graft_conv2d_shape *s,
                        bool accumulate, float *v, float *pad) {
    float *m = v + 16 * skewed(s->cin * tiles(s));
    for (int64_t c = 0; c < s->cin; c++) transform_input(v, x, s, pad, c);
    for (int64_t xi = 0; xi < 16; xi++) product(m, u, v, s, xi);
    for (int64_t c = 0; c < s->cout; c++) transform_output(y, m, b, s, accumulate, pad, c);
}

/* One image on a team: channels split for the transforms, the 16 GEMMs split between members. */
static void image_shared(float *y, const float *x, const float *u, const float *b, const graft_conv2d_shape *s,
                         bool accumulate, float *v, float *pads, int team) {
    float *m = v + 16 * skewed(s->cin * tiles(s));
#pragma omp parallel num_threads(team)
    {
        float *pad = pads + pad_floats(s) * (size_t)omp_get_thread_num();
#pragma omp for schedule(static)
        for (int64_t c = 0; c < s->cin; c++) transform_input(v, x, s, pad, c);
#pragma omp for schedule(static)
        for (int64_t xi = 0; xi < 16; xi++) product(m, u, v, s, xi);
#pragma omp for schedule(static)
        for (int64_t c = 0; c < s->cout; c++) transform_output(y, m, b, s, accumulate, pad, c);
    }
}

void graft_winograd_forward(float *y, const float *x, const float *u, const float *b, const graft_conv2d_shape *s,
                            bool accumulate, float *scratch, int threads) {
    int64_t xs = s->cin * s->h * s->w, ys = s->cout * s->ho * s->wo;
    size_t per = image_floats(s);
    if (threads < 1) threads = 1;
    float *pads = scratch + per * (size_t)threads;
    int team = graft_threads_get();
    if (threads == 1 && team > 1 && !omp_in_parallel()) {   /* fewer images than threads: share each */
        for (int64_t n = 0; n < s->n; n++)
            image_shared(y + n * ys, x + n * xs, u, b, s, accumulate, scratch, pads, team);
        return;
    }
    /* whole images per thread, each on one BLAS thread */
#pragma omp parallel for num_threads(threads) schedule(dynamic)
    for (int64_t n = 0; n < s->n; n++) {
        int t = omp_get_thread_num();
        image_alone(y + n * ys, x + n * xs, u, b, s, accumulate, scratch + per * (size_t)t,
                    pads + pad_floats(s) * (size_t)t);
    }
}
