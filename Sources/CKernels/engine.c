/* Sources/CKernels/engine.c: the inference engine's INT4 matrix kernels and dense conversions.

   Both INT4 kernels compute, for every (row, token), the same sequence of f32 operations, so the checkpoint's
   layout and the bundle's tile layout give bit-identical results:
     acc[0..7] = 0
     for g in groups, c in 0..3, l in 0..7:   j = 32g + 8c + l
         w = scale[row][g] * (float)(u[row][j] - 8)            (exact in f32: 8-bit mantissa times 4 bits)
         acc[l] = fmaf(w, x[token][j], acc[l])
     y[token][row] = ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7))
   The AVX2 paths and the portable paths perform exactly these operations (fused multiply-add included). */
#include "ckernels.h"
#include "engine_common.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

static inline float hsum8(const float a[8]) {
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* ---------- portable reference paths ---------- */

/* u[0..31] of one row's group: ct layout (byte j = elements 2j | 2j+1 << 4). */
static inline void ct_group_levels(const uint8_t *p, uint8_t u[32]) {
    for (int j = 0; j < 16; j++) {
        u[2 * j] = p[j] & 15;
        u[2 * j + 1] = p[j] >> 4;
    }
}

/* u[0..31] of one row's group: tile layout (byte j = element j | element j+16 << 4). */
static inline void tile_group_levels(const uint8_t *p, uint8_t u[32]) {
    for (int j = 0; j < 16; j++) {
        u[j] = p[j] & 15;
        u[j + 16] = p[j] >> 4;
    }
}

static inline void group_fma_scalar(const uint8_t u[32], float s, const float *x, float acc[8]) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 8; l++) {
            float w = s * (float)((int)u[8 * c + l] - 8);
            acc[l] = fmaf(w, x[8 * c + l], acc[l]);
        }
}

static void int4_ct_scalar(const uint8_t *packed, const uint16_t *scales, int64_t cols, const float *x, int64_t ldx,
                           float *y, int64_t ldy, int64_t tokens, int64_t r0, int64_t r1) {
    int64_t groups = cols / 32;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < tokens; t++) {
            float acc[8] = {0};
            for (int64_t g = 0; g < groups; g++) {
                uint8_t u[32];
                ct_group_levels(packed + r * (cols / 2) + g * 16, u);
                group_fma_scalar(u, bf16_to_f32(scales[r * groups + g]), x + t * ldx + g * 32, acc);
            }
            y[t * ldy + r] = hsum8(acc);
        }
}

static void int4_tiles_scalar(const uint8_t *tiles, int64_t tile_rows, int64_t rows, int64_t cols, const float *x,
                              int64_t ldx, float *y, int64_t ldy, int64_t tokens, int64_t b0, int64_t b1) {
    int64_t groups = cols / 32, tile_bytes = tile_rows * 18;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t i = 0; i < tile_rows; i++) {
            int64_t r = b * tile_rows + i;
            if (r >= rows) break;
            for (int64_t t = 0; t < tokens; t++) {
                float acc[8] = {0};
                for (int64_t g = 0; g < groups; g++) {
                    const uint8_t *tile = tiles + (b * groups + g) * tile_bytes;
                    uint16_t sb;
                    memcpy(&sb, tile + tile_rows * 16 + i * 2, 2);
                    uint8_t u[32];
                    tile_group_levels(tile + i * 16, u);
                    group_fma_scalar(u, bf16_to_f32(sb), x + t * ldx + g * 32, acc);
                }
                y[t * ldy + r] = hsum8(acc);
            }
        }
}

/* ---------- AVX2 paths ---------- */

__attribute__((target("avx2,fma"))) static inline float hsum256(__m256 a) {
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1)); /* a0+a4, a1+a5, a2+a6, a3+a7 */
    __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));                                /* (t0+t2), (t1+t3) */
    return _mm_cvtss_f32(_mm_add_ss(u, _mm_shuffle_ps(u, u, 1)));
}

/* The four weight vectors w[0..3] (elements 0-7, 8-15, 16-23, 24-31) of a group whose levels, in element order,
   are the 16 bytes e0 (elements 0..15) and e1 (elements 16..31): w = fma(u, s, −8s), which is s × (u − 8) exactly
   (the exact value is representable, so the single rounding of the fused operation leaves it unchanged). */
