/* Sources/CKernels/kernels.c: see include/ckernels.h for why these loops are in C. */
#include "ckernels.h"
#include <string.h>
#include <immintrin.h>

/* Content hash (for finding byte-identical experts; equal hashes are confirmed by comparing bytes).
   Four 64-bit lanes s[k] = seed + k*G; for each 32-byte block with words w[0..3]: t = s[k] ^ w[k],
   s[k] = lo32(t) * 0x9E3779B1 + (t >> 32). Bytes after the last whole block fold into lane 0 with FNV-1a.
   The result mixes the four lanes and the length with the SplitMix64 finalizer. The AVX2 path, the scalar
   path and Swift's Int4Statistics.contentHash compute the same value. */
#define HASH_K 0x9E3779B1ULL
#define HASH_G 0x9E3779B97F4A7C15ULL

static inline uint64_t splitmix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t hash_finish(const uint64_t s[4], const uint8_t *tail, size_t tail_n, size_t n) {
    uint64_t lane0 = s[0];
    for (size_t i = 0; i < tail_n; i++) lane0 = (lane0 ^ tail[i]) * 0x100000001B3ULL;
    uint64_t h = 0;
    h = splitmix(h ^ lane0);
    h = splitmix(h ^ s[1]);
    h = splitmix(h ^ s[2]);
    h = splitmix(h ^ s[3]);
    return splitmix(h ^ (uint64_t)n);
}

static void hash_blocks_scalar(const uint8_t *p, size_t blocks, uint64_t s[4]) {
    for (size_t b = 0; b < blocks; b++) {
        for (int k = 0; k < 4; k++) {
            uint64_t w;
            memcpy(&w, p + b * 32 + k * 8, 8);
            uint64_t t = s[k] ^ w;
            s[k] = (t & 0xFFFFFFFFULL) * HASH_K + (t >> 32);
        }
    }
}

uint64_t ingot_content_hash(const uint8_t *p, size_t n, uint64_t seed) {
    uint64_t s[4] = {seed, seed + HASH_G, seed + 2 * HASH_G, seed + 3 * HASH_G};
    hash_blocks_scalar(p, n / 32, s);
    return hash_finish(s, p + n / 32 * 32, n % 32, n);
}

static uint64_t nibble_histogram_scalar(const uint8_t *p, size_t n, int64_t counts[16], uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        counts[p[i] & 15]++;
        counts[p[i] >> 4]++;
    }
    return ingot_content_hash(p, n, seed);
}

/* Carry-save adder on bit vectors: (high, low) = a + b + c per bit. */
#define CSA(h, l, a, b, c)                                   \
    do {                                                     \
        __m256i u_ = _mm256_xor_si256((a), (b));             \
        (h) = _mm256_or_si256(_mm256_and_si256((a), (b)),    \
                              _mm256_and_si256(u_, (c)));    \
        (l) = _mm256_xor_si256(u_, (c));                     \
    } while (0)

/* Adds, for each bit position j of the bytes of v, the number of bytes with bit j set, times `weight`. */
__attribute__((target("avx2,popcnt")))
static inline void positional_add(__m256i v, int64_t *out, int64_t weight) {
    for (int j = 0; j < 8; j++) {
        unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_slli_epi16(v, 7 - j));
        out[j] += weight * (int64_t)__builtin_popcount(m);
    }
}

/* One Harley-Seal round: 16 one-hot vectors into (ones, twos, fours, eights); the sixteens are counted. */
#define HS_ROUND(d, ones, twos, fours, eights, out)                      \
    do {                                                                 \
        __m256i twosA, twosB, foursA, foursB, eightsA, eightsB, sixteens; \
        CSA(twosA, ones, ones, d[0], d[1]);                              \
        CSA(twosB, ones, ones, d[2], d[3]);                              \
        CSA(foursA, twos, twos, twosA, twosB);                           \
        CSA(twosA, ones, ones, d[4], d[5]);                              \
        CSA(twosB, ones, ones, d[6], d[7]);                              \
        CSA(foursB, twos, twos, twosA, twosB);                           \
        CSA(eightsA, fours, fours, foursA, foursB);                      \
        CSA(twosA, ones, ones, d[8], d[9]);                              \
        CSA(twosB, ones, ones, d[10], d[11]);                            \
        CSA(foursA, twos, twos, twosA, twosB);                           \
        CSA(twosA, ones, ones, d[12], d[13]);                            \
        CSA(twosB, ones, ones, d[14], d[15]);                            \
        CSA(foursB, twos, twos, twosA, twosB);                           \
        CSA(eightsB, fours, fours, foursA, foursB);                      \
        CSA(sixteens, eights, eights, eightsA, eightsB);                 \
        positional_add(sixteens, out, 16);                               \
    } while (0)

