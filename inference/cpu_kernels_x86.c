/* AVX2+FMA and AVX-512F inner loops. Each function carries its own target
 * attribute, so this file builds with the default -march and the code only
 * runs after cpu_kernels.c checked __builtin_cpu_supports.
 *
 * The same loop body serves f32 and bf16 weights: a macro instantiates it with
 * the weight loader (bf16 -> f32 is a zero-extend and a 16-bit shift). */
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "cpu_kernels_impl.h"

#define T512 __attribute__((target("avx512f,avx2,fma")))
#define T256 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* ---------------- AVX-512F: 16 floats per vector ---------------- */

INLINE T512 __m512 ld512_f32(const float *p) { return _mm512_loadu_ps(p); }
INLINE T512 __m512 ld512_bf16(const uint16_t *p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
/* Tails (n < 16 elements): masked load for f32, zero-padded copy for bf16. */
INLINE T512 __m512 ld512_f32_part(const float *p, int n) {
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}
INLINE T512 __m512 ld512_bf16_part(const uint16_t *p, int n) {
    uint16_t buf[16] = {0};
    memcpy(buf, p, (size_t)n * sizeof *p);
    return ld512_bf16(buf);
}

/* Four rows per pass over x: x is loaded once per four weight vectors. */
#define DEFINE_MATVEC512(NAME, WT, LD, LDP)                                          \
    static T512 void NAME(const WT *W, const float *x, float *y, int r0, int r1,      \
                          int cols) {                                                \
        int kmain = cols & ~15, ktail = cols & 15, r = r0;                           \
        for (; r + 4 <= r1; r += 4) {                                                \
            const WT *w0 = W + (size_t)r * cols, *w1 = w0 + cols, *w2 = w1 + cols,   \
                     *w3 = w2 + cols;                                                \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;              \
            for (int k = 0; k < kmain; k += 16) {                                    \
                __m512 xv = _mm512_loadu_ps(x + k);                                  \
                a0 = _mm512_fmadd_ps(LD(w0 + k), xv, a0);                            \
                a1 = _mm512_fmadd_ps(LD(w1 + k), xv, a1);                            \
                a2 = _mm512_fmadd_ps(LD(w2 + k), xv, a2);                            \
                a3 = _mm512_fmadd_ps(LD(w3 + k), xv, a3);                            \
            }                                                                        \
            if (ktail) {                                                             \
                __m512 xv = ld512_f32_part(x + kmain, ktail);                        \
                a0 = _mm512_fmadd_ps(LDP(w0 + kmain, ktail), xv, a0);                \
                a1 = _mm512_fmadd_ps(LDP(w1 + kmain, ktail), xv, a1);                \
                a2 = _mm512_fmadd_ps(LDP(w2 + kmain, ktail), xv, a2);                \
                a3 = _mm512_fmadd_ps(LDP(w3 + kmain, ktail), xv, a3);                \
            }                                                                        \
            y[r] = _mm512_reduce_add_ps(a0);                                         \
            y[r + 1] = _mm512_reduce_add_ps(a1);                                     \
            y[r + 2] = _mm512_reduce_add_ps(a2);                                     \
            y[r + 3] = _mm512_reduce_add_ps(a3);                                     \
        }                                                                            \
        for (; r < r1; r++) {                                                        \
            const WT *w = W + (size_t)r * cols;                                      \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0;                                \
            int k = 0;                                                               \
            for (; k + 32 <= kmain; k += 32) {                                       \
                a0 = _mm512_fmadd_ps(LD(w + k), _mm512_loadu_ps(x + k), a0);         \
                a1 = _mm512_fmadd_ps(LD(w + k + 16), _mm512_loadu_ps(x + k + 16), a1); \
            }                                                                        \
            for (; k < kmain; k += 16)                                               \
                a0 = _mm512_fmadd_ps(LD(w + k), _mm512_loadu_ps(x + k), a0);         \
            if (ktail)                                                               \
                a1 = _mm512_fmadd_ps(LDP(w + kmain, ktail),                          \
                                     ld512_f32_part(x + kmain, ktail), a1);          \
            y[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));                      \
        }                                                                            \
    }

DEFINE_MATVEC512(matvec_f32_avx512, float, ld512_f32, ld512_f32_part)
DEFINE_MATVEC512(matvec_bf16_avx512, uint16_t, ld512_bf16, ld512_bf16_part)

/* GEMM in outer-product form, like BLAS kernels: a 32-row panel of W is
 * packed (transposed, bf16 widened) into a [kc][32] buffer that stays in L1;
 * then for each 8-token tile, every k step broadcasts 8 X values against two
 * 16-wide W vectors into 16 accumulators (8 x 32 outputs), 16 FMAs per 10
 * loads, with no horizontal reductions. */
