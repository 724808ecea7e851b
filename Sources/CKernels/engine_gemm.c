/* Sources/CKernels/engine_gemm.c: the engine's f32 GEMM for many tokens (docs/engine.md, "Dense kernels").

   y[t][r] = Σ_k x[t][k] · W[r][k] for every stored form of W (BF16 / F16 / F32 rows, compressed-tensors INT4,
   bundle INT4 tiles). The weight is consumed in panels of GEMM_NR rows × GEMM_KC columns: each panel is widened
   (or dequantized, w = scale × (u − 8) exactly in f32) once into a k-major f32 buffer, then every token is multiplied
   with it from cache. The summation order of one output is fixed on every ISA, so the variants agree bit for bit:
     for each block k0 = 0, KC, 2·KC, …:   acc = 0;  for k in block ascending: acc = fmaf(w[r][k], x[t][k], acc)
                                           y = (k0 == 0) ? acc : y + acc
   AVX-512 tiles are 6 tokens × 64 rows (24 accumulators), AVX2 tiles 4 tokens × 16 rows, the portable path loops.
   INT4 weights (routed experts, which meet a few tokens each) are instead dequantized 16 rows at a time, row-major,
   and multiplied by the dense kernel (engine_dense.c), whose order they then share. */
#include "ckernels.h"
#include "engine_common.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define NR GEMM_NR
#define KC GEMM_KC
#define GEMM_TB 512 /* tokens per block of the dense GEMM */
#define INT4_BLOCK_ROWS 16
#define INT4_KB 256 /* columns per dequantized block of the AVX-512 INT4 path */
#define INT4_TB 48  /* tokens whose lane sums that path keeps at a time (a block is dequantized once for them) */

/* ---------- packing: panel[kk * NR + i] = W[r0 + i][k0 + kk] as f32 (rows ≥ nr are 0) ---------- */

static void pack_panel(const ingot_weight *w, int64_t r0, int nr, int64_t k0, int kc, float *panel) {
    if (nr < NR) memset(panel, 0, sizeof(float) * NR * (size_t)kc);
    const int64_t cols = w->cols;
    switch (w->kind) {
    case INGOT_W_BF16: {
        const uint16_t *src = (const uint16_t *)w->data;
        for (int i = 0; i < nr; i++) {
            const uint16_t *row = src + (r0 + i) * cols + k0;
            for (int kk = 0; kk < kc; kk++) panel[kk * NR + i] = bf16_to_f32(row[kk]);
        }
        break;
    }
    case INGOT_W_F16: {
        const uint16_t *src = (const uint16_t *)w->data;
        for (int i = 0; i < nr; i++) {
            const uint16_t *row = src + (r0 + i) * cols + k0;
            for (int kk = 0; kk < kc; kk++) panel[kk * NR + i] = f16_to_f32(row[kk]);
        }
        break;
    }
    case INGOT_W_F32: {
        const float *src = (const float *)w->data;
        for (int i = 0; i < nr; i++) {
            const float *row = src + (r0 + i) * cols + k0;
            for (int kk = 0; kk < kc; kk++) panel[kk * NR + i] = row[kk];
        }
        break;
    }
    case INGOT_W_INT4_CT: {
        /* Row r: cols/2 bytes, element j in the low nibble of byte j/2 when j is even (little-endian I32 words of
           8 nibbles); BF16 scale per 32 columns. k0 and kc are multiples of 32. */
        const uint8_t *src = (const uint8_t *)w->data;
        const int64_t groups = cols / INGOT_INT4_GROUP;
        for (int i = 0; i < nr; i++) {
            const uint8_t *row = src + (r0 + i) * (cols / 2);
            for (int kk = 0; kk < kc; kk += INGOT_INT4_GROUP) {
                int64_t g = (k0 + kk) / INGOT_INT4_GROUP;
                float s = bf16_to_f32(w->scales[(r0 + i) * groups + g]);
                const uint8_t *p = row + g * 16;
                for (int j = 0; j < 16; j++) {
                    panel[(kk + 2 * j) * NR + i] = s * (float)((int)(p[j] & 15) - 8);
                    panel[(kk + 2 * j + 1) * NR + i] = s * (float)((int)(p[j] >> 4) - 8);
                }
            }
        }
        break;
    }
    default: { /* INGOT_W_INT4_TILES: tiles of tile_rows rows × 32 columns, byte j = element j | element j+16 << 4,
                  then the tile's BF16 scales (docs/bundle-format.md). */
        const uint8_t *tiles = (const uint8_t *)w->data;
        const int64_t tr = w->tile_rows, groups = cols / INGOT_INT4_GROUP, tile_bytes = tr * INGOT_TILE_ROW_BYTES;
        for (int i = 0; i < nr; i++) {
            int64_t r = r0 + i, b = r / tr, in = r % tr;
            for (int kk = 0; kk < kc; kk += INGOT_INT4_GROUP) {
                int64_t g = (k0 + kk) / INGOT_INT4_GROUP;
                const uint8_t *tile = tiles + (b * groups + g) * tile_bytes;
                uint16_t sb;
                memcpy(&sb, tile + tr * 16 + in * 2, 2);
                float s = bf16_to_f32(sb);
                const uint8_t *p = tile + in * 16;
                for (int j = 0; j < 16; j++) {
                    panel[(kk + j) * NR + i] = s * (float)((int)(p[j] & 15) - 8);
                    panel[(kk + j + 16) * NR + i] = s * (float)((int)(p[j] >> 4) - 8);
                }
            }
        }
        break;
    }
    }
}

