/* Sources/CKernels/engine_q8.c: the engine's opt-in INT4 kernels on Q8_0-quantized activations.

   The default kernels (engine_gemm.c) multiply the exact f32 weights s × (u − 8) with f32 activations; they are
   compute-bound at ≈ 0.2 × this machine's memory bandwidth. These kernels quantize the activations first, exactly as
   llama.cpp's CPU backend does for Q4_0 × Q8_0 (its AVX2 quantize_row_q8_0), and then work in integers:

     per token and 32-column group g:  amax = max |x_j|,  d = f16(amax / 127) widened to f32,
                                        id = amax ≠ 0 ? 127 / amax : 0,  q_j = round-half-even(x_j · id)  (int8)
     per row r:   isum[g] = Σ_j (u[r][j] − 8) · q_j                  (exact in int32)
                  acc = 0;  for g in order:  acc = fmaf((float)isum[g], scale[r][g] · d[g], acc)
                  y[r] = acc

   Only the activations are rounded: the weights are still exactly the checkpoint's. The integer sums are exact, so
   every layout and both code paths (AVX2, portable) give bit-identical results. This is the arithmetic llama.cpp
   applies to the same Q4_0 weights (up to its f32 accumulation order), which `ingot eval parity` can use to separate
   a runtime's activation rounding from a conversion error. */
#include "ckernels.h"
#include "engine_common.h"
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------- activation quantization ---------- */

static void quantize_scalar(const float *x, int64_t n, int8_t *q, float *d, int32_t *sums) {
    for (int64_t g = 0; g < n / INGOT_INT4_GROUP; g++) {
        const float *xg = x + INGOT_INT4_GROUP * g;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xg[j]));
        d[g] = (float)(_Float16)(amax / 127.0f);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int32_t s = 0;
        for (int j = 0; j < 32; j++) {
            int v = (int)nearbyintf(xg[j] * id);
            q[INGOT_INT4_GROUP * g + j] = (int8_t)v;
            s += v;
        }
        sums[g] = s;
    }
}

__attribute__((target("avx2,fma,f16c"))) static void quantize_avx2(const float *x, int64_t n, int8_t *q, float *d,
                                                                   int32_t *sums) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t g = 0; g < n / INGOT_INT4_GROUP; g++) {
        const float *xg = x + INGOT_INT4_GROUP * g;
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(xg + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        d[g] = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(amax / 127.0f), _MM_FROUND_TO_NEAREST_INT)));
        const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        __m256i i[4];
        for (int k = 0; k < 4; k++)
            i[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        sums[g] = _mm_cvtsi128_si32(s4);
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + INGOT_INT4_GROUP * g), p);
    }
}

void ingot_quantize_q8_0(const float *x, int64_t n, int8_t *q, float *d, int32_t *sums, int portable) {
    if (!portable && have_avx2_fma())
        quantize_avx2(x, n, q, d, sums);
    else
        quantize_scalar(x, n, q, d, sums);
}

/* ---------- portable matmul paths ---------- */

static void ct_q8_scalar(const uint8_t *packed, const uint16_t *scales, int64_t cols, const int8_t *xq, const float *xd,
                         float *y, int64_t ldy, int64_t tokens, int64_t r0, int64_t r1) {
    const int64_t groups = cols / INGOT_INT4_GROUP;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < tokens; t++) {
            float acc = 0;
            for (int64_t g = 0; g < groups; g++) {
                const uint8_t *p = packed + r * (cols / 2) + g * 16;
                const int8_t *q = xq + t * cols + g * INGOT_INT4_GROUP;
                int32_t isum = 0;
                for (int j = 0; j < 16; j++) isum += ((p[j] & 15) - 8) * q[2 * j] + ((p[j] >> 4) - 8) * q[2 * j + 1];
                acc = fmaf((float)isum, bf16_to_f32(scales[r * groups + g]) * xd[t * groups + g], acc);
            }
            y[t * ldy + r] = acc;
        }
}

