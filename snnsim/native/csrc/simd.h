/* VW floats per vector: 16 where the library is built with AVX-512, else 8 (AVX2 or plain);
   vf: VW floats, loaded and stored unaligned. Prepended to every library by build_library. */
#ifdef __AVX512F__
#define VW 16
#else
#define VW 8
#endif
typedef float vf __attribute__((vector_size(VW * 4), aligned(4)));
