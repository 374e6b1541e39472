#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
typedef int64_t i64;
/* VW and vf: csrc/simd.h */
#define NVMAX 8  /* vectors of output channels held in registers at a time */

/* Event-driven 2-D convolution, forward only, one sample at a time (threads split the samples).

   x: [N, C, H, W], bytes in {0, 1} (torch bool; is_float = 0) or float32 (is_float = 1; zeros
   are skipped, the other values multiply their weights); x_cl: stored [N, H, W, C] (channels-last). table: [K * K * C, OP], row
   (ky * K + kx) * C + c = weight[:, c, ky, kx] padded with zeros to OP (a multiple of VW)
   columns. bias: [OP] or NULL. out: [N, O, OH, OW] (O <= OP), or [N, OH, OW, O] (out_cl: channels-last).

   Per sample, the active inputs of each position (y, x) are listed (channels ascending);
   each output position (oy, ox) then sums the table rows of the active inputs in its window,
   order ky, kx, c ascending, in registers (NVMAX vectors of output channels at a time, the
   table stays in cache), into a [OH * OW, OP] buffer that is finally transposed into out. */

typedef struct {
    const uint8_t* xb; const float* xf; const float* table; const float* bias; float* out;
    i64 C, H, W, O, OP, K, S, P, OH, OW;
    int x_cl;  /* x stored channels-last: [N, H, W, C] */
} conv_args;

/* Lists the active inputs of sample n: position j has cnt[j] entries chan[j * CP ...], each the
   offset c * OP of a channel's table row (and val[j * CP ...], their values, for float input).
   Either layout of x lists the same entries in the same order (channels ascending per position). */
static void list_active_cl(const conv_args* a, i64 n, i64 CP, int32_t* cnt, int32_t* chan, float* val) {
    i64 hw = a->H * a->W, C = a->C;
    for (i64 j = 0; j < hw; ++j) {
        i64 off = (n * hw + j) * C, m = 0;
        int32_t* cj = chan + j * CP;
#ifdef __AVX512F__
        /* 16 channels at a time: the active ones (nonzero; NaN included, as != 0 says) compressed to
           the front of a register, stored whole; c + 16 <= CP, so the store stays in the position's entries */
        const __m512i lane_off = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                                    13, 14, 15), _mm512_set1_epi32((int)a->OP));
#endif
        if (a->xb) {
            const uint8_t* p = a->xb + off;
#ifdef __AVX512F__
            for (i64 c = 0; c < C; c += 16) {
                __mmask16 in = C - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c)) - 1u);
                uint8_t bytes[16] = {0};
                memcpy(bytes, p + c, (size_t)(C - c >= 16 ? 16 : C - c));
                __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)bytes));
                __mmask16 k = _mm512_mask_test_epi32_mask(in, b, b);
                __m512i idx = _mm512_add_epi32(lane_off, _mm512_set1_epi32((int)(c * a->OP)));
                _mm512_storeu_si512((void*)(cj + m), _mm512_maskz_compress_epi32(k, idx));
                m += __builtin_popcount((unsigned)k);
            }
#else
            for (i64 c = 0; c < C; ++c) if (p[c]) cj[m++] = (int32_t)(c * a->OP);
#endif
        } else {
            const float* p = a->xf + off;
            float* vj = val + j * CP;
#ifdef __AVX512F__
            for (i64 c = 0; c < C; c += 16) {
                __mmask16 in = C - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (C - c)) - 1u);
                __m512 v = _mm512_maskz_loadu_ps(in, p + c);
                __mmask16 k = _mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
                __m512i idx = _mm512_add_epi32(lane_off, _mm512_set1_epi32((int)(c * a->OP)));
                _mm512_storeu_si512((void*)(cj + m), _mm512_maskz_compress_epi32(k, idx));
                _mm512_storeu_ps(vj + m, _mm512_maskz_compress_ps(k, v));
                m += __builtin_popcount((unsigned)k);
            }
#else
            for (i64 c = 0; c < C; ++c) if (p[c] != 0.0f) { vj[m] = p[c]; cj[m++] = (int32_t)(c * a->OP); }
#endif
        }
        cnt[j] = (int32_t)m;
    }
}

