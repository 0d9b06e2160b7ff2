/* Linear layers: out[n, R] = x[n, K] . W[R, K]^T with W in f16 / bf16 (or
 * f32 for small tables), x and out fp32.
 *
 * Decode (n == 1) is bound by how fast W streams from memory, so the GEMV
 * reads each weight exactly once with 16-byte loads (8 halves), keeps four
 * of them in flight per lane before using any, marks them evict-first (they
 * will not be reused this token), accumulates in fp32 and reduces each row
 * with warp shuffles. One warp owns one row: no shared memory, no atomics.
 * x (at most 55 KB) is re-read by every warp and stays in L1/L2.
 *
 * Prefill (n > 1) converts x to W's 16-bit type and calls cublasGemmEx with
 * fp32 compute and fp32 output (tensor cores, fp32 accumulation). */
#include "cuda_common.cuh"
#include "k_types.cuh"

enum { GEMV_THREADS = 256, GEMV_ROWS_PER_BLOCK = GEMV_THREADS / 32 };

/* 8 packed 16-bit weights . 8 fp32 activations */
__device__ __forceinline__ float dot8(uint4 w, float4 xa, float4 xb, __half) {
    const __half2 *h = reinterpret_cast<const __half2 *>(&w);
    float2 a = __half22float2(h[0]), b = __half22float2(h[1]);
    float2 c = __half22float2(h[2]), d = __half22float2(h[3]);
    return a.x * xa.x + a.y * xa.y + b.x * xa.z + b.y * xa.w +
           c.x * xb.x + c.y * xb.y + d.x * xb.z + d.y * xb.w;
}

__device__ __forceinline__ float dot8(uint4 w, float4 xa, float4 xb, __nv_bfloat16) {
    const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&w);
    float2 a = __bfloat1622float2(h[0]), b = __bfloat1622float2(h[1]);
    float2 c = __bfloat1622float2(h[2]), d = __bfloat1622float2(h[3]);
    return a.x * xa.x + a.y * xa.y + b.x * xa.z + b.y * xa.w +
           c.x * xb.x + c.y * xb.y + d.x * xb.z + d.y * xb.w;
}

/* K % 8 == 0: every row starts 16-byte aligned (cudaMalloc gives 256). */
template <typename T>
__global__ void __launch_bounds__(GEMV_THREADS)
gemv_vec_kernel(const T *__restrict__ W, const float *__restrict__ x, float *__restrict__ out,
                int R, int K) {
    int row = blockIdx.x * GEMV_ROWS_PER_BLOCK + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= R) return;   /* whole warps leave together */
    const uint4 *w = reinterpret_cast<const uint4 *>(W + (int64_t)row * K);
    const float4 *x4 = reinterpret_cast<const float4 *>(x);
    int n8 = K / 8;
    float acc = 0.0f;
    int i = lane;
    for (; i + 96 < n8; i += 128) {   /* four 16-byte loads in flight per lane */
        uint4 a = __ldcs(w + i), b = __ldcs(w + i + 32);
        uint4 c = __ldcs(w + i + 64), d = __ldcs(w + i + 96);
        acc += dot8(a, __ldg(x4 + 2 * i), __ldg(x4 + 2 * i + 1), T());
        acc += dot8(b, __ldg(x4 + 2 * (i + 32)), __ldg(x4 + 2 * (i + 32) + 1), T());
        acc += dot8(c, __ldg(x4 + 2 * (i + 64)), __ldg(x4 + 2 * (i + 64) + 1), T());
        acc += dot8(d, __ldg(x4 + 2 * (i + 96)), __ldg(x4 + 2 * (i + 96) + 1), T());
    }
    for (; i < n8; i += 32) acc += dot8(__ldcs(w + i), __ldg(x4 + 2 * i), __ldg(x4 + 2 * i + 1), T());
    acc = bc_warp_sum(acc);
    if (lane == 0) out[row] = acc;
}

/* Any K (small test models, f32 tables): element by element. */
template <typename T>
__global__ void __launch_bounds__(GEMV_THREADS)
gemv_scalar_kernel(const T *__restrict__ W, const float *__restrict__ x, float *__restrict__ out,
                   int R, int K) {
    int row = blockIdx.x * GEMV_ROWS_PER_BLOCK + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= R) return;
    const T *w = W + (int64_t)row * K;
    float acc = 0.0f;
    for (int k = lane; k < K; k += 32) acc += bc_to_f32(w[k]) * x[k];
    acc = bc_warp_sum(acc);
    if (lane == 0) out[row] = acc;
}

