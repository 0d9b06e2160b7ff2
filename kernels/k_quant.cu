/* Quantized linears on the GPU: the online quantizers (int8 per-row absmax,
 * NF4 blocks of 64 with double quantization) and the products with a
 * quantized W (fused dequant-GEMV for decode, fp16 tiles + cuBLAS for
 * prefill).
 *
 * Exactness of the quantizers. They must give the bytes of quant.c's
 * reference quantizers, so every fp32 operation of the reference is done
 * here with the same operands in the same order, with the IEEE
 * round-to-nearest intrinsics (__fmul_rn, __fadd_rn, __frcp_rn, __fdiv_rn:
 * never contracted into an FMA, never approximated, whatever nvcc's flags)
 * and with the reference's explicit flush of subnormals (bc_ftz, the
 * reference's ftz()). Maxima are exact in any order, so they are reduced
 * with warp shuffles; the one sum of the algorithm (the mean of the block
 * absmax for double quantization) is computed on the host by cuda_quant.cu
 * in the reference's order. The NF4 thresholds below are quant.c's
 * constants verbatim, compared the same way (code = number of thresholds
 * strictly below x; a NaN gives 0).
 *
 * Decode GEMV. Bound by the bytes of W: each lane reads 16 bytes of codes at
 * a time (16 int8 or 32 NF4 weights, marked evict-first), each warp owns
 * ROWS_PER_WARP rows so one load of x feeds several rows, the NF4 code table
 * and the double-quant map sit in shared memory, each scale is decoded once
 * per 16-byte load, accumulation is fp32 and each row is reduced with warp
 * shuffles. Shapes the vector path cannot take (K not a multiple of 16 for
 * int8 or of 64 for NF4: only tiny test models) use a scalar kernel.
 *
 * Prefill. Tiles of W rows are dequantized to fp16 into c->deq16 and
 * multiplied by cublasGemmEx (fp16 inputs, fp32 accumulation and output);
 * x is converted to fp16 once per call. */
#include <cfloat>

#include "cuda_common.cuh"
#include "k_types.cuh"

/* ---- exact fp32 helpers (quant.c's operations) --------------------------- */

__device__ __forceinline__ float bc_ftz(float x) {
    return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x;
}

/* quant.c nf4_thresholds, verbatim. */
__constant__ float k_nf4_thresholds[15] = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f,
    0.03979014977812767f, 0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f,
    0.3893125355243683f, 0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
};

/* quant.c bc_nf4_code, verbatim (dequantization). */
__constant__ float k_nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

__device__ __forceinline__ unsigned nf4_code_of(float x) {
    unsigned c = 0;
#pragma unroll
    for (int i = 0; i < 15; i++) c += x > k_nf4_thresholds[i] ? 1u : 0u;
    return c;
}

/* quant.c bc_quant_map_index (bnb dQuantize<0>), step for step. */
__device__ __forceinline__ unsigned map_index(const float *map, float x) {
    int pivot = 127, upper_pivot = 255, lower_pivot = 0;
    float lower = -1.0f, upper = 1.0f;
    float val = map[pivot];
    for (int i = 64; i > 0; i >>= 1) {
        if (x > val) {
            lower_pivot = pivot;
            lower = val;
            pivot += i;
        } else {
            upper_pivot = pivot;
            upper = val;
            pivot -= i;
        }
        val = map[pivot];
    }
    if (upper_pivot == 255) upper = map[upper_pivot];
    if (lower_pivot == 0) lower = map[lower_pivot];
    if (x > val) {
        float midpoint = __fmul_rn(__fadd_rn(upper, val), 0.5f);
        return (unsigned)(x > midpoint ? upper_pivot : pivot);
    }
    float midpoint = __fmul_rn(__fadd_rn(lower, val), 0.5f);
    return (unsigned)(x < midpoint ? lower_pivot : pivot);
}

/* A non-finite weight: remember the smallest flat index. */
__device__ __forceinline__ void note_bad(float v, unsigned long long e, unsigned long long *bad) {
    if (!isfinite(v)) atomicMin(bad, e);
}

