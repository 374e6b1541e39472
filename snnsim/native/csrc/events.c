
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif
typedef int64_t i64;
typedef float v8 __attribute__((vector_size(32), aligned(4)));  /* 8 floats, unaligned loads */
#define MB 64  /* output columns held in registers at a time */

/* Bit i of the result = p[i] for 64 bytes p[i] in {0, 1} (torch bool). */
static inline uint64_t mask64(const uint8_t* p) {
#ifdef __AVX2__
    __m256i a = _mm256_loadu_si256((const __m256i*)p), b = _mm256_loadu_si256((const __m256i*)(p + 32));
    uint64_t lo = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(a, 7));
    uint64_t hi = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(b, 7));
    return lo | (hi << 32);
#else
    uint64_t m = 0;
    for (int k = 0; k < 8; ++k) {  /* gathers bit 0 of each byte of a word into one byte */
        uint64_t w; memcpy(&w, p + 8 * k, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        m |= ((w * 0x0102040810204080ULL) >> 56) << (8 * k);
    }
    return m;
#endif
}

/* Runs body with j = each index of a set byte of row xr[0:K], ascending. */
#define FOR_EACH_SET(xr, K, body)                                                  \
    {   i64 c_ = 0;                                                                \
        for (; c_ + 64 <= (K); c_ += 64) {                                         \
            uint64_t m_ = mask64((xr) + c_);                                       \
            while (m_) { i64 j = c_ + __builtin_ctzll(m_); body; m_ &= m_ - 1; } } \
        for (; c_ < (K); ++c_) if ((xr)[c_]) { i64 j = c_; body; } }

/* counts[r] = number of set bytes in row r. */
void row_counts(const uint8_t* x, i64 N, i64 K, i64* counts) {
    for (i64 r = 0; r < N; ++r) {
        const uint8_t* xr = x + r * K;
        i64 c = 0, k = 0;
        for (; k + 64 <= K; k += 64) c += __builtin_popcountll(mask64(xr + k));
        for (; k < K; ++k) c += xr[k];
        counts[r] = c;
    }
}

/* counts[j] = number of rows r with x[r, j] set (int32; N < 2^31), columns split among threads;
   each thread sweeps all rows over a block of 4096 columns, whose counts stay in L1. */
#define CB 4096
void col_counts_par(const uint8_t* x, i64 N, i64 K, int32_t* counts, int threads) {
    PAR_RANGES(0, K, threads, {
        for (i64 c0 = a; c0 < b; c0 += CB) {
            i64 c1 = c0 + CB < b ? c0 + CB : b;
            int32_t* cnt = counts + c0;
            for (i64 j = 0; j < c1 - c0; ++j) cnt[j] = 0;
            for (i64 r = 0; r < N; ++r) {
                const uint8_t* xr = x + r * K + c0;
                for (i64 j = 0; j < c1 - c0; ++j) cnt[j] += xr[j];
            }
        }
    });
}

/* idx[start[r] ...] = the j with x[r, j], ascending. */
void row_index(const uint8_t* x, i64 N, i64 K, const i64* start, int32_t* idx) {
    for (i64 r = 0; r < N; ++r) {
        const uint8_t* xr = x + r * K;
        i64 p = start[r];
        FOR_EACH_SET(xr, K, idx[p++] = (int32_t)j);
    }
}

/* Row lists -> column lists: for rows r ascending, cidx[pos[j]++] = r for each j in row r
   (ridx[rstart[r] ... rstart[r+1]]); pos: a work copy of the column list starts. */
void transpose_index(const i64* rstart, const int32_t* ridx, i64 N, i64* pos, int32_t* cidx) {
    for (i64 r = 0; r < N; ++r)
        for (i64 q = rstart[r]; q < rstart[r + 1]; ++q) cidx[pos[ridx[q]]++] = (int32_t)r;
}

/* out[i, m0:m1] = sum over q in [start[i], start[i+1]) of src[idx[q], m0:m1], q ascending,
   for all rows i < n_out; src (n_src rows) and out have M columns. Column blocks of BW
   outer, so the block of src read by all rows stays in cache; when that block is large
   (many src rows) the rows go in chunks of `chunk` (each list is ascending, a cursor per
   row keeps its place), partial sums staying in out: the same additions in the same order. */
