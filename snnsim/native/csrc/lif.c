
#include <stdint.h>
#include <math.h>
#include <string.h>
#define BLK 512
typedef int64_t i64;

/* reset: 0 zero, 1 subtract, 2 none. pre: pre-reset potentials; volts: after reset
   (not written when reset is none or the neuron does not spike: then volts == pre). */
void lif_fwd(const float* x, float* pre, float* volts, float* sf, i64 T, i64 N, i64 j0, i64 j1,
             float leak, int use_leak, float thresh, float v_reset, int reset, int spiking) {
    float v[BLK];
    uint32_t tbits;
    memcpy(&tbits, &thresh, 4);
    for (i64 b = j0; b < j1; b += BLK) {
        i64 w = (j1 - b < BLK) ? j1 - b : BLK;
        for (i64 j = 0; j < w; ++j) v[j] = v_reset;
        for (i64 t = 0; t < T; ++t) {
            const float* xr = x + t * N + b;
            float* hr = pre + t * N + b;
            float* vr = volts + t * N + b;
            float* sr = sf + t * N + b;
            if (use_leak) {
                for (i64 j = 0; j < w; ++j) { float h = v[j] * leak; h = h + xr[j]; hr[j] = h; v[j] = h; }
            } else {
                for (i64 j = 0; j < w; ++j) { float h = v[j] + xr[j]; hr[j] = h; v[j] = h; }
            }
            if (!spiking) {
                for (i64 j = 0; j < w; ++j) sr[j] = 0.0f;
            } else if (reset == 0) {
                for (i64 j = 0; j < w; ++j) {
                    float h = v[j]; int s = h >= thresh;
                    float y = s ? v_reset : h;
                    sr[j] = s ? 1.0f : 0.0f; v[j] = y; vr[j] = y;
                }
            } else if (reset == 1) {
                for (i64 j = 0; j < w; ++j) {
                    /* d = (float)s * thresh, as a bit mask: thresh or +0 (thresh > 0, finite) */
                    float h = v[j]; uint32_t m = 0u - (uint32_t)(h >= thresh), d;
                    d = m & tbits;
                    float df, y;
                    memcpy(&df, &d, 4);
                    y = h - df;
                    sr[j] = (float)(m & 1u); v[j] = y; vr[j] = y;
                }
            } else {
                for (i64 j = 0; j < w; ++j) sr[j] = (v[j] >= thresh) ? 1.0f : 0.0f;
            }
        }
    }
}

/* sur: 0 rectangular (p1 = width), 1 fast sigmoid (p1 = slope), 2 arctan (p1 = alpha).
   gs, gv: gradients of spikes / potentials, either may be NULL (zero). */
void lif_bwd(const float* pre, const float* gs, const float* gv, float* gi, i64 T, i64 N, i64 j0,
             i64 j1, float leak, float thresh, float v_reset, int reset, int spiking, int detach,
             int sur, float p1, float p2) {
    float g[BLK], sg[BLK], a[BLK];
    for (i64 b = j0; b < j1; b += BLK) {
        i64 w = (j1 - b < BLK) ? j1 - b : BLK;
        for (i64 j = 0; j < w; ++j) g[j] = 0.0f;
        for (i64 t = T - 1; t >= 0; --t) {
            const float* hr = pre + t * N + b;
            const float* gsr = gs ? gs + t * N + b : 0;
            const float* gvr = gv ? gv + t * N + b : 0;
            float* o = gi + t * N + b;
            if (!spiking) {  /* dL/dh[t] = gv[t] + leak dL/dh[t+1] */
                if (gvr) for (i64 j = 0; j < w; ++j) { float y = gvr[j] + leak * g[j]; g[j] = y; o[j] = y; }
                else for (i64 j = 0; j < w; ++j) { float y = leak * g[j]; g[j] = y; o[j] = y; }
                continue;
            }
            if (sur == 0) {         /* p1 = width / 2, p2 = 1 / width */
                for (i64 j = 0; j < w; ++j) { float u = hr[j] - thresh; sg[j] = (fabsf(u) < p1) ? p2 : 0.0f; }
            } else if (sur == 1) {  /* p1 = slope */
                for (i64 j = 0; j < w; ++j) {
                    float u = hr[j] - thresh; float q = p1 * fabsf(u); q = q + 1.0f; sg[j] = 1.0f / (q * q);
                }
            } else {                /* p1 = pi / 2 * alpha, p2 = alpha / 2 */
                for (i64 j = 0; j < w; ++j) {
                    float u = hr[j] - thresh; float z = p1 * u; z = z * z; sg[j] = p2 / (1.0f + z);
                }
            }
            if (reset == 0) {
                if (detach) for (i64 j = 0; j < w; ++j) a[j] = (hr[j] >= thresh) ? 0.0f : 1.0f;
                else for (i64 j = 0; j < w; ++j) {
                    float h = hr[j]; float c = (h >= thresh) ? 0.0f : 1.0f;
                    float d = v_reset - h; d = d * sg[j]; a[j] = c + d;
                }
            } else if (reset == 1 && !detach) {
                for (i64 j = 0; j < w; ++j) { float d = thresh * sg[j]; a[j] = 1.0f - d; }
            } else {
                for (i64 j = 0; j < w; ++j) a[j] = 1.0f;
            }
            /* dL/dh[t] = gs sg + gv a + (a leak) dL/dh[t+1] */
            if (gsr && gvr) {
                for (i64 j = 0; j < w; ++j) {
                    float y = gsr[j] * sg[j]; y = y + gvr[j] * a[j]; y = y + g[j] * (a[j] * leak); g[j] = y; o[j] = y;
                }
            } else if (gsr) {
                for (i64 j = 0; j < w; ++j) {
                    float y = gsr[j] * sg[j]; y = y + g[j] * (a[j] * leak); g[j] = y; o[j] = y;
                }
            } else if (gvr) {
                for (i64 j = 0; j < w; ++j) {
                    float y = gvr[j] * a[j]; y = y + g[j] * (a[j] * leak); g[j] = y; o[j] = y;
                }
            } else {
                for (i64 j = 0; j < w; ++j) { float y = g[j] * (a[j] * leak); g[j] = y; o[j] = y; }
            }
        }
    }
}

