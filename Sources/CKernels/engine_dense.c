/* Sources/CKernels/engine_dense.c: the engine's dense matrix kernels on stored BF16 / F16 / F32 rows
   (docs/engine.md, "Dense kernels").

   The weights are read in their stored dtype and widened in registers (exact: every BF16 and F16 value is an f32);
   no f32 copy of a matrix is made. Every (row, token) output is computed by the same sequence of f32 operations on
   every instruction set, so the variants agree bit for bit:
     acc[0..15] = 0
     for j in 0 ..< ceil(cols/16)*16 (missing columns read as 0):   acc[j mod 16] = fmaf(w[j], x[j], acc[j mod 16])
     s8[i] = acc[i] + acc[i+8];  s4[i] = s8[i] + s8[i+4];  s2[i] = s4[i] + s4[i+2];  y = s2[0] + s2[1]
   AVX-512 keeps the 16 lanes in one register, AVX2 in two (lanes 0-7, 8-15), the portable path in an array.
   Register tiles of up to 4 rows × 4 tokens let one load of a weight vector serve 4 tokens (decode reads each
   weight once; a few tokens at a time reuse it from registers). */
#include "ckernels.h"
#include "engine_common.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

/* ---------- CPU features ---------- */

int ingot_engine_isa(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        int isa = INGOT_ISA_PORTABLE;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
            isa = INGOT_ISA_AVX2;
        if (isa == INGOT_ISA_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
            isa = INGOT_ISA_AVX512;
        if (isa == INGOT_ISA_AVX512 && __builtin_cpu_supports("avx512bf16")) isa = INGOT_ISA_AVX512_BF16;
        cached = isa;
    }
    return cached;
}

static int effective_isa(int requested) {
    int have = ingot_engine_isa();
    return requested < have ? requested : have;
}

/* ---------- portable reference ---------- */

static inline float load_scalar(const void *w, int kind, int64_t i) {
    switch (kind) {
    case INGOT_W_BF16: return bf16_to_f32(((const uint16_t *)w)[i]);
    case INGOT_W_F16: return f16_to_f32(((const uint16_t *)w)[i]);
    default: return ((const float *)w)[i];
    }
}

static void dense_portable(const void *w, int kind, int64_t cols, const float *x, int64_t ldx, float *y, int64_t ldy,
                           int64_t tokens, int64_t r0, int64_t r1) {
    int64_t padded = (cols + 15) / 16 * 16;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < tokens; t++) {
            float acc[16] = {0};
            for (int64_t j = 0; j < padded; j++) {
                float a = j < cols ? load_scalar(w, kind, r * cols + j) : 0.0f;
                float b = j < cols ? x[t * ldx + j] : 0.0f;
                acc[j % 16] = fmaf(a, b, acc[j % 16]);
            }
            y[t * ldy + r] = reduce16(acc);
        }
}

/* ---------- AVX-512 ---------- */

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

AVX512_TARGET static inline __m512 load16_512(const void *w, int kind, int64_t i, __mmask16 m) {
    switch (kind) {
    case INGOT_W_BF16: {
        __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    case INGOT_W_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i));
    default: return _mm512_maskz_loadu_ps(m, (const float *)w + i);
    }
}