static void list_active(const conv_args* a, i64 n, i64 CP, int32_t* cnt, int32_t* chan, float* val) {
    i64 hw = a->H * a->W;
    if (a->x_cl) { list_active_cl(a, n, CP, cnt, chan, val); return; }
    memset(cnt, 0, sizeof(int32_t) * hw);
    for (i64 c = 0; c < a->C; ++c) {
        i64 off = (n * a->C + c) * hw;
        int32_t co = (int32_t)(c * a->OP);  /* the channel's row offset in the table */
        if (a->xb) {
            const uint8_t* p = a->xb + off;
            i64 j = 0;
            for (; j + 8 <= hw; j += 8) {  /* eight bytes at a time: skip silent words */
                uint64_t w; memcpy(&w, p + j, 8);
                if (!w) continue;
                for (i64 k = 0; k < 8; ++k) if (p[j + k]) chan[(j + k) * CP + cnt[j + k]++] = co;
            }
            for (; j < hw; ++j) if (p[j]) chan[j * CP + cnt[j]++] = co;
        } else {
            const float* p = a->xf + off;
            for (i64 j = 0; j < hw; ++j) if (p[j] != 0.0f) {
                val[j * CP + cnt[j]] = p[j];
                chan[j * CP + cnt[j]++] = co;
            }
        }
    }
}

/* Row offsets (into table, in floats) of the active inputs in the window of output (oy, ox),
   order ky, kx, c, into rows; returns their number. Each position copies a fixed CP entries
   (vectors of 16) and advances by its count: no branch that depends on the spikes. */
typedef int32_t vi __attribute__((vector_size(64), aligned(4)));
typedef float vf16 __attribute__((vector_size(64), aligned(4)));
static inline i64 window_rows(const conv_args* a, i64 oy, i64 ox, const int32_t* cnt, const int32_t* chan,
                              const float* val, i64 CP, int32_t* rows, float* vals) {
    i64 y0 = oy * a->S - a->P, x0 = ox * a->S - a->P, m = 0;
    i64 ky0 = y0 < 0 ? -y0 : 0, ky1 = a->H - y0 < a->K ? a->H - y0 : a->K;
    i64 kx0 = x0 < 0 ? -x0 : 0, kx1 = a->W - x0 < a->K ? a->W - x0 : a->K;
    for (i64 ky = ky0; ky < ky1; ++ky)
        for (i64 kx = kx0; kx < kx1; ++kx) {
            i64 j = (y0 + ky) * a->W + x0 + kx;
            int32_t off = (int32_t)((ky * a->K + kx) * a->C * a->OP);
            const vi* cl = (const vi*)(chan + j * CP);
            for (i64 v = 0; v < CP / 16; ++v) ((vi*)(rows + m))[v] = cl[v] + off;
            if (val) for (i64 v = 0; v < CP / 16; ++v) ((vf16*)(vals + m))[v] = ((const vf16*)(val + j * CP))[v];
            m += cnt[j];
        }
    return m;
}

/* buf[pos, c0 : c0 + NV * VW] = bias + the sum of the listed rows; NV constant after inlining. */
static inline __attribute__((always_inline)) void rows_sum(const conv_args* a, const int32_t* rows,
        const float* vals, i64 m, float* o, i64 c0, const int NV) {
    vf acc[NVMAX];
    for (int v = 0; v < NV; ++v) acc[v] = a->bias ? *(const vf*)(a->bias + c0 + v * VW) : (vf){0};
    const float* t = a->table + c0;
    if (vals) {
        for (i64 q = 0; q < m; ++q) {
            const vf* r = (const vf*)(t + rows[q]);
            float s = vals[q];
            for (int v = 0; v < NV; ++v) acc[v] += r[v] * s;
        }
    } else {
        for (i64 q = 0; q < m; ++q) {
            const vf* r = (const vf*)(t + rows[q]);
            for (int v = 0; v < NV; ++v) acc[v] += r[v];
        }
    }
    for (int v = 0; v < NV; ++v) ((vf*)(o + c0))[v] = acc[v];
}

