/* Device helpers shared by the kernel families: element conversions and
 * warp / block reductions (fp32). */
#ifndef BC_K_TYPES_CUH
#define BC_K_TYPES_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

__device__ __forceinline__ float bc_to_f32(float v) { return v; }
__device__ __forceinline__ float bc_to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float bc_to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename D> __device__ __forceinline__ D bc_from_f32(float v);
template <> __device__ __forceinline__ float bc_from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half bc_from_f32<__half>(float v) {
    return __float2half_rn(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 bc_from_f32<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

__device__ __forceinline__ float bc_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float bc_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over the whole block (blockDim.x a multiple of 32, <= 1024); every
 * thread gets the result. Contains __syncthreads: call from all threads. */
__device__ __forceinline__ float bc_block_sum(float v) {
    __shared__ float part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = bc_warp_sum(v);
    __syncthreads();   /* part[] may still be read by a previous call */
    if (lane == 0) part[warp] = v;
    __syncthreads();
    int nw = blockDim.x >> 5;
    v = lane < nw ? part[lane] : 0.0f;
    return bc_warp_sum(v);
}

__device__ __forceinline__ float bc_block_max(float v) {
    __shared__ float part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = bc_warp_max(v);
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    int nw = blockDim.x >> 5;
    v = lane < nw ? part[lane] : -INFINITY;
    return bc_warp_max(v);
}

#endif