/* One tile: NR rows × NT tokens (both ≤ 4, compile-time constants after inlining). */
AVX512_TARGET __attribute__((always_inline)) static inline void tile512(const void *w, int kind, int64_t cols,
                                                                       const float *x, int64_t ldx, float *y,
                                                                       int64_t ldy, int64_t r, int64_t t, int NR,
                                                                       int NT) {
    __m512 acc[4][4];
    for (int i = 0; i < NR; i++)
        for (int k = 0; k < NT; k++) acc[i][k] = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16) {
        __m512 wv[4], xv[4];
        for (int i = 0; i < NR; i++) wv[i] = load16_512(w, kind, (r + i) * cols + j, 0xFFFF);
        for (int k = 0; k < NT; k++) xv[k] = _mm512_loadu_ps(x + (t + k) * ldx + j);
        for (int i = 0; i < NR; i++)
            for (int k = 0; k < NT; k++) acc[i][k] = _mm512_fmadd_ps(wv[i], xv[k], acc[i][k]);
    }
    if (j < cols) {
        __mmask16 m = (__mmask16)((1u << (cols - j)) - 1);
        __m512 wv[4], xv[4];
        for (int i = 0; i < NR; i++) wv[i] = load16_512(w, kind, (r + i) * cols + j, m);
        for (int k = 0; k < NT; k++) xv[k] = _mm512_maskz_loadu_ps(m, x + (t + k) * ldx + j);
        for (int i = 0; i < NR; i++)
            for (int k = 0; k < NT; k++) acc[i][k] = _mm512_fmadd_ps(wv[i], xv[k], acc[i][k]);
    }
    for (int i = 0; i < NR; i++)
        for (int k = 0; k < NT; k++) y[(t + k) * ldy + r + i] = reduce512(acc[i][k]);
}

/* One token, INGOT_ONE_TOKEN_ROWS rows per step (KIND a compile-time constant after inlining): each output is the same
   chain as tile512's, but more rows are read at once, which keeps more of the memory system busy (docs/engine.md,
   "Kernels and numerics"). */
AVX512_TARGET __attribute__((always_inline)) static inline void rows512(const void *w, int KIND, int64_t cols,
                                                                       const float *x, float *y, int64_t r) {
    __m512 acc[INGOT_ONE_TOKEN_ROWS];
    for (int i = 0; i < INGOT_ONE_TOKEN_ROWS; i++) acc[i] = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16) {
        __m512 xv = _mm512_loadu_ps(x + j);
        for (int i = 0; i < INGOT_ONE_TOKEN_ROWS; i++)
            acc[i] = _mm512_fmadd_ps(load16_512(w, KIND, (r + i) * cols + j, 0xFFFF), xv, acc[i]);
    }
    if (j < cols) {
        __mmask16 m = (__mmask16)((1u << (cols - j)) - 1);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + j);
        for (int i = 0; i < INGOT_ONE_TOKEN_ROWS; i++)
            acc[i] = _mm512_fmadd_ps(load16_512(w, KIND, (r + i) * cols + j, m), xv, acc[i]);
    }
    for (int i = 0; i < INGOT_ONE_TOKEN_ROWS; i++) y[r + i] = reduce512(acc[i]);
}

/* The first row of [r0, r1) that the 4-row tiles start at: one token takes whole INGOT_ONE_TOKEN_ROWS steps first. */
AVX512_TARGET static int64_t dense_one_token_avx512(const void *w, int kind, int64_t cols, const float *x, float *y,
                                                    int64_t r0, int64_t r1) {
    int64_t r = r0;
    switch (kind) {
    case INGOT_W_BF16:
        for (; r + INGOT_ONE_TOKEN_ROWS <= r1; r += INGOT_ONE_TOKEN_ROWS) rows512(w, INGOT_W_BF16, cols, x, y, r);
        break;
    case INGOT_W_F16:
        for (; r + INGOT_ONE_TOKEN_ROWS <= r1; r += INGOT_ONE_TOKEN_ROWS) rows512(w, INGOT_W_F16, cols, x, y, r);
        break;
    default:
        for (; r + INGOT_ONE_TOKEN_ROWS <= r1; r += INGOT_ONE_TOKEN_ROWS) rows512(w, INGOT_W_F32, cols, x, y, r);
        break;
    }
    return r;
}

AVX512_TARGET static void dense_avx512(const void *w, int kind, int64_t cols, const float *x, int64_t ldx, float *y,
                                       int64_t ldy, int64_t tokens, int64_t r0, int64_t r1) {
    if (tokens == 1) r0 = dense_one_token_avx512(w, kind, cols, x, y, r0, r1);
    for (int64_t r = r0; r < r1; r += 4) {
        int nr = (int)(r1 - r < 4 ? r1 - r : 4);
        for (int64_t t = 0; t < tokens; t += 4) {
            int nt = (int)(tokens - t < 4 ? tokens - t : 4);
            TILE_SWITCH(tile512, nr, nt, w, kind, cols, x, ldx, y, ldy, r, t)
        }
    }
}

