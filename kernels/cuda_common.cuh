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

/* A quantized weight (BC_STORE_INT8 / BC_STORE_NF4) in device memory: the
 * arrays of bc_quant_int8 / bc_quant_nf4 (quant.h, same meaning and layout),
 * each 256-byte aligned inside the tensor's one allocation `d`. */
typedef struct cuda_quant {
    bool loaded;          /* the arrays below are allocated and filled */
    int double_quant;     /* nf4: the block absmax is compressed */
    int64_t nblocks;      /* nf4: ceil(rows*cols / 64) */
    void *codes;          /* int8: [rows*cols] int8_t; nf4: [(n+1)/2] packed, high nibble first */
    float *absmax;        /* int8: [rows]; nf4 without double quant: [nblocks] */
    uint8_t *qabsmax;     /* nf4 double quant: [nblocks] index into code2 */
    float *absmax2;       /* nf4 double quant: [ceil(nblocks/256)] */
    float *code2;         /* nf4 double quant: [256] signed dynamic map (device) */
    float offset;         /* nf4 double quant: mean of the block absmax */
} cuda_quant;

struct bc_btensor {
    int64_t rows, cols;
    bc_store store;       /* F32 activations/tables; F16/BF16 weights and KV cache; INT8/NF4 linears */
    bool weight;          /* counted as weight memory */
    size_t bytes;         /* bytes allocated at d (rows * cols * element size when not quantized) */
    void *d;              /* device memory, 256-byte aligned (cudaMalloc); NULL for a
                             quantized tensor until it is loaded; for a host table
                             the device's view of mapped pinned host memory */
    void *host;           /* a table kept in host memory (table_new): the pinned
                             allocation that d maps; not counted as GPU memory */
    cuda_quant q;         /* INT8/NF4 stores only */
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
    uint64_t weight_bytes, other_bytes;   /* GPU memory */
    uint64_t host_table_bytes;     /* tables kept in mapped host memory (table_new) */
    bool host_tables;              /* on unless $BC_CUDA_HOST_EMBED=0 */
    bool sync_each;                /* $BC_CUDA_SYNC=1: synchronize after each launch */
    bool failed;                   /* sticky: refuse all further work */
    char failure[BC_ERROR_MAX];    /* the first failure */
    cuda_staging staging;
    void *act16;                   /* prefill: activations in 16 bits for cuBLAS */
    size_t act16_bytes;
    /* Quantized weights (cuda_quant.cu, k_quant.cu), all grown while loading: */
    void *deq16;                   /* prefill: a tile of dequantized W rows in fp16 */
    size_t deq16_bytes;
    float *quant_absmax;           /* online NF4: the fp32 block absmax of the tensor being
                                      quantized, before double quantization */
    size_t quant_absmax_bytes;
    unsigned long long *bad_element; /* online quantization: smallest index of a
                                        non-finite weight (ULLONG_MAX: none) */
    /* Decode steps recorded once as a CUDA graph and replayed (cuda_graph.cu): */
    bool graphs;                   /* on unless $BC_CUDA_GRAPHS=0 or sync_each */
    bool recording;                /* inside stream capture: the ops read the token id
                                      and position from step_dev, not their arguments */
    bool capture_broken;           /* a call was refused by the capture: not recorded */
    int32_t *step_host;            /* pinned [2]: this step's token id and position */
    int32_t *step_dev;             /* device [2]: step_host, copied by the graph's first node */
    const void *graph_key;         /* the model whose decode step `graph` replays */
    cudaGraphExec_t graph;
    uint64_t graph_replays, graph_recordings;
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

/* cuda_graph.cu: bc_backend_iface's step_begin / step_end / step_forget. */
int bc_cuda_step_begin(cuda_ctx *c, const void *key, int32_t id, int pos);
int bc_cuda_step_end(cuda_ctx *c);
void bc_cuda_step_forget(cuda_ctx *c, const void *key);
void bc_cuda_graph_free(cuda_ctx *c);
/* While recording: where the kernels read the step's token id / position
 * (NULL otherwise: they use their arguments). */
static inline const int32_t *bc_cuda_step_id(const cuda_ctx *c) {
    return c->recording ? c->step_dev : NULL;
}
static inline const int32_t *bc_cuda_step_pos(const cuda_ctx *c) {
    return c->recording ? c->step_dev + 1 : NULL;
}
/* Makes both staging slots at least `bytes` large (16 MiB at least). */
int bc_cuda_staging_reserve(cuda_ctx *c, size_t bytes, bc_error *err);

/* cuda_quant.cu: INT8/NF4 weights. Online quantization of a checkpoint
 * tensor (bit-identical to quant.c's reference quantizers), upload of an
 * already quantized weight, download (tests), bytes per matvec, random fill
 * (synthetic benchmark), and the device memory they need. */
static inline bool bc_cuda_store_quantized(bc_store s) {
    return s == BC_STORE_INT8 || s == BC_STORE_NF4;
}
int bc_cuda_quant_load_online(cuda_ctx *c, bc_btensor *t, const bc_tensor *src,
                              const float *row_scale, bc_load_progress_fn progress, void *user,
                              bc_error *err);
int bc_cuda_quant_upload(cuda_ctx *c, bc_btensor *t, const bc_quant_tensor *q, bc_error *err);
int bc_cuda_quant_download(cuda_ctx *c, const bc_btensor *t, bc_quant_tensor *out, bc_error *err);
uint64_t bc_cuda_quant_matvec_bytes(const bc_btensor *t);
int bc_cuda_quant_fill_random(cuda_ctx *c, bc_btensor *t, uint64_t seed, float scale,
                              bc_error *err);
void bc_cuda_quant_free_scratch(cuda_ctx *c);

/* k_quant.cu: the kernels behind cuda_quant.cu and the quantized matmul.
 * Quantize one chunk already in device memory (src: elements of src_dtype):
 *   int8: rows [r0, r0+rows) of a [*, cols] weight -> codes, absmax[r];
 *   nf4:  flattened elements [e0, e0+count), e0 a multiple of 64 ->
 *         packed bytes from e0/2, absmax[e0/64 ...].
 * A non-finite element lowers *bad to its flat index. */
void bc_cuda_quantize_int8_rows(cuda_ctx *c, const void *src, bc_dtype src_dtype, int64_t rows,
                                int64_t cols, int64_t r0, int8_t *codes, float *absmax,
                                unsigned long long *bad);
void bc_cuda_quantize_nf4_chunk(cuda_ctx *c, const void *src, bc_dtype src_dtype, int64_t count,
                                int64_t e0, uint8_t *packed, float *absmax,
                                unsigned long long *bad);
/* Double quantization of absmax[nblocks] around `offset` (see quant.c). */
void bc_cuda_nf4_double_quant(cuda_ctx *c, const float *absmax, int64_t nblocks, float offset,
                              const float *code2, uint8_t *qabsmax, float *absmax2);
/* Random codes and scales of magnitude ~scale (synthetic benchmark). */
void bc_cuda_fill_bytes(cuda_ctx *c, void *dst, size_t n, uint64_t seed);
void bc_cuda_fill_f32(cuda_ctx *c, float *dst, size_t n, float value);
/* out[n, R] = x[n, K] . W^T for a quantized W: fused dequant-GEMV for n == 1,
 * fp16 tiles of W + cublasGemmEx for n > 1 (c->deq16 must hold a tile). */
void bc_cuda_matmul_quant(cuda_ctx *c, const bc_btensor *W, const bc_btensor *x, int n,
                          bc_btensor *out);
/* Rows of W per prefill tile, and the fp16 scratch it needs (bytes). */
int64_t bc_cuda_quant_tile_rows(int64_t rows, int64_t cols);

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
