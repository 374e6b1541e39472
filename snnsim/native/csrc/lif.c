
#include <stdint.h>
#include <math.h>
#include <string.h>
#define BLK 512
typedef int64_t i64;

/* One forward pass over the columns [j0, j1) of [T, N]; every output may be NULL.
   reset: 0 zero, 1 subtract, 2 none. pre: pre-reset potentials; volts: after reset; sf: spikes
   as float 0/1 (autograd); s8: spikes as bytes (simulation, torch.bool). The float operations
   are those of the torch step (snnsim.core.dynamics.neuron_step), in the same order.
   lee (may be NULL): Lee et al.'s pseudo-derivative per column into lee->out (see struct lee). */
struct lee {
    const double* lpow;  /* [T]: leak^(T - 1 - t), t 0-based (the torch path's float64 weights) */
    double inv_th, log_leak;
    float* out;          /* [N]: (1 / thresh) (1 + log(leak) LF / gamma), 0 where gamma = 0 */
};

static void lif_pass(const float* x, float* pre, float* volts, float* sf, uint8_t* s8, i64 T, i64 N, i64 j0,
                     i64 j1, float leak, int use_leak, float thresh, float v_reset, int reset, int spiking,
                     const struct lee* lee) {
    float v[BLK];
    double cnt[BLK], lf[BLK];
    uint32_t m[BLK], tbits;
    memcpy(&tbits, &thresh, 4);
    for (i64 b = j0; b < j1; b += BLK) {
        i64 w = (j1 - b < BLK) ? j1 - b : BLK;
        for (i64 j = 0; j < w; ++j) { v[j] = v_reset; cnt[j] = 0.0; lf[j] = 0.0; }
        for (i64 t = 0; t < T; ++t) {
            const float* xr = x + t * N + b;
            i64 o = t * N + b;
            if (use_leak) {
                for (i64 j = 0; j < w; ++j) { float h = v[j] * leak; v[j] = h + xr[j]; }
            } else {
                for (i64 j = 0; j < w; ++j) v[j] = v[j] + xr[j];
            }
            if (pre) memcpy(pre + o, v, (size_t)w * sizeof(float));
            if (!spiking) {
                for (i64 j = 0; j < w; ++j) m[j] = 0u;
            } else if (reset == 0) {
                for (i64 j = 0; j < w; ++j) { m[j] = 0u - (uint32_t)(v[j] >= thresh); v[j] = m[j] ? v_reset : v[j]; }
            } else if (reset == 1) {
                for (i64 j = 0; j < w; ++j) {
                    /* v - s * thresh as a bit mask: thresh or +0 (thresh > 0, finite) */
                    float h = v[j], df; uint32_t d;
                    m[j] = 0u - (uint32_t)(h >= thresh); d = m[j] & tbits;
                    memcpy(&df, &d, 4);
                    v[j] = h - df;
                }
            } else {
                for (i64 j = 0; j < w; ++j) m[j] = 0u - (uint32_t)(v[j] >= thresh);
            }
            if (sf) for (i64 j = 0; j < w; ++j) sf[o + j] = (float)(m[j] & 1u);
            if (s8) for (i64 j = 0; j < w; ++j) s8[o + j] = (uint8_t)(m[j] & 1u);
            if (volts) memcpy(volts + o, v, (size_t)w * sizeof(float));
            if (lee) for (i64 j = 0; j < w; ++j) if (m[j]) { cnt[j] += 1.0; lf[j] += lee->lpow[t]; }
        }
        if (lee) for (i64 j = 0; j < w; ++j) {  /* in the order of snnsim.core.surrogate.lee_pseudo_derivative */
            double eps = lee->log_leak * lf[j] / (cnt[j] > 1.0 ? cnt[j] : 1.0);
            lee->out[b + j] = cnt[j] > 0.0 ? (float)(lee->inv_th * (1.0 + eps)) : 0.0f;
        }
    }
}

/* sur: 0 rectangular (p1 = width / 2, p2 = 1 / width), 1 fast sigmoid (p1 = slope, p2 unused),
   2 arctan (p1 = pi / 2 * alpha, p2 = alpha / 2): the values native/lif.py passes.
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

/* Autograd forward: pre-reset potentials, potentials after reset (volts may equal pre when they
   are the same: reset none or a non-spiking layer) and float spikes. */
void lif_fwd_par(const float* x, float* pre, float* volts, float* sf, i64 T, i64 N, i64 j0, i64 j1, float leak,
                 int use_leak, float thresh, float v_reset, int reset, int spiking, int threads) {
    PAR_RANGES(j0, j1, threads, lif_pass(x, pre, volts == pre ? NULL : volts, sf, NULL, T, N, a, b, leak, use_leak,
                                         thresh, v_reset, reset, spiking, NULL));
}

void lif_bwd_par(const float* pre, const float* gs, const float* gv, float* gi, i64 T, i64 N, i64 j0, i64 j1,
                 float leak, float thresh, float v_reset, int reset, int spiking, int detach, int sur, float p1,
                 float p2, int threads) {
    PAR_RANGES(j0, j1, threads, lif_bwd(pre, gs, gv, gi, T, N, a, b, leak, thresh, v_reset, reset, spiking, detach,
                                        sur, p1, p2));
}

/* Simulation (no autograd): byte spikes and, when volts is not NULL, the potentials after reset. */
void lif_sim_par(const float* x, uint8_t* s, float* volts, i64 T, i64 N, i64 j0, i64 j1, float leak, int use_leak,
                 float thresh, float v_reset, int reset, int spiking, int threads) {
    PAR_RANGES(j0, j1, threads, lif_pass(x, NULL, volts, NULL, s, T, N, a, b, leak, use_leak, thresh, v_reset, reset,
                                         spiking, NULL));
}

/* Autograd forward for Lee et al.'s pseudo-derivative (spiking layers): float spikes, potentials
   after reset, and the pseudo-derivative per neuron [N] instead of the [T, N] pre-reset potentials.
   lpow [T] = leak^(T - 1 - t) in float64; inv_th = 1 / thresh, log_leak = log(leak), both in float64. */
void lif_fwd_lee_par(const float* x, float* volts, float* sf, float* pseudo, const double* lpow, i64 T, i64 N,
                     i64 j0, i64 j1, float leak, int use_leak, float thresh, float v_reset, int reset,
                     double inv_th, double log_leak, int threads) {
    struct lee lee = {lpow, inv_th, log_leak, pseudo};
    PAR_RANGES(j0, j1, threads, lif_pass(x, NULL, volts, sf, NULL, T, N, a, b, leak, use_leak, thresh, v_reset, reset,
                                         1, &lee));
}

/* The Lee backward: dL/dx[t, j] = gs[t, j] pseudo[j] (no recurrence; dL/dv is not used). */
void lee_bwd_par(const float* gs, const float* pseudo, float* gi, i64 T, i64 N, i64 j0, i64 j1, int threads) {
    PAR_RANGES(j0, j1, threads, {
        for (i64 t = 0; t < T; ++t) {
            const float* g = gs + t * N;
            float* o = gi + t * N;
            for (i64 j = a; j < b; ++j) o[j] = g[j] * pseudo[j];
        }
    });
}
