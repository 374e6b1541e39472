
#include <stdint.h>
#define PAR_RANGES(lo, hi, threads, ...) do {                                           \
    int64_t lo_ = (lo), hi_ = (hi); int nt_ = (threads) < 1 ? 1 : (threads);             \
    _Pragma("omp parallel for num_threads(nt_) schedule(static, 1)")                     \
    for (int k_ = 0; k_ < nt_; ++k_) {                                                   \
        int64_t a = lo_ + (hi_ - lo_) * k_ / nt_, b = lo_ + (hi_ - lo_) * (k_ + 1) / nt_; \
        __VA_ARGS__; }                                                                    \
} while (0)