/* ---------- INT4 rows dequantized row-major: out[(r − r0) · cols + j] = scale × (u − 8), exact ---------- */

/* The 32 levels of one group as bytes in column order, from its 16 stored bytes. */
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
AVX2_TARGET static inline void group_levels(const uint8_t *p, int ct, __m128i *first16, __m128i *last16) {
    __m128i b = _mm_loadu_si128((const __m128i *)p), mask = _mm_set1_epi8(15);
    __m128i lo = _mm_and_si128(b, mask), hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask);
    if (ct) { /* byte m = element 2m | element 2m+1 << 4 */
        *first16 = _mm_unpacklo_epi8(lo, hi);
        *last16 = _mm_unpackhi_epi8(lo, hi);
    } else { /* tiles: byte j = element j | element j+16 << 4 */
        *first16 = lo;
        *last16 = hi;
    }
}

AVX2_TARGET static inline void store_levels8(__m128i levels8, __m256 scale, float *out) {
    __m256i u = _mm256_sub_epi32(_mm256_cvtepu8_epi32(levels8), _mm256_set1_epi32(8));
    _mm256_storeu_ps(out, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(u)));
}

/* Where row r's groups lie: group g's 16 bytes at data + g · stride, its BF16 scale's 2 bytes at
   scales + g · scale_stride (read with memcpy: a bundle extent need not be 2-byte aligned). Computed once per row,
   so the group loop has no division. */
typedef struct {
    const uint8_t *data;
    int64_t stride;
    const uint8_t *scales;
    int64_t scale_stride;
} row_groups;

static inline float group_scale(const row_groups *rg, int64_t g) {
    uint16_t bits;
    memcpy(&bits, rg->scales + g * rg->scale_stride, 2);
    return bf16_to_f32(bits);
}

static inline row_groups row_groups_of(const ingot_weight *w, int64_t r) {
    const int64_t groups = w->cols / INGOT_INT4_GROUP;
    row_groups g;
    if (w->kind == INGOT_W_INT4_CT) {
        g.data = (const uint8_t *)w->data + r * (w->cols / 2);
        g.stride = 16;
        g.scales = (const uint8_t *)(w->scales + r * groups);
        g.scale_stride = 2;
    } else { /* tiles of tr rows: per group tr × 16 level bytes, then tr BF16 scales (docs/bundle-format.md) */
        const int64_t tr = w->tile_rows, b = r / tr, in = r % tr;
        const uint8_t *tile = (const uint8_t *)w->data + b * groups * tr * INGOT_TILE_ROW_BYTES;
        g.data = tile + in * 16;
        g.stride = tr * INGOT_TILE_ROW_BYTES;
        g.scales = tile + tr * 16 + in * 2;
        g.scale_stride = tr * INGOT_TILE_ROW_BYTES;
    }
    return g;
}