/* The simulation step loop (no autograd): bool spikes s (uint8) and, when volts is not NULL,
   the potentials after reset. The same float operations as lif_fwd (and as the torch step of
   snnsim.core.dynamics.neuron_step), without the pre-reset array. */
void lif_sim(const float* x, uint8_t* s, float* volts, i64 T, i64 N, i64 j0, i64 j1, float leak, int use_leak,
             float thresh, float v_reset, int reset, int spiking) {
    float v[BLK];
    uint32_t tbits;
    memcpy(&tbits, &thresh, 4);
    for (i64 b = j0; b < j1; b += BLK) {
        i64 w = (j1 - b < BLK) ? j1 - b : BLK;
        for (i64 j = 0; j < w; ++j) v[j] = v_reset;
        for (i64 t = 0; t < T; ++t) {
            const float* xr = x + t * N + b;
            uint8_t* sr = s + t * N + b;
            if (use_leak) {
                for (i64 j = 0; j < w; ++j) { float h = v[j] * leak; v[j] = h + xr[j]; }
            } else {
                for (i64 j = 0; j < w; ++j) v[j] = v[j] + xr[j];
            }
            if (!spiking) {
                for (i64 j = 0; j < w; ++j) sr[j] = 0;
            } else if (reset == 0) {
                for (i64 j = 0; j < w; ++j) { int f = v[j] >= thresh; sr[j] = (uint8_t)f; v[j] = f ? v_reset : v[j]; }
            } else if (reset == 1) {
                for (i64 j = 0; j < w; ++j) {
                    float h = v[j], df; uint32_t m = 0u - (uint32_t)(h >= thresh), d = m & tbits;
                    memcpy(&df, &d, 4);
                    sr[j] = (uint8_t)(m & 1u); v[j] = h - df;
                }
            } else {
                for (i64 j = 0; j < w; ++j) sr[j] = (uint8_t)(v[j] >= thresh);
            }
            if (volts) memcpy(volts + t * N + b, v, (size_t)w * sizeof(float));
        }
    }
}

void lif_fwd_par(const float* x, float* pre, float* volts, float* sf, i64 T, i64 N, i64 j0, i64 j1, float leak,
                 int use_leak, float thresh, float v_reset, int reset, int spiking, int threads) {
    PAR_RANGES(j0, j1, threads, lif_fwd(x, pre, volts, sf, T, N, a, b, leak, use_leak, thresh, v_reset, reset, spiking));
}

void lif_bwd_par(const float* pre, const float* gs, const float* gv, float* gi, i64 T, i64 N, i64 j0, i64 j1,
                 float leak, float thresh, float v_reset, int reset, int spiking, int detach, int sur, float p1,
                 float p2, int threads) {
    PAR_RANGES(j0, j1, threads, lif_bwd(pre, gs, gv, gi, T, N, a, b, leak, thresh, v_reset, reset, spiking, detach,
                                        sur, p1, p2));
}

void lif_sim_par(const float* x, uint8_t* s, float* volts, i64 T, i64 N, i64 j0, i64 j1, float leak, int use_leak,
                 float thresh, float v_reset, int reset, int spiking, int threads) {
    PAR_RANGES(j0, j1, threads, lif_sim(x, s, volts, T, N, a, b, leak, use_leak, thresh, v_reset, reset, spiking));
}