static void tiles_q8_scalar(const uint8_t *tiles, int64_t tile_rows, int64_t rows, int64_t cols, const int8_t *xq,
                            const float *xd, float *y, int64_t ldy, int64_t tokens, int64_t b0, int64_t b1) {
    const int64_t groups = cols / INGOT_INT4_GROUP, tile_bytes = tile_rows * INGOT_TILE_ROW_BYTES;
    for (int64_t b = b0; b < b1; b++)
        for (int64_t i = 0; i < tile_rows && b * tile_rows + i < rows; i++)
            for (int64_t t = 0; t < tokens; t++) {
                float acc = 0;
                for (int64_t g = 0; g < groups; g++) {
                    const uint8_t *tile = tiles + (b * groups + g) * tile_bytes, *p = tile + i * 16;
                    const int8_t *q = xq + t * cols + g * INGOT_INT4_GROUP;
                    uint16_t sb;
                    memcpy(&sb, tile + tile_rows * 16 + i * 2, 2);
                    int32_t isum = 0;
                    for (int j = 0; j < 16; j++) isum += ((p[j] & 15) - 8) * q[j] + ((p[j] >> 4) - 8) * q[j + 16];
                    acc = fmaf((float)isum, bf16_to_f32(sb) * xd[t * groups + g], acc);
                }
                y[t * ldy + b * tile_rows + i] = acc;
            }
}

/* ---------- AVX2 paths: eight rows at a time, one lane per row ---------- */

#ifndef Q8_PREFETCH
#define Q8_PREFETCH 2048
#endif

/* Σ u·q of two rows' 16 packed bytes (one 256-bit vector: row a in the low half, row b in the high half) against the
   activation bytes that pair with the low nibbles (`xl`) and the high nibbles (`xh`), as 8 + 8 int16 partial sums.
   u ≤ 15 and |q| ≤ 127: each maddubs lane is at most 2·15·127 = 3810 in magnitude and each partial at most 7620. */
__attribute__((target("avx2"))) static inline __m256i pair_dot(__m256i v, __m256i xl, __m256i xh) {
    const __m256i m = _mm256_set1_epi8(15);
    __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    return _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_maddubs_epi16(hi, xh));
}

/* The eight rows' Σ u·q as int32, lanes in the order r0 r2 r4 r6 r1 r3 r5 r7 (p[k] holds rows 2k, 2k + 1). Two
   levels of pairwise int16 sums stay ≤ 4 · 7620 = 30480 (no wrap-around); the last level widens to int32. */
__attribute__((target("avx2"))) static inline __m256i rows8(const __m256i p[4]) {
    __m256i s = _mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]), _mm256_hadd_epi16(p[2], p[3]));
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}

/* scale[i] · d for the eight rows (BF16 scales at `sc`, natural order), in rows8's lane order. */
__attribute__((target("avx2,fma"))) static inline __m256 row_scales(const uint16_t *sc, float d) {
    const __m128i order = _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    __m128i b = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)sc), order);
    __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16);
    return _mm256_mul_ps(_mm256_castsi256_ps(w), _mm256_set1_ps(d));
}

/* acc += (float)(Σ u·q − 8 Σ q) · scale · d for one group of the eight rows (Σ (u − 8)·q = Σ u·q − 8 Σ q). */
__attribute__((target("avx2,fma"))) static inline __m256 group_step(const __m256i p[4], int32_t sum_q, const uint16_t *sc, float d,
                                                                   __m256 acc) {
    __m256i isum = _mm256_sub_epi32(rows8(p), _mm256_set1_epi32(8 * sum_q));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), row_scales(sc, d), acc);
}

/* Writes the eight lanes (rows8 order) to y[row0 + 0..7], only rows below `rows`. */
static inline void store_rows8(const float lanes[8], float *y, int64_t row0, int64_t rows) {
    static const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    for (int k = 0; k < 8; k++)
        if (row0 + order[k] < rows) y[row0 + order[k]] = lanes[k];
}