/* ---- int8: one block per row --------------------------------------------- */

enum { QUANT_THREADS = 256 };

/* quant.c int8_code: rint(ftz(ftz(w) * factor)), saturated; NaN -> 0. */
__device__ __forceinline__ int8_t int8_code(float w, float factor) {
    float p = bc_ftz(__fmul_rn(bc_ftz(w), factor));
    if (isnan(p)) return 0;
    float r = rintf(p);
    if (r > 127.0f) return 127;
    if (r < -128.0f) return -128;
    return (int8_t)(int)r;
}

template <typename S>
__global__ void __launch_bounds__(QUANT_THREADS)
int8_quantize_kernel(const S *__restrict__ src, int64_t cols, int64_t r0,
                     int8_t *__restrict__ codes, float *__restrict__ absmax,
                     unsigned long long *bad) {
    int64_t r = r0 + blockIdx.x;
    const S *row = src + (int64_t)blockIdx.x * cols;
    float m = 0.0f;
    for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) {
        float v = bc_to_f32(row[k]);
        note_bad(v, (unsigned long long)(r * cols + k), bad);
        m = fmaxf(m, fabsf(bc_ftz(v)));
    }
    m = bc_block_max(m);
    float factor = __fdiv_rn(127.0f, m);
    int8_t *q = codes + r * cols;
    for (int64_t k = threadIdx.x; k < cols; k += blockDim.x)
        q[k] = int8_code(bc_to_f32(row[k]), factor);
    if (threadIdx.x == 0) absmax[r] = m;
}

/* ---- nf4: one warp per block of 64 (lane j: elements 2j, 2j+1) ----------- */

template <typename S>
__global__ void __launch_bounds__(QUANT_THREADS)
nf4_quantize_kernel(const S *__restrict__ src, int64_t count, int64_t e0,
                    uint8_t *__restrict__ packed, float *__restrict__ absmax,
                    unsigned long long *bad) {
    int64_t blk = (int64_t)blockIdx.x * (QUANT_THREADS / 32) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    int64_t first = blk * BC_NF4_BLOCK;   /* within the chunk */
    if (first >= count) return;           /* whole warps leave together */
    int valid = count - first < BC_NF4_BLOCK ? (int)(count - first) : BC_NF4_BLOCK;
    int j = 2 * lane;
    bool has_a = j < valid, has_b = j + 1 < valid;
    float a = 0.0f, b = 0.0f;
    if (has_a) {
        a = bc_to_f32(src[first + j]);
        note_bad(a, (unsigned long long)(e0 + first + j), bad);
    }
    if (has_b) {
        b = bc_to_f32(src[first + j + 1]);
        note_bad(b, (unsigned long long)(e0 + first + j + 1), bad);
    }
    a = bc_ftz(a);
    b = bc_ftz(b);
    float m = bc_warp_max(fmaxf(fabsf(a), fabsf(b)));
    float inv = bc_ftz(__frcp_rn(m));
    if (has_a) {
        /* an odd tail's missing partner is 0 * inv, as in the reference */
        float qa = bc_ftz(__fmul_rn(a, inv));
        float qb = bc_ftz(__fmul_rn(has_b ? b : 0.0f, inv));
        packed[(e0 + first) / 2 + lane] = (uint8_t)(nf4_code_of(qa) << 4 | nf4_code_of(qb));
    }
    if (lane == 0) absmax[(e0 + first) / BC_NF4_BLOCK] = m;
}

