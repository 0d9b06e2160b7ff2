/* Small per-token kernels: embedding gather, RMSNorm, RoPE, residual add,
 * SwiGLU, row copies, and the dtype conversions used while loading and
 * before cuBLAS. All compute in fp32; activations are fp32 tensors. */
#include "cuda_common.cuh"
#include "k_types.cuh"

/* ---- embedding gather --------------------------------------------------- */

/* Token ids travel inside the kernel's parameters (no device buffer, no
 * host->device copy to order). A recorded decode step reads its one id from
 * id_dev instead, so that replaying the graph needs no parameter update. */
enum { IDS_PER_LAUNCH = 64 };
struct ids_chunk { int32_t id[IDS_PER_LAUNCH]; };

template <typename T>
__global__ void embed_kernel(const T *__restrict__ table, ids_chunk ids,
                             const int32_t *__restrict__ id_dev, int64_t cols,
                             float *__restrict__ out) {
    int64_t id = id_dev ? id_dev[blockIdx.x] : ids.id[blockIdx.x];
    const T *src = table + id * cols;
    float *dst = out + (int64_t)blockIdx.x * cols;
    for (int64_t k = threadIdx.x; k < cols; k += blockDim.x) dst[k] = bc_to_f32(src[k]);
}

void bc_cuda_embed(cuda_ctx *c, const bc_btensor *table, const int32_t *ids, int n,
                   bc_btensor *out) {
    for (int i0 = 0; i0 < n; i0 += IDS_PER_LAUNCH) {
        int m = n - i0 < IDS_PER_LAUNCH ? n - i0 : IDS_PER_LAUNCH;
        ids_chunk chunk;
        for (int i = 0; i < m; i++) chunk.id[i] = ids[i0 + i];
        float *dst = (float *)out->d + (int64_t)i0 * out->cols;
        const int32_t *id_dev = bc_cuda_step_id(c);
        switch (table->store) {
        case BC_STORE_F16:
            embed_kernel<<<m, 256, 0, c->stream>>>((const __half *)table->d, chunk, id_dev, table->cols, dst);
            break;
        case BC_STORE_BF16:
            embed_kernel<<<m, 256, 0, c->stream>>>((const __nv_bfloat16 *)table->d, chunk,
                                                   id_dev, table->cols, dst);
            break;
        default:
            embed_kernel<<<m, 256, 0, c->stream>>>((const float *)table->d, chunk, id_dev, table->cols, dst);
            break;
        }
        if (!LAUNCHED(c, "embed")) return;
    }
}

/* ---- RMSNorm: one block per row ------------------------------------------ */

__global__ void rmsnorm_kernel(const float *__restrict__ x, const float *__restrict__ w, int cols,
                               float eps, float *__restrict__ out) {
    const float *row = x + (int64_t)blockIdx.x * cols;
    float ss = 0.0f;
    for (int k = threadIdx.x; k < cols; k += blockDim.x) ss += row[k] * row[k];
    ss = bc_block_sum(ss);
    float inv = rsqrtf(ss / (float)cols + eps);
    float *o = out + (int64_t)blockIdx.x * cols;
    for (int k = threadIdx.x; k < cols; k += blockDim.x) o[k] = row[k] * inv * w[k];
}

void bc_cuda_rmsnorm(cuda_ctx *c, const bc_btensor *x, const bc_btensor *w, int n, float eps,
                     bc_btensor *out) {
    if (n <= 0) return;
    rmsnorm_kernel<<<n, 256, 0, c->stream>>>((const float *)x->d, (const float *)w->d,
                                             (int)x->cols, eps, (float *)out->d);
    LAUNCHED(c, "rmsnorm");
}

/* ---- RoPE (rotate_half) in place ------------------------------------------ */

/* Block per row; thread per (head, j < half) pair. */
__global__ void rope_kernel(float *__restrict__ x, int64_t row_stride, int col0, int n_heads,
                            int head_dim, int pos0, const int32_t *__restrict__ pos_dev,
                            const float *__restrict__ cos_t, const float *__restrict__ sin_t) {
    if (pos_dev) pos0 = *pos_dev;   /* a recorded decode step */
    int half = head_dim / 2;
    int i = blockIdx.x;
    const float *cs = cos_t + (int64_t)(pos0 + i) * half;
    const float *sn = sin_t + (int64_t)(pos0 + i) * half;
    float *row = x + (int64_t)i * row_stride + col0;
    for (int p = threadIdx.x; p < n_heads * half; p += blockDim.x) {
        int h = p / half, j = p % half;
        float *v = row + (int64_t)h * head_dim;
        float a = v[j], b = v[j + half];
        v[j] = a * cs[j] - b * sn[j];
        v[j + half] = b * cs[j] + a * sn[j];
    }
}

void bc_cuda_rope(cuda_ctx *c, bc_btensor *x, int n, int col0, int n_heads, int head_dim,
                  int pos0, const bc_btensor *cos_table, const bc_btensor *sin_table) {
    if (n <= 0) return;
    if (pos0 < 0 || pos0 + n > cos_table->rows || cos_table->cols != head_dim / 2) {
        bc_cuda_fail(c, "cuda backend: rope at positions %d..%d outside a [%lld, %lld] table",
                     pos0, pos0 + n - 1, (long long)cos_table->rows, (long long)cos_table->cols);
        return;
    }
    rope_kernel<<<n, 128, 0, c->stream>>>((float *)x->d, x->cols, col0, n_heads, head_dim, pos0,
                                          bc_cuda_step_pos(c), (const float *)cos_table->d,
                                          (const float *)sin_table->d);
    LAUNCHED(c, "rope");
}

/* ---- residual add, SwiGLU ------------------------------------------------ */