__attribute__((target("avx2,fma"))) static void tiles_q8_avx2(const uint8_t *tiles, int64_t rows, int64_t cols,
                                                              const int8_t *xq, const float *xd, const int32_t *xs,
                                                              float *y, int64_t ldy, int64_t tokens, int64_t b0,
                                                              int64_t b1) {
    const int64_t groups = cols / INGOT_INT4_GROUP;
    for (int64_t b = b0; b < b1; b++) {
        const uint8_t *block = tiles + b * groups * 144;
        for (int64_t t = 0; t < tokens; t++) {
            const int8_t *q = xq + t * cols;
            const float *d = xd + t * groups;
            const int32_t *s = xs + t * groups;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t g = 0; g < groups; g++) {
                const uint8_t *tile = block + g * 144;
                /* One core's hardware prefetch does not keep enough lines in flight for a read-only stream. */
                _mm_prefetch((const char *)(tile + Q8_PREFETCH), _MM_HINT_T0);
                _mm_prefetch((const char *)(tile + Q8_PREFETCH + 64), _MM_HINT_T0);
                _mm_prefetch((const char *)(tile + Q8_PREFETCH + 128), _MM_HINT_T0);
                const __m256i xl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(q + INGOT_INT4_GROUP * g)));
                const __m256i xh = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(q + INGOT_INT4_GROUP * g + 16)));
                __m256i p[4];
                for (int k = 0; k < 4; k++) p[k] = pair_dot(_mm256_loadu_si256((const __m256i *)(tile + 32 * k)), xl, xh);
                acc = group_step(p, s[g], (const uint16_t *)(tile + 128), d[g], acc);
            }
            float lanes[8];
            _mm256_storeu_ps(lanes, acc);
            store_rows8(lanes, y + t * ldy, b * 8, rows);
        }
    }
}

__attribute__((target("avx2,fma"))) static void ct_q8_avx2(const uint8_t *packed, const uint16_t *scales, int64_t rows,
                                                           int64_t cols, const int8_t *xq, const float *xd,
                                                           const int32_t *xs, float *y, int64_t ldy, int64_t tokens,
                                                           int64_t r0, int64_t r1) {
    const int64_t groups = cols / INGOT_INT4_GROUP, row_bytes = cols / 2;
    /* Within each 16-byte half: even-indexed bytes first, then odd ones. */
    const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12,
                                           14, 1, 3, 5, 7, 9, 11, 13, 15);
    for (int64_t r = r0; r < r1; r += 8) {
        int64_t n = r1 - r < 8 ? r1 - r : 8;
        const uint8_t *row[8];
        for (int k = 0; k < 8; k++) row[k] = packed + (r + (k < n ? k : n - 1)) * row_bytes;
        const uint8_t *next = packed + (r + 8) * row_bytes;
        uint16_t sc[8];
        for (int64_t t = 0; t < tokens; t++) {
            const int8_t *q = xq + t * cols;
            const float *d = xd + t * groups;
            const int32_t *s = xs + t * groups;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t g = 0; g < groups; g++) {
                /* The eight rows are one contiguous block of groups · 128 bytes, read in eight places at once; the
                   next block is fetched in order meanwhile, two lines per group. */
                _mm_prefetch((const char *)(next + g * 128), _MM_HINT_T0);
                _mm_prefetch((const char *)(next + g * 128 + 64), _MM_HINT_T0);
                /* Low nibbles hold the even elements, high nibbles the odd ones. */
                __m256i xv = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(q + INGOT_INT4_GROUP * g)), split);
                const __m256i xl = _mm256_permute4x64_epi64(xv, 0x88), xh = _mm256_permute4x64_epi64(xv, 0xdd);
                __m256i p[4];
                for (int k = 0; k < 4; k++) {
                    __m256i v = _mm256_inserti128_si256(
                        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(row[2 * k] + g * 16))),
                        _mm_loadu_si128((const __m128i *)(row[2 * k + 1] + g * 16)), 1);
                    p[k] = pair_dot(v, xl, xh);
                }
                for (int k = 0; k < 8; k++) sc[k] = scales[(r + (k < n ? k : n - 1)) * groups + g];
                acc = group_step(p, s[g], sc, d[g], acc);
            }
            float lanes[8];
            _mm256_storeu_ps(lanes, acc);
            store_rows8(lanes, y + t * ldy, r, r + n < rows ? r + n : rows);
        }
    }
}