#define BW 64
#ifndef PF
#define PF 10  /* rows prefetched ahead in the gather: the table rows are L2 misses (measured 4-16; 10 best) */
#endif
static void block_sum(const float* src, const i64* start, const int32_t* idx, float* out, i64 n_out, i64 M,
                      i64 c, i64 w, i64 n_src, i64 chunk, i64* cur) {
    for (i64 i = 0; i < n_out; ++i) cur[i] = start[i];
    for (i64 r1 = chunk;; r1 += chunk) {  /* src rows below r1 */
        int first = r1 == chunk;
        for (i64 i = 0; i < n_out; ++i) {
            float* o = out + i * M + c;
            i64 q = cur[i], end = start[i + 1];
            if (w == BW) {  /* eight registers of eight floats */
                v8* ov = (v8*)o;
                v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
                if (!first) { a0 = ov[0]; a1 = ov[1]; a2 = ov[2]; a3 = ov[3]; a4 = ov[4]; a5 = ov[5]; a6 = ov[6]; a7 = ov[7]; }
                for (; q < end && idx[q] < r1; ++q) {
                    const v8* p = (const v8*)(src + (i64)idx[q] * M + c);
                    if (q + PF < end) {  /* the row PF entries ahead: its four cache lines */
                        const char* f = (const char*)(src + (i64)idx[q + PF] * M + c);
                        __builtin_prefetch(f); __builtin_prefetch(f + 64); __builtin_prefetch(f + 128); __builtin_prefetch(f + 192);
                    }
                    a0 += p[0]; a1 += p[1]; a2 += p[2]; a3 += p[3]; a4 += p[4]; a5 += p[5]; a6 += p[6]; a7 += p[7];
                }
                ov[0] = a0; ov[1] = a1; ov[2] = a2; ov[3] = a3; ov[4] = a4; ov[5] = a5; ov[6] = a6; ov[7] = a7;
            } else {  /* a narrower block: w / 8 vectors and w % 8 single floats */
                i64 nv = w / 8, ns = w % 8;
                v8 av[BW / 8];
                float as[8];
                for (i64 k = 0; k < nv; ++k) { v8 z = {0}; av[k] = first ? z : ((v8*)o)[k]; }
                for (i64 k = 0; k < ns; ++k) as[k] = first ? 0.0f : o[nv * 8 + k];
                for (; q < end && idx[q] < r1; ++q) {
                    const float* p = src + (i64)idx[q] * M + c;
                    for (i64 k = 0; k < nv; ++k) av[k] += ((const v8*)p)[k];
                    for (i64 k = 0; k < ns; ++k) as[k] += p[nv * 8 + k];
                }
                for (i64 k = 0; k < nv; ++k) ((v8*)o)[k] = av[k];
                for (i64 k = 0; k < ns; ++k) o[nv * 8 + k] = as[k];
            }
            cur[i] = q;
        }
        if (r1 >= n_src) break;
    }
}

int gather_sum(const float* src, const i64* start, const int32_t* idx, float* out, i64 n_out, i64 M,
               i64 m0, i64 m1, i64 n_src, i64 chunk) {
    if (chunk <= 0 || chunk >= n_src) chunk = n_src > 0 ? n_src : 1;
    i64* cur = (i64*)malloc(sizeof(i64) * (n_out > 0 ? n_out : 1));
    if (!cur) return 1;
    for (i64 c = m0; c < m1; c += BW) block_sum(src, start, idx, out, n_out, M, c, (m1 - c < BW) ? m1 - c : BW,
                                                 n_src, chunk, cur);
    free(cur);
    return 0;
}

/* Threads take column ranges cut at multiples of 8 (whole vectors). */
int gather_sum_par(const float* src, const i64* start, const int32_t* idx, float* out, i64 n_out, i64 M,
                   i64 m0, i64 m1, i64 n_src, i64 chunk, int threads) {
    int failed = 0;
    i64 units = (m1 - m0 + 7) / 8;
    if (threads > units) threads = units > 0 ? (int)units : 1;
    PAR_RANGES(0, units, threads, {
        i64 c0 = m0 + a * 8, c1 = m0 + b * 8 < m1 ? m0 + b * 8 : m1;
        if (gather_sum(src, start, idx, out, n_out, M, c0, c1, n_src, chunk)) { _Pragma("omp atomic write") failed = 1; }
    });
    return failed;
}

/* dst = src.T: [R, C] -> [C, R] (dst[c * R + r] = src[r * C + c]) in 32 x 32 tiles, so that
   reads and writes both stay within a few cache lines; with AVX2, 8 x 8 blocks of a tile go
   through registers (a copy either way: the same bits). Threads take ranges of tile rows. */
#define TT 32
#ifdef __AVX2__
static inline void t8x8(const float* s, i64 C, float* d, i64 R) {
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + C), r2 = _mm256_loadu_ps(s + 2 * C),
           r3 = _mm256_loadu_ps(s + 3 * C), r4 = _mm256_loadu_ps(s + 4 * C), r5 = _mm256_loadu_ps(s + 5 * C),
           r6 = _mm256_loadu_ps(s + 6 * C), r7 = _mm256_loadu_ps(s + 7 * C);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
           t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
           u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
           u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
           u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + R, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * R, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * R, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * R, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * R, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * R, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * R, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

static void transpose_tile(const float* src, i64 R, i64 C, float* dst, i64 rb, i64 r1, i64 cb, i64 c1) {
    i64 r8 = rb, c8 = cb;  /* [rb, r8) x [cb, c8): whole 8 x 8 blocks */
#ifdef __AVX2__
    r8 = rb + (r1 - rb) / 8 * 8, c8 = cb + (c1 - cb) / 8 * 8;
    for (i64 r = rb; r < r8; r += 8)
        for (i64 c = cb; c < c8; c += 8) t8x8(src + r * C + c, C, dst + c * R + r, R);
#endif
    for (i64 c = cb; c < c1; ++c)  /* the rest, one float at a time */
        for (i64 r = (c < c8 ? r8 : rb); r < r1; ++r) dst[c * R + r] = src[r * C + c];
}

void transpose_par(const float* src, i64 R, i64 C, float* dst, int threads) {
    PAR_RANGES(0, (R + TT - 1) / TT, threads, {
        for (i64 rb = a * TT; rb < b * TT && rb < R; rb += TT) {
            i64 r1 = rb + TT < R ? rb + TT : R;
            for (i64 cb = 0; cb < C; cb += TT) transpose_tile(src, R, C, dst, rb, r1, cb, cb + TT < C ? cb + TT : C);
        }
    });
}