/* ---------- AVX2 (lanes 0-7 and 8-15 in two registers) ---------- */

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET static inline __m256 load8_256(const void *w, int kind, int64_t i) {
    switch (kind) {
    case INGOT_W_BF16: {
        __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    case INGOT_W_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + i)));
    default: return _mm256_loadu_ps((const float *)w + i);
    }
}

AVX2_TARGET static inline float reduce256(__m256 lo, __m256 hi) {
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

/* NR rows × NT tokens with NR·NT ≤ 4 pairs of accumulators (AVX2 has 16 registers). */
AVX2_TARGET __attribute__((always_inline)) static inline void tile256(const void *w, int kind, int64_t cols,
                                                                     const float *x, int64_t ldx, float *y,
                                                                     int64_t ldy, int64_t r, int64_t t, int NR,
                                                                     int NT) {
    __m256 lo[2][2], hi[2][2];
    for (int i = 0; i < NR; i++)
        for (int k = 0; k < NT; k++) lo[i][k] = hi[i][k] = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= cols; j += 16) {
        for (int i = 0; i < NR; i++) {
            __m256 w0 = load8_256(w, kind, (r + i) * cols + j), w1 = load8_256(w, kind, (r + i) * cols + j + 8);
            for (int k = 0; k < NT; k++) {
                lo[i][k] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (t + k) * ldx + j), lo[i][k]);
                hi[i][k] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + (t + k) * ldx + j + 8), hi[i][k]);
            }
        }
    }
    for (int i = 0; i < NR; i++)
        for (int k = 0; k < NT; k++) {
            float a[16], b[16];
            _mm256_storeu_ps(a, lo[i][k]);
            _mm256_storeu_ps(a + 8, hi[i][k]);
            /* The column tail (cols mod 16), as the portable path does it: missing columns are 0 · 0. */
            for (int l = 0; l < 16; l++) {
                int64_t c = j + l;
                float wv = c < cols ? load_scalar(w, kind, (r + i) * cols + c) : 0.0f;
                float xv = c < cols ? x[(t + k) * ldx + c] : 0.0f;
                b[l] = j < cols ? fmaf(wv, xv, a[l]) : a[l];
            }
            y[(t + k) * ldy + r + i] = reduce256(_mm256_loadu_ps(b), _mm256_loadu_ps(b + 8));
        }
}

#define TILE2_SWITCH(fn, nr, nt, ...)                                                                                  \
    switch ((nr) * 4 + (nt)) {                                                                                         \
    case 5: fn(__VA_ARGS__, 1, 1); break;                                                                              \
    case 6: fn(__VA_ARGS__, 1, 2); break;                                                                              \
    case 9: fn(__VA_ARGS__, 2, 1); break;                                                                              \
    default: fn(__VA_ARGS__, 2, 2); break;                                                                             \
    }

AVX2_TARGET static void dense_avx2(const void *w, int kind, int64_t cols, const float *x, int64_t ldx, float *y,
                                   int64_t ldy, int64_t tokens, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r += 2) {
        int nr = (int)(r1 - r < 2 ? r1 - r : 2);
        for (int64_t t = 0; t < tokens; t += 2) {
            int nt = (int)(tokens - t < 2 ? tokens - t : 2);
            TILE2_SWITCH(tile256, nr, nt, w, kind, cols, x, ldx, y, ldy, r, t)
        }
    }
}

void ingot_dense_matmul(const void *w, int kind, int64_t cols, const float *x, int64_t ldx, float *y, int64_t ldy,
                        int64_t tokens, int64_t row_begin, int64_t row_end, int isa) {
    switch (effective_isa(isa)) {
    case INGOT_ISA_AVX512:
    case INGOT_ISA_AVX512_BF16: dense_avx512(w, kind, cols, x, ldx, y, ldy, tokens, row_begin, row_end); break;
    case INGOT_ISA_AVX2: dense_avx2(w, kind, cols, x, ldx, y, ldy, tokens, row_begin, row_end); break;
    default: dense_portable(w, kind, cols, x, ldx, y, ldy, tokens, row_begin, row_end); break;
    }
}

