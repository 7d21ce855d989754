/* Winograd F(2x2, 3x3) and F(4x4, 3x3): weight, input and output transforms around 16 or
 * 36 GEMMs over the tiles of a group of images. */
#include "winograd.h"

#include <omp.h>
#include <string.h>

#include "../core/threads.h"
#include "matmul.h"
#include "packed_gemm.h"
#include "vecmath.h"

/* GEMMs narrower than MIN_COLUMNS tiles leave OpenBLAS's kernel starved: images are grouped
 * until their tiles reach it. F(4x4) needs F4_MIN_TILES in the batch (measured at batch 1,
 * kept transforms: 64 @56 1.9 -> 1.6-1.8 ms and 128 @28 (49 tiles) 1.6 -> 1.3-1.4 ms by
 * F(4x4); 256 @14 (16 tiles) no faster, and 512 @7 (4) twice as slow as im2col). */
enum { MIN_COLUMNS = 64, F4_MIN_TILES = 32 };
/* The weight gradient's GEMMs sum over the columns: it groups images until their tiles
 * reach WGRAD_COLUMNS, so each GEMM has a long sum to repay its packing. */
enum { WGRAD_COLUMNS = 256 };

static int64_t tiles_of(const graft_conv2d_shape *s, int m) {
    return ((s->ho + m - 1) / m) * ((s->wo + m - 1) / m);
}

/* Measured on ResNet's layers (bench/suite.lua): the weight transform, done per call, is
 * repaid over two or more images but not one (a prepared transform always is). F(2x2) wins
 * down to 4x4 maps: on the packed GEMM with a prepared transform (batch 1, 512 channels:
 * @7 1.3-1.5 -> 0.8-0.9 ms, @4 0.56 -> 0.29 ms), as its 16 floats per weight pair beat
 * im2col's 9 once the multiplies halve; and in training on graft's GEMM, whose column
 * tiles take the narrow products (batch 16, 512 channels @7, forward and backward: 91 ->
 * 70 ms; on OpenBLAS it had not paid below 8x8).
 * F(4x4) is for prepared transforms only (inference and frozen layers, never a gradient)
 * and only with enough tiles: its transform is 36 floats per weight pair, so with few
 * tiles reading it costs more than the multiplies it saves. */