AVX2_TARGET static void dequant_avx2(const ingot_weight *w, int64_t r0, int64_t r1, float *out) {
    const int64_t groups = w->cols / INGOT_INT4_GROUP;
    const int ct = w->kind == INGOT_W_INT4_CT;
    for (int64_t r = r0; r < r1; r++) {
        row_groups rg = row_groups_of(w, r);
        float *o = out + (r - r0) * w->cols;
        for (int64_t g = 0; g < groups; g++, o += INGOT_INT4_GROUP) {
            __m128i a, b;
            group_levels(rg.data + g * rg.stride, ct, &a, &b);
            __m256 scale = _mm256_set1_ps(group_scale(&rg, g));
            store_levels8(a, scale, o);
            store_levels8(_mm_srli_si128(a, 8), scale, o + 8);
            store_levels8(b, scale, o + 16);
            store_levels8(_mm_srli_si128(b, 8), scale, o + 24);
        }
    }
}

#define AVX512_DQ_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
/* Rows [r0, r1), groups [g0, g1) (columns 32·g0 ..< 32·g1) into out, row-major with row stride ld. */
AVX512_DQ_TARGET static void dequant_avx512(const ingot_weight *w, int64_t r0, int64_t r1, int64_t g0, int64_t g1,
                                            float *out, int64_t ld) {
    const int ct = w->kind == INGOT_W_INT4_CT;
    /* u − 8 for u = 0 … 15. */
    const __m512 level = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t r = r0; r < r1; r++) {
        row_groups rg = row_groups_of(w, r);
        float *o = out + (r - r0) * ld;
        for (int64_t g = g0; g < g1; g++, o += INGOT_INT4_GROUP) {
            __m128i a, b;
            group_levels(rg.data + g * rg.stride, ct, &a, &b);
            /* scale × (u − 8) for the 16 levels (each product exact in f32), then looked up per element. */
            __m512 scaled = _mm512_mul_ps(_mm512_set1_ps(group_scale(&rg, g)), level);
            _mm512_storeu_ps(o, _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(a), scaled));
            _mm512_storeu_ps(o + 16, _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(b), scaled));
        }
    }
}

static void dequant_portable(const ingot_weight *w, int64_t r0, int64_t r1, float *out) {
    const int64_t groups = w->cols / INGOT_INT4_GROUP;
    const int ct = w->kind == INGOT_W_INT4_CT;
    for (int64_t r = r0; r < r1; r++) {
        row_groups rg = row_groups_of(w, r);
        for (int64_t g = 0; g < groups; g++) {
            const uint8_t *p = rg.data + g * rg.stride;
            float s = group_scale(&rg, g), *o = out + (r - r0) * w->cols + g * INGOT_INT4_GROUP;
            for (int j = 0; j < 16; j++) {
                int first = p[j] & 15, second = p[j] >> 4;
                o[ct ? 2 * j : j] = s * (float)(first - 8);
                o[ct ? 2 * j + 1 : j + 16] = s * (float)(second - 8);
            }
        }
    }
}

void ingot_int4_dequant_rows(const ingot_weight *w, int64_t r0, int64_t r1, float *out, int isa) {
    int level = ingot_engine_isa();
    if (isa < level) level = isa;
    if (level >= INGOT_ISA_AVX512)
        dequant_avx512(w, r0, r1, 0, w->cols / INGOT_INT4_GROUP, out, w->cols);
    else if (level >= INGOT_ISA_AVX2)
        dequant_avx2(w, r0, r1, out);
    else
        dequant_portable(w, r0, r1, out);
}

int64_t ingot_gemm_scratch_floats(const ingot_weight *w) {
    int64_t panel = (int64_t)NR * KC, rows = (int64_t)INT4_BLOCK_ROWS * w->cols,
            blocked = (int64_t)INT4_BLOCK_ROWS * INT4_KB + (int64_t)INT4_BLOCK_ROWS * INT4_TB * 16;
    int64_t most = panel > rows ? panel : rows;
    return most > blocked ? most : blocked;
}

