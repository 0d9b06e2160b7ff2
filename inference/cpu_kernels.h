/* bc_cpu_kernels: the fp32 compute kernels of the CPU backend.
 *
 * Weights are stored row-major [rows, cols] exactly like a PyTorch Linear
 * weight (out_features x in_features), either as fp32 or as bf16 bits
 * (uint16_t, the high half of an fp32). All arithmetic is fp32 with fp32
 * accumulation; bf16 is only a storage format.
 *
 * SIMD: AVX-512F, AVX2+FMA and a portable C path are all compiled in; the best
 * one the CPU supports is chosen at run time. Tests and benchmarks can force a
 * path with bc_simd_force() or the environment variable BC_SIMD
 * (generic | avx2 | avx512), read on first use.
 *
 * Prefill GEMM uses OpenBLAS when the build found it (BC_HAVE_OPENBLAS) and it
 * has a current kernel for this CPU, else a blocked kernel of ours. All kernels take a bc_threadpool (NULL = run on
 * the caller only). Sizes are ints (every Baichuan2 dimension fits); products
 * of sizes are computed in size_t. Pointers must not alias unless stated. */
#ifndef BC_CPU_KERNELS_H
#define BC_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "threadpool.h"

/* ---- SIMD path selection ---- */

typedef enum bc_simd_level {
    BC_SIMD_GENERIC = 0, /* portable C (the compiler may auto-vectorize) */
    BC_SIMD_AVX2 = 1,    /* AVX2 + FMA (+F16C for f16 conversion) */
    BC_SIMD_AVX512 = 2,  /* AVX-512F */
} bc_simd_level;

/* The best level this CPU supports. */
bc_simd_level bc_simd_detect(void);
/* The level the kernels use now (BC_SIMD env var, else bc_simd_detect()). */
bc_simd_level bc_simd_active(void);
/* Makes the kernels use `level`. Returns 0, or -1 if the CPU lacks it (the
 * active level is then unchanged). Not thread-safe against running kernels. */
int bc_simd_force(bc_simd_level level);
const char *bc_simd_name(bc_simd_level level); /* "generic", "avx2", "avx512" */
/* Whether prefill matmul calls OpenBLAS (1) or our own blocked kernel (0).
 * By default OpenBLAS is used only if the build has it and its kernel for
 * this CPU is a current one: OpenBLAS that does not recognize the CPU falls
 * back to an SSE3 kernel several times slower than ours. */
int bc_kernels_have_blas(void);
/* Turns the OpenBLAS path off (0) or on (1), for tests and benchmarks.
 * Returns -1 when asked to turn on BLAS in a build without it. */
int bc_kernels_use_blas(int enabled);

/* Benchmark references. OpenBLAS's kernel family ("SkylakeX", "Prescott",
 * ...), or NULL in a build without it. */
const char *bc_blas_core(void);
/* Threads OpenBLAS chose for itself when it started (0 without it). */
int bc_blas_own_threads(void);
/* Y[T, rows] = X[T, cols] . W^T by plain cblas_sgemm, threaded by OpenBLAS
 * on `threads` threads (0: its own choice). -1 in a build without it. */
int bc_blas_sgemm(int threads, const float *W, const float *X, float *Y, int T, int rows,
                  int cols);

/* Reads buf[0..n) once on every thread of the pool, vectorized, several
 * loads in flight (a memory read bandwidth probe); returns the sum. */
float bc_read_pass(bc_threadpool *pool, const float *buf, size_t n);

/* ---- 16-bit float conversions (used by the loader while streaming) ---- */

/* bf16 -> f32 is exact (bf16 is the high half of an f32). */
float bc_bf16_to_f32(uint16_t bits);
/* IEEE binary16 -> f32, exact, including subnormals, +-inf, and NaN (payload
 * shifted into the f32 mantissa, sign kept; same bits as numpy). */
float bc_f16_to_f32(uint16_t bits);
/* f32 -> bf16, round to nearest even (like torch's .to(torch.bfloat16));
 * overflow rounds to inf; NaN stays NaN (quiet, sign kept). */
uint16_t bc_f32_to_bf16(float value);

/* Bulk versions of the above (vectorized where the CPU allows), bit-identical
 * to the scalar functions for every input, NaNs included. */
void bc_convert_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
void bc_convert_f16_to_f32(const uint16_t *src, float *dst, size_t n);
void bc_convert_f32_to_bf16(const float *src, uint16_t *dst, size_t n);
/* f16 -> bf16 through f32 (an f16 checkpoint loaded into bf16 storage). */
void bc_convert_f16_to_bf16(const uint16_t *src, uint16_t *dst, size_t n);

/* ---- matrix-vector (decode) ---- */

/* y[rows] = W[rows, cols] x[cols]. Memory-bandwidth bound: rows are split
 * across the pool, several rows per inner loop so x is reused from L1. */