/* One block of 256 threads per 256 absmax values (quant.c nf4_double_quant). */
__global__ void __launch_bounds__(BC_NF4_BLOCK2)
nf4_double_quant_kernel(const float *__restrict__ absmax, int64_t nblocks, float offset,
                        const float *__restrict__ code2, uint8_t *__restrict__ qabsmax,
                        float *__restrict__ absmax2) {
    __shared__ float map[256];
    map[threadIdx.x] = code2[threadIdx.x];
    __syncthreads();
    int64_t b = (int64_t)blockIdx.x * BC_NF4_BLOCK2 + threadIdx.x;
    bool valid = b < nblocks;
    float centred = valid ? bc_ftz(__fsub_rn(absmax[b], offset)) : 0.0f;
    float m = bc_block_max(fabsf(centred));
    float inv = bc_ftz(__frcp_rn(m));
    if (valid) qabsmax[b] = (uint8_t)map_index(map, bc_ftz(__fmul_rn(centred, inv)));
    if (threadIdx.x == 0) absmax2[blockIdx.x] = m;
}

static unsigned grid_limit(int64_t blocks) {
    return blocks < 1 ? 1u : (unsigned)blocks;
}

void bc_cuda_quantize_int8_rows(cuda_ctx *c, const void *src, bc_dtype src_dtype, int64_t rows,
                                int64_t cols, int64_t r0, int8_t *codes, float *absmax,
                                unsigned long long *bad) {
    unsigned g = grid_limit(rows);
    switch (src_dtype) {
    case BC_DTYPE_F16:
        int8_quantize_kernel<<<g, QUANT_THREADS, 0, c->stream>>>((const __half *)src, cols, r0,
                                                                 codes, absmax, bad);
        break;
    case BC_DTYPE_BF16:
        int8_quantize_kernel<<<g, QUANT_THREADS, 0, c->stream>>>((const __nv_bfloat16 *)src,
                                                                 cols, r0, codes, absmax, bad);
        break;
    default:
        int8_quantize_kernel<<<g, QUANT_THREADS, 0, c->stream>>>((const float *)src, cols, r0,
                                                                 codes, absmax, bad);
        break;
    }
    LAUNCHED(c, "int8_quantize");
}

void bc_cuda_quantize_nf4_chunk(cuda_ctx *c, const void *src, bc_dtype src_dtype, int64_t count,
                                int64_t e0, uint8_t *packed, float *absmax,
                                unsigned long long *bad) {
    int64_t blocks = (count + BC_NF4_BLOCK - 1) / BC_NF4_BLOCK;
    unsigned g = grid_limit((blocks + QUANT_THREADS / 32 - 1) / (QUANT_THREADS / 32));
    switch (src_dtype) {
    case BC_DTYPE_F16:
        nf4_quantize_kernel<<<g, QUANT_THREADS, 0, c->stream>>>((const __half *)src, count, e0,
                                                                packed, absmax, bad);
        break;
    case BC_DTYPE_BF16:
        nf4_quantize_kernel<<<g, QUANT_THREADS, 0, c->stream>>>((const __nv_bfloat16 *)src,
                                                                count, e0, packed, absmax, bad);
        break;
    default:
        nf4_quantize_kernel<<<g, QUANT_THREADS, 0, c->stream>>>((const float *)src, count, e0,
                                                                packed, absmax, bad);
        break;
    }
    LAUNCHED(c, "nf4_quantize");
}

void bc_cuda_nf4_double_quant(cuda_ctx *c, const float *absmax, int64_t nblocks, float offset,
                              const float *code2, uint8_t *qabsmax, float *absmax2) {
    unsigned g = grid_limit((nblocks + BC_NF4_BLOCK2 - 1) / BC_NF4_BLOCK2);
    nf4_double_quant_kernel<<<g, BC_NF4_BLOCK2, 0, c->stream>>>(absmax, nblocks, offset, code2,
                                                                qabsmax, absmax2);
    LAUNCHED(c, "nf4_double_quant");
}

/* ---- random fill (synthetic benchmark models) ----------------------------- */

__device__ __forceinline__ uint32_t hash32(uint64_t seed, uint64_t i) {
    uint64_t z = seed * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)(z >> 32);
}

__global__ void fill_bytes_kernel(uint32_t *dst, size_t words, uint64_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < words;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = hash32(seed, i);
}

__global__ void fill_f32_kernel(float *dst, size_t n, float value) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = value;
}