/* Gather: every output position sums the table rows of the active inputs in its window. */
static void gather_sample(const conv_args* a, const int32_t* cnt, const int32_t* chan, const float* val,
                          i64 CP, int32_t* rows, float* vals, float* buf) {
    for (i64 oy = 0; oy < a->OH; ++oy)
        for (i64 ox = 0; ox < a->OW; ++ox) {
            i64 m = window_rows(a, oy, ox, cnt, chan, val, CP, rows, vals);
            float* o = buf + (oy * a->OW + ox) * a->OP;
            const float* vq = val ? vals : NULL;
            for (i64 c0 = 0; c0 < a->OP; c0 += NVMAX * VW) {
                i64 nv = (a->OP - c0) / VW < NVMAX ? (a->OP - c0) / VW : NVMAX;
                switch (nv) {  /* constant vector counts, so the accumulators stay in registers */
                    case 1: rows_sum(a, rows, vq, m, o, c0, 1); break;
                    case 2: rows_sum(a, rows, vq, m, o, c0, 2); break;
                    case 3: rows_sum(a, rows, vq, m, o, c0, 3); break;
                    case 4: rows_sum(a, rows, vq, m, o, c0, 4); break;
                    case 5: rows_sum(a, rows, vq, m, o, c0, 5); break;
                    case 6: rows_sum(a, rows, vq, m, o, c0, 6); break;
                    case 7: rows_sum(a, rows, vq, m, o, c0, 7); break;
                    default: rows_sum(a, rows, vq, m, o, c0, 8); break;
                }
            }
        }
}

/* Scatter: every active input (c, y, x) adds its table rows into the outputs of its window. */
static void scatter_sample(const conv_args* a, const int32_t* cnt, const int32_t* chan, const float* val,
                           i64 CP, float* buf) {
    i64 npos = a->OH * a->OW, nv = a->OP / VW;
    for (i64 p = 0; p < npos; ++p)
        for (i64 v = 0; v < nv; ++v) ((vf*)(buf + p * a->OP))[v] = a->bias ? ((const vf*)a->bias)[v] : (vf){0};
    for (i64 y = 0; y < a->H; ++y)
        for (i64 x = 0; x < a->W; ++x) {
            i64 j = y * a->W + x, m = cnt[j];
            if (!m) continue;
            for (i64 ky = 0; ky < a->K; ++ky) {
                i64 ty = y + a->P - ky, oy = ty / a->S;
                if (ty < 0 || oy * a->S != ty || oy >= a->OH) continue;
                for (i64 kx = 0; kx < a->K; ++kx) {
                    i64 tx = x + a->P - kx, ox = tx / a->S;
                    if (tx < 0 || ox * a->S != tx || ox >= a->OW) continue;
                    vf* o = (vf*)(buf + (oy * a->OW + ox) * a->OP);
                    const float* t = a->table + (ky * a->K + kx) * a->C * a->OP;
                    for (i64 q = 0; q < m; ++q) {
                        const vf* r = (const vf*)(t + chan[j * CP + q]);
                        if (val) { float s = val[j * CP + q]; for (i64 v = 0; v < nv; ++v) o[v] += r[v] * s; }
                        else for (i64 v = 0; v < nv; ++v) o[v] += r[v];
                    }
                }
            }
        }
}

/* out[n] [O, npos] = buf [npos, OP] transposed, in tiles of 16 positions (they stay in L1);
   channels-last output (out_cl): out[n] [npos, O] = the first O columns of buf. */
static void store_sample(const conv_args* a, i64 n, const float* buf, int out_cl) {
    i64 npos = a->OH * a->OW;
    float* on = a->out + n * a->O * npos;
    if (out_cl) {  /* whole vectors, then the last few channels one by one (no memcpy call per position) */
        i64 full = a->O / VW * VW;
        for (i64 p = 0; p < npos; ++p) {
            float* d = on + p * a->O;
            const float* src = buf + p * a->OP;
            for (i64 c = 0; c < full; c += VW) *(vf*)(d + c) = *(const vf*)(src + c);
            for (i64 c = full; c < a->O; ++c) d[c] = src[c];
        }
        return;
    }
    for (i64 p0 = 0; p0 < npos; p0 += 16) {
        i64 p1 = p0 + 16 < npos ? p0 + 16 : npos;
        for (i64 o = 0; o < a->O; ++o)
            for (i64 p = p0; p < p1; ++p) on[o * npos + p] = buf[p * a->OP + o];
    }
}

/* Returns 1 if a thread could not allocate its work space, else 0. scatter: 1 scatters each
   active input into its window, 0 gathers each output's window (see the functions above). */
