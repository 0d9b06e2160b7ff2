/* Internal to the CPU kernels: one table of inner loops per SIMD level.
 * cpu_kernels.c picks a table at run time; cpu_kernels_generic.c and
 * cpu_kernels_x86.c fill them in. Not for use outside cpu_kernels*.c. */
#ifndef BC_CPU_KERNELS_IMPL_H
#define BC_CPU_KERNELS_IMPL_H

#include <stddef.h>
#include <stdint.h>

typedef struct bc_kernel_table {
    /* y[r] = dot(W[r, :], x) for r in [r0, r1); W has `cols` columns. */
    void (*matvec_f32)(const float *W, const float *x, float *y, int r0, int r1, int cols);
    void (*matvec_bf16)(const uint16_t *W, const float *x, float *y, int r0, int r1,
                        int cols);
    /* Y[t, r] (=, or += when accumulate) sum over k in [k0, k1) of
     * X[t, k] * W[r, k], for t in [0, T), r in [r0, r1). X rows are `ldx`
     * floats apart, W rows `ldw` floats (or bf16s), Y rows `ldy` floats. */
    void (*gemm_f32)(const float *X, const float *W, float *Y, int T, int r0, int r1,
                     int k0, int k1, int ldx, int ldw, int ldy, int accumulate);
    void (*gemm_bf16)(const float *X, const uint16_t *W, float *Y, int T, int r0, int r1,
                      int k0, int k1, int ldx, int ldw, int ldy, int accumulate);
    /* O[m, j] = sum over k < K of P[k, m] * V[k, j], for m < M, j < N (rows
     * ldp / ldv / ldo floats apart): attention's probabilities times V. */
    void (*gemm_tn_f32)(const float *P, int ldp, const float *V, int ldv, float *O, int ldo,
                        int M, int N, int K);
    float (*dot)(const float *a, const float *b, int n);
    /* Sum of n floats in 64 lanes: a memory-bound read loop (bandwidth). */
    float (*read_sum)(const float *p, size_t n);
    void (*bf16_to_f32)(const uint16_t *src, float *dst, size_t n);
    void (*f16_to_f32)(const uint16_t *src, float *dst, size_t n);
    void (*f32_to_bf16)(const float *src, uint16_t *dst, size_t n);
} bc_kernel_table;

extern const bc_kernel_table bc_kernels_generic;
#if defined(__x86_64__)
#define BC_HAVE_X86_KERNELS 1
extern const bc_kernel_table bc_kernels_avx2;
extern const bc_kernel_table bc_kernels_avx512;
#endif

/* Scalar conversions, shared by every level (branch-free so that loops over
 * them auto-vectorize under each target). */
static inline float bc_bits_to_f32(uint32_t u) {
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}
static inline uint32_t bc_f32_to_bits(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, sizeof u);
    return u;
}
static inline float bc_bf16_bits_to_f32(uint16_t h) {
    return bc_bits_to_f32((uint32_t)h << 16);
}
/* Exponent and mantissa shifted into place and scaled by 2^112 handle normal
 * and subnormal halves exactly in one multiply; inf/NaN get the f32 all-ones
 * exponent with the mantissa (NaN payload) shifted like numpy does. */
static inline float bc_f16_bits_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t em = h & 0x7fffu;
    float mag = bc_bits_to_f32(em << 13) * 0x1p112f;
    uint32_t bits = em >= 0x7c00u ? ((em << 13) | 0x7f800000u) : bc_f32_to_bits(mag);
    return bc_bits_to_f32(bits | sign);
}
/* Round to nearest even by adding 0x7fff plus the lowest kept bit; NaNs are
 * truncated with the quiet bit forced so they cannot round into inf. */
static inline uint16_t bc_f32_to_bf16_bits(float f) {
    uint32_t u = bc_f32_to_bits(f);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x0040u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

#define BC_READ_SUM_BODY                                                      \
    float acc[64] = {0};                                                      \
    size_t i = 0;                                                             \
    for (; i + 64 <= n; i += 64)                                              \
        for (int l = 0; l < 64; l++) acc[l] += p[i + l];                      \
    float s = 0.0f;                                                           \
    for (int l = 0; l < 64; l++) s += acc[l];                                 \
    for (; i < n; i++) s += p[i];                                             \
    return s;

/* Body of gemm_tn_f32, shared by every level and compiled under each target
 * so that the inner loop is vectorized at its vector width. One row of V
 * serves every query of the block; masked (zero) probabilities are skipped. */
#define BC_GEMM_TN_BODY                                                       \
    for (int m = 0; m < M; m++)                                               \
        for (int j = 0; j < N; j++) O[(size_t)m * ldo + j] = 0.0f;             \
    for (int k = 0; k < K; k++) {                                             \
        const float *v = V + (size_t)k * ldv, *p = P + (size_t)k * ldp;       \
        for (int m = 0; m < M; m++) {                                         \
            float a = p[m];                                                   \
            float *o = O + (size_t)m * ldo;                                   \
            if (a == 0.0f) continue;                                          \
            for (int j = 0; j < N; j++) o[j] += a * v[j];                     \
        }                                                                     \
    }

#endif
