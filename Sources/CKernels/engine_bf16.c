/* Sources/CKernels/engine_bf16.c: the opt-in q8_0 mode's product of BF16 weights with BF16-rounded activations
   (docs/engine.md, "Kernels and numerics"), the arithmetic of an AVX512_BF16 dot product.

   The activations are rounded to BF16 once per call (ingot_f32_to_bf16: round to nearest even, NaN stays NaN).
   Every (row, token) output is then computed by the same sequence of f32 operations on every instruction set:
     acc[0..15] = +0
     for each 32-column chunk k (columns past `cols` read as +0 in both operands), for each lane i in 0 ..< 16:
       acc[i] = step(acc[i], w[32k + 2i + 1], x[32k + 2i + 1])      (the odd element first)
       acc[i] = step(acc[i], w[32k + 2i],     x[32k + 2i])
     s8[i] = acc[i] + acc[i+8];  s4[i] = s8[i] + s8[i+4];  s2[i] = s4[i] + s4[i+2];  y = s2[0] + s2[1]
   where step(acc, a, b) is one fused multiply-add in round-to-nearest-even with the BF16 inputs a and b widened to
   f32 and a subnormal input read as a zero of its sign (DAZ), and a subnormal result replaced by a zero of its
   sign (FTZ). That is what one VDPBF16PS does per f32 lane (Intel's definition: the pair's odd element is
   accumulated first, each accumulation an FMA with DAZ in, FTZ out, RNE, MXCSR not consulted). The final lane sum
   is the same fixed pairwise tree as the exact dense kernels (ordinary f32 additions).
   The AVX512_BF16 path uses the instruction itself; the AVX-512F path and the portable C path perform the steps
   one by one, so all three agree bit for bit (NaN payloads aside: a NaN output is NaN on every path). */
#include "ckernels.h"
#include "engine_common.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

/* Token rows per block when there are many tokens: the block's BF16 activations stay in cache while every row
   tile of the worker's range passes over them. */
#define BF16_TOKEN_BLOCK 64

static int effective_isa(int requested) {
    int have = ingot_engine_isa();
    return requested < have ? requested : have;
}

/* ---------- activations → BF16 ---------- */

static inline uint16_t f32_to_bf16_rne(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x0040u); /* NaN: quiet, sign and top payload kept */
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

void ingot_f32_to_bf16(const float *x, int64_t n, uint16_t *out) {
    for (int64_t i = 0; i < n; i++) out[i] = f32_to_bf16_rne(x[i]);
}

/* ---------- portable reference ---------- */

static inline float f32_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* A BF16 input as the instruction reads it: widened, a subnormal read as a signed zero. */
static inline float bf16_daz(uint16_t b) {
    if ((b & 0x7F80u) == 0) b &= 0x8000u;
    return f32_bits((uint32_t)b << 16);
}

/* The flush decision for a fused result r = fmaf(a, b, acc) that came out as ±FLT_MIN: the instruction detects a
   tiny result after rounding to 24 bits with an unbounded exponent, so an exact sum in [FLT_MIN − 2⁻¹⁵⁰,
   FLT_MIN − 2⁻¹⁵¹) — which fmaf rounds up to FLT_MIN on the subnormal grid — is tiny there and flushed (measured on
   an AVX512_BF16 CPU; BF16DotKernelTests checks it on every variant). The sum is exact in double here: a product that
   reaches below 2⁻¹⁴⁹ is small, so acc is within a few ulps of FLT_MIN and the bits span < 53. */
static inline int flushes_at_min(float acc, float a, float b) {
    double x = (double)acc + (double)a * (double)b;
    return fabs(x) < 0x1p-126 - 0x1p-151;
}

/* One accumulation: fused multiply-add (RNE), then a tiny result flushed to a zero of its sign. */
static inline float dp_step(float acc, uint16_t a, uint16_t b) {
    float fa = bf16_daz(a), fb = bf16_daz(b);
    float r = fmaf(fa, fb, acc);
    uint32_t u;
    memcpy(&u, &r, 4);
    if ((u & 0x7F800000u) == 0 || ((u & 0x7FFFFFFFu) == 0x00800000u && flushes_at_min(acc, fa, fb))) u &= 0x80000000u;
    return f32_bits(u);
}

