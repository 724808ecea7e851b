/* Sources/CKernels: the hot loops of verify and of the inference engine in C, dispatched at run time on the CPU's
   features (AVX-512, AVX2 + FMA + F16C), each with a portable path the tests compare it with.
   Why C: Swift 6.3's SIMD32<UInt8> compare/accumulate code is scalarized on this target (measured: movzbl/movb
   per lane, stack spills), which held `ingot verify` to 0.30x of a warm-cache `cat`. Each kernel dispatches at run
   time to the best variant the CPU has and keeps a portable twin; the tests run every variant the machine
   supports against it (docs/engine.md, "Kernels and numerics"). */
#ifndef INGOT_CKERNELS_H
#define INGOT_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

/* Adds the counts of each nibble value (u = q + 8: index 0 is level -8) of `n` packed INT4 bytes into
   counts[16], and returns a 64-bit content hash of the bytes seeded with `seed`. */
uint64_t ingot_nibble_histogram(const uint8_t *bytes, size_t n, int64_t counts[16], uint64_t seed);

/* The content hash alone (scalar; see kernels.c for its definition). */
uint64_t ingot_content_hash(const uint8_t *bytes, size_t n, uint64_t seed);

/* Statistics of `n` BF16 scales (raw bits). Counts are added, min/max (of finite, non-zero values, as floats)
   are folded into *min_value and *max_value. `fp16_exact_table` has 65536 entries, 1 where the BF16 pattern
   converts to F16 exactly. */
typedef struct {
    int64_t nan, infinite, zero, negative, not_fp16_exact;
} ingot_scale_counts;
void ingot_bf16_scale_stats(const uint16_t *bits, size_t n, const uint8_t *fp16_exact_table, ingot_scale_counts *counts,
                            float *min_value, float *max_value);

/* NaN and infinity counts of `n` values: width 2 = BF16, 3 = F16 (2 bytes), 4 = F32. */
void ingot_nonfinite(const void *values, size_t n, int kind, int64_t *nan, int64_t *infinite);

/* ---- opt-in Q8_0-activation INT4 kernels (engine_q8.c) ---- */
/* Quantizes n values (n a multiple of 32) to Q8_0 as llama.cpp's AVX2 quantize_row_q8_0 does: per 32-value group g,
   d[g] = f16(amax / 127) as f32, q = round-half-even(x · 127 / amax) as int8, sums[g] = Σ q. */
void ingot_quantize_q8_0(const float *x, int64_t n, int8_t *q, float *d, int32_t *sums, int portable);
/* y[t * ldy + r] = Σ_g fma((float)Σ_j (u[r][j] − 8) · q[t][j], scale[r][g] · d[t][g]) in group order, for rows
   [row_begin, row_end) of a compressed-tensors pack-quantized matrix; xq/xd/xs: `tokens` rows of
   ingot_quantize_q8_0's output (cols, cols/32, cols/32 per token). Bit-identical to the tiles variant and across
   paths: `portable` 0 = the best the CPU has (AVX-512 VNNI for one token and for 4 tokens or more, else AVX2),
   1 = portable C, 2 = AVX2 only (tests). */
void ingot_int4_ct_matmul_q8(const uint8_t *packed, const uint16_t *scales, int64_t rows, int64_t cols,
                             const int8_t *xq, const float *xd, const int32_t *xs, float *y, int64_t ldy,
                             int64_t tokens, int64_t row_begin, int64_t row_end, int portable);
/* The same over the bundle's int4-tiles layout, row blocks [block_begin, block_end). */
void ingot_int4_tiles_matmul_q8(const uint8_t *tiles, int64_t tile_rows, int64_t rows, int64_t cols,
                                const int8_t *xq, const float *xd, const int32_t *xs, float *y, int64_t ldy,
                                int64_t tokens, int64_t block_begin, int64_t block_end, int portable);
/* BF16 bits → f32 (exact). */
void ingot_bf16_to_f32(const uint16_t *src, float *dst, size_t n);

/* F16 bits → f32 with F16C; returns 0 (and writes nothing) when the CPU lacks it. */
int ingot_f16_to_f32(const uint16_t *src, float *dst, size_t n);

/* ---- dense matrix kernels (engine_dense.c; docs/engine.md, "Dense kernels") ---- */
/* Instruction sets, lowest first; a kernel given `isa` uses the lower of it and what the CPU has. */
#define INGOT_ISA_PORTABLE 0
#define INGOT_ISA_AVX2 1 /* AVX2 + FMA + F16C */
#define INGOT_ISA_AVX512 2 /* AVX-512 F + BW + VL + DQ */
#define INGOT_ISA_AVX512_BF16 3 /* the above + AVX512_BF16 */
/* The best of the above this CPU has (read once with cpuid). */
int ingot_engine_isa(void);
/* Stored forms of a weight matrix (dense kernels take the first three). */
#define INGOT_W_BF16 0
#define INGOT_W_F16 1
#define INGOT_W_F32 2
/* The INT4 group size (columns per BF16 scale) that compressed-tensors' K2 form and the bundle format declare
   (TileLayout.groupSize on the Swift side, checked equal by a test); the kernels and the Q8_0 activation blocks are
   written for it (docs/bundle-format.md). */
#define INGOT_INT4_GROUP 32
/* Bytes per row of an int4-tiles tile: 16 bytes of nibbles (one group) and a 2-byte scale (docs/bundle-format.md). */
#define INGOT_TILE_ROW_BYTES 18

#define INGOT_W_INT4_CT 3 /* compressed-tensors pack-quantized INT4, group 32, BF16 scales */
#define INGOT_W_INT4_TILES 4 /* the bundle's int4-tiles layout (docs/bundle-format.md) */
/* y[t * ldy + r] = Σ_j w[r][j] · x[t * ldx + j] for rows [row_begin, row_end) and t < tokens; w: rows of `cols`
   values of `kind`, widened exactly in registers; f32 FMA in one fixed order on every ISA (engine_dense.c), so all
   variants agree bit for bit. */