/* Nibble histogram as two positional popcounts: a pshufb turns each nibble into a one-hot byte, bit x for
   x < 8 in one stream and bit x - 8 for x >= 8 in the other; carry-save adders count 16 such vectors at
   once (Harley-Seal, as in Klarqvist & Lemire's positional popcount). About one vector op per input byte. */
__attribute__((target("avx2,popcnt")))
static uint64_t nibble_histogram_avx2(const uint8_t *p, size_t n, int64_t counts[16], uint64_t seed) {
    __m256i hs = _mm256_setr_epi64x((long long)seed, (long long)(seed + HASH_G), (long long)(seed + 2 * HASH_G),
                                    (long long)(seed + 3 * HASH_G));
    const __m256i hk = _mm256_set1_epi64x((long long)HASH_K);
    const __m256i low = _mm256_set1_epi8(0x0F);
    const __m256i onehot_lo = _mm256_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0,
                                               1, 2, 4, 8, 16, 32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i onehot_hi = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, (char)128,
                                               0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, (char)128);
    __m256i onesL = _mm256_setzero_si256(), twosL = onesL, foursL = onesL, eightsL = onesL;
    __m256i onesH = onesL, twosH = onesL, foursH = onesL, eightsH = onesL;
    int64_t lo_counts[8] = {0}, hi_counts[8] = {0};
    size_t rounds = n / 256;
    for (size_t r = 0; r < rounds; r++) {
        __m256i dl[16], dh[16];
        for (int b = 0; b < 8; b++) {
            const uint8_t *q = p + r * 256 + b * 32;
            __m256i v = _mm256_loadu_si256((const __m256i *)q);
            __m256i x = _mm256_and_si256(v, low);
            __m256i y = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
            dl[2 * b] = _mm256_shuffle_epi8(onehot_lo, x);
            dl[2 * b + 1] = _mm256_shuffle_epi8(onehot_lo, y);
            dh[2 * b] = _mm256_shuffle_epi8(onehot_hi, x);
            dh[2 * b + 1] = _mm256_shuffle_epi8(onehot_hi, y);
            __m256i t = _mm256_xor_si256(hs, v);
            hs = _mm256_add_epi64(_mm256_mul_epu32(t, hk), _mm256_srli_epi64(t, 32));
        }
        HS_ROUND(dl, onesL, twosL, foursL, eightsL, lo_counts);
        HS_ROUND(dh, onesH, twosH, foursH, eightsH, hi_counts);
    }
    positional_add(onesL, lo_counts, 1);
    positional_add(twosL, lo_counts, 2);
    positional_add(foursL, lo_counts, 4);
    positional_add(eightsL, lo_counts, 8);
    positional_add(onesH, hi_counts, 1);
    positional_add(twosH, hi_counts, 2);
    positional_add(foursH, hi_counts, 4);
    positional_add(eightsH, hi_counts, 8);
    for (int j = 0; j < 8; j++) {
        counts[j] += lo_counts[j];
        counts[8 + j] += hi_counts[j];
    }
    size_t done = rounds * 256;
    for (size_t i = done; i < n; i++) {
        counts[p[i] & 15]++;
        counts[p[i] >> 4]++;
    }
    uint64_t s[4];
    _mm256_storeu_si256((__m256i *)s, hs);
    hash_blocks_scalar(p + done, (n - done) / 32, s);
    size_t whole = n / 32 * 32;
    return hash_finish(s, p + whole, n - whole, n);
}

static int have_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}

uint64_t ingot_nibble_histogram(const uint8_t *bytes, size_t n, int64_t counts[16], uint64_t seed) {
    if (have_avx2()) return nibble_histogram_avx2(bytes, n, counts, seed);
    return nibble_histogram_scalar(bytes, n, counts, seed);
}