int event_conv2d(const void* x, int is_float, const float* table, const float* bias, float* out,
                 i64 N, i64 C, i64 H, i64 W, i64 O, i64 OP, i64 K, i64 S, i64 P, i64 OH, i64 OW,
                 int scatter, int out_cl, int x_cl, int threads) {
    conv_args args = {is_float ? NULL : (const uint8_t*)x, is_float ? (const float*)x : NULL, table, bias, out,
                      C, H, W, O, OP, K, S, P, OH, OW, x_cl};
    int failed = 0;
    i64 CP = (C + 15) / 16 * 16;  /* list stride: whole vectors of 16 entries */
    if (threads > N) threads = N > 0 ? (int)N : 1;
    PAR_RANGES(0, N, threads, {
        i64 hw = H * W;
        int32_t* cnt = (int32_t*)malloc(sizeof(int32_t) * hw);
        int32_t* chan = (int32_t*)calloc(hw * CP, sizeof(int32_t));
        float* val = is_float ? (float*)calloc(hw * CP, sizeof(float)) : NULL;
        int32_t* rows = (int32_t*)malloc(sizeof(int32_t) * (K * K * C + CP));
        float* vals = is_float ? (float*)malloc(sizeof(float) * (K * K * C + CP)) : NULL;
        float* buf = (float*)malloc(sizeof(float) * OH * OW * OP);
        if (!cnt || !chan || (is_float && (!val || !vals)) || !rows || !buf) { _Pragma("omp atomic write") failed = 1; }
        else for (i64 n = a; n < b; ++n) {
            list_active(&args, n, CP, cnt, chan, val);
            if (scatter) scatter_sample(&args, cnt, chan, val, CP, buf);
            else gather_sample(&args, cnt, chan, val, CP, rows, vals, buf);
            store_sample(&args, n, buf, out_cl);
        }
        free(cnt); free(chan); free(val); free(rows); free(vals); free(buf);
    });
    return failed;
}

/* The vector width the library was built with (the table's columns are padded to it). */
int event_conv_width(void) { return VW; }

/* acc[(ky * K + kx) * C + c, :] += g[pos, :] (times the input's value) for every output position
   pos that reads active input (c, y, x) through tap (ky, kx): tap by tap, so that the tap's slice
   of acc (C * OP floats) stays in L1 while the positions stream past; each row receives the same
   terms in the same order (positions ascending) as the input-major loop, so the same sums. */
static void wgrad_tapwise(const conv_args* a, const int32_t* cnt, const int32_t* chan, const float* val, i64 CP,
                          const float* g, float* acc) {
    i64 nv = a->OP / VW;
    for (i64 ky = 0; ky < a->K; ++ky)
        for (i64 kx = 0; kx < a->K; ++kx) {
            float* t = acc + (ky * a->K + kx) * a->C * a->OP;
            for (i64 oy = 0; oy < a->OH; ++oy) {
                i64 y = oy * a->S - a->P + ky;
                if (y < 0 || y >= a->H) continue;
                for (i64 ox = 0; ox < a->OW; ++ox) {
                    i64 x = ox * a->S - a->P + kx, j = y * a->W + x;
                    if (x < 0 || x >= a->W || !cnt[j]) continue;
                    const vf* gv = (const vf*)(g + (oy * a->OW + ox) * a->OP);
                    const int32_t* cj = chan + j * CP;
                    for (i64 q = 0; q < cnt[j]; ++q) {
                        vf* r = (vf*)(t + cj[q]);
                        if (val) { float s = val[j * CP + q]; for (i64 v = 0; v < nv; ++v) r[v] += gv[v] * s; }
                        else for (i64 v = 0; v < nv; ++v) r[v] += gv[v];
                    }
                }
            }
        }
}

/* The same sums as wgrad_tapwise, input by input (y, x ascending), each active input adding the
   gradient of every output it reaches into the rows of its taps: faster for 1-channel inputs,
   where most windows hold few active inputs. */
static void wgrad_inputwise(const conv_args* a, const int32_t* cnt, const int32_t* chan, const float* val, i64 CP,
                            const float* g, float* acc) {
    i64 nv = a->OP / VW;
    for (i64 y = 0; y < a->H; ++y)
        for (i64 xx = 0; xx < a->W; ++xx) {
            i64 j = y * a->W + xx, m = cnt[j];
            if (!m) continue;
            for (i64 ky = 0; ky < a->K; ++ky) {
                i64 ty = y + a->P - ky, oy = ty / a->S;
                if (ty < 0 || oy * a->S != ty || oy >= a->OH) continue;
                for (i64 kx = 0; kx < a->K; ++kx) {
                    i64 tx = xx + a->P - kx, ox = tx / a->S;
                    if (tx < 0 || ox * a->S != tx || ox >= a->OW) continue;
                    const vf* gv = (const vf*)(g + (oy * a->OW + ox) * a->OP);
                    float* t = acc + (ky * a->K + kx) * a->C * a->OP;
                    for (i64 q = 0; q < m; ++q) {
                        vf* r = (vf*)(t + chan[j * CP + q]);
                        if (val) { float s = val[j * CP + q]; for (i64 v = 0; v < nv; ++v) r[v] += gv[v] * s; }
                        else for (i64 v = 0; v < nv; ++v) r[v] += gv[v];
                    }
                }
            }
        }
}