int graft_winograd_tile(const graft_conv2d_shape *s, bool prepared) {
    if (!(s->kh == 3 && s->kw == 3 && s->sh == 1 && s->sw == 1 && s->dh == 1 && s->dw == 1 && s->groups == 1 &&
          s->ph <= 2 && s->pw <= 2 && s->cin >= 16 && s->cout >= 16))
        return 0;
    if (prepared && s->n * tiles_of(s, 4) >= F4_MIN_TILES) return 4;
    int64_t side = 4;   /* the smallest map side for F(2x2) */
    if ((prepared || s->n >= 2) && s->ho >= side && s->wo >= side && s->h >= side && s->w >= side) return 2;
    return 0;
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

/* The distance between the tile positions' matrices in V and M: a whole number of cache
 * lines plus one, never a multiple of 4 KiB, whose streams would all fall in one L1 set. */
static int64_t skewed(int64_t floats) { return (floats + 15) / 16 * 16 + 16; }

/* How a convolution is cut: m x m output tiles, each from an a x a input tile (a = m + 2);
 * images in groups of g, whose tiles side by side are the GEMMs' columns. */
typedef struct {
    int m, a;
    int64_t tw, th, nt;    /* tiles per row, per column, per image */
    int64_t g, groups;     /* images per group, groups */
    int64_t cols, vp, mp;  /* columns; distance between positions in V and in M */
} plan;

static plan plan_of(const graft_conv2d_shape *s, int m, int64_t min_columns) {
    plan p = {.m = m, .a = m + 2};
    p.tw = (s->wo + m - 1) / m;
    p.th = (s->ho + m - 1) / m;
    p.nt = p.tw * p.th;
    p.g = (min_columns + p.nt - 1) / p.nt;
    if (p.g > s->n) p.g = s->n > 0 ? s->n : 1;
    p.groups = (s->n + p.g - 1) / p.g;
    p.cols = p.g * p.nt;
    p.vp = skewed(s->cin * p.cols);
    p.mp = skewed(s->cout * p.cols);
    return p;
}

/* One group's V (cin x cols) and M (cout x cols) at all a^2 positions. */
static size_t group_floats(const plan *p) { return (size_t)(p->a * p->a) * (size_t)(p->vp + p->mp); }

/* The transforms work on LANES tiles at a time, each step a loop over the block's lanes:
 * one vector per value (a zmm with AVX-512, two ymm with AVX2). A loop over single tiles
 * compiled to scalar code, and rows of 7 or 14 tiles are too short for a vectorised loop. */
enum { LANES = 16 };

/* The distance between the output transform's rows: whole blocks, so a last block's
 * lanes past the row land in slack. */
static int64_t out_stride(const plan *p) { return p->m * ((p->tw + LANES - 1) / LANES * LANES); }

/* A channel's zero-padded input rows (m th + 2 of m (tw + 1) floats, each split into m
 * phases), one more row to pad them in and LANES floats that a last block may read past
 * it; or the output transform's m rows. */
static size_t pad_floats(const plan *p) {
    size_t in = (size_t)(p->m * p->th + 3) * (size_t)(p->m * (p->tw + 1)) + LANES;
    size_t out = (size_t)(p->m * out_stride(p));
    return in > out ? in : out;
}

/* Each team member's own buffer: its padded rows in the transforms and, in between, the
 * packed GEMM's scratch (at most a transposed cout x cols product, packed_gemm.h). */
static size_t member_floats(const graft_conv2d_shape *s, const plan *p) {
    size_t product = (size_t)p->cols * graft_packed_floats(s->cout, 1);
    return pad_floats(p) > product ? pad_floats(p) : product;
}

/* Groups worked on at once: one per thread of the team, as many as there are (at least
 * one, so an empty batch still names a valid team size). */
static int workers(const plan *p, int team) {
    if (team < 1) team = 1;
    return p->groups > 0 && p->groups < team ? (int)p->groups : team;
}

size_t graft_winograd_position_floats(const graft_conv2d_shape *s, bool packed) {
    return packed ? graft_packed_floats(s->cout, s->cin) : (size_t)(s->cout * s->cin);
}

size_t graft_winograd_weight_floats(const graft_conv2d_shape *s, int m, bool packed) {
    return (size_t)((m + 2) * (m + 2)) * graft_winograd_position_floats(s, packed);
}

/* Group threads each hold one group's V and M; a group alone is shared by the whole team,
 * every member with its own row buffers. */
size_t graft_winograd_scratch(const graft_conv2d_shape *s, int m, int team) {
    plan p = plan_of(s, m, MIN_COLUMNS);
    if (team < 1) team = 1;
    return (size_t)workers(&p, team) * group_floats(&p) + (size_t)team * member_floats(s, &p);
}

/* G g for one column g of the kernel: G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] (m = 2),
 * [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1] (m = 4). */
static void g_times(float *out, float g0, float g1, float g2, int m) {
    if (m == 2) {
        out[0] = g0;
        out[1] = 0.5f * (g0 + g1 + g2);
        out[2] = 0.5f * (g0 - g1 + g2);
        out[3] = g2;
        return;
    }
    out[0] = 0.25f * g0;
    out[1] = -(g0 + g1 + g2) / 6.0f;
    out[2] = -(g0 - g1 + g2) / 6.0f;
    out[3] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;
    out[4] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;
    out[5] = g2;
}

/* g_times for WLANES kernels at once: out[r][l] = (G g_l)[r], with g_l = (g0[l], g1[l], g2[l]),
 * the same arithmetic lane by lane, so that it vectorises. */
enum { WLANES = 16 };

static inline void g_times_lanes(float out[][WLANES], const float *g0, const float *g1, const float *g2, int m) {
    for (int l = 0; l < WLANES; l++) {
        float o[6];
        g_times(o, g0[l], g1[l], g2[l], m);
        for (int r = 0; r < m + 2; r++) out[r][l] = o[r];
    }
}

/* U = G g G^T for output channel co and input channels ci0 .. ci0 + lanes (<= WLANES): the
 * weights of a block side by side in lanes. One (co, ci) at a time ran scalar and took a
 * twentieth of a resnet18 train step once 7x7 maps went to Winograd. */
GRAFT_CLONES
static void transform_block(float *u, const float *w, const graft_conv2d_shape *s, int m, bool flipped, bool packed,
                            int64_t plane, int64_t co, int64_t ci0, int lanes) {
    int64_t co_n = s->cout, ci_n = s->cin;
    int a = m + 2;
    float g[9][WLANES], gg[3][6][WLANES], col[6][WLANES];
    for (int l = 0; l < WLANES; l++) {
        int64_t ci = ci0 + (l < lanes ? l : 0);
        for (int t = 0; t < 9; t++)   /* flipped: the input gradient's rotated, transposed weight */
            g[t][l] = flipped ? w[(ci * co_n + co) * 9 + 8 - t] : w[(co * ci_n + ci) * 9 + t];
    }
    for (int j = 0; j < 3; j++) g_times_lanes(gg[j], g[j], g[3 + j], g[6 + j], m);   /* gg[j] = G (column j) */
    for (int i = 0; i < a; i++) {
        g_times_lanes(col, gg[0][i], gg[1][i], gg[2][i], m);
        for (int j = 0; j < a; j++) {
            float *dst = u + (int64_t)(i * a + j) * plane;
            for (int l = 0; l < lanes; l++) dst[packed ? graft_packed_index(co, ci0 + l, ci_n) : co * ci_n + ci0 + l] = col[j][l];
        }
    }
}

/* U[xi][co][ci] = G g G^T. */
void graft_winograd_transform_weights(float *u, const float *w, const graft_conv2d_shape *s, int m, bool flipped,
                                      bool packed) {
    int64_t co_n = s->cout, ci_n = s->cin, plane = (int64_t)graft_winograd_position_floats(s, packed);
    if (packed) memset(u, 0, sizeof(float) * graft_winograd_weight_floats(s, m, true));   /* the panels' padding */
#pragma omp parallel for num_threads(graft_threads_for(co_n * ci_n * 64)) schedule(static)
    for (int64_t co = 0; co < co_n; co++)
        for (int64_t ci0 = 0; ci0 < ci_n; ci0 += WLANES)
            transform_block(u, w, s, m, flipped, packed, plane, co, ci0,
                            (int)(ci_n - ci0 < WLANES ? ci_n - ci0 : WLANES));
}

/* Input row src (NULL: a padding row) zero-padded to m q columns in `line`, then stored at
 * `out` as m phases of q: columns p, p + m, p + 2m, ... for p = 0..m-1, so that the tiles'
 * loads are unit-stride and vectorise (a per-element bounds test did not). */
GRAFT_CLONES
static void split_row(float *restrict out, float *restrict line, const float *restrict src, const graft_conv2d_shape *s,
                      int m, int64_t q) {
    if (!src) {
        memset(out, 0, sizeof(float) * (size_t)(m * q));
        return;
    }
    memset(line, 0, sizeof(float) * (size_t)(m * q));
    memcpy(line + s->pw, src, sizeof(float) * (size_t)s->w);   /* w + 2 pw <= m q */
    if (m == 2) {
        for (int64_t k = 0; k < q; k++) {
            out[k] = line[2 * k];
            out[q + k] = line[2 * k + 1];
        }
        return;
    }
    for (int64_t k = 0; k < q; k++) {
        out[k] = line[4 * k];
        out[q + k] = line[4 * k + 1];
        out[2 * q + k] = line[4 * k + 2];
        out[3 * q + k] = line[4 * k + 3];
    }
}

/* A block's values (`count` rows of LANES) into V, `plane` apart: all lanes where the ones
 * past the row's last tile fall on tiles of this channel that later rows write again
 * (`room`, the tiles left in its span, says), else only the row's. */
static inline void store_block(float *restrict v, int64_t plane, float (*restrict o)[LANES], int count,
                               int64_t row_left, int64_t room) {
    if (room >= LANES) {
        for (int k = 0; k < count; k++)
            for (int l = 0; l < LANES; l++) v[k * plane + l] = o[k][l];
        return;
    }
    for (int k = 0; k < count; k++)
        for (int64_t l = 0; l < row_left && l < LANES; l++) v[k * plane + l] = o[k][l];
}

/* One row of F(2x2) tiles of the input transform: V[xi][t] = B^T d B for t = 0..tw-1,
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. Tile t's 4x4 d is columns 2t..2t+3 of four
 * split rows (see split_row); `room` counts the tiles from this row's first to its
 * channel's last. */
GRAFT_CLONES
static void input_row2(float *restrict v, int64_t plane, const float *restrict rows, int64_t tw, int64_t room) {
    const int64_t q = tw + 1, width = 2 * q;
    for (int64_t t0 = 0; t0 < tw; t0 += LANES) {
        float r[4][4][LANES], o[16][LANES];   /* r[.][j] = B^T (column j of d) */
        for (int j = 0; j < 4; j++) {
            const float *col = rows + (j & 1) * q + t0 + (j >> 1);   /* column 2t + j */
            for (int l = 0; l < LANES; l++) {
                float d0 = col[l], d1 = col[width + l], d2 = col[2 * width + l], d3 = col[3 * width + l];
                r[0][j][l] = d0 - d2;
                r[1][j][l] = d1 + d2;
                r[2][j][l] = d2 - d1;
                r[3][j][l] = d1 - d3;
            }
        }
        for (int i = 0; i < 4; i++)   /* (B^T d) B: combinations of columns */
            for (int l = 0; l < LANES; l++) {
                o[i * 4 + 0][l] = r[i][0][l] - r[i][2][l];
                o[i * 4 + 1][l] = r[i][1][l] + r[i][2][l];
                o[i * 4 + 2][l] = r[i][2][l] - r[i][1][l];
                o[i * 4 + 3][l] = r[i][1][l] - r[i][3][l];
            }
        store_block(v + t0, plane, o, 16, tw - t0, room - t0);
    }
}

/* B^T d for F(4x4), B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
 * 0 2 -1 -2 1 0; 0 4 0 -5 0 1]; its results `step` floats apart. */
static inline void bt6(float *restrict o, int step, float d0, float d1, float d2, float d3, float d4, float d5) {
    o[0] = 4.0f * d0 - 5.0f * d2 + d4;
    o[step] = (d3 + d4) - 4.0f * (d1 + d2);
    o[2 * step] = (d4 - d3) + 4.0f * (d1 - d2);
    o[3 * step] = (d4 - d2) + 2.0f * (d3 - d1);
    o[4 * step] = (d4 - d2) - 2.0f * (d3 - d1);
    o[5 * step] = 4.0f * d1 - 5.0f * d3 + d5;
}

/* One row of F(4x4) tiles: tile t's 6x6 d is columns 4t..4t+5 of six split rows. */
GRAFT_CLONES
static void input_row4(float *restrict v, int64_t plane, const float *restrict rows, int64_t tw, int64_t room) {
    const int64_t q = tw + 1, width = 4 * q;
    for (int64_t t0 = 0; t0 < tw; t0 += LANES) {
        float r[6][6][LANES], o[36][LANES];   /* r[.][j] = B^T (column j of d) */
        for (int j = 0; j < 6; j++) {
            const float *col = rows + (j & 3) * q + t0 + (j >> 2);   /* column 4t + j */
            for (int l = 0; l < LANES; l++)
                bt6(&r[0][j][l], 6 * LANES, col[l], col[width + l], col[2 * width + l], col[3 * width + l],
                    col[4 * width + l], col[5 * width + l]);
        }
        for (int i = 0; i < 6; i++)
            for (int l = 0; l < LANES; l++)
                bt6(&o[i * 6][l], LANES, r[i][0][l], r[i][1][l], r[i][2][l], r[i][3][l], r[i][4][l], r[i][5][l]);
        store_block(v + t0, plane, o, 36, tw - t0, room - t0);
    }
}

/* V[xi][.][t] for one channel of one image (v at its first tile, xc its input plane): the
 * input rows are padded and split once each into `pad`, then every row of tiles reads a
 * of them. */
static void transform_input(float *v, const float *xc, const graft_conv2d_shape *s, const plan *p, float *pad) {
    int64_t q = p->tw + 1, rows = p->m * p->th + 2, width = p->m * q;
    float *line = pad + rows * width;
    memset(line + width, 0, sizeof(float) * LANES);   /* what a last block reads past */
    for (int64_t r = 0; r < rows; r++) {
        int64_t yy = r - s->ph;
        split_row(pad + r * width, line, yy >= 0 && yy < s->h ? xc + yy * s->w : NULL, s, p->m, q);
    }
    for (int64_t ty = 0; ty < p->th; ty++) {
        const float *tile_rows = pad + p->m * ty * width;
        int64_t room = p->nt - ty * p->tw;
        if (p->m == 2) input_row2(v + ty * p->tw, p->vp, tile_rows, p->tw, room);
        else input_row4(v + ty * p->tw, p->vp, tile_rows, p->tw, room);
    }
}

/* One row of F(2x2) tiles of the output transform into two rows of 2 tw floats (`stride`
 * apart, with room for a whole last block): A^T m A with A^T = [1 1 1 0; 0 1 -1 -1]. */
GRAFT_CLONES
static void output_row2(float *restrict out, int64_t stride, const float *restrict mm, int64_t plane, int64_t tw) {
    for (int64_t t0 = 0; t0 < tw; t0 += LANES) {
        float o[2][2][LANES];
        for (int l = 0; l < LANES; l++) {
            float q[16], a[4], c[4];
            for (int i = 0; i < 16; i++) q[i] = mm[i * plane + t0 + l];
            for (int j = 0; j < 4; j++) {
                a[j] = q[j] + q[4 + j] + q[8 + j];
                c[j] = q[4 + j] - q[8 + j] - q[12 + j];
            }
            o[0][0][l] = a[0] + a[1] + a[2];
            o[0][1][l] = a[1] - a[2] - a[3];
            o[1][0][l] = c[0] + c[1] + c[2];
            o[1][1][l] = c[1] - c[2] - c[3];
        }
        for (int i = 0; i < 2; i++)
            for (int l = 0; l < LANES; l++)
                for (int j = 0; j < 2; j++) out[i * stride + 2 * (t0 + l) + j] = o[i][j][l];
    }
}

/* A^T m for F(4x4), A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]; its
 * results `step` floats apart. */
static inline void at6(float *restrict o, int step, float m0, float m1, float m2, float m3, float m4, float m5) {
    float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    o[0] = m0 + s12 + s34;
    o[step] = d12 + 2.0f * d34;
    o[2 * step] = s12 + 4.0f * s34;
    o[3 * step] = d12 + 8.0f * d34 + m5;
}

/* One row of F(4x4) tiles into four rows of 4 tw floats. */
GRAFT_CLONES
static void output_row4(float *restrict out, int64_t stride, const float *restrict mm, int64_t plane, int64_t tw) {
    for (int64_t t0 = 0; t0 < tw; t0 += LANES) {
        float r[4][6][LANES], o[4][4][LANES];   /* r[.][j] = A^T (column j of m) */
        for (int j = 0; j < 6; j++) {
            const float *col = mm + j * plane + t0;
            for (int l = 0; l < LANES; l++)
                at6(&r[0][j][l], 6 * LANES, col[l], col[6 * plane + l], col[12 * plane + l], col[18 * plane + l],
                    col[24 * plane + l], col[30 * plane + l]);
        }
        for (int i = 0; i < 4; i++)
            for (int l = 0; l < LANES; l++)
                at6(&o[i][0][l], LANES, r[i][0][l], r[i][1][l], r[i][2][l], r[i][3][l], r[i][4][l], r[i][5][l]);
        for (int i = 0; i < 4; i++)
            for (int l = 0; l < LANES; l++)
                for (int j = 0; j < 4; j++) out[i * stride + 4 * (t0 + l) + j] = o[i][j][l];
    }
}

/* yc (one output plane) = (or +=) its tiles (mm at the first) + bias, through m row
 * buffers in `pad` (a tile's last rows or columns are dropped past the output's edge). */
static void transform_output(float *yc, const float *mm, float bias, const graft_conv2d_shape *s, const plan *p,
                             bool accumulate, float *pad) {
    int64_t stride = out_stride(p);
    for (int64_t ty = 0; ty < p->th; ty++) {
        if (p->m == 2) output_row2(pad, stride, mm + ty * p->tw, p->mp, p->tw);
        else output_row4(pad, stride, mm + ty * p->tw, p->mp, p->tw);
        for (int i = 0; i < p->m && p->m * ty + i < s->ho; i++) {
            const float *src = pad + i * stride;
            float *row = yc + (p->m * ty + i) * s->wo;
            if (accumulate)
                for (int64_t k = 0; k < s->wo; k++) row[k] += src[k] + bias;
            else
                for (int64_t k = 0; k < s->wo; k++) row[k] = src[k] + bias;
        }
    }
}

/* The work on one group of `gi` images starting at image n0, split in steps that a team
 * shares out: input transforms by (image, channel), products by position, output
 * transforms by (image, channel). */
typedef struct {
    float *y, *v, *m;
    const float *x, *u, *b;
    const graft_conv2d_shape *s;
    const plan *p;
    int64_t n0, gi;
    bool accumulate, packed;
} group;

static void input_step(const group *g, int64_t k, float *pad) {
    int64_t i = k / g->s->cin, c = k % g->s->cin;
    const float *xc = g->x + ((g->n0 + i) * g->s->cin + c) * g->s->h * g->s->w;
    transform_input(g->v + c * g->p->cols + i * g->p->nt, xc, g->s, g->p, pad);
}

/* M[xi] (cout, gi nt) = U[xi] (cout, cin) V[xi] (cin, gi nt). */
static void product_step(const group *g, int64_t xi, float *mine) {
    const graft_conv2d_shape *s = g->s;
    const plan *p = g->p;
    const float *u = g->u + xi * (int64_t)graft_winograd_position_floats(s, g->packed);
    if (g->packed) {
        graft_packed_rhs v = {.b = g->v + xi * p->vp, .ldb = p->cols};
        graft_packed_gemm(g->m + xi * p->mp, p->cols, u, s->cout, s->cin, &v, g->gi * p->nt, NULL, false, mine, 1);
        return;
    }
    graft_sgemm(false, false, s->cout, g->gi * p->nt, s->cin, 1.0f, u, s->cin, g->v + xi * p->vp, p->cols, 0.0f,
                g->m + xi * p->mp, p->cols);
}

static void output_step(const group *g, int64_t k, float *pad) {
    int64_t i = k / g->s->cout, c = k % g->s->cout;
    float *yc = g->y + ((g->n0 + i) * g->s->cout + c) * g->s->ho * g->s->wo;
    transform_output(yc, g->m + c * g->p->cols + i * g->p->nt, g->b ? g->b[c] : 0.0f, g->s, g->p, g->accumulate,
                     pad);
}

static group group_at(float *y, const float *x, const float *u, const float *b, const graft_conv2d_shape *s,
                      const plan *p, int64_t index, bool accumulate, bool packed, float *v) {
    int64_t n0 = index * p->g, gi = s->n - n0 < p->g ? s->n - n0 : p->g;
    return (group){.y = y, .v = v, .m = v + (int64_t)(p->a * p->a) * p->vp, .x = x, .u = u, .b = b, .s = s, .p = p,
                   .n0 = n0, .gi = gi, .accumulate = accumulate, .packed = packed};
}

void graft_winograd_forward(float *y, const float *x, const float *u, bool packed, const float *b,
                            const graft_conv2d_shape *s, int m, bool accumulate, float *scratch, int team) {
    plan p = plan_of(s, m, MIN_COLUMNS);
    int w = workers(&p, team);
    size_t per = group_floats(&p), pad = member_floats(s, &p);
    float *pads = scratch + per * (size_t)w;
    int64_t positions = p.a * p.a;
    if (w == 1 && team > 1 && !omp_in_parallel()) {   /* fewer groups than threads: share each */
        for (int64_t index = 0; index < p.groups; index++) {
            group g = group_at(y, x, u, b, s, &p, index, accumulate, packed, scratch);
#pragma omp parallel num_threads(team)
            {
                float *mine = pads + pad * (size_t)omp_get_thread_num();
#pragma omp for schedule(static)
                for (int64_t k = 0; k < g.gi * s->cin; k++) input_step(&g, k, mine);
#pragma omp for schedule(static)
                for (int64_t xi = 0; xi < positions; xi++) product_step(&g, xi, mine);
#pragma omp for schedule(static)
                for (int64_t k = 0; k < g.gi * s->cout; k++) output_step(&g, k, mine);
            }
        }
        return;
    }
    /* whole groups per thread, each on one BLAS thread */
#pragma omp parallel for num_threads(w) schedule(dynamic)
    for (int64_t index = 0; index < p.groups; index++) {
        int t = omp_get_thread_num();
        group g = group_at(y, x, u, b, s, &p, index, accumulate, packed, scratch + per * (size_t)t);
        float *mine = pads + pad * (size_t)t;
        for (int64_t k = 0; k < g.gi * s->cin; k++) input_step(&g, k, mine);
        for (int64_t xi = 0; xi < positions; xi++) product_step(&g, xi, mine);
        for (int64_t k = 0; k < g.gi * s->cout; k++) output_step(&g, k, mine);
    }
}

/* The weight gradient by F(2x2, 3x3)'s transforms used backwards (Lavin & Gray's
 * F(3x3, 2x2)): the forward is Y = A^T [(G g G^T) . (B^T d B)] A per tile, so the gradient
 * of the weight g for an output-gradient tile Z is G^T [(A Z A^T) . (B^T d B)] G. Summed over
 * tiles and images, the products are 16 GEMMs M[xi] (cout, cin) += Z[xi] (cout, tiles)
 * V[xi]^T (tiles, cin) on the forward's own input transform V, and G^T M G once per weight
 * pair gives the 3x3 kernel: 16 multiplies per tile and channel pair instead of 36. */

/* Z = A z A^T for one row of 2x2 output-gradient tiles, A z = (z0, z0 + z1, z0 - z1, -z1):
 * e0/o0 and e1/o1 are the tiles' even and odd columns of their two rows. */
GRAFT_CLONES
static void grad_row2(float *restrict z, int64_t plane, const float *restrict e0, const float *restrict o0,
                      const float *restrict e1, const float *restrict o1, int64_t tw) {
    for (int64_t t = 0; t < tw; t++) {
        float e[4] = {e0[t], e0[t] + e1[t], e0[t] - e1[t], -e1[t]};   /* A down the even column */
        float o[4] = {o0[t], o0[t] + o1[t], o0[t] - o1[t], -o1[t]};   /* and the odd one */
        for (int i = 0; i < 4; i++) {
            z[(i * 4 + 0) * plane + t] = e[i];
            z[(i * 4 + 1) * plane + t] = e[i] + o[i];
            z[(i * 4 + 2) * plane + t] = e[i] - o[i];
            z[(i * 4 + 3) * plane + t] = -o[i];
        }
    }
}

/* One output-gradient plane's tiles into Z (z at its first tile); rows past the edge are
 * zeros, so the partial tiles there add nothing. */
static void transform_grad(float *z, const float *gyc, const graft_conv2d_shape *s, const plan *p, float *pad) {
    float *e0 = pad, *o0 = e0 + p->tw, *e1 = o0 + p->tw, *o1 = e1 + p->tw;
    for (int64_t ty = 0; ty < p->th; ty++) {
        for (int r = 0; r < 2; r++) {
            int64_t oy = 2 * ty + r;
            float *e = r ? e1 : e0, *o = r ? o1 : o0;
            const float *row = gyc + oy * s->wo;
            for (int64_t t = 0; t < p->tw; t++) {
                e[t] = oy < s->ho ? row[2 * t] : 0.0f;
                o[t] = oy < s->ho && 2 * t + 1 < s->wo ? row[2 * t + 1] : 0.0f;
            }
        }
        grad_row2(z + ty * p->tw, p->mp, e0, o0, e1, o1, p->tw);
    }
}

/* G^T m = (m0 + (m1 + m2) / 2, (m1 - m2) / 2, (m1 + m2) / 2 + m3), G as in g_times. */
static inline void gt4(float *restrict o, float m0, float m1, float m2, float m3) {
    float h = 0.5f * (m1 + m2);
    o[0] = m0 + h;
    o[1] = 0.5f * (m1 - m2);
    o[2] = h + m3;
}

/* gw (cout, cin, 3, 3) += G^T M G for every weight pair (M[xi] `ms` apart). */
static void transform_weight_grad(float *gw, const float *mm, int64_t ms, const graft_conv2d_shape *s) {
    int64_t pairs = s->cout * s->cin;
#pragma omp parallel for num_threads(graft_threads_for(pairs * 64)) schedule(static)
    for (int64_t k = 0; k < pairs; k++) {
        float t[3][4], o[3];   /* t[.][j] = G^T (column j of M) */
        for (int j = 0; j < 4; j++) {
            gt4(o, mm[j * ms + k], mm[(4 + j) * ms + k], mm[(8 + j) * ms + k], mm[(12 + j) * ms + k]);
            for (int i = 0; i < 3; i++) t[i][j] = o[i];
        }
        for (int i = 0; i < 3; i++) {
            gt4(o, t[i][0], t[i][1], t[i][2], t[i][3]);
            for (int j = 0; j < 3; j++) gw[k * 9 + i * 3 + j] += o[j];
        }
    }
}

static void grad_step(const group *g, const float *gy, int64_t k, float *pad) {
    int64_t i = k / g->s->cout, c = k % g->s->cout;
    const float *gyc = gy + ((g->n0 + i) * g->s->cout + c) * g->s->ho * g->s->wo;
    transform_grad(g->m + c * g->p->cols + i * g->p->nt, gyc, g->s, g->p, pad);
}

/* M[xi] (cout, cin) (+)= Z[xi] (cout, gi nt) V[xi]^T. */
static void weight_product_step(const group *g, int64_t xi, float *mm, int64_t ms, bool first) {
    const graft_conv2d_shape *s = g->s;
    const plan *p = g->p;
    graft_sgemm(false, true, s->cout, s->cin, g->gi * p->nt, 1.0f, g->m + xi * p->mp, p->cols, g->v + xi * p->vp,
                p->cols, first ? 0.0f : 1.0f, mm + xi * ms, s->cin);
}

size_t graft_winograd_weight_grad_scratch(const graft_conv2d_shape *s, int team) {
    plan p = plan_of(s, 2, WGRAD_COLUMNS);
    if (team < 1) team = 1;
    return 16 * (size_t)skewed(s->cout * s->cin) + group_floats(&p) + (size_t)team * pad_floats(&p);
}

/* Groups one after another, each shared by the team: transforms by (image, channel), GEMMs
 * by position, so every M[xi] sums its groups in the same order whatever the team. */
void graft_winograd_weight_grad(float *gw, const float *gy, const float *x, const graft_conv2d_shape *s,
                                float *scratch, int team) {
    plan p = plan_of(s, 2, WGRAD_COLUMNS);
    int64_t ms = skewed(s->cout * s->cin);
    float *mm = scratch, *v = mm + 16 * ms, *pads = v + group_floats(&p);
    size_t pad = pad_floats(&p);
    if (team < 1 || omp_in_parallel()) team = 1;
    for (int64_t index = 0; index < p.groups; index++) {
        group g = group_at(NULL, x, NULL, NULL, s, &p, index, false, false, v);
#pragma omp parallel num_threads(team)
        {
            float *mine = pads + pad * (size_t)omp_get_thread_num();
#pragma omp for schedule(static)
            for (int64_t k = 0; k < g.gi * s->cin; k++) input_step(&g, k, mine);
#pragma omp for schedule(static)
            for (int64_t k = 0; k < g.gi * s->cout; k++) grad_step(&g, gy, k, mine);
#pragma omp for schedule(static)
            for (int64_t xi = 0; xi < 16; xi++) weight_product_step(&g, xi, mm, ms, index == 0);
        }
    }
    if (p.groups > 0) transform_weight_grad(gw, mm, ms, s);
}