template <typename T>
static void gemv(cuda_ctx *c, const T *W, const float *x, float *out, int R, int K) {
    unsigned blocks = bc_cuda_blocks((size_t)R, GEMV_ROWS_PER_BLOCK);
    if (K % 8 == 0)
        gemv_vec_kernel<T><<<blocks, GEMV_THREADS, 0, c->stream>>>(W, x, out, R, K);
    else
        gemv_scalar_kernel<T><<<blocks, GEMV_THREADS, 0, c->stream>>>(W, x, out, R, K);
    LAUNCHED(c, "gemv");
}

static void gemv_f32(cuda_ctx *c, const float *W, const float *x, float *out, int R, int K) {
    unsigned blocks = bc_cuda_blocks((size_t)R, GEMV_ROWS_PER_BLOCK);
    gemv_scalar_kernel<float><<<blocks, GEMV_THREADS, 0, c->stream>>>(W, x, out, R, K);
    LAUNCHED(c, "gemv_f32");
}

/* The 16-bit activation buffer for cuBLAS grows to the largest prefill
 * batch seen (max_batch x intermediate_size halves): allocated by the first
 * prefill, never per token. */
static bool reserve_act16(cuda_ctx *c, size_t bytes) {
    if (c->act16_bytes >= bytes) return true;
    if (!CUDA_OK(c, cudaStreamSynchronize(c->stream))) return false;
    cudaFree(c->act16);
    c->act16 = NULL;
    c->act16_bytes = 0;
    cudaError_t e = cudaMalloc(&c->act16, bytes);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        bc_cuda_fail(c, "cuda backend: out of GPU memory for the prefill activations: needs "
                     "%.1f MiB, %.1f MiB free of %.1f MiB (try a smaller prefill batch)",
                     (double)bytes / 1048576.0, (double)free_b / 1048576.0,
                     (double)total_b / 1048576.0);
        return false;
    }
    c->act16_bytes = bytes;
    return true;
}

static void gemm_cublas(cuda_ctx *c, const bc_btensor *W, const bc_btensor *x, int n,
                        bc_btensor *out) {
    int R = (int)W->rows, K = (int)W->cols;
    const float alpha = 1.0f, beta = 0.0f;
    if (W->store == BC_STORE_F32) {   /* small f32 tables only; weights are 16-bit */
        CUBLAS_OK(c, cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, R, n, K, &alpha,
                                 (const float *)W->d, K, (const float *)x->d, (int)x->cols, &beta,
                                 (float *)out->d, (int)out->cols));
        return;
    }
    size_t elems = (size_t)n * (size_t)K;
    if (!reserve_act16(c, elems * 2)) return;
    /* x rows are contiguous with stride x->cols == K (checked by the caller) */
    bc_cuda_f32_to_16(c, (const float *)x->d, c->act16, W->store, elems);
    if (c->failed) return;
    cudaDataType_t t16 = W->store == BC_STORE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    /* Column-major view: out^T [R, n] = W [R, K] (W^T stored) . x^T [K, n]. */
    CUBLAS_OK(c, cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, R, n, K, &alpha, W->d, t16, K,
                              c->act16, t16, K, &beta, out->d, CUDA_R_32F, (int)out->cols,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void bc_cuda_matmul(cuda_ctx *c, const bc_btensor *W, const bc_btensor *x, int n,
                    bc_btensor *out) {
    if (n <= 0) return;
    if (x->cols != W->cols || out->cols != W->rows || n > x->rows || n > out->rows ||
        W->rows > INT32_MAX || W->cols > INT32_MAX) {
        bc_cuda_fail(c, "cuda backend: matmul of W [%lld, %lld] with x [%lld, %lld] into "
                     "[%lld, %lld] for %d rows: shapes do not match", (long long)W->rows,
                     (long long)W->cols, (long long)x->rows, (long long)x->cols,
                     (long long)out->rows, (long long)out->cols, n);
        return;
    }
    if (bc_cuda_store_quantized(W->store)) {   /* k_quant.cu */
        bc_cuda_matmul_quant(c, W, x, n, out);
        return;
    }
    int R = (int)W->rows, K = (int)W->cols;
    if (n > 1) {
        gemm_cublas(c, W, x, n, out);
        return;
    }
    const float *xv = (const float *)x->d;
    float *o = (float *)out->d;
    switch (W->store) {
    case BC_STORE_F16: gemv(c, (const __half *)W->d, xv, o, R, K); break;
    case BC_STORE_BF16: gemv(c, (const __nv_bfloat16 *)W->d, xv, o, R, K); break;
    default: gemv_f32(c, (const float *)W->d, xv, o, R, K); break;
    }
}
