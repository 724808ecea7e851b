/* Sources/CKernels/engine_common.h: helpers shared by the engine's kernel files (private to CKernels). */
#ifndef INGOT_ENGINE_COMMON_H
#define INGOT_ENGINE_COMMON_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* AVX2 + FMA + F16C, checked once per translation unit. */
static inline int have_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) ? 1 : 0;
    }
    return cached;
}

/* BF16 bits → f32 (exact). */
static inline float bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* F16 bits → f32 (exact), portable. */
static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 31, man = h & 0x3FF, u;
    if (exp == 31) {
        u = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        u = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        u = sign;
    } else {
        /* Subnormal: normalise the mantissa. */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400));
        u = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* Rows per step of the one-token (decode) AVX-512 kernels: twelve rows read at once keep more of the memory system
   busy than four (docs/engine.md, "Kernels and numerics"). Each output's chain is the same as in the 4-row tiles. */
#define INGOT_ONE_TOKEN_ROWS 12

/* Calls fn(..., NR, NT) for a tile of nr ≤ 4 rows and nt ≤ 4 tokens: the tile sizes are compile-time constants
   of each instantiated tile function (engine_dense.c, engine_bf16.c). */
#define TILE_SWITCH(fn, nr, nt, ...)                                                                                   \
    switch ((nr) * 4 + (nt)) {                                                                                         \
    case 5: fn(__VA_ARGS__, 1, 1); break;                                                                              \
    case 6: fn(__VA_ARGS__, 1, 2); break;                                                                              \
    case 7: fn(__VA_ARGS__, 1, 3); break;                                                                              \
    case 8: fn(__VA_ARGS__, 1, 4); break;                                                                              \
    case 9: fn(__VA_ARGS__, 2, 1); break;                                                                              \
    case 10: fn(__VA_ARGS__, 2, 2); break;                                                                             \
    case 11: fn(__VA_ARGS__, 2, 3); break;                                                                             \
    case 12: fn(__VA_ARGS__, 2, 4); break;                                                                             \
    case 13: fn(__VA_ARGS__, 3, 1); break;                                                                             \
    case 14: fn(__VA_ARGS__, 3, 2); break;                                                                             \
    case 15: fn(__VA_ARGS__, 3, 3); break;                                                                             \
    case 16: fn(__VA_ARGS__, 3, 4); break;                                                                             \
    case 17: fn(__VA_ARGS__, 4, 1); break;                                                                             \
    case 18: fn(__VA_ARGS__, 4, 2); break;                                                                             \
    case 19: fn(__VA_ARGS__, 4, 3); break;                                                                             \
    default: fn(__VA_ARGS__, 4, 4); break;                                                                             \
    }

/* The 16 lanes summed pairwise (lane i + i+8, then + i+4, + i+2, + i+1): the fixed final reduction every dense kernel
   variant shares, so they agree bit for bit (docs/engine.md, "Kernels and numerics"). */
static inline float reduce16(const float a[16]) {
    float s8[8], s4[4], s2[2];
    for (int i = 0; i < 8; i++) s8[i] = a[i] + a[i + 8];
    for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
    for (int i = 0; i < 2; i++) s2[i] = s4[i] + s4[i + 2];
    return s2[0] + s2[1];
}

/* reduce16 of an AVX-512 register (same order); only called from AVX-512 code. */
__attribute__((target("avx512f"))) static inline float reduce512(__m512 v) {
    __m256 lo = _mm512_castps512_ps256(v), hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

/* out[j] = column j of the 16 × 16 block whose rows are r[0..15] (lane i of out[j] = r[i][j]). */
__attribute__((target("avx512f"))) static inline void transpose16(const __m512 r[16], __m512 out[16]) {
    __m512 t[16], u[16];
    for (int q = 0; q < 8; q++) {
        t[2 * q] = _mm512_unpacklo_ps(r[2 * q], r[2 * q + 1]);
        t[2 * q + 1] = _mm512_unpackhi_ps(r[2 * q], r[2 * q + 1]);
    }
    /* u[4q + c], 128-bit lane L: column 4L + c of rows 4q … 4q+3. */
    for (int q = 0; q < 4; q++) {
        __m512 lo0 = t[4 * q], hi0 = t[4 * q + 1], lo1 = t[4 * q + 2], hi1 = t[4 * q + 3];
        u[4 * q + 0] = _mm512_shuffle_ps(lo0, lo1, 0x44);
        u[4 * q + 1] = _mm512_shuffle_ps(lo0, lo1, 0xEE);
        u[4 * q + 2] = _mm512_shuffle_ps(hi0, hi1, 0x44);
        u[4 * q + 3] = _mm512_shuffle_ps(hi0, hi1, 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        __m512 a = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), b = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        __m512 a2 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD), b2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        out[c] = _mm512_shuffle_f32x4(a, b, 0x88);
        out[8 + c] = _mm512_shuffle_f32x4(a, b, 0xDD);
        out[4 + c] = _mm512_shuffle_f32x4(a2, b2, 0x88);
        out[12 + c] = _mm512_shuffle_f32x4(a2, b2, 0xDD);
    }
}

#endif