/* ---------- AVX-512 VNNI, several tokens: sixteen rows × up to eight tokens ----------

   Sixteen rows are unpacked once per call into levels u (one byte each) in VNNI order — panel[(g·8 + c)·16 + i] is
   the dword of row i's columns 32g + 4c … 32g + 4c + 3 — with their scales widened to f32, and then every token meets
   them from cache: VPDPBUSD adds four u·q products per row lane, eight of them make a group's Σ u·q exactly (no
   saturation: |Σ| ≤ 32 · 15 · 127), and the float step is the one above, so the results equal the other paths bit
   for bit. One token (decode) has its own kernel below, which streams the weights once. */
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma")))
#define Q8_VNNI_MIN_TOKENS 4

static int have_avx512_vnni(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512dq");
    }
    return cached;
}

/* Per-thread unpacked panel, grown once to the largest call (no allocation per product after that). */
static _Thread_local uint32_t *vnni_panel;
static _Thread_local float *vnni_scales;
static _Thread_local int64_t vnni_capacity;

static int vnni_reserve(int64_t groups) {
    if (groups <= vnni_capacity) return 1;
    free(vnni_panel);
    free(vnni_scales);
    vnni_panel = aligned_alloc(64, (size_t)groups * 8 * 16 * 4);
    vnni_scales = aligned_alloc(64, (size_t)groups * 16 * 4);
    vnni_capacity = vnni_panel && vnni_scales ? groups : 0;
    return vnni_capacity > 0;
}

/* Two groups of sixteen rows (levels as 16 dwords per row, `rows16[i]`) transposed into the panel at group g. */
VNNI_TARGET static inline void vnni_store_pair(__m512i rows16[16], uint32_t *panel, int64_t g, int two) {
    __m512 in[16], out[16];
    for (int i = 0; i < 16; i++) in[i] = _mm512_castsi512_ps(rows16[i]);
    transpose16(in, out);
    for (int j = 0; j < (two ? 16 : 8); j++) _mm512_store_ps((float *)(panel + (g * 8 + j) * 16), out[j]);
}

/* Rows r0 … r0 + 15 of a compressed-tensors weight (byte j: element 2j low nibble, 2j + 1 high), rows past `rows` 0. */
VNNI_TARGET static void vnni_unpack_ct(const uint8_t *packed, const uint16_t *scales, int64_t rows, int64_t cols,
                                       int64_t r0, uint32_t *panel, float *sc) {
    const int64_t groups = cols / INGOT_INT4_GROUP, row_bytes = cols / 2;
    const __m256i m = _mm256_set1_epi8(15);
    for (int64_t g = 0; g < groups; g += 2) {
        int two = g + 1 < groups;
        __m512i rows16[16];
        for (int i = 0; i < 16; i++) {
            if (r0 + i >= rows) {
                rows16[i] = _mm512_setzero_si512();
                continue;
            }
            const uint8_t *p = packed + (r0 + i) * row_bytes + g * 16;
            __m256i v = two ? _mm256_loadu_si256((const __m256i *)p) : _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p));
            __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
            __m256i a = _mm256_unpacklo_epi8(lo, hi), b = _mm256_unpackhi_epi8(lo, hi);
            rows16[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_permute2x128_si256(a, b, 0x20)),
                                           _mm256_permute2x128_si256(a, b, 0x31), 1);
        }
        vnni_store_pair(rows16, panel, g, two);
    }
    for (int64_t g = 0; g < groups; g++)
        for (int i = 0; i < 16; i++) sc[g * 16 + i] = r0 + i < rows ? bf16_to_f32(scales[(r0 + i) * groups + g]) : 0.0f;
}