/* ---------- AVX-512 INT4: the dense kernel's order, blocked so that its operands stay in L1 ---------- */
/* ingot_dense_matmul keeps 16 lane sums per (row, token) over the whole row and reduces them at the end. Here the
   16 rows are dequantized INT4_KB columns at a time and the lane sums are kept in memory between column blocks
   (INT4_TB tokens at a time), so the weights and activations a tile reads come from L1 instead of L2. Each block is
   dequantized once for all INT4_TB tokens (dequantizing costs about as much as eight tokens' FMAs), and the tiles
   walk six tokens at a time over the four-row groups, so those tokens' activations stay in L1. Every lane sum sees
   the same FMAs in the same order, so the result is bit-identical to the unblocked kernel. */

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

AVX512_TARGET __attribute__((always_inline)) static inline void int4_tile512(const float *block, int kb,
                                                                            const float *x, int64_t ldx,
                                                                            __m512 *lanes, int first, int r,
                                                                            int t, int NR4, int NT4) {
    __m512 acc[4][6];
    for (int i = 0; i < NR4; i++)
        for (int k = 0; k < NT4; k++) acc[i][k] = first ? _mm512_setzero_ps() : lanes[(r + i) * INT4_TB + t + k];
    for (int j = 0; j < kb; j += 16) {
        __m512 wv[4], xv[6];
        for (int i = 0; i < NR4; i++) wv[i] = _mm512_load_ps(block + (int64_t)(r + i) * INT4_KB + j);
        for (int k = 0; k < NT4; k++) xv[k] = _mm512_loadu_ps(x + (t + k) * ldx + j);
        for (int i = 0; i < NR4; i++)
            for (int k = 0; k < NT4; k++) acc[i][k] = _mm512_fmadd_ps(wv[i], xv[k], acc[i][k]);
    }
    for (int i = 0; i < NR4; i++)
        for (int k = 0; k < NT4; k++) lanes[(r + i) * INT4_TB + t + k] = acc[i][k];
}

AVX512_TARGET static void int4_gemm_avx512(const ingot_weight *w, const float *x, int64_t ldx, float *y,
                                           int64_t ldy, int64_t tokens, int64_t row_begin, int64_t row_end,
                                           float *scratch) {
    float *block = scratch;
    __m512 *lanes = (__m512 *)(scratch + INT4_BLOCK_ROWS * INT4_KB);
    const int64_t groups = w->cols / INGOT_INT4_GROUP;
    for (int64_t r0 = row_begin; r0 < row_end; r0 += INT4_BLOCK_ROWS) {
        int nr = (int)(row_end - r0 < INT4_BLOCK_ROWS ? row_end - r0 : INT4_BLOCK_ROWS);
        for (int64_t t0 = 0; t0 < tokens; t0 += INT4_TB) {
            int nt = (int)(tokens - t0 < INT4_TB ? tokens - t0 : INT4_TB);
            for (int64_t g0 = 0; g0 < groups; g0 += INT4_KB / INGOT_INT4_GROUP) {
                int64_t g1 = groups - g0 < INT4_KB / INGOT_INT4_GROUP ? groups : g0 + INT4_KB / INGOT_INT4_GROUP;
                int kb = (int)(g1 - g0) * INGOT_INT4_GROUP;
                dequant_avx512(w, r0, r0 + nr, g0, g1, block, INT4_KB);
                const float *xk = x + t0 * ldx + g0 * INGOT_INT4_GROUP;
                for (int t = 0; t < nt; t += 6) {
                    int ntt = nt - t < 6 ? nt - t : 6;
                    for (int r = 0; r < nr; r += 4) {
                        int nrr = nr - r < 4 ? nr - r : 4;
                        if (nrr == 4) {
                            switch (ntt) {
                            case 6: int4_tile512(block, kb, xk, ldx, lanes, g0 == 0, r, t, 4, 6); break;
                            case 5: int4_tile512(block, kb, xk, ldx, lanes, g0 == 0, r, t, 4, 5); break;
                            case 4: int4_tile512(block, kb, xk, ldx, lanes, g0 == 0, r, t, 4, 4); break;
                            case 3: int4_tile512(block, kb, xk, ldx, lanes, g0 == 0, r, t, 4, 3); break;
                            case 2: int4_tile512(block, kb, xk, ldx, lanes, g0 == 0, r, t, 4, 2); break;
                            default: int4_tile512(block, kb, xk, ldx, lanes, g0 == 0, r, t, 4, 1); break;
                            }
                            continue;
                        }
                        for (int u = t; u < t + ntt; u += 4) {
                            int nu = t + ntt - u < 4 ? t + ntt - u : 4;
                            TILE_SWITCH(int4_tile512, nrr, nu, block, kb, xk, ldx, lanes, g0 == 0, r, u)
                        }
                    }
                }
            }
            for (int i = 0; i < nr; i++)
                for (int k = 0; k < nt; k++) y[(t0 + k) * ldy + r0 + i] = reduce512(lanes[i * INT4_TB + k]);
        }
    }
}