void ingot_dense_matmul(const void *w, int kind, int64_t cols, const float *x, int64_t ldx, float *y, int64_t ldy,
                        int64_t tokens, int64_t row_begin, int64_t row_end, int isa);
/* y[t * ldy + j] = Σ_i x[t * ldx + i] · w[i][j] for i < n, j < cols (w: n rows of `cols` values of `kind`): the
   product with W itself rather than Wᵀ; each output is one FMA chain over i ascending on every ISA. */
void ingot_dense_matmul_t(const void *w, int kind, int64_t n, int64_t cols, const float *x, int64_t ldx, float *y,
                          int64_t ldy, int64_t tokens, int isa);
/* A weight matrix W [rows, cols] in one of the stored forms above. */
typedef struct {
    int kind;
    const void *data;       /* rows (dense), packed nibbles (INT4_CT), or tiles (INT4_TILES) */
    const uint16_t *scales; /* INT4_CT: BF16 [rows, cols / 32] */
    int64_t rows, cols;     /* INT4: cols a multiple of 32 */
    int64_t tile_rows;      /* INT4_TILES */
} ingot_weight;
/* Panel geometry of ingot_gemm (the caller gives each worker ingot_gemm_scratch_floats of 64-byte-aligned scratch). */
#define GEMM_NR 64
#define GEMM_KC 256
/* y[t * ldy + r] = Σ_k x[t * ldx + k] · W[r][k] for rows [row_begin, row_end), t < tokens: the GEMM for many tokens.
   Each GEMM_NR × GEMM_KC panel of W is widened or dequantized (scale × (u − 8), exact) once into `panel`, then
   multiplied with every token; f32 FMA in one fixed order on every ISA (engine_gemm.c). INT4 kinds are instead
   dequantized 16 rows at a time and multiplied by ingot_dense_matmul, in its 16-lane order. */
void ingot_gemm(const ingot_weight *w, const float *x, int64_t ldx, float *y, int64_t ldy, int64_t tokens,
                int64_t row_begin, int64_t row_end, float *panel, int isa);
/* Floats of scratch ingot_gemm needs for `w` (per worker, 64-byte aligned). */
int64_t ingot_gemm_scratch_floats(const ingot_weight *w);
/* Rows [r0, r1) of an INT4 weight dequantized row-major into out: scale × (u − 8), exact in f32. */
void ingot_int4_dequant_rows(const ingot_weight *w, int64_t r0, int64_t r1, float *out, int isa);
/* out[0 ..< count] = values [begin, begin + count) of w widened to f32 (exact). */
void ingot_dense_widen(const void *w, int kind, int64_t begin, int64_t count, float *out);

/* ---- the q8_0 mode's BF16 products (engine_bf16.c; docs/engine.md, "Kernels and numerics") ---- */
/* out[i] = x[i] rounded to BF16, to nearest even (NaN stays NaN, made quiet), for i < n. */
void ingot_f32_to_bf16(const float *x, int64_t n, uint16_t *out);
/* y[t * ldy + r] = Σ_j w[r][j] · x[t * ldx + j] for rows [row_begin, row_end) and t < tokens, with BF16 weights w
   (rows of `cols`) and BF16 activations x (ingot_f32_to_bf16's output): the arithmetic of VDPBF16PS (pairs per f32
   lane, odd element first, FMA with subnormal inputs and results read and written as signed zeros), 16 lanes over
   32-column chunks, then the dense kernels' pairwise lane sum. AVX512_BF16 uses the instruction; the AVX-512F and
   portable paths replay it step by step and agree bit for bit (AVX2 runs the portable path). */
void ingot_bf16_dot_matmul(const uint16_t *w, int64_t cols, const uint16_t *x, int64_t ldx, float *y, int64_t ldy,
                           int64_t tokens, int64_t row_begin, int64_t row_end, int isa);
/* The same arithmetic for many tokens as a packed-panel GEMM (engine_bf16.c): per output, one VDPBF16PS chain over the
   column pairs in order (odd element first), carried from panel to panel through y. cols must be even. `panel` holds
   ingot_bf16_gemm_scratch_words() words. Every ISA gives the same bits. */
void ingot_bf16_gemm(const uint16_t *w, int64_t cols, const uint16_t *x, int64_t ldx, float *y, int64_t ldy,
                     int64_t tokens, int64_t row_begin, int64_t row_end, uint32_t *panel, int isa);
int64_t ingot_bf16_gemm_scratch_words(void);

/* ---- benchmark (kernels.c) ---- */
/* The XOR of the little-endian 64-bit words of the first n/128·128 bytes, each remaining byte XORed into the low
   byte: AVX2 loads and nothing else, the fastest a kernel can read memory on one core; `make bench-engine`
   measures it as the read ceiling. */
uint64_t ingot_read_fold(const uint8_t *bytes, size_t n);

/* ---- system calls (syscalls.c) ---- */
/* copy_file_range(2) from fd_in at *offset_in (advanced by the bytes copied) to fd_out at its file position: the
   kernel copies page cache to page cache, no user-space buffer. Returns the bytes copied, 0 at end of file, or
   −errno. */
int64_t ingot_copy_file_range(int fd_in, int64_t *offset_in, int fd_out, size_t count);

/* Opens `path` (which must exist) for writing with O_DIRECT, bypassing the page cache. Returns the descriptor, or
   −errno (EINVAL where the file system does not support direct I/O, e.g. tmpfs). */
int ingot_open_direct(const char *path);
#endif