static void bf16_portable(const uint16_t *w, int64_t cols, const uint16_t *x, int64_t ldx, float *y, int64_t ldy,
                          int64_t tokens, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *wr = w + r * cols;
        for (int64_t t = 0; t < tokens; t++) {
            const uint16_t *xt = x + t * ldx;
            float acc[16];
            for (int i = 0; i < 16; i++) acc[i] = 0.0f;
            for (int64_t k = 0; k < cols; k += 32)
                for (int i = 0; i < 16; i++) {
                    int64_t c1 = k + 2 * i + 1, c0 = k + 2 * i;
                    acc[i] = dp_step(acc[i], c1 < cols ? wr[c1] : 0, c1 < cols ? xt[c1] : 0);
                    acc[i] = dp_step(acc[i], c0 < cols ? wr[c0] : 0, c0 < cols ? xt[c0] : 0);
                }
            y[t * ldy + r] = reduce16(acc);
        }
    }
}

/* ---------- shared AVX-512 pieces ---------- */

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define AVX512BF16_TARGET __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl,avx512dq,avx2,fma")))

/* 32 BF16 values from p (lanes outside the mask read as +0). */
AVX512_TARGET static inline __m512i load32(const uint16_t *p, __mmask32 m) {
    return m == 0xFFFFFFFFu ? _mm512_loadu_si512((const void *)p) : _mm512_maskz_loadu_epi16(m, p);
}

/* ---------- AVX512_BF16: VDPBF16PS ---------- */

/* One tile: NR rows × NT tokens (both ≤ 4, compile-time constants after inlining). */
AVX512BF16_TARGET __attribute__((always_inline)) static inline void tile_bf16(const uint16_t *w, int64_t cols,
                                                                             const uint16_t *x, int64_t ldx, float *y,
                                                                             int64_t ldy, int64_t r, int64_t t,
                                                                             int NR, int NT) {
    __m512 acc[4][4];
    for (int i = 0; i < NR; i++)
        for (int k = 0; k < NT; k++) acc[i][k] = _mm512_setzero_ps();
    /* 32 columns per step; a partial last chunk is read with a mask. */
    for (int64_t j = 0; j < cols; j += 32) {
        __mmask32 m = cols - j >= 32 ? 0xFFFFFFFFu : (__mmask32)((1ull << (cols - j)) - 1);
        __m512i wv[4], xv[4];
        for (int i = 0; i < NR; i++) wv[i] = load32(w + (r + i) * cols + j, m);
        for (int k = 0; k < NT; k++) xv[k] = load32(x + (t + k) * ldx + j, m);
        for (int i = 0; i < NR; i++)
            for (int k = 0; k < NT; k++) acc[i][k] = _mm512_dpbf16_ps(acc[i][k], (__m512bh)wv[i], (__m512bh)xv[k]);
    }
    for (int i = 0; i < NR; i++)
        for (int k = 0; k < NT; k++) y[(t + k) * ldy + r + i] = reduce512(acc[i][k]);
}

/* ---------- AVX-512F: the same steps one by one ---------- */

/* Odd (high) and even (low) BF16 halves of each dword as f32, subnormals read as signed zeros. */
AVX512_TARGET static inline __m512 daz512(__m512i bits) {
    __mmask16 tiny = _mm512_testn_epi32_mask(bits, _mm512_set1_epi32(0x7F800000));
    return _mm512_castsi512_ps(_mm512_mask_and_epi32(bits, tiny, bits, _mm512_set1_epi32((int)0x80000000u)));
}

AVX512_TARGET static inline __m512 ftz512(__m512 v) {
    __m512i bits = _mm512_castps_si512(v);
    __mmask16 tiny = _mm512_testn_epi32_mask(bits, _mm512_set1_epi32(0x7F800000));
    return _mm512_castsi512_ps(_mm512_mask_and_epi32(bits, tiny, bits, _mm512_set1_epi32((int)0x80000000u)));
}

/* One step on 16 lanes; a lane that came out ±FLT_MIN (rare) gets the scalar path's decision. */
AVX512_TARGET static inline __m512 step512(__m512 acc, __m512 a, __m512 b) {
    __m512 r = ftz512(_mm512_fmadd_ps(a, b, acc));
    __m512i magnitude = _mm512_and_si512(_mm512_castps_si512(r), _mm512_set1_epi32(0x7FFFFFFF));
    __mmask16 at_min = _mm512_cmpeq_epi32_mask(magnitude, _mm512_set1_epi32(0x00800000));
    if (__builtin_expect(at_min != 0, 0)) {
        float ra[16], aa[16], ba[16], ca[16];
        _mm512_storeu_ps(ra, r);
        _mm512_storeu_ps(aa, a);
        _mm512_storeu_ps(ba, b);
        _mm512_storeu_ps(ca, acc);
        for (int l = 0; l < 16; l++)
            if (((at_min >> l) & 1) && flushes_at_min(ca[l], aa[l], ba[l])) ra[l] = copysignf(0.0f, ra[l]);
        r = _mm512_loadu_ps(ra);
    }
    return r;
}