#define GEMM512_KC 256
#define GEMM512_NR 32
#define GEMM512_MR 12

INLINE T512 void gemm512_micro(const float *X, int ldx, const float *Bp, int kc, float *Y,
                               int ldy, int nt, int nr, int accumulate) {
    __m512 c[GEMM512_MR][2];
    for (int i = 0; i < GEMM512_MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(Bp + (size_t)k * GEMM512_NR);
        __m512 b1 = _mm512_loadu_ps(Bp + (size_t)k * GEMM512_NR + 16);
        for (int i = 0; i < nt; i++) {
            __m512 a = _mm512_set1_ps(X[(size_t)i * ldx + k]);
            c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
        }
    }
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
    for (int i = 0; i < nt; i++) {
        float *y = Y + (size_t)i * ldy;
        if (accumulate) {
            c[i][0] = _mm512_add_ps(c[i][0], _mm512_maskz_loadu_ps(m0, y));
            c[i][1] = _mm512_add_ps(c[i][1], _mm512_maskz_loadu_ps(m1, y + 16));
        }
        _mm512_mask_storeu_ps(y, m0, c[i][0]);
        _mm512_mask_storeu_ps(y + 16, m1, c[i][1]);
    }
}

/* Runs the micro-kernel over all T tokens for one packed panel: full tiles
 * with the constant MR (kept in registers), the last partial tile apart. */
static T512 void gemm512_panel(const float *X, int ld, const float *Bp, int kc, float *Y,
                               int ldy, int T, int nr, int accumulate) {
    int t = 0;
    for (; t + GEMM512_MR <= T; t += GEMM512_MR)
        gemm512_micro(X + (size_t)t * ld, ld, Bp, kc, Y + (size_t)t * ldy, ldy, GEMM512_MR, nr,
                      accumulate);
    if (t < T)
        gemm512_micro(X + (size_t)t * ld, ld, Bp, kc, Y + (size_t)t * ldy, ldy, T - t, nr,
                      accumulate);
}

#define DEFINE_GEMM512(NAME, WT, WIDEN)                                              \
    static T512 void NAME(const float *X, const WT *W, float *Y, int T, int r0,       \
                          int r1, int k0, int k1, int ldx, int ldw, int ldy,     \
                          int accumulate) {                                           \
        float Bp[GEMM512_KC * GEMM512_NR];                                           \
        for (int kb = k0; kb < k1; kb += GEMM512_KC) {                               \
            int kc = k1 - kb < GEMM512_KC ? k1 - kb : GEMM512_KC;                    \
            int acc = accumulate || kb > k0;                                         \
            for (int r = r0; r < r1; r += GEMM512_NR) {                              \
                int nr = r1 - r < GEMM512_NR ? r1 - r : GEMM512_NR;                  \
                for (int j = 0; j < GEMM512_NR; j++) {                               \
                    const WT *w = W + (size_t)(r + j) * ldw + kb;                    \
                    if (j < nr)                                                      \
                        for (int k = 0; k < kc; k++) Bp[k * GEMM512_NR + j] = WIDEN(w[k]); \
                    else                                                             \
                        for (int k = 0; k < kc; k++) Bp[k * GEMM512_NR + j] = 0.0f;  \
                }                                                                    \
                gemm512_panel(X + kb, ldx, Bp, kc, Y + r, ldy, T, nr, acc);           \
            }                                                                        \
        }                                                                            \
    }

#define WIDEN_F32(v) (v)
DEFINE_GEMM512(gemm_f32_avx512, float, WIDEN_F32)
DEFINE_GEMM512(gemm_bf16_avx512, uint16_t, bc_bf16_bits_to_f32)

static T512 void gemm_tn_f32_avx512(const float *P, int ldp, const float *V, int ldv,
                                    float *O, int ldo, int M, int N, int K) {
    BC_GEMM_TN_BODY
}

static T512 float read_sum_avx512(const float *p, size_t n) { BC_READ_SUM_BODY }

static T512 float dot_avx512(const float *a, const float *b, int n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int k = 0;
    for (; k + 32 <= n; k += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(b + k + 16), a1);
    }
    for (; k + 16 <= n; k += 16)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), a0);
    if (k < n) a1 = _mm512_fmadd_ps(ld512_f32_part(a + k, n - k), ld512_f32_part(b + k, n - k), a1);
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

/* Conversions: the shared branch-free scalar code, auto-vectorized for the
 * target (bit-identical to the scalar functions, NaNs included). */
static T512 void bf16_to_f32_avx512(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bc_bf16_bits_to_f32(src[i]);
}
static T512 void f16_to_f32_avx512(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bc_f16_bits_to_f32(src[i]);
}
static T512 void f32_to_bf16_avx512(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bc_f32_to_bf16_bits(src[i]);
}

