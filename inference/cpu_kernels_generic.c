/* Portable C inner loops (any CPU). Sums are kept in 8 independent lanes so
 * the compiler can vectorize them without -ffast-math (which would let it
 * reorder a single running sum). */
#include "cpu_kernels_impl.h"

#define LANES 8

static float lanes_sum(const float *acc) {
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static float dot_generic(const float *a, const float *b, int n) {
    float acc[LANES] = {0};
    int k = 0;
    for (; k + LANES <= n; k += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += a[k + l] * b[k + l];
    float s = lanes_sum(acc);
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

static float dot_bf16_generic(const uint16_t *w, const float *x, int n) {
    float acc[LANES] = {0};
    int k = 0;
    for (; k + LANES <= n; k += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += bc_bf16_bits_to_f32(w[k + l]) * x[k + l];
    float s = lanes_sum(acc);
    for (; k < n; k++) s += bc_bf16_bits_to_f32(w[k]) * x[k];
    return s;
}

/* Four rows at a time so each x element loaded serves four weights. */
static void matvec_f32_generic(const float *W, const float *x, float *y, int r0, int r1,
                               int cols) {
    int r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float *w0 = W + (size_t)r * cols, *w1 = w0 + cols, *w2 = w1 + cols,
                    *w3 = w2 + cols;
        float a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};
        int k = 0;
        for (; k + LANES <= cols; k += LANES)
            for (int l = 0; l < LANES; l++) {
                float xv = x[k + l];
                a0[l] += w0[k + l] * xv;
                a1[l] += w1[k + l] * xv;
                a2[l] += w2[k + l] * xv;
                a3[l] += w3[k + l] * xv;
            }
        float s0 = lanes_sum(a0), s1 = lanes_sum(a1), s2 = lanes_sum(a2), s3 = lanes_sum(a3);
        for (; k < cols; k++) {
            s0 += w0[k] * x[k];
            s1 += w1[k] * x[k];
            s2 += w2[k] * x[k];
            s3 += w3[k] * x[k];
        }
        y[r] = s0;
        y[r + 1] = s1;
        y[r + 2] = s2;
        y[r + 3] = s3;
    }
    for (; r < r1; r++) y[r] = dot_generic(W + (size_t)r * cols, x, cols);
}

static void matvec_bf16_generic(const uint16_t *W, const float *x, float *y, int r0, int r1,
                                int cols) {
    for (int r = r0; r < r1; r++) y[r] = dot_bf16_generic(W + (size_t)r * cols, x, cols);
}

static void gemm_f32_generic(const float *X, const float *W, float *Y, int T, int r0, int r1,
                             int k0, int k1, int ldx, int ldw, int ldy, int accumulate) {
    for (int r = r0; r < r1; r++) {
        const float *w = W + (size_t)r * ldw + k0;
        for (int t = 0; t < T; t++) {
            float s = dot_generic(X + (size_t)t * ldx + k0, w, k1 - k0);
            float *yp = Y + (size_t)t * ldy + r;
            *yp = accumulate ? *yp + s : s;
        }
    }
}

static void gemm_bf16_generic(const float *X, const uint16_t *W, float *Y, int T, int r0,
                              int r1, int k0, int k1, int ldx, int ldw, int ldy, int accumulate) {
    for (int r = r0; r < r1; r++) {
        const uint16_t *w = W + (size_t)r * ldw + k0;
        for (int t = 0; t < T; t++) {
            float s = dot_bf16_generic(w, X + (size_t)t * ldx + k0, k1 - k0);
            float *yp = Y + (size_t)t * ldy + r;
            *yp = accumulate ? *yp + s : s;
        }
    }
}

static void gemm_tn_f32_generic(const float *P, int ldp, const float *V, int ldv, float *O,
                                int ldo, int M, int N, int K) {
    BC_GEMM_TN_BODY
}

static float read_sum_generic(const float *p, size_t n) { BC_READ_SUM_BODY }

static void bf16_to_f32_generic(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bc_bf16_bits_to_f32(src[i]);
}
static void f16_to_f32_generic(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bc_f16_bits_to_f32(src[i]);
}
static void f32_to_bf16_generic(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bc_f32_to_bf16_bits(src[i]);
}

const bc_kernel_table bc_kernels_generic = {
    .matvec_f32 = matvec_f32_generic,
    .matvec_bf16 = matvec_bf16_generic,
    .gemm_f32 = gemm_f32_generic,
    .gemm_bf16 = gemm_bf16_generic,
    .gemm_tn_f32 = gemm_tn_f32_generic,
    .dot = dot_generic,
    .read_sum = read_sum_generic,
    .bf16_to_f32 = bf16_to_f32_generic,
    .f16_to_f32 = f16_to_f32_generic,
    .f32_to_bf16 = f32_to_bf16_generic,
};
