#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
typedef int64_t i64;
/* VW and vf: csrc/simd.h */
#define NVMAX 4  /* vectors of output channels per pass (the accumulators of 4 positions) */

/* p[0 .. k) = the first k (< VW) floats of v, touching nothing beyond them. */
static inline void store_part(float* p, vf v, int k) {
#if defined(__AVX512F__)
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << k) - 1u), (__m512)v);
#elif defined(__AVX2__)
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(k), lane), (__m256)v);
#else
    float t[VW];
    memcpy(t, &v, sizeof(t));
    memcpy(p, t, sizeof(float) * (size_t)k);
#endif
}
#define PB 8     /* output positions per block in the forward pass (at most 16 accumulators) */

/* Dense direct 2-D convolution for inputs with few channels (an input layer's spikes: LeNet's
   1 -> 20 5x5 conv), forward and weight gradient, where MKLDNN runs far below peak and the
   event-driven kernel spends its time on bookkeeping once a few tenths of the inputs are active.

   x: [N, C, H, W] bytes in {0, 1} (torch bool; is_float = 0) or float32, or [N, H, W, C]
   (x_cl). table: [R = K * K * C, OP], row (ky * K + kx) * C + c = weight[:, c, ky, kx] padded
   to OP (a multiple of VW) columns. Each sample is first copied into a zero-bordered float
   image xf [(H + 2P), (W + 2P), C], so that every row r of an output (oy, ox) reads
   xf[base(oy, ox) + off[r]] with no bounds test. Every sum runs over r ascending. */

typedef struct {
    const uint8_t* xb; const float* xf; i64 C, H, W, K, S, P, OH, OW, OP, R;
    int x_cl;
} dconv_args;

/* xf (zeroed border) = sample n of x, channels-last. */
static void fill_image(const dconv_args* a, i64 n, float* xf) {
    i64 wp = a->W + 2 * a->P, C = a->C, hw = a->H * a->W;
    memset(xf, 0, sizeof(float) * (a->H + 2 * a->P) * wp * C);
    if (C == 1 && a->xb) {  /* an input layer's bool spikes: one row at a time */
        const uint8_t* src = a->xb + n * hw;
        for (i64 y = 0; y < a->H; ++y) {
            float* dst = xf + (y + a->P) * wp + a->P;
            for (i64 x = 0; x < a->W; ++x) dst[x] = (float)src[y * a->W + x];
        }
        return;
    }
    for (i64 y = 0; y < a->H; ++y)
        for (i64 x = 0; x < a->W; ++x)
            for (i64 c = 0; c < C; ++c) {
                i64 src = a->x_cl ? ((n * a->H + y) * a->W + x) * C + c : (n * C + c) * hw + y * a->W + x;
                xf[((y + a->P) * wp + x + a->P) * C + c] = a->xb ? (float)a->xb[src] : a->xf[src];
            }
}

/* off[r]: the offset of row r = (ky * K + kx) * C + c from an output's base in xf. */
static void row_offsets(const dconv_args* a, int32_t* off) {
    i64 wp = a->W + 2 * a->P;
    for (i64 r = 0; r < a->R; ++r) {
        i64 c = r % a->C, kx = (r / a->C) % a->K, ky = r / (a->C * a->K);
        off[r] = (int32_t)((ky * wp + kx) * a->C + c);
    }
}

/* o[b * os + c0 ..] = bias + sum_r table[r, c0 ..] * xf[base_b + off[r]] for B positions, NV
   vectors; only the first no columns of a position are written (no <= os). */
static inline __attribute__((always_inline)) void block_sum(const dconv_args* a, const float* table,
        const float* bias, const float* xf, const int32_t* off, i64 base, i64 step, float* o, i64 os, i64 no,
        i64 c0, const int NV, const int B) {
    vf acc[PB][NVMAX];
    for (int b = 0; b < B; ++b)
        for (int v = 0; v < NV; ++v) acc[b][v] = bias ? *(const vf*)(bias + c0 + v * VW) : (vf){0};
    for (i64 r = 0; r < a->R; ++r) {
        const vf* w = (const vf*)(table + r * a->OP + c0);
        const float* p = xf + base + off[r];
        for (int b = 0; b < B; ++b) {
            float s = p[b * step];
            for (int v = 0; v < NV; ++v) acc[b][v] += w[v] * s;
        }
    }
    for (int b = 0; b < B; ++b)
        for (int v = 0; v < NV; ++v) {
            i64 c = c0 + v * VW;
            if (c + VW <= no) *(vf*)(o + b * os + c) = acc[b][v];
            else if (c < no) store_part(o + b * os + c, acc[b][v], (int)(no - c));
        }
}

