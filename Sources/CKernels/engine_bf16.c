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

/* One token, INGOT_ONE_TOKEN_ROWS rows per step: tile_bf16's chains, more rows in flight (docs/engine.md,
   "Kernels and numerics"). */
AVX512BF16_TARGET __attribute__((always_inline)) static inline void rows_bf16(const uint16_t *w, int64_t cols,
                                                                             const uint16_t *x, float *y, int64_t r) {
    __m512 acc[INGOT_ONE_TOKEN_ROWS];
    for (int i = 0; i < INGOT_ONE_TOKEN_ROWS; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t j = 0; j < cols; j += 32) {
        __mmask32 m = cols - j >= 32 ? 0xFFFFFFFFu : (__mmask32)((1ull << (cols - j)) - 1);
        __m512i xv = load32(x + j, m);
        for (int i = 0; i < INGOT_ONE_TOKEN_ROWS; i++)
            acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)load32(w + (r + i) * cols + j, m), (__m512bh)xv);
    }
    for (int i = 0; i < INGOT_ONE_TOKEN_ROWS; i++) y[r + i] = reduce512(acc[i]);
}

/* Token blocks, then 4-row × 4-token tiles over the worker's rows (one token: whole row steps first). */
AVX512BF16_TARGET static void bf16_native(const uint16_t *w, int64_t cols, const uint16_t *x, int64_t ldx, float *y,
                                          int64_t ldy, int64_t tokens, int64_t r0, int64_t r1) {
    if (tokens == 1)
        for (; r0 + INGOT_ONE_TOKEN_ROWS <= r1; r0 += INGOT_ONE_TOKEN_ROWS) rows_bf16(w, cols, x, y, r0);
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

/* ---------- many tokens: packed panels ----------

   Rows are taken BF16_NR at a time and columns 2 × BF16_KP at a time. Each panel of weight pairs is packed once
   (panel[p × BF16_NR + i] = the 32-bit pair W[r0 + i][k0 + 2p .. k0 + 2p + 1], rows padded with zeros) and then
   multiplied with every token, six tokens × 64 rows per tile. For one (row, token) output the accumulation is a single
   chain: acc = +0 before the first panel, y's value before each later one, and for every pair p in order
   acc = step(acc, w[2p + 1], x[2p + 1]); acc = step(acc, w[2p], x[2p]) — what VDPBF16PS does on one lane. The
   AVX512_BF16 path uses the instruction, the AVX-512F path replays it (dp_emulated), the portable path step by step
   (dp_step): the same bits on every ISA. */
#define BF16_NR 64
#define BF16_KP 128

int64_t ingot_bf16_gemm_scratch_words(void) { return (int64_t)BF16_NR * BF16_KP; }

static void pack_pairs_portable(const uint16_t *w, int64_t cols, int64_t r0, int nr, int64_t k0, int kp, uint32_t *panel) {
    for (int p = 0; p < kp; p++)
        for (int i = 0; i < BF16_NR; i++) {
            uint32_t v = 0;
            if (i < nr) memcpy(&v, w + (r0 + i) * cols + k0 + 2 * p, 4);
            panel[p * BF16_NR + i] = v;
        }
}

/* Whole 16-row × 16-pair blocks transposed in registers; edges by the portable loop (the same words either way). */
AVX512_TARGET static void pack_pairs_avx512(const uint16_t *w, int64_t cols, int64_t r0, int nr, int64_t k0, int kp,
                                            uint32_t *panel) {
    if (nr < BF16_NR || kp % 16 != 0) {
        pack_pairs_portable(w, cols, r0, nr, k0, kp, panel);
        return;
    }
    for (int i0 = 0; i0 < BF16_NR; i0 += 16)
        for (int p0 = 0; p0 < kp; p0 += 16) {
            __m512 rows[16], out[16];
            for (int i = 0; i < 16; i++) rows[i] = _mm512_loadu_ps((const float *)(w + (r0 + i0 + i) * cols + k0 + 2 * p0));
            transpose16(rows, out);
            for (int j = 0; j < 16; j++) _mm512_storeu_ps((float *)(panel + (p0 + j) * BF16_NR + i0), out[j]);
        }
}

static void tile_pairs_portable(const uint32_t *panel, int nr, int kp, const uint16_t *x, int64_t ldx, float *y,
                                int64_t ldy, int64_t t, int64_t r0, int64_t k0, int first) {
    for (int i = 0; i < nr; i++) {
        float *out = y + t * ldy + r0 + i;
        float acc = first ? 0.0f : *out;
        for (int p = 0; p < kp; p++) {
            uint32_t wp = panel[p * BF16_NR + i], xp;
            memcpy(&xp, x + t * ldx + k0 + 2 * p, 4);
            acc = dp_step(acc, (uint16_t)(wp >> 16), (uint16_t)(xp >> 16));
            acc = dp_step(acc, (uint16_t)wp, (uint16_t)xp);
        }
        *out = acc;
    }
}

/* Six tokens × 64 rows; EMU replays the instruction with dp_emulated. */
#define BF16_TILE(NAME, TARGET, DP)                                                                                    \
    TARGET __attribute__((always_inline)) static inline void NAME(const uint32_t *panel, int nr, int kp,              \
                                                                  const uint16_t *x, int64_t ldx, float *y,           \
                                                                  int64_t ldy, int64_t t0, int64_t r0, int64_t k0,    \
                                                                  int first, int MT) {                                \
        __m512 acc[6][4];                                                                                              \
        __mmask16 mask[4];                                                                                             \
        for (int v = 0; v < 4; v++) {                                                                                  \
            int left = nr - 16 * v;                                                                                    \
            mask[v] = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);                            \
        }                                                                                                              \
        for (int m = 0; m < MT; m++)                                                                                   \
            for (int v = 0; v < 4; v++)                                                                                \
                acc[m][v] = first ? _mm512_setzero_ps()                                                                \
                                  : _mm512_maskz_loadu_ps(mask[v], y + (t0 + m) * ldy + r0 + 16 * v);                  \
        for (int p = 0; p < kp; p++) {                                                                                 \
            const uint32_t *q = panel + p * BF16_NR;                                                                   \
            __m512i w0 = _mm512_loadu_si512((const void *)q), w1 = _mm512_loadu_si512((const void *)(q + 16)),         \
                    w2 = _mm512_loadu_si512((const void *)(q + 32)), w3 = _mm512_loadu_si512((const void *)(q + 48));  \
            for (int m = 0; m < MT; m++) {                                                                             \
                uint32_t xp;                                                                                           \
                memcpy(&xp, x + (t0 + m) * ldx + k0 + 2 * p, 4);                                                       \
                __m512i b = _mm512_set1_epi32((int)xp);                                                                \
                acc[m][0] = DP(acc[m][0], w0, b);                                                                      \
                acc[m][1] = DP(acc[m][1], w1, b);                                                                      \
                acc[m][2] = DP(acc[m][2], w2, b);                                                                      \
                acc[m][3] = DP(acc[m][3], w3, b);                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        for (int m = 0; m < MT; m++)                                                                                   \
            for (int v = 0; v < 4; v++)                                                                                \
                if (mask[v]) _mm512_mask_storeu_ps(y + (t0 + m) * ldy + r0 + 16 * v, mask[v], acc[m][v]);              \
    }

#define DP_NATIVE(acc, w, b) _mm512_dpbf16_ps((acc), (__m512bh)(w), (__m512bh)(b))
#define DP_EMULATED(acc, w, b) dp_emulated((acc), (w), (b))
BF16_TILE(tile_pairs_native, AVX512BF16_TARGET, DP_NATIVE)
BF16_TILE(tile_pairs_emu, AVX512_TARGET, DP_EMULATED)

#define BF16_PANEL(NAME, TARGET, TILE)                                                                                 \
    TARGET static void NAME(const uint32_t *panel, int nr, int kp, const uint16_t *x, int64_t ldx, float *y,          \
                            int64_t ldy, int64_t tokens, int64_t r0, int64_t k0, int first) {                          \
        int64_t t = 0;                                                                                                 \
        for (; t + 6 <= tokens; t += 6) TILE(panel, nr, kp, x, ldx, y, ldy, t, r0, k0, first, 6);                      \
        switch (tokens - t) {                                                                                          \
        case 5: TILE(panel, nr, kp, x, ldx, y, ldy, t, r0, k0, first, 5); break;                                       \
        case 4: TILE(panel, nr, kp, x, ldx, y, ldy, t, r0, k0, first, 4); break;                                       \
        case 3: TILE(panel, nr, kp, x, ldx, y, ldy, t, r0, k0, first, 3); break;                                       \
        case 2: TILE(panel, nr, kp, x, ldx, y, ldy, t, r0, k0, first, 2); break;                                       \
        case 1: TILE(panel, nr, kp, x, ldx, y, ldy, t, r0, k0, first, 1); break;                                       \
        default: break;                                                                                                \
        }                                                                                                              \
    }
BF16_PANEL(panel_pairs_native, AVX512BF16_TARGET, tile_pairs_native)
BF16_PANEL(panel_pairs_emu, AVX512_TARGET, tile_pairs_emu)

void ingot_bf16_gemm(const uint16_t *w, int64_t cols, const uint16_t *x, int64_t ldx, float *y, int64_t ldy,
                     int64_t tokens, int64_t row_begin, int64_t row_end, uint32_t *panel, int isa) {
    int level = effective_isa(isa);
    int64_t pairs = cols / 2;
    for (int64_t r0 = row_begin; r0 < row_end; r0 += BF16_NR) {
        int nr = (int)(row_end - r0 < BF16_NR ? row_end - r0 : BF16_NR);
        for (int64_t p0 = 0; p0 < pairs; p0 += BF16_KP) {
            int kp = (int)(pairs - p0 < BF16_KP ? pairs - p0 : BF16_KP);
            int64_t k0 = 2 * p0;
            int first = p0 == 0;
            if (level >= INGOT_ISA_AVX512)
                pack_pairs_avx512(w, cols, r0, nr, k0, kp, panel);
            else
                pack_pairs_portable(w, cols, r0, nr, k0, kp, panel);
            if (level >= INGOT_ISA_AVX512_BF16)
                panel_pairs_native(panel, nr, kp, x, ldx, y, ldy, tokens, r0, k0, first);
            else if (level >= INGOT_ISA_AVX512)
                panel_pairs_emu(panel, nr, kp, x, ldx, y, ldy, tokens, r0, k0, first);
            else
                for (int64_t t = 0; t < tokens; t++) tile_pairs_portable(panel, nr, kp, x, ldx, y, ldy, t, r0, k0, first);
        }
    }
}
