#include <stdint.h>
#include <string.h>
typedef int64_t i64;
/* VW and vf: csrc/simd.h */
#define MG 4     /* output features per pass */
#ifdef __AVX512F__
#define RP 4     /* rows per pass of the forward: RP x MG accumulators (32 registers) */
#else
#define RP 2     /* (16 registers) */
#endif
#define RB 128   /* rows per block of the weight gradient (RB x K floats stay in L2) */

/* A dense linear layer with few output features (M <= 32: a classifier's output layer), where
   MKL's sgemm runs far below what memory allows (it packs the whole [N, K] input first).
   x: [N, K] float32, w: [M, K], g: [N, M] (the output's gradient); all row-major. Each output
   row is computed on its own, in the same order whatever N or the thread count, so a batch and
   its rows one at a time give the same bits. */

static inline float hsum(vf v) {  /* lanes summed pairwise: a fixed order */
    float t[VW];
    memcpy(t, &v, sizeof(t));
    for (int h = VW / 2; h > 0; h /= 2)
        for (int i = 0; i < h; ++i) t[i] = t[i] + t[i + h];
    return t[0];
}

static inline vf ld(const float* p) { vf v; memcpy(&v, p, sizeof(v)); return v; }
static inline void st(float* p, vf v) { memcpy(p, &v, sizeof(v)); }

/* out[r, m] = sum_k x[r, k] w[m, k] (+ bias[m]) for rows [r0, r1): RP rows and MG features a
   pass (RP * MG accumulators in registers; a short last pass repeats its last row or feature). */
static void fwd_rows(const float* x, const float* w, const float* bias, float* out, i64 K, i64 M, i64 r0, i64 r1) {
    i64 kv = K - K % VW;
    for (i64 r = r0; r < r1; r += RP) {
        int nr = (int)(r1 - r < RP ? r1 - r : RP);
        const float* xr[RP];
        for (int i = 0; i < RP; ++i) xr[i] = x + (r + (i < nr ? i : nr - 1)) * K;
        for (i64 m0 = 0; m0 < M; m0 += MG) {
            int mg = (int)(M - m0 < MG ? M - m0 : MG);
            const float* wr[MG];
            for (int j = 0; j < MG; ++j) wr[j] = w + (m0 + (j < mg ? j : mg - 1)) * K;
            vf a[RP][MG] = {{{0}}};
            for (i64 k = 0; k < kv; k += VW) {
                vf u[RP];
                for (int i = 0; i < RP; ++i) u[i] = ld(xr[i] + k);
                for (int j = 0; j < MG; ++j) {
                    vf q = ld(wr[j] + k);
                    for (int i = 0; i < RP; ++i) a[i][j] += u[i] * q;
                }
            }
            for (int i = 0; i < nr; ++i)
                for (int j = 0; j < mg; ++j) {
                    float sum = hsum(a[i][j]);
                    for (i64 k = kv; k < K; ++k) sum += xr[i][k] * wr[j][k];
                    out[(r + i) * M + m0 + j] = bias ? sum + bias[m0 + j] : sum;
                }
        }
    }
}

/* gin[r, k] = sum_m g[r, m] w[m, k] (m ascending) for rows [r0, r1), two rows a pass. */
static void gin_rows(const float* g, const float* w, float* gin, i64 K, i64 M, i64 r0, i64 r1) {
    i64 kv = K - K % VW;
    for (i64 r = r0; r < r1; r += 2) {
        int two = r + 1 < r1;
        const float* g0 = g + r * M;
        const float* g1 = two ? g0 + M : g0;
        float* o0 = gin + r * K;
        float* o1 = two ? o0 + K : o0;
        for (i64 k = 0; k < kv; k += VW) {
            vf q = ld(w + k), a0 = g0[0] * q, a1 = g1[0] * q;
            for (i64 m = 1; m < M; ++m) { q = ld(w + m * K + k); a0 += g0[m] * q; a1 += g1[m] * q; }
            st(o0 + k, a0);
            if (two) st(o1 + k, a1);
        }
        for (i64 k = kv; k < K; ++k) {
            float s0 = g0[0] * w[k], s1 = g1[0] * w[k];
            for (i64 m = 1; m < M; ++m) { s0 += g0[m] * w[m * K + k]; s1 += g1[m] * w[m * K + k]; }
            o0[k] = s0;
            if (two) o1[k] = s1;
        }
    }
}

/* gw[m, k] = sum_r g[r, m] x[r, k] for columns [k0, k1) (multiples of VW but the last): blocks of
   RB rows, each summed in registers (r ascending) and added to gw in block order. */
static void gw_cols(const float* g, const float* x, float* gw, i64 N, i64 K, i64 M, i64 k0, i64 k1) {
    for (i64 m = 0; m < M; ++m) memset(gw + m * K + k0, 0, sizeof(float) * (size_t)(k1 - k0));
    for (i64 rb = 0; rb < N; rb += RB) {
        i64 re = rb + RB < N ? rb + RB : N;
        i64 k = k0;
        for (; k + VW <= k1; k += VW)
            for (i64 m0 = 0; m0 < M; m0 += MG) {
                int mg = (int)(M - m0 < MG ? M - m0 : MG);
                i64 c[MG];  /* the features of this pass; a short last group repeats its last one */
                for (int j = 0; j < MG; ++j) c[j] = m0 + (j < mg ? j : mg - 1);
                vf a[MG] = {{0}};
                for (i64 r = rb; r < re; ++r) {
                    vf u = ld(x + r * K + k);
                    const float* gr = g + r * M;
                    for (int j = 0; j < MG; ++j) a[j] += gr[c[j]] * u;
                }
                for (int j = 0; j < mg; ++j) st(gw + c[j] * K + k, ld(gw + c[j] * K + k) + a[j]);
            }
        for (; k < k1; ++k)
            for (i64 m = 0; m < M; ++m) {
                float s = 0.0f;
                for (i64 r = rb; r < re; ++r) s += g[r * M + m] * x[r * K + k];
                gw[m * K + k] += s;
            }
    }
}

/* Threads split the rows (forward, input gradient; cut at even rows) or the columns (weight
   gradient; cut at multiples of VW), so no sum is split between threads. */
void narrow_fwd(const float* x, const float* w, const float* bias, float* out, i64 N, i64 K, i64 M, int threads) {
    PAR_RANGES(0, (N + 1) / 2, threads, fwd_rows(x, w, bias, out, K, M, 2 * a, 2 * b < N ? 2 * b : N));
}

void narrow_gin(const float* g, const float* w, float* gin, i64 N, i64 K, i64 M, int threads) {
    PAR_RANGES(0, (N + 1) / 2, threads, gin_rows(g, w, gin, K, M, 2 * a, 2 * b < N ? 2 * b : N));
}

void narrow_gw(const float* g, const float* x, float* gw, i64 N, i64 K, i64 M, int threads) {
    PAR_RANGES(0, (K + VW - 1) / VW, threads, gw_cols(g, x, gw, N, K, M, a * VW, b * VW < K ? b * VW : K));
}