/* ---------- one token: INT4 dequantized in registers ----------

   Decode multiplies each routed expert with a single token, so a dequantized row is used once: writing it to a
   buffer and reading it back (the path above) costs more than the product. Here each group's 32 weights are
   dequantized in registers (scale × (u − 8), the same exact f32 values) and meet the token at once, with the lane
   order of the dense kernel: lane j mod 16 accumulates column j in ascending order, reduced by reduce16, so the
   results equal the buffered path bit for bit. INT4_ONE_ROWS rows are in flight at a time (independent chains and
   that many streams of weights). */
#define INT4_ONE_ROWS 8

AVX512_DQ_TARGET __attribute__((always_inline)) static inline void int4_one_rows512(const ingot_weight *w,
                                                                                   const float *x, float *y,
                                                                                   int64_t r, int n) {
    const int ct = w->kind == INGOT_W_INT4_CT;
    const int64_t groups = w->cols / INGOT_INT4_GROUP;
    const __m512 level = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    row_groups rg[INT4_ONE_ROWS];
    __m512 acc[INT4_ONE_ROWS];
    for (int i = 0; i < n; i++) {
        rg[i] = row_groups_of(w, r + i);
        acc[i] = _mm512_setzero_ps();
    }
    for (int64_t g = 0; g < groups; g++) {
        const float *xg = x + g * INGOT_INT4_GROUP;
        const __m512 x0 = _mm512_loadu_ps(xg), x1 = _mm512_loadu_ps(xg + 16);
        for (int i = 0; i < n; i++) {
            __m128i a, b;
            group_levels(rg[i].data + g * rg[i].stride, ct, &a, &b);
            __m512 scaled = _mm512_mul_ps(_mm512_set1_ps(group_scale(&rg[i], g)), level);
            acc[i] = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(a), scaled), x0, acc[i]);
            acc[i] = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(b), scaled), x1, acc[i]);
        }
    }
    for (int i = 0; i < n; i++) y[r + i] = reduce512(acc[i]);
}

AVX512_DQ_TARGET static void int4_one_token_avx512(const ingot_weight *w, const float *x, float *y, int64_t r0,
                                                   int64_t r1) {
    int64_t r = r0;
    for (; r + INT4_ONE_ROWS <= r1; r += INT4_ONE_ROWS) int4_one_rows512(w, x, y, r, INT4_ONE_ROWS);
    for (; r < r1; r++) int4_one_rows512(w, x, y, r, 1);
}