__attribute__((target("avx2,fma"))) static inline void weights4(__m128i e0, __m128i e1, __m256 s, __m256 w[4]) {
    const __m256 m8s = _mm256_mul_ps(s, _mm256_set1_ps(-8.0f));
    w[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(e0)), s, m8s);
    w[1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(e0, 8))), s, m8s);
    w[2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(e1)), s, m8s);
    w[3] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(e1, 8))), s, m8s);
}

/* Levels of a ct-layout group in element order. */
__attribute__((target("avx2,fma"))) static inline void ct_levels(const uint8_t *p, __m128i *e0, __m128i *e1) {
    const __m128i m = _mm_set1_epi8(15);
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i lo = _mm_and_si128(v, m), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
    *e0 = _mm_unpacklo_epi8(lo, hi);
    *e1 = _mm_unpackhi_epi8(lo, hi);
}

/* Levels of a tile-layout group in element order. */
__attribute__((target("avx2,fma"))) static inline void tile_levels(const uint8_t *p, __m128i *e0, __m128i *e1) {
    const __m128i m = _mm_set1_epi8(15);
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    *e0 = _mm_and_si128(v, m);
    *e1 = _mm_and_si128(_mm_srli_epi16(v, 4), m);
}

/* One group's four weight vectors against `nt` tokens' x (token t at xg + t·ldx), into their accumulators. */
__attribute__((target("avx2,fma"))) static inline void group_tokens(const __m256 w[4], const float *xg, int64_t ldx, int64_t nt,
                                                                   __m256 *acc) {
    for (int64_t t = 0; t < nt; t++) {
        const float *xp = xg + t * ldx;
        __m256 a = acc[t];
        a = _mm256_fmadd_ps(w[0], _mm256_loadu_ps(xp), a);
        a = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(xp + 8), a);
        a = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(xp + 16), a);
        a = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(xp + 24), a);
        acc[t] = a;
    }
}

#define TOKEN_CHUNK 16

__attribute__((target("avx2,fma"))) static void int4_ct_avx2(const uint8_t *packed, const uint16_t *scales, int64_t cols,
                                                             const float *x, int64_t ldx, float *y, int64_t ldy,
                                                             int64_t tokens, int64_t r0, int64_t r1) {
    int64_t groups = cols / 32;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = packed + r * (cols / 2);
        const uint16_t *srow = scales + r * groups;
        for (int64_t t0 = 0; t0 < tokens; t0 += TOKEN_CHUNK) {
            int64_t nt = tokens - t0 < TOKEN_CHUNK ? tokens - t0 : TOKEN_CHUNK;
            __m256 acc[TOKEN_CHUNK];
            for (int64_t t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
            for (int64_t g = 0; g < groups; g++) {
                __m128i e0, e1;
                ct_levels(row + g * 16, &e0, &e1);
                __m256 w[4];
                weights4(e0, e1, _mm256_set1_ps(bf16_to_f32(srow[g])), w);
                group_tokens(w, x + t0 * ldx + g * 32, ldx, nt, acc);
            }
            for (int64_t t = 0; t < nt; t++) y[(t0 + t) * ldy + r] = hsum256(acc[t]);
        }
    }
}

/* One token against a block of 8 tile rows: the x vectors are loaded once per group for all 8 rows, and the eight
   accumulators stay in registers. */
#define TILE_ROW(i, a)                                                                                          \
    do {                                                                                                        \
        __m128i v_ = _mm_loadu_si128((const __m128i *)(tile + (i) * 16));                                       \
        __m128i e0_ = _mm_and_si128(v_, mask), e1_ = _mm_and_si128(_mm_srli_epi16(v_, 4), mask);                \
        __m256 s_ = _mm256_castsi256_ps(_mm256_set1_epi32((int)((uint32_t)sc[i] << 16)));                      \
        __m256 m_ = _mm256_mul_ps(s_, minus8);                                                                  \
        a = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(e0_)), s_, m_),             \
                            _mm256_loadu_ps(xg), a);                                                            \
        a = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(e0_, 8))),   \
                                            s_, m_),                                                            \
                            _mm256_loadu_ps(xg + 8), a);                                                        \
        a = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(e1_)), s_, m_),             \
                            _mm256_loadu_ps(xg + 16), a);                                                       \
        a = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(e1_, 8))),   \
                                            s_, m_),                                                            \
                            _mm256_loadu_ps(xg + 24), a);                                                       \
    } while (0)

