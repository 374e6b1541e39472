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