/* The same on AVX2: lanes 0-7 and 8-15 of the dense kernel's order in two registers. */
AVX2_TARGET __attribute__((always_inline)) static inline void int4_one_rows256(const ingot_weight *w, const float *x,
                                                                              float *y, int64_t r, int n) {
    const int ct = w->kind == INGOT_W_INT4_CT;
    const int64_t groups = w->cols / INGOT_INT4_GROUP;
    const __m256i eight = _mm256_set1_epi32(8);
    row_groups rg[4];
    __m256 lo[4], hi[4];
    for (int i = 0; i < n; i++) {
        rg[i] = row_groups_of(w, r + i);
        lo[i] = hi[i] = _mm256_setzero_ps();
    }
    for (int64_t g = 0; g < groups; g++) {
        const float *xg = x + g * INGOT_INT4_GROUP;
        const __m256 x0 = _mm256_loadu_ps(xg), x1 = _mm256_loadu_ps(xg + 8), x2 = _mm256_loadu_ps(xg + 16),
                     x3 = _mm256_loadu_ps(xg + 24);
        for (int i = 0; i < n; i++) {
            __m128i a, b;
            group_levels(rg[i].data + g * rg[i].stride, ct, &a, &b);
            const __m256 s = _mm256_set1_ps(group_scale(&rg[i], g));
#define INT4_W8(v) _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(v), eight)))
            lo[i] = _mm256_fmadd_ps(INT4_W8(a), x0, lo[i]);
            hi[i] = _mm256_fmadd_ps(INT4_W8(_mm_srli_si128(a, 8)), x1, hi[i]);
            lo[i] = _mm256_fmadd_ps(INT4_W8(b), x2, lo[i]);
            hi[i] = _mm256_fmadd_ps(INT4_W8(_mm_srli_si128(b, 8)), x3, hi[i]);
#undef INT4_W8
        }
    }
    for (int i = 0; i < n; i++) {
        __m256 s8 = _mm256_add_ps(lo[i], hi[i]);
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
        __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        y[r + i] = _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
    }
}

AVX2_TARGET static void int4_one_token_avx2(const ingot_weight *w, const float *x, float *y, int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) int4_one_rows256(w, x, y, r, 4);
    for (; r < r1; r++) int4_one_rows256(w, x, y, r, 1);
}

/* ---------- AVX-512 packing of dense rows: 16 × 16 blocks transposed in registers ---------- */

AVX512_TARGET static inline __m512 load_row16(const ingot_weight *w, int64_t r, int64_t k) {
    const int64_t i = r * w->cols + k;
    switch (w->kind) {
    case INGOT_W_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w->data + i))), 16));
    case INGOT_W_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)w->data + i)));
    default: return _mm512_loadu_ps((const float *)w->data + i);
    }
}

/* The same panel as pack_panel for the dense kinds; whole 16 × 16 blocks in registers, the edges by pack_panel's
   scalar loops (the values are exact conversions either way). */
AVX512_TARGET static void pack_dense_avx512(const ingot_weight *w, int64_t r0, int nr, int64_t k0, int kc, float *panel) {
    const int full_rows = nr / 16 * 16, full_cols = kc / 16 * 16;
    if (full_rows < nr || full_cols < kc) pack_panel(w, r0, nr, k0, kc, panel);
    for (int i0 = 0; i0 < full_rows; i0 += 16)
        for (int kk = 0; kk < full_cols; kk += 16) {
            __m512 rows[16], cols[16];
            for (int i = 0; i < 16; i++) rows[i] = load_row16(w, r0 + i0 + i, k0 + kk);
            transpose16(rows, cols);
            for (int j = 0; j < 16; j++) _mm512_store_ps(panel + (kk + j) * NR + i0, cols[j]);
        }
}

/* ---------- portable ---------- */

static void tile_portable(const float *panel, int nr, int kc, const float *x, int64_t ldx, float *y, int64_t ldy,
                          int64_t t0, int mt, int64_t r0, int first) {
    for (int m = 0; m < mt; m++)
        for (int i = 0; i < nr; i++) {
            float acc = 0;
            for (int kk = 0; kk < kc; kk++) acc = fmaf(panel[kk * NR + i], x[(t0 + m) * ldx + kk], acc);
            float *out = y + (t0 + m) * ldy + r0 + i;
            *out = first ? acc : *out + acc;
        }
}

/* ---------- AVX-512: 6 tokens × 64 rows ---------- */