/* One token against a block of 8 tile rows: eight accumulators in registers; x comes from L1 for each row. */
__attribute__((target("avx2,fma"))) static void tiles8_one_token(const uint8_t *tiles, int64_t groups, const float *x,
                                                                 __m256 acc[8]) {
    const __m128i mask = _mm_set1_epi8(15);
    const __m256 minus8 = _mm256_set1_ps(-8.0f);
    __m256 a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
    for (int64_t g = 0; g < groups; g++) {
        const uint8_t *tile = tiles + g * 144;
        const float *xg = x + g * 32;
        const uint16_t *sc = (const uint16_t *)(tile + 128);
        TILE_ROW(0, a0);
        TILE_ROW(1, a1);
        TILE_ROW(2, a2);
        TILE_ROW(3, a3);
        TILE_ROW(4, a4);
        TILE_ROW(5, a5);
        TILE_ROW(6, a6);
        TILE_ROW(7, a7);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = a4, acc[5] = a5, acc[6] = a6, acc[7] = a7;
}

__attribute__((target("avx2,fma"))) static void int4_tiles_avx2(const uint8_t *tiles, int64_t tile_rows, int64_t rows,
                                                                int64_t cols, const float *x, int64_t ldx, float *y,
                                                                int64_t ldy, int64_t tokens, int64_t b0, int64_t b1) {
    int64_t groups = cols / 32, tile_bytes = tile_rows * 18;
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *block = tiles + b * groups * tile_bytes;
        if (tile_rows == 8 && tokens < 4) {
            for (int64_t t = 0; t < tokens; t++) {
                __m256 acc[8];
                for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
                tiles8_one_token(block, groups, x + t * ldx, acc);
                for (int i = 0; i < 8 && b * 8 + i < rows; i++) y[t * ldy + b * 8 + i] = hsum256(acc[i]);
            }
            continue;
        }
        for (int64_t i = 0; i < tile_rows; i++) {
            int64_t r = b * tile_rows + i;
            if (r >= rows) break;
            for (int64_t t0 = 0; t0 < tokens; t0 += TOKEN_CHUNK) {
                int64_t nt = tokens - t0 < TOKEN_CHUNK ? tokens - t0 : TOKEN_CHUNK;
                __m256 acc[TOKEN_CHUNK];
                for (int64_t t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
                for (int64_t g = 0; g < groups; g++) {
                    const uint8_t *tile = block + g * tile_bytes;
                    uint16_t sb;
                    memcpy(&sb, tile + tile_rows * 16 + i * 2, 2);
                    __m128i e0, e1;
                    tile_levels(tile + i * 16, &e0, &e1);
                    __m256 w[4];
                    weights4(e0, e1, _mm256_set1_ps(bf16_to_f32(sb)), w);
                    group_tokens(w, x + t0 * ldx + g * 32, ldx, nt, acc);
                }
                for (int64_t t = 0; t < nt; t++) y[(t0 + t) * ldy + r] = hsum256(acc[t]);
            }
        }
    }
}

/* ---------- entry points ---------- */

void ingot_int4_ct_matmul(const uint8_t *packed, const uint16_t *scales, int64_t cols, const float *x, int64_t ldx,
                          float *y, int64_t ldy, int64_t tokens, int64_t row_begin, int64_t row_end, int portable) {
    if (!portable && have_avx2_fma())
        int4_ct_avx2(packed, scales, cols, x, ldx, y, ldy, tokens, row_begin, row_end);
    else
        int4_ct_scalar(packed, scales, cols, x, ldx, y, ldy, tokens, row_begin, row_end);
}

void ingot_int4_tiles_matmul(const uint8_t *tiles, int64_t tile_rows, int64_t rows, int64_t cols, const float *x,
                             int64_t ldx, float *y, int64_t ldy, int64_t tokens, int64_t block_begin, int64_t block_end,
                             int portable) {
    if (!portable && have_avx2_fma())
        int4_tiles_avx2(tiles, tile_rows, rows, cols, x, ldx, y, ldy, tokens, block_begin, block_end);
    else
        int4_tiles_scalar(tiles, tile_rows, rows, cols, x, ldx, y, ldy, tokens, block_begin, block_end);
}

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