/* Rows r0 … r0 + 15 (two 8-row tile blocks) of an int4-tiles weight (byte j: element j low nibble, j + 16 high). */
VNNI_TARGET static void vnni_unpack_tiles(const uint8_t *tiles, int64_t rows, int64_t cols, int64_t r0, uint32_t *panel,
                                          float *sc) {
    const int64_t groups = cols / INGOT_INT4_GROUP, tile_bytes = 8 * INGOT_TILE_ROW_BYTES;
    const __m128i m = _mm_set1_epi8(15);
    for (int64_t g = 0; g < groups; g += 2) {
        int two = g + 1 < groups;
        __m512i rows16[16];
        for (int i = 0; i < 16; i++) {
            int64_t r = r0 + i;
            if (r >= rows) {
                rows16[i] = _mm512_setzero_si512();
                continue;
            }
            const uint8_t *t0 = tiles + ((r / 8) * groups + g) * tile_bytes + (r % 8) * 16;
            __m128i v0 = _mm_loadu_si128((const __m128i *)t0);
            __m128i v1 = two ? _mm_loadu_si128((const __m128i *)(t0 + tile_bytes)) : _mm_setzero_si128();
            __m256i e0 = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v0, 4), m), _mm_and_si128(v0, m));
            __m256i e1 = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v1, 4), m), _mm_and_si128(v1, m));
            rows16[i] = _mm512_inserti64x4(_mm512_castsi256_si512(e0), e1, 1);
        }
        vnni_store_pair(rows16, panel, g, two);
    }
    for (int64_t g = 0; g < groups; g++)
        for (int i = 0; i < 16; i++) {
            int64_t r = r0 + i;
            uint16_t b = 0;
            if (r < rows) memcpy(&b, tiles + ((r / 8) * groups + g) * tile_bytes + 8 * 16 + (r % 8) * 2, 2);
            sc[g * 16 + i] = bf16_to_f32(b);
        }
}

VNNI_TARGET __attribute__((always_inline)) static inline void vnni_tile(const uint32_t *panel, const float *sc,
                                                                       int64_t groups, int64_t cols, const int8_t *xq,
                                                                       const float *xd, const int32_t *xs, float *y,
                                                                       int64_t ldy, int64_t t0, int64_t r0,
                                                                       __mmask16 keep, int MT) {
    __m512 acc[8];
    for (int k = 0; k < MT; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; g++) {
        const uint32_t *p = panel + g * 8 * 16;
        __m512i w[8];
        for (int c = 0; c < 8; c++) w[c] = _mm512_load_si512((const void *)(p + c * 16));
        const __m512 s = _mm512_load_ps(sc + g * 16);
        for (int k = 0; k < MT; k++) {
            const int8_t *q = xq + (t0 + k) * cols + g * INGOT_INT4_GROUP;
            __m512i isum = _mm512_setzero_si512();
            for (int c = 0; c < 8; c++) {
                int32_t four;
                memcpy(&four, q + 4 * c, 4);
                isum = _mm512_dpbusd_epi32(isum, w[c], _mm512_set1_epi32(four));
            }
            isum = _mm512_sub_epi32(isum, _mm512_set1_epi32(8 * xs[(t0 + k) * groups + g]));
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(s, _mm512_set1_ps(xd[(t0 + k) * groups + g])), acc[k]);
        }
    }
    for (int k = 0; k < MT; k++) _mm512_mask_storeu_ps(y + (t0 + k) * ldy + r0, keep, acc[k]);
}

/* Rows [r0, r1) for every token; the layout's unpacker fills the panel sixteen rows at a time. Returns 0 when the
   panel could not be allocated (the caller then takes the AVX2 path). */
VNNI_TARGET static int q8_vnni(const uint8_t *weights, const uint16_t *scales, int tiled, int64_t rows, int64_t cols,
                               const int8_t *xq, const float *xd, const int32_t *xs, float *y, int64_t ldy,
                               int64_t tokens, int64_t r0, int64_t r1) {
    const int64_t groups = cols / INGOT_INT4_GROUP;
    if (!vnni_reserve(groups + 1)) return 0;
    for (int64_t r = r0; r < r1; r += 16) {
        int64_t n = r1 - r < 16 ? r1 - r : 16;
        if (tiled)
            vnni_unpack_tiles(weights, rows, cols, r, vnni_panel, vnni_scales);
        else
            vnni_unpack_ct(weights, scales, rows, cols, r, vnni_panel, vnni_scales);
        __mmask16 keep = (__mmask16)((1u << n) - 1);
        int64_t t = 0;
        for (; t + 8 <= tokens; t += 8) vnni_tile(vnni_panel, vnni_scales, groups, cols, xq, xd, xs, y, ldy, t, r, keep, 8);
        switch (tokens - t) {
        case 7: vnni_tile(vnni_panel, vnni_scales, groups, cols, xq, xd, xs, y, ldy, t, r, keep, 7); break;
        case 6: vnni_tile(vnni_panel, vnni_scales, groups, cols, xq, xd, xs, y, ldy, t, r, keep, 6); break;
        case 5: vnni_tile(vnni_panel, vnni_scales, groups, cols, xq, xd, xs, y, ldy, t, r, keep, 5); break;
        case 4: vnni_tile(vnni_panel, vnni_scales, groups, cols, xq, xd, xs, y, ldy, t, r, keep, 4); break;
        case 3: vnni_tile(vnni_panel, vnni_scales, groups, cols, xq, xd, xs, y, ldy, t, r, keep, 3); break;
        case 2: vnni_tile(vnni_panel, vnni_scales, groups, cols, xq, xd, xs, y, ldy, t, r, keep, 2); break;
        case 1: vnni_tile(vnni_panel, vnni_scales, groups, cols, xq, xd, xs, y, ldy, t, r, keep, 1); break;
        default: break;
        }
    }
    return 1;
}

