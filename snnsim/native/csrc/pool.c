#include <stdint.h>
typedef int64_t i64;

/* The input gradient of a 2-D average pooling whose windows do not overlap (kernel = stride = K,
   no padding), written in one pass without zero-filling first:
   gi[b, y, x, c] = g[b, y / K, x / K, c] / (K * K) where that window exists, else 0 (the rows and
   columns that floor mode drops). g: [B, OH, OW, C], gi: [B, H, W, C] float32 (B = N, C = channels
   for channels-last tensors; B = N * channels, C = 1 for contiguous ones). The same division as
   torch's avg_pool2d_backward, so the values are identical. Threads split the rows b. */
void avgpool_bwd(const float* g, float* gi, i64 B, i64 H, i64 W, i64 C, i64 OH, i64 OW, i64 K, int threads) {
    const float div = (float)(K * K);
    PAR_RANGES(0, B, threads, {
        for (i64 bb = a; bb < b; ++bb)
            for (i64 y = 0; y < H; ++y) {
                float* row = gi + (bb * H + y) * W * C;
                i64 oy = y / K;
                for (i64 x = 0; x < W; ++x) {
                    i64 ox = x / K;
                    float* o = row + x * C;
                    if (oy < OH && ox < OW) {
                        const float* gr = g + ((bb * OH + oy) * OW + ox) * C;
                        for (i64 c = 0; c < C; ++c) o[c] = gr[c] / div;
                    } else {
                        for (i64 c = 0; c < C; ++c) o[c] = 0.0f;
                    }
                }
            }
    });
}

/* The forward pass for bool spikes: out[b, oy, ox, c] = (number of set bytes in the window) / (K * K),
   x: [B, H, W, C] bytes in {0, 1} (torch bool), out: [B, OH, OW, C] float32, the same (B, C) for the
   two layouts as above. The count is exact, so the float result equals torch's avg_pool2d of the
   float spikes (the sum of K * K zeros and ones, divided by K * K). Threads split the rows b. */
void avgpool_fwd_u8(const uint8_t* x, float* out, i64 B, i64 H, i64 W, i64 C, i64 OH, i64 OW, i64 K, int threads) {
    const float div = (float)(K * K);
    if (C == 1) {  /* contiguous [N, C, H, W]: one plane per row b, outputs along a row */
        PAR_RANGES(0, B, threads, {
            for (i64 bb = a; bb < b; ++bb)
                for (i64 oy = 0; oy < OH; ++oy) {
                    float* o = out + (bb * OH + oy) * OW;
                    const uint8_t* r = x + (bb * H + oy * K) * W;
                    for (i64 ox = 0; ox < OW; ++ox) {
                        int32_t s = 0;
                        for (i64 dy = 0; dy < K; ++dy)
                            for (i64 dx = 0; dx < K; ++dx) s += r[dy * W + ox * K + dx];
                        o[ox] = (float)s / div;
                    }
                }
        });
        return;
    }
    PAR_RANGES(0, B, threads, {
        int32_t cnt[256];
        for (i64 bb = a; bb < b; ++bb)
            for (i64 oy = 0; oy < OH; ++oy)
                for (i64 ox = 0; ox < OW; ++ox) {
                    float* o = out + ((bb * OH + oy) * OW + ox) * C;
                    for (i64 c0 = 0; c0 < C; c0 += 256) {
                        i64 w = C - c0 < 256 ? C - c0 : 256;
                        for (i64 c = 0; c < w; ++c) cnt[c] = 0;
                        for (i64 dy = 0; dy < K; ++dy)
                            for (i64 dx = 0; dx < K; ++dx) {
                                const uint8_t* p = x + ((bb * H + oy * K + dy) * W + ox * K + dx) * C + c0;
                                for (i64 c = 0; c < w; ++c) cnt[c] += p[c];
                            }
                        for (i64 c = 0; c < w; ++c) o[c0 + c] = (float)cnt[c] / div;
                    }
                }
    });
}