__global__ void add_kernel(float *__restrict__ x, const float *__restrict__ y, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

/* Same expression as the CPU kernel: g / (1 + exp(-g)) * u. */
__global__ void swiglu_kernel(float *__restrict__ g, const float *__restrict__ u, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float v = g[i];
        g[i] = v / (1.0f + expf(-v)) * u[i];
    }
}

static unsigned grid_for(int64_t n) {
    int64_t b = (n + 255) / 256;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

void bc_cuda_add(cuda_ctx *c, bc_btensor *x, const bc_btensor *y, int n) {
    int64_t cnt = (int64_t)n * x->cols;
    if (cnt <= 0) return;
    add_kernel<<<grid_for(cnt), 256, 0, c->stream>>>((float *)x->d, (const float *)y->d, cnt);
    LAUNCHED(c, "add");
}

void bc_cuda_swiglu(cuda_ctx *c, bc_btensor *gate, const bc_btensor *up, int n) {
    int64_t cnt = (int64_t)n * gate->cols;
    if (cnt <= 0) return;
    swiglu_kernel<<<grid_for(cnt), 256, 0, c->stream>>>((float *)gate->d, (const float *)up->d,
                                                        cnt);
    LAUNCHED(c, "swiglu");
}

void bc_cuda_copy_rows(cuda_ctx *c, bc_btensor *dst, int dst_row0, const bc_btensor *src,
                       int src_row0, int n) {
    if (n <= 0) return;
    size_t bytes = (size_t)n * (size_t)src->cols * 4;
    CUDA_OK(c, cudaMemcpyAsync((float *)dst->d + (int64_t)dst_row0 * dst->cols,
                               (const float *)src->d + (int64_t)src_row0 * src->cols, bytes,
                               cudaMemcpyDeviceToDevice, c->stream));
}

/* ---- synthetic weights ---------------------------------------------------- */

/* splitmix64 of (seed, index): a counter-based generator, so every element
 * is independent of the launch shape. */
__device__ __forceinline__ float uniform01(uint64_t seed, uint64_t i) {
    uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

template <typename D>
__global__ void fill_uniform_kernel(D *__restrict__ dst, int64_t n, uint64_t seed, float lo,
                                    float hi) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = bc_from_f32<D>(lo + (hi - lo) * uniform01(seed, (uint64_t)i));
}

void bc_cuda_fill_uniform(cuda_ctx *c, bc_btensor *t, uint64_t seed, float lo, float hi) {
    int64_t n = t->rows * t->cols;
    unsigned g = 65535;
    switch (t->store) {
    case BC_STORE_F16:
        fill_uniform_kernel<<<g, 256, 0, c->stream>>>((__half *)t->d, n, seed, lo, hi);
        break;
    case BC_STORE_BF16:
        fill_uniform_kernel<<<g, 256, 0, c->stream>>>((__nv_bfloat16 *)t->d, n, seed, lo, hi);
        break;
    default:
        fill_uniform_kernel<<<g, 256, 0, c->stream>>>((float *)t->d, n, seed, lo, hi);
        break;
    }
    LAUNCHED(c, "fill_uniform");
}

/* ---- conversions ----------------------------------------------------------- */

template <typename D>
__global__ void f32_to_16_kernel(const float *__restrict__ src, D *__restrict__ dst, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = bc_from_f32<D>(src[i]);
}

void bc_cuda_f32_to_16(cuda_ctx *c, const float *src, void *dst, bc_store store, size_t n) {
    if (!n) return;
    if (store == BC_STORE_BF16)
        f32_to_16_kernel<<<grid_for((int64_t)n), 256, 0, c->stream>>>(src, (__nv_bfloat16 *)dst,
                                                                      (int64_t)n);
    else
        f32_to_16_kernel<<<grid_for((int64_t)n), 256, 0, c->stream>>>(src, (__half *)dst,
                                                                      (int64_t)n);
    LAUNCHED(c, "f32_to_16");
}

/* src elements (S) -> dst (D), times scale[row] when given. The source
 * bytes are little-endian like the GPU, so they are read as the type. */
template <typename S, typename D>
__global__ void convert_kernel(const S *__restrict__ src, D *__restrict__ dst,
                               const float *__restrict__ scale, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float v = bc_to_f32(src[i]);
        if (scale) v *= scale[i / cols];
        dst[i] = bc_from_f32<D>(v);
    }
}

template <typename S>
static void convert_from(cuda_ctx *c, const S *src, void *dst, bc_store ds, const float *scale,
                         int64_t rows, int64_t cols) {
    unsigned g = grid_for(rows * cols);
    switch (ds) {
    case BC_STORE_F16:
        convert_kernel<<<g, 256, 0, c->stream>>>(src, (__half *)dst, scale, rows, cols);
        break;
    case BC_STORE_BF16:
        convert_kernel<<<g, 256, 0, c->stream>>>(src, (__nv_bfloat16 *)dst, scale, rows, cols);
        break;
    default:
        convert_kernel<<<g, 256, 0, c->stream>>>(src, (float *)dst, scale, rows, cols);
        break;
    }
}

void bc_cuda_convert_rows(cuda_ctx *c, const void *src, bc_dtype src_dtype, void *dst,
                          bc_store dst_store, const float *scale, int64_t rows, int64_t cols) {
    switch (src_dtype) {
    case BC_DTYPE_F16:
        convert_from(c, (const __half *)src, dst, dst_store, scale, rows, cols);
        break;
    case BC_DTYPE_BF16:
        convert_from(c, (const __nv_bfloat16 *)src, dst, dst_store, scale, rows, cols);
        break;
    default:
        convert_from(c, (const float *)src, dst, dst_store, scale, rows, cols);
        break;
    }
    LAUNCHED(c, "convert_rows");
}