/* ---------- AVX-512 VNNI, one token, compressed-tensors rows ----------

   Decode meets each routed expert with a single token, so unpacking a panel first (above) would cost more than the
   product. Here four rows' 16 bytes of a group share one register (one 128-bit lane each), VPDPBUSD forms four
   partial Σ u·q per row, and a 4 × 4 transposing sum leaves sixteen rows' group sums in one register, lane 4k + j
   holding row 4j + k; their scales, transposed sixteen groups at a time, come in the same order. The float step is
   group_step's (scale · d, then one FMA per group in order), so each row's result equals the AVX2 path's bit for
   bit. Whole blocks of sixteen rows only; the caller gives the rest to AVX2. (The bundle's tiles keep the AVX2 path
   for one token: they are contiguous per group, and it reads them faster than this one did.) */

/* Σ of each 128-bit lane's four dwords of a0 … a3: lane 4k + j of the result = Σ of lane k of a_j. */
VNNI_TARGET static inline __m512i sum4x4(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
}

/* Σ u·q of four rows' group (one row per 128-bit lane of v): low nibbles meet xa, high nibbles xb. */
VNNI_TARGET static inline __m512i dot4(__m512i v, __m512i xa, __m512i xb) {
    const __m512i m = _mm512_set1_epi8(15);
    __m512i acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(v, m), xa);
    return _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(v, 4), m), xb);
}

/* Rows [r, r + 16) for one token. */
VNNI_TARGET static void ct_q8_one_block(const uint8_t *packed, const uint16_t *scales, int64_t cols, const int8_t *xq,
                                        const float *xd, const int32_t *xs, float *y, int64_t r) {
    const int64_t groups = cols / INGOT_INT4_GROUP, row_bytes = cols / 2;
    /* Lane 4k + j ↔ lane 4j + k (its own inverse): rows into the lane order above and back. */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    /* The sixteen rows' scales of sixteen groups as f32, one vector per group in the lane order above. A gather of
       the sixteen scales per group cost more than the products: one thread read an expert at 12 GB/s with it,
       18.6 without (docs/engine.md, "Kernels and numerics"). */
    float block_scales[16 * 16] __attribute__((aligned(64)));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; g++) {
        if (g % 16 == 0) {
            const int n = groups - g < 16 ? (int)(groups - g) : 16;
            __m512 rows16[16], by_group[16];
            for (int i = 0; i < 16; i++) {
                /* Only the row's own scales are read: the mask stops at its last group. */
                __m256i b = _mm256_maskz_loadu_epi16((__mmask16)((1u << n) - 1), scales + (r + i) * groups + g);
                rows16[i] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
            }
            transpose16(rows16, by_group);
            for (int k = 0; k < 16; k++)
                _mm512_store_ps(block_scales + 16 * k, _mm512_permutexvar_ps(order, by_group[k]));
        }
        /* Byte m of a row's group: element 2m | element 2m + 1 << 4. */
        const uint8_t *base = packed + r * row_bytes + g * 16;
        /* The sixteen rows are one contiguous block of groups · 256 bytes, read in sixteen places at once; the next
           block is fetched in order meanwhile, four lines per group, into L2 (a block is more than L1 holds; into
           L1 two threads read 22-24.5 GB/s instead of 23-28: docs/engine.md, "Kernels and numerics"). */
        const uint8_t *next = packed + (r + 16) * row_bytes + g * 256;
        for (int k = 0; k < 4; k++) _mm_prefetch((const char *)(next + 64 * k), _MM_HINT_T1);
        __m512i a[4];
        for (int j = 0; j < 4; j++) {
            const uint8_t *p = base + 4 * j * row_bytes;
            __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + row_bytes)), 1);
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 2 * row_bytes)), 2);
            a[j] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 3 * row_bytes)), 3);
        }
        __m128i lo = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(xq + INGOT_INT4_GROUP * g)), split);
        __m128i hi = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(xq + INGOT_INT4_GROUP * g + 16)), split);
        __m512i xa = _mm512_broadcast_i32x4(_mm_unpacklo_epi64(lo, hi)); /* the even elements */
        __m512i xb = _mm512_broadcast_i32x4(_mm_unpackhi_epi64(lo, hi)); /* the odd ones */
        __m512i sums = sum4x4(dot4(a[0], xa, xb), dot4(a[1], xa, xb), dot4(a[2], xa, xb), dot4(a[3], xa, xb));
        __m512i isum = _mm512_sub_epi32(sums, _mm512_set1_epi32(8 * xs[g]));
        __m512 scale = _mm512_mul_ps(_mm512_load_ps(block_scales + 16 * (g % 16)), _mm512_set1_ps(xd[g]));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc);
    }
    _mm512_storeu_ps(y + r, _mm512_permutexvar_ps(order, acc));
}

