
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#define BLK 256
#define BWB 64
typedef int64_t i64;

void decay(const float* x, float* out, i64 T, i64 N, i64 j0, i64 j1, float beta, int rev) {
    float v[BLK];
    for (i64 b = j0; b < j1; b += BLK) {
        i64 w = (j1 - b < BLK) ? j1 - b : BLK;
        for (i64 j = 0; j < w; ++j) v[j] = 0.0f;
        for (i64 k = 0; k < T; ++k) {
            i64 t = rev ? T - 1 - k : k;
            const float* xr = x + t * N + b;
            float* o = out + t * N + b;
            for (i64 j = 0; j < w; ++j) { float y = v[j] * beta; y = y + xr[j]; v[j] = y; o[j] = y; }
        }
    }
}

/* spikes: sf (float 0/1) or sb (bytes 0/1), the other NULL; vout optional */
void lif1_fwd(const float* x, float* vout, float* sf, uint8_t* sb, int32_t* tf, i64 T, i64 N,
              i64 j0, i64 j1, float beta, float thresh) {
    float v[BLK], f[BLK];  /* f: step of the first crossing so far (T: none), as float */
    for (i64 b = j0; b < j1; b += BLK) {
        i64 w = (j1 - b < BLK) ? j1 - b : BLK;
        for (i64 j = 0; j < w; ++j) { v[j] = 0.0f; f[j] = (float)T; }
        for (i64 t = 0; t < T; ++t) {
            const float* xr = x + t * N + b;
            float tt = (float)t, none = (float)T;
            for (i64 j = 0; j < w; ++j) {
                float y = v[j] * beta; y = y + xr[j]; v[j] = y;
                float fj = f[j];
                f[j] = ((y >= thresh) & (fj == none)) ? tt : fj;
            }
            if (vout) for (i64 j = 0; j < w; ++j) vout[t * N + b + j] = v[j];
            if (sf) for (i64 j = 0; j < w; ++j) sf[t * N + b + j] = (f[j] == tt) ? 1.0f : 0.0f;
            if (sb) for (i64 j = 0; j < w; ++j) sb[t * N + b + j] = (uint8_t)(f[j] == tt);
        }
        for (i64 j = 0; j < w; ++j) tf[b + j] = (int32_t)f[j];
    }
}

int lif1_bwd(const float* gs, const float* x, const int32_t* tf, float* gi, i64 T, i64 N, i64 j0,
             i64 j1, float beta, float thresh, float slope, int sequential) {
    float v[BWB], c1[BWB], c2[BWB], g[BWB], f[BWB];
    float* sg = (float*)malloc(sizeof(float) * T * BWB);  /* surrogate of the block, [T, BWB] */
    if (!sg) return 1;
    for (i64 b = j0; b < j1; b += BWB) {
        i64 w = (j1 - b < BWB) ? j1 - b : BWB;
        for (i64 j = 0; j < w; ++j) { v[j] = 0.0f; c1[j] = 0.0f; c2[j] = 0.0f; g[j] = 0.0f; f[j] = (float)tf[b + j]; }
        for (i64 t = 0; t < T; ++t) {  /* recompute V exactly as the forward pass */
            const float* xr = x + t * N + b;
            float* sr = sg + t * BWB;
            for (i64 j = 0; j < w; ++j) {
                float y = v[j] * beta; y = y + xr[j]; v[j] = y;
                float u = fabsf(y - thresh) * slope + 1.0f;
                sr[j] = 1.0f / (u * u);
            }
        }
        for (i64 t = T - 1; t >= 0; --t) {
            const float* gr = gs + t * N + b;
            const float* sr = sg + t * BWB;
            float* o = gi + t * N + b;
            float tt = (float)t;
            if (sequential) {   /* dL/dV = gs * sg up to the spike */
                for (i64 j = 0; j < w; ++j) {
                    float y = g[j] * beta + ((tt <= f[j]) ? gr[j] : 0.0f) * sr[j];
                    g[j] = y; o[j] = y;
                }
            } else {            /* dL/da, dL/dz: reverse cumsums of gs before the spike */
                for (i64 j = 0; j < w; ++j) {
                    float a = c1[j] + ((tt < f[j]) ? gr[j] : 0.0f);
                    float z = c2[j] + a;
                    float y = g[j] * beta + z * sr[j];
                    c1[j] = a; c2[j] = z; g[j] = y; o[j] = y;
                }
            }
        }
    }
    free(sg);
    return 0;
}

void decay_par(const float* x, float* out, i64 T, i64 N, i64 j0, i64 j1, float beta, int rev, int threads) {
    PAR_RANGES(j0, j1, threads, decay(x, out, T, N, a, b, beta, rev));
}

void lif1_fwd_par(const float* x, float* vout, float* sf, uint8_t* sb, int32_t* tf, i64 T, i64 N, i64 j0,
                  i64 j1, float beta, float thresh, int threads) {
    PAR_RANGES(j0, j1, threads, lif1_fwd(x, vout, sf, sb, tf, T, N, a, b, beta, thresh));
}

int lif1_bwd_par(const float* gs, const float* x, const int32_t* tf, float* gi, i64 T, i64 N, i64 j0, i64 j1,
                 float beta, float thresh, float slope, int sequential, int threads) {
    int failed = 0;
    PAR_RANGES(j0, j1, threads, if (lif1_bwd(gs, x, tf, gi, T, N, a, b, beta, thresh, slope, sequential)) {
        _Pragma("omp atomic write") failed = 1; });
    return failed;
}