AVX512_TARGET static inline __m512 dp_emulated(__m512 acc, __m512i a, __m512i b) {
    __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512 ao = daz512(_mm512_and_si512(a, high)), bo = daz512(_mm512_and_si512(b, high));
    __m512 ae = daz512(_mm512_slli_epi32(a, 16)), be = daz512(_mm512_slli_epi32(b, 16));
    return step512(step512(acc, ao, bo), ae, be);
}

AVX512_TARGET __attribute__((always_inline)) static inline void tile_emu(const uint16_t *w, int64_t cols,
                                                                        const uint16_t *x, int64_t ldx, float *y,
                                                                        int64_t ldy, int64_t r, int64_t t, int NR,
                                                                        int NT) {
    __m512 acc[4][4];
    for (int i = 0; i < NR; i++)
        for (int k = 0; k < NT; k++) acc[i][k] = _mm512_setzero_ps();
    /* 32 columns per step; a partial last chunk is read with a mask. */
    for (int64_t j = 0; j < cols; j += 32) {
        __mmask32 m = cols - j >= 32 ? 0xFFFFFFFFu : (__mmask32)((1ull << (cols - j)) - 1);
        __m512i wv[4], xv[4];
        for (int i = 0; i < NR; i++) wv[i] = load32(w + (r + i) * cols + j, m);
        for (int k = 0; k < NT; k++) xv[k] = load32(x + (t + k) * ldx + j, m);
        for (int i = 0; i < NR; i++)
            for (int k = 0; k < NT; k++) acc[i][k] = dp_emulated(acc[i][k], wv[i], xv[k]);
    }
    for (int i = 0; i < NR; i++)
        for (int k = 0; k < NT; k++) y[(t + k) * ldy + r + i] = reduce512(acc[i][k]);
}

/* Token blocks, then 4-row × 4-token tiles over the worker's rows. */
AVX512BF16_TARGET static void bf16_native(const uint16_t *w, int64_t cols, const uint16_t *x, int64_t ldx, float *y,
                                          int64_t ldy, int64_t tokens, int64_t r0, int64_t r1) {
    for (int64_t tb = 0; tb < tokens; tb += BF16_TOKEN_BLOCK) {
        int64_t te = tokens - tb < BF16_TOKEN_BLOCK ? tokens : tb + BF16_TOKEN_BLOCK;
        for (int64_t r = r0; r < r1; r += 4) {
            int nr = (int)(r1 - r < 4 ? r1 - r : 4);
            for (int64_t t = tb; t < te; t += 4) {
                int nt = (int)(te - t < 4 ? te - t : 4);
                TILE_SWITCH(tile_bf16, nr, nt, w, cols, x, ldx, y, ldy, r, t)
            }
        }
    }
}

AVX512_TARGET static void bf16_avx512(const uint16_t *w, int64_t cols, const uint16_t *x, int64_t ldx, float *y,
                                      int64_t ldy, int64_t tokens, int64_t r0, int64_t r1) {
    for (int64_t tb = 0; tb < tokens; tb += BF16_TOKEN_BLOCK) {
        int64_t te = tokens - tb < BF16_TOKEN_BLOCK ? tokens : tb + BF16_TOKEN_BLOCK;
        for (int64_t r = r0; r < r1; r += 4) {
            int nr = (int)(r1 - r < 4 ? r1 - r : 4);
            for (int64_t t = tb; t < te; t += 4) {
                int nt = (int)(te - t < 4 ? te - t : 4);
                TILE_SWITCH(tile_emu, nr, nt, w, cols, x, ldx, y, ldy, r, t)
            }
        }
    }
}

void ingot_bf16_dot_matmul(const uint16_t *w, int64_t cols, const uint16_t *x, int64_t ldx, float *y, int64_t ldy,
                           int64_t tokens, int64_t row_begin, int64_t row_end, int isa) {
    switch (effective_isa(isa)) {
    case INGOT_ISA_AVX512_BF16: bf16_native(w, cols, x, ldx, y, ldy, tokens, row_begin, row_end); break;
    case INGOT_ISA_AVX512: bf16_avx512(w, cols, x, ldx, y, ldy, tokens, row_begin, row_end); break;
    default: bf16_portable(w, cols, x, ldx, y, ldy, tokens, row_begin, row_end); break;
    }
}