/* n is rounded up to whole 4-byte words: every array here is 256-aligned
 * inside an allocation sized in 256-byte steps. */
void bc_cuda_fill_bytes(cuda_ctx *c, void *dst, size_t n, uint64_t seed) {
    size_t words = (n + 3) / 4;
    fill_bytes_kernel<<<4096, 256, 0, c->stream>>>((uint32_t *)dst, words, seed);
    LAUNCHED(c, "fill_bytes");
}

void bc_cuda_fill_f32(cuda_ctx *c, float *dst, size_t n, float value) {
    fill_f32_kernel<<<1024, 256, 0, c->stream>>>(dst, n, value);
    LAUNCHED(c, "fill_f32");
}

/* ---- decode: fused dequant-GEMV ------------------------------------------- */

enum { GEMV_THREADS = 256, GEMV_WARPS = GEMV_THREADS / 32, ROWS_PER_WARP = 2 };

/* 16 int8 codes . 16 fp32 activations */
__device__ __forceinline__ float dot16_int8(uint4 q, const float4 *xv) {
    const uint32_t w[4] = {q.x, q.y, q.z, q.w};
    float acc = 0.0f;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        float4 xk = xv[k];
        acc += (float)(int8_t)(w[k] & 0xff) * xk.x;
        acc += (float)(int8_t)((w[k] >> 8) & 0xff) * xk.y;
        acc += (float)(int8_t)((w[k] >> 16) & 0xff) * xk.z;
        acc += (float)(int8_t)(w[k] >> 24) * xk.w;
    }
    return acc;
}

/* K % 16 == 0: rows start 16-byte aligned. out[r] = absmax[r]/127 * (q_r . x). */
__global__ void __launch_bounds__(GEMV_THREADS)
gemv_int8_vec_kernel(const int8_t *__restrict__ codes, const float *__restrict__ absmax,
                     const float *__restrict__ x, float *__restrict__ out, int R, int K) {
    int warp = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    int row0 = warp * ROWS_PER_WARP;
    if (row0 >= R) return;
    int nrows = R - row0 < ROWS_PER_WARP ? R - row0 : ROWS_PER_WARP;
    const uint4 *w = reinterpret_cast<const uint4 *>(codes + (int64_t)row0 * K);
    const float4 *x4 = reinterpret_cast<const float4 *>(x);
    int n16 = K / 16;
    float acc[ROWS_PER_WARP] = {};
    for (int i = lane; i < n16; i += 32) {
        float4 xv[4];
#pragma unroll
        for (int k = 0; k < 4; k++) xv[k] = __ldg(x4 + 4 * i + k);
        uint4 q[ROWS_PER_WARP];
#pragma unroll
        for (int r = 0; r < ROWS_PER_WARP; r++)   /* all loads first: several in flight */
            if (r < nrows) q[r] = __ldcs(w + (int64_t)r * n16 + i);
#pragma unroll
        for (int r = 0; r < ROWS_PER_WARP; r++)
            if (r < nrows) acc[r] += dot16_int8(q[r], xv);
    }
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++) {
        float s = bc_warp_sum(acc[r]);
        if (lane == 0 && r < nrows)
            out[row0 + r] = s * __fmul_rn(absmax[row0 + r], 1.0f / 127.0f);
    }
}

__global__ void __launch_bounds__(GEMV_THREADS)
gemv_int8_scalar_kernel(const int8_t *__restrict__ codes, const float *__restrict__ absmax,
                        const float *__restrict__ x, float *__restrict__ out, int R, int K) {
    int row = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= R) return;
    const int8_t *q = codes + (int64_t)row * K;
    float acc = 0.0f;
    for (int k = lane; k < K; k += 32) acc += (float)q[k] * x[k];
    acc = bc_warp_sum(acc);
    if (lane == 0) out[row] = acc * __fmul_rn(absmax[row], 1.0f / 127.0f);
}

/* NF4 block scale: absmax[b], or code2[qabsmax[b]] * absmax2[b/256] + offset
 * with two roundings (quant.c bc_nf4_block_scale). */