#define NV_SWITCH(nv, CALL)                                  \
    switch (nv) {                                            \
        case 1: CALL(1); break;                              \
        case 2: CALL(2); break;                              \
        case 3: CALL(3); break;                              \
        default: CALL(4); break;                             \
    }

/* dst [OH * OW, os] = the outputs of one sample, the first no columns of each position
   (channels-last output: os = no = O, written in place; else a buffer with os = no = OP). */
static void forward_sample(const dconv_args* a, const float* table, const float* bias, const float* xf,
                           const int32_t* off, float* dst, i64 os, i64 no) {
    i64 wp = a->W + 2 * a->P, step = a->S * a->C;
    int pb = a->OP <= 2 * VW ? PB : PB / 2;  /* 16 accumulators at most */
    for (i64 oy = 0; oy < a->OH; ++oy)
        for (i64 ox = 0; ox < a->OW;) {
            int B = a->OW - ox >= pb ? pb : a->OW - ox >= PB / 2 ? PB / 2 : 1;
            i64 base = (oy * a->S * wp + ox * a->S) * a->C;
            float* o = dst + (oy * a->OW + ox) * os;
            for (i64 c0 = 0; c0 < a->OP; c0 += NVMAX * VW) {
                i64 nv = (a->OP - c0) / VW;
#define FWD(NV) (B == PB ? block_sum(a, table, bias, xf, off, base, step, o, os, no, c0, NV, PB) \
                         : B >= PB / 2 ? block_sum(a, table, bias, xf, off, base, step, o, os, no, c0, NV, PB / 2) \
                         : block_sum(a, table, bias, xf, off, base, step, o, os, no, c0, NV, 1))
                NV_SWITCH(nv, FWD)
#undef FWD
            }
            ox += B;
        }
}

/* out: [N, O, OH, OW] float32, or [N, OH, OW, O] (out_cl). Returns 1 if a thread could not
   allocate its work space, else 0. Threads split the samples. */
int direct_conv2d(const void* x, int is_float, const float* table, const float* bias, float* out,
                  i64 N, i64 C, i64 H, i64 W, i64 O, i64 OP, i64 K, i64 S, i64 P, i64 OH, i64 OW,
                  int out_cl, int x_cl, int threads) {
    dconv_args args = {is_float ? NULL : (const uint8_t*)x, is_float ? (const float*)x : NULL,
                       C, H, W, K, S, P, OH, OW, OP, K * K * C, x_cl};
    int failed = 0;
    i64 npos = OH * OW;
    if (threads > N) threads = N > 0 ? (int)N : 1;
    PAR_RANGES(0, N, threads, {
        float* xf = (float*)malloc(sizeof(float) * ((H + 2 * P) * (W + 2 * P) * C + 1));
        int32_t* off = (int32_t*)malloc(sizeof(int32_t) * args.R);
        float* buf = (float*)malloc(sizeof(float) * npos * OP);
        if (!xf || !off || !buf) { _Pragma("omp atomic write") failed = 1; }
        else {
            row_offsets(&args, off);
            for (i64 n = a; n < b; ++n) {
                fill_image(&args, n, xf);
                float* on = out + n * O * npos;
                if (out_cl) forward_sample(&args, table, bias, xf, off, on, O, O);
                else {
                    forward_sample(&args, table, bias, xf, off, buf, OP, OP);
                    for (i64 o = 0; o < O; ++o)
                        for (i64 p = 0; p < npos; ++p) on[o * npos + p] = buf[p * OP + o];
                }
            }
        }
        free(xf); free(off); free(buf);
    });
    return failed;
}

/* acc[r0 + j, c0 ..] += sum over the positions of xf[base + off[r0 + j]] * g[pos, c0 ..], for
   j < rb rows (rb <= RBM; rb * NV accumulators in registers: the loops over j are unrolled and
   guarded by j < rb), positions in order. */