/* ---------- y = x · W (W not transposed: the absorbed attention's q_nope · W_UK) ---------- */
/* Each output y[t][j] is one chain y = fmaf(x[t][i], w[i][j], y) over i ascending, the same on every ISA. */

static void dense_t_portable(const void *w, int kind, int64_t n, int64_t cols, const float *x, int64_t ldx, float *y,
                             int64_t ldy, int64_t tokens) {
    for (int64_t t = 0; t < tokens; t++) {
        float *yt = y + t * ldy;
        for (int64_t j = 0; j < cols; j++) yt[j] = 0;
        for (int64_t i = 0; i < n; i++) {
            float a = x[t * ldx + i];
            for (int64_t j = 0; j < cols; j++) yt[j] = fmaf(a, load_scalar(w, kind, i * cols + j), yt[j]);
        }
    }
}

AVX512_TARGET static void dense_t_avx512(const void *w, int kind, int64_t n, int64_t cols, const float *x,
                                         int64_t ldx, float *y, int64_t ldy, int64_t tokens) {
    for (int64_t t = 0; t < tokens; t++) {
        float *yt = y + t * ldy;
        for (int64_t j = 0; j < cols; j += 16) {
            __mmask16 m = cols - j >= 16 ? 0xFFFF : (__mmask16)((1u << (cols - j)) - 1);
            __m512 acc = _mm512_setzero_ps();
            for (int64_t i = 0; i < n; i++)
                acc = _mm512_fmadd_ps(_mm512_set1_ps(x[t * ldx + i]), load16_512(w, kind, i * cols + j, m), acc);
            _mm512_mask_storeu_ps(yt + j, m, acc);
        }
    }
}

AVX2_TARGET static void dense_t_avx2(const void *w, int kind, int64_t n, int64_t cols, const float *x, int64_t ldx,
                                     float *y, int64_t ldy, int64_t tokens) {
    for (int64_t t = 0; t < tokens; t++) {
        float *yt = y + t * ldy;
        int64_t j = 0;
        for (; j + 8 <= cols; j += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int64_t i = 0; i < n; i++)
                acc = _mm256_fmadd_ps(_mm256_set1_ps(x[t * ldx + i]), load8_256(w, kind, i * cols + j), acc);
            _mm256_storeu_ps(yt + j, acc);
        }
        for (; j < cols; j++) {
            float acc = 0;
            for (int64_t i = 0; i < n; i++) acc = fmaf(x[t * ldx + i], load_scalar(w, kind, i * cols + j), acc);
            yt[j] = acc;
        }
    }
}

void ingot_dense_matmul_t(const void *w, int kind, int64_t n, int64_t cols, const float *x, int64_t ldx, float *y,
                          int64_t ldy, int64_t tokens, int isa) {
    switch (effective_isa(isa)) {
    case INGOT_ISA_AVX512:
    case INGOT_ISA_AVX512_BF16: dense_t_avx512(w, kind, n, cols, x, ldx, y, ldy, tokens); break;
    case INGOT_ISA_AVX2: dense_t_avx2(w, kind, n, cols, x, ldx, y, ldy, tokens); break;
    default: dense_t_portable(w, kind, n, cols, x, ldx, y, ldy, tokens); break;
    }
}

/* ---------- widening a block of rows (the panels the GEMM path hands to sgemm) ---------- */

void ingot_dense_widen(const void *w, int kind, int64_t begin, int64_t count, float *out) {
    switch (kind) {
    case INGOT_W_BF16: ingot_bf16_to_f32((const uint16_t *)w + begin, out, (size_t)count); break;
    case INGOT_W_F16:
        if (!ingot_f16_to_f32((const uint16_t *)w + begin, out, (size_t)count))
            for (int64_t i = 0; i < count; i++) out[i] = f16_to_f32(((const uint16_t *)w)[begin + i]);
        break;
    default: memcpy(out, (const float *)w + begin, (size_t)count * sizeof(float)); break;
    }
}