struct nf4_scales {
    const float *absmax;      /* NULL with double quantization */
    const uint8_t *qabsmax;
    const float *absmax2;
    float offset;
};

__device__ __forceinline__ float nf4_scale(const nf4_scales &s, const float *map, int64_t b) {
    if (s.absmax) return s.absmax[b];
    return __fadd_rn(__fmul_rn(map[s.qabsmax[b]], s.absmax2[b >> 8]), s.offset);
}

/* Loads the two tables into shared memory; every thread must call it. */
__device__ __forceinline__ void nf4_tables(float *code, float *map, const float *code2) {
    if (threadIdx.x < 16) code[threadIdx.x] = k_nf4_code[threadIdx.x];
    if (code2)
        for (int i = threadIdx.x; i < 256; i += blockDim.x) map[i] = code2[i];
    __syncthreads();
}

/* 32 NF4 weights (16 bytes; byte k holds elements 2k | 2k+1) . 32 activations */
__device__ __forceinline__ float dot32_nf4(uint4 q, const float4 *xv, const float *code) {
    const uint32_t w[4] = {q.x, q.y, q.z, q.w};
    float acc = 0.0f;
#pragma unroll
    for (int k = 0; k < 4; k++) {   /* word k: bytes 4k..4k+3 = elements 8k..8k+7 */
        float4 xa = xv[2 * k], xb = xv[2 * k + 1];
        uint32_t v = w[k];
        acc += code[(v >> 4) & 15] * xa.x + code[v & 15] * xa.y;
        acc += code[(v >> 12) & 15] * xa.z + code[(v >> 8) & 15] * xa.w;
        acc += code[(v >> 20) & 15] * xb.x + code[(v >> 16) & 15] * xb.y;
        acc += code[(v >> 28) & 15] * xb.z + code[(v >> 24) & 15] * xb.w;
    }
    return acc;
}

/* K % 64 == 0: blocks never straddle rows; row r has K/64 blocks and each
 * 16-byte load is half a block. */
__global__ void __launch_bounds__(GEMV_THREADS)
gemv_nf4_vec_kernel(const uint8_t *__restrict__ packed, nf4_scales s,
                    const float *__restrict__ code2, const float *__restrict__ x,
                    float *__restrict__ out, int R, int K) {
    __shared__ float code[16];
    __shared__ float map[256];
    nf4_tables(code, map, code2);
    int warp = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    int row0 = warp * ROWS_PER_WARP;
    if (row0 >= R) return;
    int nrows = R - row0 < ROWS_PER_WARP ? R - row0 : ROWS_PER_WARP;
    int n16 = K / 32, bpr = K / BC_NF4_BLOCK;   /* 16-byte loads and blocks per row */
    const uint4 *w = reinterpret_cast<const uint4 *>(packed + (int64_t)row0 * (K / 2));
    const float4 *x4 = reinterpret_cast<const float4 *>(x);
    float acc[ROWS_PER_WARP] = {};
    for (int i = lane; i < n16; i += 32) {
        uint4 q[ROWS_PER_WARP];
#pragma unroll
        for (int r = 0; r < ROWS_PER_WARP; r++)
            if (r < nrows) q[r] = __ldcs(w + (int64_t)r * n16 + i);
        float4 xv[8];
#pragma unroll
        for (int k = 0; k < 8; k++) xv[k] = __ldg(x4 + 8 * i + k);
#pragma unroll
        for (int r = 0; r < ROWS_PER_WARP; r++) {
            if (r >= nrows) continue;
            float scale = nf4_scale(s, map, (int64_t)(row0 + r) * bpr + (i >> 1));
            acc[r] += dot32_nf4(q[r], xv, code) * scale;
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++) {
        float v = bc_warp_sum(acc[r]);
        if (lane == 0 && r < nrows) out[row0 + r] = v;
    }
}

/* Any shape: element by element over the flattened weight. */
__global__ void __launch_bounds__(GEMV_THREADS)
gemv_nf4_scalar_kernel(const uint8_t *__restrict__ packed, nf4_scales s,
                       const float *__restrict__ code2, const float *__restrict__ x,
                       float *__restrict__ out, int R, int K) {
    __shared__ float code[16];
    __shared__ float map[256];
    nf4_tables(code, map, code2);
    int row = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= R) return;
    float acc = 0.0f;
    for (int k = lane; k < K; k += 32) {
        int64_t e = (int64_t)row * K + k;
        uint8_t byte = packed[e >> 1];
        int nib = (e & 1) ? (byte & 15) : (byte >> 4);
        acc += code[nib] * nf4_scale(s, map, e / BC_NF4_BLOCK) * x[k];
    }
    acc = bc_warp_sum(acc);
    if (lane == 0) out[row] = acc;
}