AVX512_TARGET __attribute__((always_inline)) static inline void tile512(const float *panel, int nr, int kc,
                                                                       const float *x, int64_t ldx, float *y,
                                                                       int64_t ldy, int64_t t0, int64_t r0,
                                                                       int first, int MT) {
    __m512 acc[6][4];
    for (int m = 0; m < MT; m++)
        for (int v = 0; v < 4; v++) acc[m][v] = _mm512_setzero_ps();
    const float *xr[6];
    for (int m = 0; m < MT; m++) xr[m] = x + (t0 + m) * ldx;
    for (int kk = 0; kk < kc; kk++) {
        const float *p = panel + kk * NR;
        __m512 w0 = _mm512_load_ps(p), w1 = _mm512_load_ps(p + 16), w2 = _mm512_load_ps(p + 32),
               w3 = _mm512_load_ps(p + 48);
        for (int m = 0; m < MT; m++) {
            __m512 b = _mm512_set1_ps(xr[m][kk]);
            acc[m][0] = _mm512_fmadd_ps(w0, b, acc[m][0]);
            acc[m][1] = _mm512_fmadd_ps(w1, b, acc[m][1]);
            acc[m][2] = _mm512_fmadd_ps(w2, b, acc[m][2]);
            acc[m][3] = _mm512_fmadd_ps(w3, b, acc[m][3]);
        }
    }
    for (int m = 0; m < MT; m++) {
        float *out = y + (t0 + m) * ldy + r0;
        for (int v = 0; v < 4; v++) {
            int left = nr - 16 * v;
            if (left <= 0) break;
            __mmask16 mask = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
            __m512 r = first ? acc[m][v] : _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out + 16 * v), acc[m][v]);
            _mm512_mask_storeu_ps(out + 16 * v, mask, r);
        }
    }
}

AVX512_TARGET static void panel_avx512(const float *panel, int nr, int kc, const float *x, int64_t ldx, float *y,
                                       int64_t ldy, int64_t tokens, int64_t r0, int first) {
    int64_t t = 0;
    for (; t + 6 <= tokens; t += 6) tile512(panel, nr, kc, x, ldx, y, ldy, t, r0, first, 6);
    switch (tokens - t) {
    case 5: tile512(panel, nr, kc, x, ldx, y, ldy, t, r0, first, 5); break;
    case 4: tile512(panel, nr, kc, x, ldx, y, ldy, t, r0, first, 4); break;
    case 3: tile512(panel, nr, kc, x, ldx, y, ldy, t, r0, first, 3); break;
    case 2: tile512(panel, nr, kc, x, ldx, y, ldy, t, r0, first, 2); break;
    case 1: tile512(panel, nr, kc, x, ldx, y, ldy, t, r0, first, 1); break;
    default: break;
    }
}

/* ---------- AVX2: 4 tokens × 16 rows ---------- */

AVX2_TARGET __attribute__((always_inline)) static inline void tile256(const float *panel, int nr, int kc,
                                                                     const float *x, int64_t ldx, float *y,
                                                                     int64_t ldy, int64_t t0, int64_t r0, int c0,
                                                                     int first, int MT) {
    __m256 acc[4][2];
    for (int m = 0; m < MT; m++) acc[m][0] = acc[m][1] = _mm256_setzero_ps();
    for (int kk = 0; kk < kc; kk++) {
        const float *p = panel + kk * NR + c0;
        __m256 w0 = _mm256_load_ps(p), w1 = _mm256_load_ps(p + 8);
        for (int m = 0; m < MT; m++) {
            __m256 b = _mm256_broadcast_ss(x + (t0 + m) * ldx + kk);
            acc[m][0] = _mm256_fmadd_ps(w0, b, acc[m][0]);
            acc[m][1] = _mm256_fmadd_ps(w1, b, acc[m][1]);
        }
    }
    for (int m = 0; m < MT; m++) {
        float a[16];
        _mm256_storeu_ps(a, acc[m][0]);
        _mm256_storeu_ps(a + 8, acc[m][1]);
        float *out = y + (t0 + m) * ldy + r0 + c0;
        for (int i = 0; i < 16 && c0 + i < nr; i++) out[i] = first ? a[i] : out[i] + a[i];
    }
}