/* The whole blocks of sixteen rows in [r0, r1); returns where the rest starts. */
VNNI_TARGET static int64_t ct_q8_one_vnni(const uint8_t *packed, const uint16_t *scales, int64_t cols, const int8_t *xq,
                                          const float *xd, const int32_t *xs, float *y, int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + 16 <= r1; r += 16) ct_q8_one_block(packed, scales, cols, xq, xd, xs, y, r);
    return r;
}

/* ---------- entry points ---------- */

void ingot_int4_ct_matmul_q8(const uint8_t *packed, const uint16_t *scales, int64_t rows, int64_t cols,
                             const int8_t *xq, const float *xd, const int32_t *xs, float *y, int64_t ldy,
                             int64_t tokens, int64_t row_begin, int64_t row_end, int portable) {
    if (portable == 0 && tokens >= Q8_VNNI_MIN_TOKENS && have_avx512_vnni() &&
        q8_vnni(packed, scales, 0, rows, cols, xq, xd, xs, y, ldy, tokens, row_begin, row_end))
        return;
    if (portable == 0 && tokens == 1 && have_avx512_vnni())
        row_begin = ct_q8_one_vnni(packed, scales, cols, xq, xd, xs, y, row_begin, row_end);
    if (row_begin >= row_end) return;
    if (portable != 1 && have_avx2_fma())
        ct_q8_avx2(packed, scales, rows, cols, xq, xd, xs, y, ldy, tokens, row_begin, row_end);
    else
        ct_q8_scalar(packed, scales, cols, xq, xd, y, ldy, tokens, row_begin, row_end);
}

void ingot_int4_tiles_matmul_q8(const uint8_t *tiles, int64_t tile_rows, int64_t rows, int64_t cols,
                                const int8_t *xq, const float *xd, const int32_t *xs, float *y, int64_t ldy,
                                int64_t tokens, int64_t block_begin, int64_t block_end, int portable) {
    int64_t row_end = block_end * tile_rows < rows ? block_end * tile_rows : rows;
    if (portable == 0 && tile_rows == 8 && tokens >= Q8_VNNI_MIN_TOKENS && have_avx512_vnni() &&
        q8_vnni(tiles, NULL, 1, rows, cols, xq, xd, xs, y, ldy, tokens, block_begin * tile_rows, row_end))
        return;
    if (portable != 1 && tile_rows == 8 && have_avx2_fma())
        tiles_q8_avx2(tiles, rows, cols, xq, xd, xs, y, ldy, tokens, block_begin, block_end);
    else
        tiles_q8_scalar(tiles, tile_rows, rows, cols, xq, xd, y, ldy, tokens, block_begin, block_end);
}