static nf4_scales scales_of(const bc_btensor *W) {
    nf4_scales s;
    s.absmax = W->q.double_quant ? NULL : W->q.absmax;
    s.qabsmax = W->q.qabsmax;
    s.absmax2 = W->q.absmax2;
    s.offset = W->q.offset;
    return s;
}

static void gemv_quant(cuda_ctx *c, const bc_btensor *W, const float *x, float *out) {
    int R = (int)W->rows, K = (int)W->cols;
    if (W->store == BC_STORE_INT8) {
        const int8_t *q = (const int8_t *)W->q.codes;
        if (K % 16 == 0) {
            unsigned g = bc_cuda_blocks((size_t)R, GEMV_WARPS * ROWS_PER_WARP);
            gemv_int8_vec_kernel<<<g, GEMV_THREADS, 0, c->stream>>>(q, W->q.absmax, x, out, R, K);
        } else {
            unsigned g = bc_cuda_blocks((size_t)R, GEMV_WARPS);
            gemv_int8_scalar_kernel<<<g, GEMV_THREADS, 0, c->stream>>>(q, W->q.absmax, x, out, R,
                                                                       K);
        }
        LAUNCHED(c, "gemv_int8");
        return;
    }
    const uint8_t *p = (const uint8_t *)W->q.codes;
    const float *code2 = W->q.double_quant ? W->q.code2 : NULL;
    if (K % BC_NF4_BLOCK == 0) {
        unsigned g = bc_cuda_blocks((size_t)R, GEMV_WARPS * ROWS_PER_WARP);
        gemv_nf4_vec_kernel<<<g, GEMV_THREADS, 0, c->stream>>>(p, scales_of(W), code2, x, out, R,
                                                              K);
    } else {
        unsigned g = bc_cuda_blocks((size_t)R, GEMV_WARPS);
        gemv_nf4_scalar_kernel<<<g, GEMV_THREADS, 0, c->stream>>>(p, scales_of(W), code2, x, out,
                                                                 R, K);
    }
    LAUNCHED(c, "gemv_nf4");
}

/* ---- prefill: fp16 tiles of W + cuBLAS ------------------------------------ */

/* fp16 scratch per tile: 32 MiB (4096 rows of the 7B's 4096 columns). */
#define DEQ_TILE_BYTES ((int64_t)32 << 20)

int64_t bc_cuda_quant_tile_rows(int64_t rows, int64_t cols) {
    int64_t t = DEQ_TILE_BYTES / (cols * 2);
    t -= t % 64;
    if (t < 64) t = 64;
    return t < rows ? t : rows;
}

/* rows [r0, r0+tile) of W dequantized to fp16, element by element over the
 * flattened weight (any shape). */
__global__ void dequant_int8_tile_kernel(const int8_t *__restrict__ codes,
                                         const float *__restrict__ absmax, int64_t r0,
                                         int64_t tile, int64_t K, __half *__restrict__ dst) {
    int64_t n = tile * K;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = r0 + i / K;
        float scale = __fmul_rn(absmax[r], 1.0f / 127.0f);
        dst[i] = __float2half_rn((float)codes[r0 * K + i] * scale);
    }
}