const bc_kernel_table bc_kernels_avx512 = {
    .matvec_f32 = matvec_f32_avx512,
    .matvec_bf16 = matvec_bf16_avx512,
    .gemm_f32 = gemm_f32_avx512,
    .gemm_bf16 = gemm_bf16_avx512,
    .gemm_tn_f32 = gemm_tn_f32_avx512,
    .dot = dot_avx512,
    .read_sum = read_sum_avx512,
    .bf16_to_f32 = bf16_to_f32_avx512,
    .f16_to_f32 = f16_to_f32_avx512,
    .f32_to_bf16 = f32_to_bf16_avx512,
};

/* ---------------- AVX2 + FMA: 8 floats per vector ---------------- */

INLINE T256 __m256 ld256_f32(const float *p) { return _mm256_loadu_ps(p); }
INLINE T256 __m256 ld256_bf16(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
INLINE T256 __m256 ld256_f32_part(const float *p, int n) {
    float buf[8] = {0};
    memcpy(buf, p, (size_t)n * sizeof *p);
    return _mm256_loadu_ps(buf);
}
INLINE T256 __m256 ld256_bf16_part(const uint16_t *p, int n) {
    uint16_t buf[8] = {0};
    memcpy(buf, p, (size_t)n * sizeof *p);
    return ld256_bf16(buf);
}
INLINE T256 float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define DEFINE_MATVEC256(NAME, WT, LD, LDP)                                          \
    static T256 void NAME(const WT *W, const float *x, float *y, int r0, int r1,      \
                          int cols) {                                                \
        int kmain = cols & ~7, ktail = cols & 7, r = r0;                             \
        for (; r + 4 <= r1; r += 4) {                                                \
            const WT *w0 = W + (size_t)r * cols, *w1 = w0 + cols, *w2 = w1 + cols,   \
                     *w3 = w2 + cols;                                                \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;              \
            for (int k = 0; k < kmain; k += 8) {                                     \
                __m256 xv = _mm256_loadu_ps(x + k);                                  \
                a0 = _mm256_fmadd_ps(LD(w0 + k), xv, a0);                            \
                a1 = _mm256_fmadd_ps(LD(w1 + k), xv, a1);                            \
                a2 = _mm256_fmadd_ps(LD(w2 + k), xv, a2);                            \
                a3 = _mm256_fmadd_ps(LD(w3 + k), xv, a3);                            \
            }                                                                        \
            if (ktail) {                                                             \
                __m256 xv = ld256_f32_part(x + kmain, ktail);                        \
                a0 = _mm256_fmadd_ps(LDP(w0 + kmain, ktail), xv, a0);                \
                a1 = _mm256_fmadd_ps(LDP(w1 + kmain, ktail), xv, a1);                \
                a2 = _mm256_fmadd_ps(LDP(w2 + kmain, ktail), xv, a2);                \
                a3 = _mm256_fmadd_ps(LDP(w3 + kmain, ktail), xv, a3);                \
            }                                                                        \
            y[r] = hsum256(a0);                                                      \
            y[r + 1] = hsum256(a1);                                                  \
            y[r + 2] = hsum256(a2);                                                  \
            y[r + 3] = hsum256(a3);                                                  \
        }                                                                            \
        for (; r < r1; r++) {                                                        \
            const WT *w = W + (size_t)r * cols;                                      \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;                                \
            int k = 0;                                                               \
            for (; k + 16 <= kmain; k += 16) {                                       \
                a0 = _mm256_fmadd_ps(LD(w + k), _mm256_loadu_ps(x + k), a0);         \
                a1 = _mm256_fmadd_ps(LD(w + k + 8), _mm256_loadu_ps(x + k + 8), a1); \
            }                                                                        \
            for (; k < kmain; k += 8)                                                \
                a0 = _mm256_fmadd_ps(LD(w + k), _mm256_loadu_ps(x + k), a0);         \
            if (ktail)                                                               \
                a1 = _mm256_fmadd_ps(LDP(w + kmain, ktail),                          \
                                     ld256_f32_part(x + kmain, ktail), a1);          \
            y[r] = hsum256(_mm256_add_ps(a0, a1));                                   \
        }                                                                            \
    }

DEFINE_MATVEC256(matvec_f32_avx2, float, ld256_f32, ld256_f32_part)
DEFINE_MATVEC256(matvec_bf16_avx2, uint16_t, ld256_bf16, ld256_bf16_part)

/* 2 tokens x 4 rows = 8 accumulators: AVX2 has only 16 ymm registers. */
#define DEFINE_GEMM256(NAME, WT, LD, LDP)                                            \
    INLINE T256 void NAME##_tile(const float *X, const WT *W, float *Y, int t0,      \
                                 int nt, int r0, int nr, int k0, int k1, int ldx,    \
                                 int ldw, int ldy, int accumulate) {                          \
        __m256 acc[2][4], xv[2], wv[4];                                              \
        for (int i = 0; i < 2; i++)                                                  \
            for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_ps();             \
        int k = k0;                                                                  \
        for (; k + 8 <= k1; k += 8) {                                                \
            for (int j = 0; j < nr; j++) wv[j] = LD(W + (size_t)(r0 + j) * ldw + k);  \
            for (int i = 0; i < nt; i++)                                             \
                xv[i] = _mm256_loadu_ps(X + (size_t)(t0 + i) * ldx + k);              \
            for (int i = 0; i < nt; i++)                                             \
                for (int j = 0; j < nr; j++)                                         \
                    acc[i][j] = _mm256_fmadd_ps(xv[i], wv[j], acc[i][j]);            \
        }                                                                            \
        if (k < k1) {                                                                \
            int n = k1 - k;                                                          \
            for (int j = 0; j < nr; j++)                                             \
                wv[j] = LDP(W + (size_t)(r0 + j) * ldw + k, n);                       \
            for (int i = 0; i < nt; i++)                                             \
                xv[i] = ld256_f32_part(X + (size_t)(t0 + i) * ldx + k, n);            \
            for (int i = 0; i < nt; i++)                                             \
                for (int j = 0; j < nr; j++)                                         \
                    acc[i][j] = _mm256_fmadd_ps(xv[i], wv[j], acc[i][j]);            \
        }                                                                            \
        for (int i = 0; i < nt; i++)                                                 \
            for (int j = 0; j < nr; j++) {                                           \
                float *yp = Y + (size_t)(t0 + i) * ldy + r0 + j;                     \
                float s = hsum256(acc[i][j]);                                        \
                *yp = accumulate ? *yp + s : s;                                      \
            }                                                                        \
    }                                                                                \
    static T256 void NAME(const float *X, const WT *W, float *Y, int T, int r0,       \
                          int r1, int k0, int k1, int ldx, int ldw, int ldy,     \
                          int accumulate) {                                           \
        for (int r = r0; r < r1; r += 4) {                                           \
            int nr = r1 - r < 4 ? r1 - r : 4;                                        \
            int t = 0;                                                               \
            if (nr == 4)                                                             \
                for (; t + 2 <= T; t += 2)                                           \
                    NAME##_tile(X, W, Y, t, 2, r, 4, k0, k1, ldx, ldw, ldy, accumulate);   \
            for (; t < T; t += 2) {                                                  \
                int nt = T - t < 2 ? T - t : 2;                                      \
                NAME##_tile(X, W, Y, t, nt, r, nr, k0, k1, ldx, ldw, ldy, accumulate);     \
            }                                                                        \
        }                                                                            \
    }