void bc_matvec_f32(bc_threadpool *pool, const float *W, const float *x, float *y,
                   int rows, int cols);
void bc_matvec_bf16(bc_threadpool *pool, const uint16_t *W, const float *x, float *y,
                    int rows, int cols);

/* ---- matrix-matrix (prefill) ---- */

/* Y[T, rows] = X[T, cols] . W^T, i.e. every token row of X through the
 * Linear layer W[rows, cols]. T == 1 is a matvec. */
void bc_matmul_f32(bc_threadpool *pool, const float *W, const float *X, float *Y,
                   int T, int rows, int cols);
void bc_matmul_bf16(bc_threadpool *pool, const uint16_t *W, const float *X, float *Y,
                    int T, int rows, int cols);

/* Per-worker scratch (floats) of the panel path for weights of `cols`
 * columns; callers allocate bc_threadpool_size(pool) times this, once. */
size_t bc_matmul_panel_floats(int cols);
/* bc_matmul_bf16 without allocating: when prefill goes through OpenBLAS, bf16
 * rows are widened into fp32 panels in `scratch` (per worker, as above);
 * our own kernel widens them while packing and needs none. */
void bc_matmul_bf16_scratch(bc_threadpool *pool, const uint16_t *W, const float *X, float *Y,
                            int T, int rows, int cols, float *scratch);
/* Writes rows [row0, row0 + nrows) of weight W as fp32 into dst
 * ([nrows, cols], rows packed): dequantization of int8 / nf4 weights. */
typedef void (*bc_panel_fn)(const void *W, int row0, int nrows, float *dst);
/* Prefill for weights in any storage: each work item expands a panel of 64
 * rows of W into its worker's fp32 scratch and multiplies it with the f32
 * GEMM (ours or OpenBLAS), so dequantizing costs 1/T of the products. */
void bc_matmul_panels(bc_threadpool *pool, bc_panel_fn expand, const void *W, const float *X,
                      float *Y, int T, int rows, int cols, float *scratch);

/* Single-threaded products for blocked attention (the caller splits work):
 * bc_gemm_nt_f32: Y[m, n] = sum_k X[m, k] * W[n, k]   (m < M, n < N, k < K);
 * bc_gemm_tn_f32: O[m, n] = sum_k P[k, m] * V[k, n].
 * Rows of each matrix are ld* floats apart. */
void bc_gemm_nt_f32(const float *X, int ldx, const float *W, int ldw, float *Y, int ldy, int M,
                    int N, int K);
void bc_gemm_tn_f32(const float *P, int ldp, const float *V, int ldv, float *O, int ldo, int M,
                    int N, int K);

/* ---- small fp32 ops of the forward pass ---- */

/* Baichuan2 RMSNorm over each of T rows of n values:
 * out = weight * x / sqrt(mean(x^2) + eps), the mean accumulated in fp32.
 * out may equal x (in place). */
void bc_rmsnorm(bc_threadpool *pool, float *out, const float *x, const float *weight,
                int T, int n, float eps);

/* out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)), n values in
 * total (any number of rows). out may equal gate or up. */
void bc_silu_mul(bc_threadpool *pool, float *out, const float *gate, const float *up,
                 size_t n);

/* out[i] = a[i] + b[i] (residual). out may equal a or b. */
void bc_add(bc_threadpool *pool, float *out, const float *a, const float *b, size_t n);

/* In-place numerically stable softmax of x[n] (max subtracted first). n >= 1. */
void bc_softmax(float *x, int n);

/* dot(a, b) over n fp32 values, fp32 accumulation in several lanes. */
float bc_dot(const float *a, const float *b, int n);

/* y[i] += a * x[i] (attention: accumulate probability-weighted V rows). */
void bc_axpy(float *y, float a, const float *x, int n);

/* RoPE tables for NeoX-style rotate_half, computed like HF Baichuan2-7B:
 * inv_freq[j] = 1 / base^(2j/head_dim) in fp32, angle = (fp32)pos * inv_freq[j]
 * in fp32, then cos/sin of that angle. cos_tab, sin_tab: [n_pos][head_dim/2].
 * head_dim must be even. */
void bc_rope_table(float *cos_tab, float *sin_tab, int n_pos, int head_dim, float base);

/* Rotates one token's heads in place: x is [n_heads][head_dim]; cos_row and
 * sin_row are the table rows of that token's position ([head_dim/2] each).
 * With h = head_dim/2, for j < h:
 *   x'[j]   = x[j]   * cos[j] - x[j+h] * sin[j]
 *   x'[j+h] = x[j+h] * cos[j] + x[j]   * sin[j]          */
void bc_rope_apply(float *x, int n_heads, int head_dim, const float *cos_row,
                   const float *sin_row);

#endif