static inline __attribute__((always_inline)) void wgrad_rows(const dconv_args* a, const float* xf,
        const int32_t* off, const float* g, float* acc, i64 r0, int rb, i64 c0, const int NV, const int RBM) {
    vf s[24];
    i64 wp = a->W + 2 * a->P;
#pragma GCC unroll 24
    for (int j = 0; j < RBM; ++j)
        if (j < rb) for (int v = 0; v < NV; ++v) s[j * NV + v] = *(const vf*)(acc + (r0 + j) * a->OP + c0 + v * VW);
    for (i64 oy = 0; oy < a->OH; ++oy)
        for (i64 ox = 0; ox < a->OW; ++ox) {
            const float* p = xf + (oy * a->S * wp + ox * a->S) * a->C;
            const vf* gv = (const vf*)(g + (oy * a->OW + ox) * a->OP + c0);
#pragma GCC unroll 24
            for (int j = 0; j < RBM; ++j)
                if (j < rb) {
                    float x = p[off[r0 + j]];
                    for (int v = 0; v < NV; ++v) s[j * NV + v] += gv[v] * x;
                }
        }
#pragma GCC unroll 24
    for (int j = 0; j < RBM; ++j)
        if (j < rb) for (int v = 0; v < NV; ++v) *(vf*)(acc + (r0 + j) * a->OP + c0 + v * VW) = s[j * NV + v];
}

/* The R rows in groups of at most 24 / NV (24 accumulators), of as equal sizes as can be. */
static inline __attribute__((always_inline)) void wgrad_groups(const dconv_args* a, const float* xf,
        const int32_t* off, const float* g, float* acc, i64 c0, const int NV) {
    const int RBM = 24 / NV;
    i64 groups = (a->R + RBM - 1) / RBM;
    for (i64 k = 0, r0 = 0; k < groups; ++k) {
        i64 r1 = a->R * (k + 1) / groups;
        wgrad_rows(a, xf, off, g, acc, r0, (int)(r1 - r0), c0, NV, RBM);
        r0 = r1;
    }
}

/* acc[r, :] += the weight gradient of one sample (xf, g [OH * OW, OP]), groups of rows in registers. */
static void wgrad_sample(const dconv_args* a, const float* xf, const int32_t* off, const float* g, float* acc) {
    for (i64 c0 = 0; c0 < a->OP; c0 += NVMAX * VW) {
        i64 nv = (a->OP - c0) / VW;
#define WG(NV) wgrad_groups(a, xf, off, g, acc, c0, NV)
        NV_SWITCH(nv, WG)
#undef WG
    }
}

/* Weight gradient: dtable[r, o] = sum over samples and output positions of
   xf[base + off[r]] * g[n, o, oy, ox]. g: [N, O, OH, OW] or [N, OH, OW, O] (g_cl). dtable:
   [R, OP]. Each thread sums its samples into its own table; the tables are then added in
   thread order. Returns 1 if a thread could not allocate, else 0. */
int direct_conv2d_wgrad(const void* x, int is_float, const float* g, float* dtable,
                        i64 N, i64 C, i64 H, i64 W, i64 O, i64 OP, i64 K, i64 S, i64 P, i64 OH, i64 OW,
                        int g_cl, int x_cl, int threads) {
    dconv_args args = {is_float ? NULL : (const uint8_t*)x, is_float ? (const float*)x : NULL,
                       C, H, W, K, S, P, OH, OW, OP, K * K * C, x_cl};
    int failed = 0;
    i64 R = K * K * C, npos = OH * OW;
    if (threads > N) threads = N > 0 ? (int)N : 1;
    if (threads < 1) threads = 1;
    float* tables = (float*)calloc((size_t)threads * R * OP, sizeof(float));
    if (!tables) return 1;
    PAR_RANGES(0, N, threads, {
        float* acc = tables + (i64)k_ * R * OP;
        float* xf = (float*)malloc(sizeof(float) * ((H + 2 * P) * (W + 2 * P) * C + 1));
        int32_t* off = (int32_t*)malloc(sizeof(int32_t) * R);
        float* buf = (float*)calloc(npos * OP, sizeof(float));
        if (!xf || !off || !buf) { _Pragma("omp atomic write") failed = 1; }
        else {
            row_offsets(&args, off);
            for (i64 n = a; n < b; ++n) {
                fill_image(&args, n, xf);
                const float* gn = g + n * O * npos;
                if (g_cl) for (i64 p = 0; p < npos; ++p) memcpy(buf + p * OP, gn + p * O, sizeof(float) * O);
                else for (i64 o = 0; o < O; ++o)
                    for (i64 p = 0; p < npos; ++p) buf[p * OP + o] = gn[o * npos + p];
                wgrad_sample(&args, xf, off, buf, acc);
            }
        }
        free(xf); free(off); free(buf);
    });
    for (i64 i = 0; i < R * OP; ++i) {
        float s = tables[i];
        for (int t = 1; t < threads; ++t) s += tables[(i64)t * R * OP + i];
        dtable[i] = s;
    }
    free(tables);
    return failed;
}

/* The vector width the library was built with (the table's columns are padded to it). */
int direct_conv_width(void) { return VW; }
