/* Sources/CKernels/engine.c: the engine's bulk conversions of stored BF16 and F16 values to f32 (exact).

   The matrix products themselves are in engine_dense.c and engine_gemm.c (f32, exact INT4 dequantisation),
   engine_q8.c (Q8_0 activations for INT4) and engine_bf16.c (BF16 activations): docs/engine.md. */
#include "ckernels.h"
#include "engine_common.h"
#include <immintrin.h>
#include <string.h>

__attribute__((target("avx2"))) static void bf16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}

void ingot_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
    if (have_avx2_fma()) {
        bf16_to_f32_avx2(src, dst, n);
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}

__attribute__((target("avx2,f16c"))) static void f16_to_f32_f16c(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) {
        __m128i v = _mm_cvtsi32_si128(src[i]);
        dst[i] = _mm_cvtss_f32(_mm_cvtph_ps(v));
    }
}

int ingot_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
    if (!have_avx2_fma()) return 0;
    f16_to_f32_f16c(src, dst, n);
    return 1;
}