__global__ void dequant_nf4_tile_kernel(const uint8_t *__restrict__ packed, nf4_scales s,
                                        const float *__restrict__ code2, int64_t r0,
                                        int64_t tile, int64_t K, __half *__restrict__ dst) {
    __shared__ float code[16];
    __shared__ float map[256];
    nf4_tables(code, map, code2);
    int64_t n = tile * K;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t e = r0 * K + i;
        uint8_t byte = packed[e >> 1];
        int nib = (e & 1) ? (byte & 15) : (byte >> 4);
        dst[i] = __float2half_rn(__fmul_rn(code[nib], nf4_scale(s, map, e / BC_NF4_BLOCK)));
    }
}

static unsigned tile_grid(int64_t n) {
    int64_t b = (n + 255) / 256;
    return b > 8192 ? 8192u : (b < 1 ? 1u : (unsigned)b);
}

static void gemm_quant(cuda_ctx *c, const bc_btensor *W, const bc_btensor *x, int n,
                       bc_btensor *out) {
    int64_t R = W->rows, K = W->cols;
    int64_t tile = bc_cuda_quant_tile_rows(R, K);
    size_t need = (size_t)(tile * K) * 2;
    if (!c->deq16 || c->deq16_bytes < need) {   /* reserved while loading */
        bc_cuda_fail(c, "cuda backend: quantized prefill needs %.1f MiB of tile scratch, only "
                     "%.1f MiB reserved", (double)need / 1048576.0,
                     (double)c->deq16_bytes / 1048576.0);
        return;
    }
    size_t elems = (size_t)n * (size_t)K;
    /* x in fp16 (c->act16, grown like the 16-bit path's) */
    if (c->act16_bytes < elems * 2) {
        if (!CUDA_OK(c, cudaStreamSynchronize(c->stream))) return;
        cudaFree(c->act16);
        c->act16 = NULL;
        c->act16_bytes = 0;
        if (!CUDA_OK(c, cudaMalloc(&c->act16, elems * 2))) return;
        c->act16_bytes = elems * 2;
    }
    bc_cuda_f32_to_16(c, (const float *)x->d, c->act16, BC_STORE_F16, elems);
    const float alpha = 1.0f, beta = 0.0f;
    __half *tile16 = (__half *)c->deq16;
    const float *code2 = W->q.double_quant ? W->q.code2 : NULL;
    for (int64_t r0 = 0; r0 < R && !c->failed; r0 += tile) {
        int64_t rows = R - r0 < tile ? R - r0 : tile;
        unsigned g = tile_grid(rows * K);
        if (W->store == BC_STORE_INT8)
            dequant_int8_tile_kernel<<<g, 256, 0, c->stream>>>(
                (const int8_t *)W->q.codes, W->q.absmax, r0, rows, K, tile16);
        else
            dequant_nf4_tile_kernel<<<g, 256, 0, c->stream>>>(
                (const uint8_t *)W->q.codes, scales_of(W), code2, r0, rows, K, tile16);
        if (!LAUNCHED(c, "dequant_tile")) return;
        /* column-major: out^T[r0 .. r0+rows, n] = tile [rows, K] . x^T [K, n] */
        CUBLAS_OK(c, cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, n, (int)K, &alpha,
                                  tile16, CUDA_R_16F, (int)K, c->act16, CUDA_R_16F, (int)K, &beta,
                                  (float *)out->d + r0, CUDA_R_32F, (int)out->cols,
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
}

void bc_cuda_matmul_quant(cuda_ctx *c, const bc_btensor *W, const bc_btensor *x, int n,
                          bc_btensor *out) {
    if (!W->q.loaded) {
        bc_cuda_fail(c, "cuda backend: matmul with a %s weight [%lld, %lld] that was never loaded",
                     bc_cuda_store_name(W->store), (long long)W->rows, (long long)W->cols);
        return;
    }
    if (n > 1) gemm_quant(c, W, x, n, out);
    else gemv_quant(c, W, (const float *)x->d, (float *)out->d);
}
