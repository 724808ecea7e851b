/* Sources/CKernels/engine_common.h: helpers shared by the engine's kernel files (private to CKernels). */
#ifndef INGOT_ENGINE_COMMON_H
#define INGOT_ENGINE_COMMON_H
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
#endif