AVX2_TARGET static void panel_avx2(const float *panel, int nr, int kc, const float *x, int64_t ldx, float *y,
                                   int64_t ldy, int64_t tokens, int64_t r0, int first) {
    for (int c0 = 0; c0 < nr; c0 += 16) {
        int64_t t = 0;
        for (; t + 4 <= tokens; t += 4) tile256(panel, nr, kc, x, ldx, y, ldy, t, r0, c0, first, 4);
        switch (tokens - t) {
        case 3: tile256(panel, nr, kc, x, ldx, y, ldy, t, r0, c0, first, 3); break;
        case 2: tile256(panel, nr, kc, x, ldx, y, ldy, t, r0, c0, first, 2); break;
        case 1: tile256(panel, nr, kc, x, ldx, y, ldy, t, r0, c0, first, 1); break;
        default: break;
        }
    }
}

void ingot_gemm(const ingot_weight *w, const float *x, int64_t ldx, float *y, int64_t ldy, int64_t tokens,
                int64_t row_begin, int64_t row_end, float *panel, int isa) {
    int level = ingot_engine_isa();
    if (isa < level) level = isa;
    if (w->kind == INGOT_W_INT4_CT || w->kind == INGOT_W_INT4_TILES) {
        if (tokens == 1 && level >= INGOT_ISA_AVX512) {
            int4_one_token_avx512(w, x, y, row_begin, row_end);
            return;
        }
        if (tokens == 1 && level >= INGOT_ISA_AVX2) {
            int4_one_token_avx2(w, x, y, row_begin, row_end);
            return;
        }
        /* A routed expert meets few tokens: dequantize INT4_BLOCK_ROWS rows once (row-major, vectorized), then the
           dense kernel multiplies them with every token from cache. */
        if (level >= INGOT_ISA_AVX512) {
            int4_gemm_avx512(w, x, ldx, y, ldy, tokens, row_begin, row_end, panel);
            return;
        }
        for (int64_t r0 = row_begin; r0 < row_end; r0 += INT4_BLOCK_ROWS) {
            int64_t r1 = row_end - r0 < INT4_BLOCK_ROWS ? row_end : r0 + INT4_BLOCK_ROWS;
            ingot_int4_dequant_rows(w, r0, r1, panel, level);
            ingot_dense_matmul(panel, INGOT_W_F32, w->cols, x, ldx, y + r0, ldy, tokens, 0, r1 - r0, level);
        }
        return;
    }
    /* GEMM_TB tokens at a time: every panel of W meets the same block of activations, which then stays in cache
       from one panel to the next (at 2048 tokens × 7168 columns they would not, and the tile ran 10–20 % slower).
       A panel is widened once per block; each output's order (k0 ascending) does not depend on the blocking. */
    for (int64_t t0 = 0; t0 < tokens; t0 += GEMM_TB) {
        const int64_t nt = tokens - t0 < GEMM_TB ? tokens - t0 : GEMM_TB;
        const float *xt = x + t0 * ldx;
        float *yt = y + t0 * ldy;
        for (int64_t r0 = row_begin; r0 < row_end; r0 += NR) {
            int nr = (int)(row_end - r0 < NR ? row_end - r0 : NR);
            for (int64_t k0 = 0; k0 < w->cols; k0 += KC) {
                int kc = (int)(w->cols - k0 < KC ? w->cols - k0 : KC);
                if (level >= INGOT_ISA_AVX512)
                    pack_dense_avx512(w, r0, nr, k0, kc, panel);
                else
                    pack_panel(w, r0, nr, k0, kc, panel);
                const float *xk = xt + k0;
                int first = k0 == 0;
                if (level >= INGOT_ISA_AVX512)
                    panel_avx512(panel, nr, kc, xk, ldx, yt, ldy, nt, r0, first);
                else if (level >= INGOT_ISA_AVX2)
                    panel_avx2(panel, nr, kc, xk, ldx, yt, ldy, nt, r0, first);
                else
                    for (int64_t t = 0; t < nt; t++) tile_portable(panel, nr, kc, xk, ldx, yt, ldy, t, 1, r0, first);
            }
        }
    }
}