DEFINE_GEMM256(gemm_f32_avx2, float, ld256_f32, ld256_f32_part)
DEFINE_GEMM256(gemm_bf16_avx2, uint16_t, ld256_bf16, ld256_bf16_part)

static T256 void gemm_tn_f32_avx2(const float *P, int ldp, const float *V, int ldv, float *O,
                                  int ldo, int M, int N, int K) {
    BC_GEMM_TN_BODY
}

static T256 float read_sum_avx2(const float *p, size_t n) { BC_READ_SUM_BODY }

static T256 float dot_avx2(const float *a, const float *b, int n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), a1);
    }
    for (; k + 8 <= n; k += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), a0);
    if (k < n) a1 = _mm256_fmadd_ps(ld256_f32_part(a + k, n - k), ld256_f32_part(b + k, n - k), a1);
    return hsum256(_mm256_add_ps(a0, a1));
}

static T256 void bf16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bc_bf16_bits_to_f32(src[i]);
}
static T256 void f16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bc_f16_bits_to_f32(src[i]);
}
static T256 void f32_to_bf16_avx2(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bc_f32_to_bf16_bits(src[i]);
}

const bc_kernel_table bc_kernels_avx2 = {
    .matvec_f32 = matvec_f32_avx2,
    .matvec_bf16 = matvec_bf16_avx2,
    .gemm_f32 = gemm_f32_avx2,
    .gemm_bf16 = gemm_bf16_avx2,
    .gemm_tn_f32 = gemm_tn_f32_avx2,
    .dot = dot_avx2,
    .read_sum = read_sum_avx2,
    .bf16_to_f32 = bf16_to_f32_avx2,
    .f16_to_f32 = f16_to_f32_avx2,
    .f32_to_bf16 = f32_to_bf16_avx2,
};

#endif /* __x86_64__ */