/* Event-driven weight gradient: dtable[(ky * K + kx) * C + c, o] = sum over the active inputs
   (n, c, y, x) of value * g[n, o, oy, ox], (oy, ox) the output that input reaches through (ky, kx).

   g: [N, O, OH, OW] float32 (the gradient of the output), or [N, OH, OW, O] (g_cl: channels-last);
   x as for event_conv2d (x_cl: channels-last). dtable: [K * K * C, OP], zeroed here.
   Each thread sums its samples into its own table (a sample's gradient is first transposed
   into a [OH * OW, OP] buffer, so the O values of a position are one vector); the tables of the
   threads are then added in thread order into dtable. Returns 1 if a thread could not allocate. */
int event_conv2d_wgrad(const void* x, int is_float, const float* g, float* dtable,
                       i64 N, i64 C, i64 H, i64 W, i64 O, i64 OP, i64 K, i64 S, i64 P, i64 OH, i64 OW,
                       int g_cl, int x_cl, int threads) {
    conv_args args = {is_float ? NULL : (const uint8_t*)x, is_float ? (const float*)x : NULL, NULL, NULL, NULL,
                      C, H, W, O, OP, K, S, P, OH, OW, x_cl};
    int failed = 0;
    i64 CP = (C + 15) / 16 * 16, rows = K * K * C, npos = OH * OW;
    if (threads > N) threads = N > 0 ? (int)N : 1;
    if (threads < 1) threads = 1;
    float* parts = (float*)calloc((size_t)(threads > 1 ? threads - 1 : 0) * rows * OP + 1, sizeof(float));
    if (!parts) return 1;
    memset(dtable, 0, sizeof(float) * rows * OP);
    PAR_RANGES(0, N, threads, {
        float* acc = k_ == 0 ? dtable : parts + (i64)(k_ - 1) * rows * OP;
        i64 hw = H * W;
        int32_t* cnt = (int32_t*)malloc(sizeof(int32_t) * hw);
        int32_t* chan = (int32_t*)calloc(hw * CP, sizeof(int32_t));
        float* val = is_float ? (float*)calloc(hw * CP, sizeof(float)) : NULL;
        float* buf = (float*)calloc(npos * OP, sizeof(float));
        if (!cnt || !chan || (is_float && !val) || !buf) { _Pragma("omp atomic write") failed = 1; }
        else for (i64 n = a; n < b; ++n) {
            list_active(&args, n, CP, cnt, chan, val);
            const float* gn = g + n * O * npos;
            if (g_cl) for (i64 p = 0; p < npos; ++p) memcpy(buf + p * OP, gn + p * O, sizeof(float) * O);
            else for (i64 p0 = 0; p0 < npos; p0 += 16) {  /* transpose in tiles of 16 positions */
                i64 p1 = p0 + 16 < npos ? p0 + 16 : npos;
                for (i64 o = 0; o < O; ++o)
                    for (i64 p = p0; p < p1; ++p) buf[p * OP + o] = gn[o * npos + p];
            }
            if (C > 1) wgrad_tapwise(&args, cnt, chan, val, CP, buf, acc);  /* a tap's rows stay in L1 */
            else wgrad_inputwise(&args, cnt, chan, val, CP, buf, acc);  /* 1 channel: few active inputs */
        }
        free(cnt); free(chan); free(val); free(buf);
    });
    for (int t = 1; t < threads; ++t) {
        const float* part = parts + (i64)(t - 1) * rows * OP;
        for (i64 i = 0; i < rows * OP; ++i) dtable[i] += part[i];
    }
    free(parts);
    return failed;
}

/* The number of nonzero entries of x [n] (float32 if is_float, else bytes), split over threads
   and summed: exact, in any order. */
i64 count_nonzero(const void* x, int is_float, i64 n, int threads) {
    i64 total = 0;
    if (threads < 1) threads = 1;
    PAR_RANGES(0, n, threads, {
        i64 c = 0;
        if (is_float) { const float* p = (const float*)x; for (i64 i = a; i < b; ++i) c += p[i] != 0.0f; }
        else { const uint8_t* p = (const uint8_t*)x; for (i64 i = a; i < b; ++i) c += p[i] != 0; }
        _Pragma("omp atomic") total += c;
    });
    return total;
}