static inline float bf16_to_float(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void scale_stats_scalar(const uint16_t *bits, size_t n, const uint8_t *table, ingot_scale_counts *c, float *mn, float *mx) {
    for (size_t i = 0; i < n; i++) {
        uint16_t b = bits[i], m = b & 0x7FFF;
        if (m > 0x7F80) { c->nan++; continue; }
        if (m == 0x7F80) { c->infinite++; continue; }
        if (m == 0) { c->zero++; continue; }
        if (b & 0x8000) c->negative++;
        if (!table[b]) c->not_fp16_exact++;
        float v = bf16_to_float(b);
        if (v < *mn) *mn = v;
        if (v > *mx) *mx = v;
    }
}

/* Fast path for the common case: 16 scales all positive, normal and inside F16's exact range [2^-14, 65280],
   where float order equals unsigned bit order. */
__attribute__((target("avx2")))
static void scale_stats_avx2(const uint16_t *bits, size_t n, const uint8_t *table, ingot_scale_counts *c, float *mn, float *mx) {
    const __m256i lo_bound = _mm256_set1_epi16(0x3880 - 1);
    const __m256i hi_bound = _mm256_set1_epi16(0x477F + 1);
    __m256i vmin = _mm256_set1_epi16((short)0xFFFF), vmax = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(bits + i));
        /* signed compares work because the bounds and accepted values are below 0x8000 */
        __m256i ok = _mm256_and_si256(_mm256_cmpgt_epi16(v, lo_bound), _mm256_cmpgt_epi16(hi_bound, v));
        if (_mm256_movemask_epi8(ok) == -1) {
            vmin = _mm256_min_epu16(vmin, v);
            vmax = _mm256_max_epu16(vmax, v);
        } else {
            scale_stats_scalar(bits + i, 16, table, c, mn, mx);
        }
    }
    uint16_t a[16], b[16];
    _mm256_storeu_si256((__m256i *)a, vmin);
    _mm256_storeu_si256((__m256i *)b, vmax);
    for (int k = 0; k < 16; k++) {
        if (a[k] != 0xFFFF && bf16_to_float(a[k]) < *mn) *mn = bf16_to_float(a[k]);
        if (b[k] != 0 && bf16_to_float(b[k]) > *mx) *mx = bf16_to_float(b[k]);
    }
    scale_stats_scalar(bits + i, n - i, table, c, mn, mx);
}

void ingot_bf16_scale_stats(const uint16_t *bits, size_t n, const uint8_t *table, ingot_scale_counts *counts, float *min_value,
                            float *max_value) {
    if (have_avx2()) scale_stats_avx2(bits, n, table, counts, min_value, max_value);
    else scale_stats_scalar(bits, n, table, counts, min_value, max_value);
}

static void nonfinite_scalar(const uint8_t *p, size_t n, int kind, int64_t *nan, int64_t *inf) {
    for (size_t i = 0; i < n; i++) {
        if (kind == 4) {
            uint32_t u;
            memcpy(&u, p + i * 4, 4);
            if ((u & 0x7F800000u) == 0x7F800000u) { if (u & 0x007FFFFFu) (*nan)++; else (*inf)++; }
        } else {
            uint16_t u;
            memcpy(&u, p + i * 2, 2);
            uint16_t e = kind == 2 ? 0x7F80 : 0x7C00, m = kind == 2 ? 0x007F : 0x03FF;
            if ((u & e) == e) { if (u & m) (*nan)++; else (*inf)++; }
        }
    }
}

/* Counts values whose exponent is all ones; exact NaN/inf split only for the rare blocks that have any. */
__attribute__((target("avx2")))
static void nonfinite_avx2(const uint8_t *p, size_t n, int kind, int64_t *nan, int64_t *inf) {
    size_t width = kind == 4 ? 4 : 2, per = 32 / width, i = 0;
    __m256i e16 = _mm256_set1_epi16(kind == 2 ? 0x7F80 : 0x7C00), e32 = _mm256_set1_epi32(0x7F800000);
    for (; i + per <= n; i += per) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(p + i * width));
        __m256i hit = width == 2 ? _mm256_cmpeq_epi16(_mm256_and_si256(v, e16), e16) : _mm256_cmpeq_epi32(_mm256_and_si256(v, e32), e32);
        if (_mm256_movemask_epi8(hit) != 0) nonfinite_scalar(p + i * width, per, kind, nan, inf);
    }
    nonfinite_scalar(p + i * width, n - i, kind, nan, inf);
}

void ingot_nonfinite(const void *values, size_t n, int kind, int64_t *nan, int64_t *infinite) {
    if (have_avx2()) nonfinite_avx2((const uint8_t *)values, n, kind, nan, infinite);
    else nonfinite_scalar((const uint8_t *)values, n, kind, nan, infinite);
}

/* ---- benchmark: the cost of reading memory and doing nothing else ---- */

__attribute__((target("avx2"))) static uint64_t read_fold_avx2(const uint8_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        a0 = _mm256_xor_si256(a0, _mm256_loadu_si256((const __m256i *)(p + i)));
        a1 = _mm256_xor_si256(a1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_xor_si256(a2, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_xor_si256(a3, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
    }
    a0 = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, a0);
    uint64_t r = lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
    for (; i < n; i++) r ^= p[i];
    return r;
}

uint64_t ingot_read_fold(const uint8_t *bytes, size_t n) {
    if (have_avx2()) return read_fold_avx2(bytes, n);
    uint64_t r = 0;
    size_t i = 0;
    for (; i + 128 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, bytes + i, 8);
        r ^= w;
    }
    for (; i < n; i++) r ^= bytes[i];
    return r;
}
