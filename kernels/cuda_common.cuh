/* Shared by every file of the CUDA backend module: the tensor and context
 * structs, the error-checking macros, and the launchers each kernel family
 * (one .cu file per family) provides to backend_cuda.cu.
 *
 * Errors. Operations of bc_backend_iface return nothing, so the first failure
 * of a CUDA or cuBLAS call is recorded in the context ("sticky": a kernel
 * fault poisons the CUDA context anyway) and every later operation returns at
 * once; iface->status() hands the message to the model, which returns it
 * through bc_error. Each message carries the failing statement's text, the
 * file and line, and CUDA's error name and description. Nothing here aborts. */
#ifndef BC_CUDA_COMMON_CUH
#define BC_CUDA_COMMON_CUH

#include <cstddef>
#include <cstdint>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

extern "C" {
#include "backend.h"
#include "bc_error.h"
#include "checkpoint.h"
}

struct bc_btensor {
    int64_t rows, cols;
    bc_store store;       /* F32 activations/tables; F16/BF16 weights and KV cache */
    bool weight;          /* counted as weight memory */
    size_t bytes;         /* rows * cols * element size */
    void *d;              /* device memory, 256-byte aligned (cudaMalloc) */
};

/* Pinned host + device staging used while loading weights (cuda_load.cu):
 * two slots so the host fills one while the GPU converts the other. */
enum { BC_CUDA_STAGING_SLOTS = 2 };

typedef struct cuda_staging {
    size_t bytes;                              /* per slot */
    void *host[BC_CUDA_STAGING_SLOTS];         /* cudaMallocHost */
    void *dev[BC_CUDA_STAGING_SLOTS];          /* cudaMalloc */
    cudaEvent_t done[BC_CUDA_STAGING_SLOTS];   /* slot free again when complete */
    bool event_made[BC_CUDA_STAGING_SLOTS];
} cuda_staging;

typedef struct cuda_ctx {
    int device;
    cudaStream_t stream;           /* every operation runs here, in order */
    cublasHandle_t blas;           /* bound to `stream` */
    bc_store store;                /* weight storage (F16 or BF16) */
    uint64_t weight_bytes, other_bytes;
    bool sync_each;                /* $BC_CUDA_SYNC=1: synchronize after each launch */
    bool failed;                   /* sticky: refuse all further work */
    char failure[BC_ERROR_MAX];    /* the first failure */
    cuda_staging staging;
    void *act16;                   /* prefill: activations in 16 bits for cuBLAS */
    size_t act16_bytes;
} cuda_ctx;

static inline cuda_ctx *cuda_ctx_of(bc_backend *be) { return (cuda_ctx *)be->ctx; }

/* Records the first failure (printf-style), making the backend refuse work. */
void bc_cuda_fail(cuda_ctx *c, const char *fmt, ...) BC_PRINTF(2, 3);

/* Each returns true when the call succeeded, else records a sticky failure
 * naming `what` (the statement text) at file:line and returns false. */
bool bc_cuda_ok(cuda_ctx *c, cudaError_t e, const char *what, const char *file, int line);
bool bc_cublas_ok(cuda_ctx *c, cublasStatus_t s, const char *what, const char *file, int line);
/* After a kernel launch: the launch error, and with sync_each any fault. */
bool bc_cuda_launched(cuda_ctx *c, const char *kernel, const char *file, int line);

#define CUDA_OK(c, stmt) bc_cuda_ok((c), (stmt), #stmt, __FILE__, __LINE__)
#define CUBLAS_OK(c, stmt) bc_cublas_ok((c), (stmt), #stmt, __FILE__, __LINE__)
#define LAUNCHED(c, kernel) bc_cuda_launched((c), kernel, __FILE__, __LINE__)

/* For functions that return a bc_error directly (probe, loading setup). */
#define CUDA_TRY_ERR(err, stmt)                                                         \
    do {                                                                                \
        cudaError_t e_ = (stmt);                                                        \
        if (e_ != cudaSuccess) {                                                        \
            (void)cudaGetLastError();                                                   \
            return bc_errorf((err), "cuda: %s failed at %s:%d: %s (%s)", #stmt, __FILE__, \
                             __LINE__, cudaGetErrorName(e_), cudaGetErrorString(e_));    \
        }                                                                               \
    } while (0)

size_t bc_cuda_store_size(bc_store s);
const char *bc_cuda_store_name(bc_store s);

/* Blocks of `threads` covering n items, at least 1. */
static inline unsigned bc_cuda_blocks(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    return b ? (unsigned)b : 1u;
}

/* ---- Launchers (queued on c->stream; failures are recorded in c) -------- */

/* cuda_load.cu: streams a checkpoint tensor into t (any of F32/F16/BF16 ->
 * t's store), rows scaled by row_scale when given. */
int bc_cuda_tensor_load(cuda_ctx *c, bc_btensor *t, const bc_tensor *src, const float *row_scale,
                        bc_load_progress_fn progress, void *user, bc_error *err);
void bc_cuda_staging_free(cuda_ctx *c);

/* k_elementwise.cu */
void bc_cuda_embed(cuda_ctx *c, const bc_btensor *table, const int32_t *ids, int n,
                   bc_btensor *out);
void bc_cuda_rmsnorm(cuda_ctx *c, const bc_btensor *x, const bc_btensor *w, int n, float eps,
                     bc_btensor *out);
void bc_cuda_rope(cuda_ctx *c, bc_btensor *x, int n, int col0, int n_heads, int head_dim,
                  int pos0, const bc_btensor *cos_table, const bc_btensor *sin_table);
void bc_cuda_add(cuda_ctx *c, bc_btensor *x, const bc_btensor *y, int n);
void bc_cuda_swiglu(cuda_ctx *c, bc_btensor *gate, const bc_btensor *up, int n);
void bc_cuda_copy_rows(cuda_ctx *c, bc_btensor *dst, int dst_row0, const bc_btensor *src,
                       int src_row0, int n);
/* t = uniform random in [lo, hi) (synthetic benchmark weights). */
void bc_cuda_fill_uniform(cuda_ctx *c, bc_btensor *t, uint64_t seed, float lo, float hi);
/* fp32 [n] -> 16-bit `store` [n] (prefill activations for cuBLAS). */
void bc_cuda_f32_to_16(cuda_ctx *c, const float *src, void *dst, bc_store store, size_t n);
/* Raw checkpoint elements (src_dtype) -> dst_store, row r scaled by scale[r]
 * when scale != NULL; rows x cols, both contiguous. */
void bc_cuda_convert_rows(cuda_ctx *c, const void *src, bc_dtype src_dtype, void *dst,
                          bc_store dst_store, const float *scale, int64_t rows, int64_t cols);

/* k_matmul.cu: out[n, R] = x[n, K] . W[R, K]^T; decode GEMV for n == 1,
 * cuBLAS GemmEx (fp32 compute) for n > 1. */
void bc_cuda_matmul(cuda_ctx *c, const bc_btensor *W, const bc_btensor *x, int n,
                    bc_btensor *out);

/* k_attention.cu: see bc_backend_iface.attention. */
void bc_cuda_attention(cuda_ctx *c, const bc_btensor *qkv, bc_btensor *k_cache,
                       bc_btensor *v_cache, const bc_btensor *slopes, int n, int pos0,
                       int n_heads, int head_dim, bc_btensor *scores, bc_btensor *out);

#endif
