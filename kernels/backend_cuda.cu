/* The CUDA backend: bc_backend_iface on one device, one stream.
 *
 * Sections: errors (sticky failure), tensors, the operation table (each op
 * refuses work after a failure, then calls its kernel family's launcher),
 * and the module ABI (probe, backend_new, copy bandwidth) exported with C
 * linkage for inference/backend_loader.c. */
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cuda_common.cuh"

extern "C" {
#include "backend_loader.h"
}

/* ========================================================================
 * Errors
 * ======================================================================== */

void bc_cuda_fail(cuda_ctx *c, const char *fmt, ...) {
    if (c->failed) return;   /* keep the first: later ones are consequences */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->failure, sizeof c->failure, fmt, ap);
    va_end(ap);
    c->failed = true;
}

/* Errors that only say "this cannot be recorded into a CUDA graph": while
 * recording they end the recording (cuda_graph.cu), not the backend. */
static bool capture_error(cudaError_t e) {
    return e == cudaErrorStreamCaptureUnsupported || e == cudaErrorStreamCaptureInvalidated ||
           e == cudaErrorStreamCaptureMerge || e == cudaErrorStreamCaptureUnmatched ||
           e == cudaErrorStreamCaptureUnjoined || e == cudaErrorStreamCaptureIsolation ||
           e == cudaErrorStreamCaptureImplicit || e == cudaErrorCapturedEvent ||
           e == cudaErrorStreamCaptureWrongThread;
}

static bool recording_refused(cuda_ctx *c, cudaError_t e) {
    if (!c->recording || !capture_error(e)) return false;
    (void)cudaGetLastError();
    c->capture_broken = true;
    return true;
}

bool bc_cuda_ok(cuda_ctx *c, cudaError_t e, const char *what, const char *file, int line) {
    if (e == cudaSuccess) return true;
    if (recording_refused(c, e)) return false;
    bc_cuda_fail(c, "cuda: %s failed at %s:%d: %s (%s); the GPU backend stops here", what, file,
                 line, cudaGetErrorName(e), cudaGetErrorString(e));
    return false;
}

static const char *cublas_status_name(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "unknown cuBLAS status";
    }
}

bool bc_cublas_ok(cuda_ctx *c, cublasStatus_t s, const char *what, const char *file, int line) {
    if (s == CUBLAS_STATUS_SUCCESS) return true;
    bc_cuda_fail(c, "cublas: %s failed at %s:%d: %s (%d); the GPU backend stops here", what, file,
                 line, cublas_status_name(s), (int)s);
    return false;
}

bool bc_cuda_launched(cuda_ctx *c, const char *kernel, const char *file, int line) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && c->sync_each) e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess) return true;
    if (recording_refused(c, e)) return false;
    bc_cuda_fail(c, "cuda: kernel %s failed at %s:%d: %s (%s); the GPU backend stops here",
                 kernel, file, line, cudaGetErrorName(e), cudaGetErrorString(e));
    return false;
}

size_t bc_cuda_store_size(bc_store s) { return s == BC_STORE_F32 ? 4 : 2; }

const char *bc_cuda_store_name(bc_store s) {
    switch (s) {
    case BC_STORE_F32: return "f32";
    case BC_STORE_BF16: return "bf16";
    case BC_STORE_F16: return "f16";
    case BC_STORE_INT8: return "int8";
    case BC_STORE_NF4: return "nf4";
    default: return "?";
    }
}

/* ========================================================================
 * Tensors
 * ======================================================================== */

static bc_btensor *cuda_tensor_new(bc_backend *be, int64_t rows, int64_t cols, bc_store store,
                                   bool weight, bc_error *err) {
    cuda_ctx *c = cuda_ctx_of(be);
    if (c->failed) { bc_errorf(err, "%s", c->failure); return NULL; }
    if (rows <= 0 || cols <= 0 || rows > INT64_MAX / cols || rows * cols > INT64_MAX / 4) {
        bc_errorf(err, "cuda backend: bad tensor shape [%lld, %lld]", (long long)rows,
                  (long long)cols);
        return NULL;
    }
    if (store >= BC_STORE_COUNT) {
        bc_errorf(err, "cuda backend: %s storage is not supported", bc_cuda_store_name(store));
        return NULL;
    }
    bc_btensor *t = (bc_btensor *)calloc(1, sizeof *t);
    if (!t) { bc_errorf(err, "cuda backend: out of host memory"); return NULL; }
    t->rows = rows; t->cols = cols; t->store = store; t->weight = weight;
    /* int8 / nf4: the arrays are allocated when the weight is loaded (their
     * layout depends on the source: double quantization or not) */
    if (bc_cuda_store_quantized(store)) return t;
    t->bytes = (size_t)(rows * cols) * bc_cuda_store_size(store);
    cudaError_t e = cudaMalloc(&t->d, t->bytes);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();   /* an allocation failure is not sticky: clear it */
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        bc_errorf(err, "cuda backend: out of GPU memory: a [%lld, %lld] %s tensor needs %.1f MiB, "
                  "%.1f MiB free of %.1f MiB (%.1f MiB already used by this model)",
                  (long long)rows, (long long)cols, bc_cuda_store_name(store),
                  (double)t->bytes / 1048576.0, (double)free_b / 1048576.0,
                  (double)total_b / 1048576.0,
                  (double)(c->weight_bytes + c->other_bytes) / 1048576.0);
        free(t);
        return NULL;
    }
    /* Zero-filled, as the interface promises (async on our stream: ordered
     * before any later use of t). */
    if (!CUDA_OK(c, cudaMemsetAsync(t->d, 0, t->bytes, c->stream))) {
        cudaFree(t->d);
        free(t);
        bc_errorf(err, "%s", c->failure);
        return NULL;
    }
    if (weight) c->weight_bytes += t->bytes; else c->other_bytes += t->bytes;
    return t;
}

/* The token embedding in mapped pinned host memory: the embed kernel reads
 * its one row per token over the bus (8 KiB for 7B in f16, microseconds),
 * and the GPU keeps the 1 GiB (7B) / 1.3 GiB (13B) the table would take.
 * $BC_CUDA_HOST_EMBED=0, or pinned memory running out, keeps it on the GPU. */
static bc_btensor *cuda_table_new(bc_backend *be, int64_t rows, int64_t cols, bc_store store,
                                  bc_error *err) {
    cuda_ctx *c = cuda_ctx_of(be);
    if (!c->host_tables || bc_cuda_store_quantized(store) || rows <= 0 || cols <= 0 ||
        rows > INT64_MAX / cols || rows * cols > INT64_MAX / 4 || store >= BC_STORE_COUNT)
        return cuda_tensor_new(be, rows, cols, store, true, err);
    if (c->failed) { bc_errorf(err, "%s", c->failure); return NULL; }
    bc_btensor *t = (bc_btensor *)calloc(1, sizeof *t);
    if (!t) { bc_errorf(err, "cuda backend: out of host memory"); return NULL; }
    t->rows = rows; t->cols = cols; t->store = store; t->weight = true;
    t->bytes = (size_t)(rows * cols) * bc_cuda_store_size(store);
    void *h = NULL;
    cudaError_t e = cudaHostAlloc(&h, t->bytes, cudaHostAllocMapped | cudaHostAllocPortable);
    if (e == cudaSuccess) e = cudaHostGetDevicePointer(&t->d, h, 0);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        if (h) cudaFreeHost(h);
        free(t);
        return cuda_tensor_new(be, rows, cols, store, true, err);   /* on the GPU then */
    }
    t->host = h;
    memset(h, 0, t->bytes);   /* zero-filled, as tensor_new promises */
    c->host_table_bytes += t->bytes;
    return t;
}

static void cuda_tensor_free(bc_backend *be, bc_btensor *t) {
    if (!t) return;
    cuda_ctx *c = cuda_ctx_of(be);
    if (t->host) {
        c->host_table_bytes -= t->bytes;
        /* a load may still be writing it (tensor_load does not wait) */
        if (!c->failed) cudaStreamSynchronize(c->stream);
        cudaFreeHost(t->host);
        free(t);
        return;
    }
    if (t->weight) c->weight_bytes -= t->bytes; else c->other_bytes -= t->bytes;
    cudaFree(t->d);   /* errors here are consequences of earlier ones */
    free(t);
}

static int cuda_tensor_load(bc_backend *be, bc_btensor *t, const bc_tensor *src,
                            const float *row_scale, bc_load_progress_fn progress, void *user,
                            bc_error *err) {
    cuda_ctx *c = cuda_ctx_of(be);
    if (c->failed) return bc_errorf(err, "%s", c->failure);
    return bc_cuda_tensor_load(c, t, src, row_scale, progress, user, err);
}

/* tensor_set / tensor_get move fp32 rows; they are synchronous (host
 * memory is the caller's, possibly pageable and reused right after). */
static void cuda_tensor_set(bc_backend *be, bc_btensor *t, int64_t row0, int64_t nrows,
                            const float *src) {
    cuda_ctx *c = cuda_ctx_of(be);
    if (c->failed) return;
    if (t->store != BC_STORE_F32 || row0 < 0 || nrows < 0 || row0 + nrows > t->rows) {
        bc_cuda_fail(c, "cuda backend: tensor_set of rows [%lld, +%lld) on a [%lld, %lld] %s "
                     "tensor", (long long)row0, (long long)nrows, (long long)t->rows,
                     (long long)t->cols, bc_cuda_store_name(t->store));
        return;
    }
    size_t off = (size_t)(row0 * t->cols) * 4, bytes = (size_t)(nrows * t->cols) * 4;
    if (t->host) {   /* host memory: after the queued work that may use it */
        if (CUDA_OK(c, cudaStreamSynchronize(c->stream)))
            memcpy((char *)t->host + off, src, bytes);
        return;
    }
    if (CUDA_OK(c, cudaMemcpyAsync((char *)t->d + off, src, bytes, cudaMemcpyHostToDevice,
                                   c->stream)))
        CUDA_OK(c, cudaStreamSynchronize(c->stream));
}

static void cuda_tensor_get(bc_backend *be, const bc_btensor *t, int64_t row0, int64_t nrows,
                            float *dst) {
    cuda_ctx *c = cuda_ctx_of(be);
    if (c->failed) return;
    if (t->store != BC_STORE_F32 || row0 < 0 || nrows < 0 || row0 + nrows > t->rows) {
        bc_cuda_fail(c, "cuda backend: tensor_get of rows [%lld, +%lld) on a [%lld, %lld] %s "
                     "tensor", (long long)row0, (long long)nrows, (long long)t->rows,
                     (long long)t->cols, bc_cuda_store_name(t->store));
        return;
    }
    size_t off = (size_t)(row0 * t->cols) * 4, bytes = (size_t)(nrows * t->cols) * 4;
    if (t->host) {   /* host memory: once the queued work that writes it is done */
        if (CUDA_OK(c, cudaStreamSynchronize(c->stream)))
            memcpy(dst, (const char *)t->host + off, bytes);
        return;
    }
    if (CUDA_OK(c, cudaMemcpyAsync(dst, (const char *)t->d + off, bytes, cudaMemcpyDeviceToHost,
                                   c->stream)))
        CUDA_OK(c, cudaStreamSynchronize(c->stream));
}

/* ========================================================================
 * Operations: refuse after a failure, else queue the kernel family's work.
 * ======================================================================== */

#define LIVE(be) cuda_ctx *c = cuda_ctx_of(be); if (c->failed) return

static void cuda_embed(bc_backend *be, const bc_btensor *table, const int32_t *ids, int n,
                       bc_btensor *out) {
    LIVE(be);
    bc_cuda_embed(c, table, ids, n, out);
}

static void cuda_rmsnorm(bc_backend *be, const bc_btensor *x, const bc_btensor *w, int n,
                         float eps, bc_btensor *out) {
    LIVE(be);
    bc_cuda_rmsnorm(c, x, w, n, eps, out);
}

static void cuda_matmul(bc_backend *be, const bc_btensor *W, const bc_btensor *x, int n,
                        bc_btensor *out) {
    LIVE(be);
    bc_cuda_matmul(c, W, x, n, out);
}

static void cuda_rope(bc_backend *be, bc_btensor *x, int n, int col0, int n_heads, int head_dim,
                      int pos0, const bc_btensor *cos_table, const bc_btensor *sin_table) {
    LIVE(be);
    bc_cuda_rope(c, x, n, col0, n_heads, head_dim, pos0, cos_table, sin_table);
}

static void cuda_attention(bc_backend *be, const bc_btensor *qkv, bc_btensor *k_cache,
                           bc_btensor *v_cache, const bc_btensor *slopes, int n, int pos0,
                           int n_heads, int head_dim, bc_btensor *scores, bc_btensor *out) {
    LIVE(be);
    bc_cuda_attention(c, qkv, k_cache, v_cache, slopes, n, pos0, n_heads, head_dim, scores, out);
}

static void cuda_copy_rows(bc_backend *be, bc_btensor *dst, int dst_row0, const bc_btensor *src,
                           int src_row0, int n) {
    LIVE(be);
    bc_cuda_copy_rows(c, dst, dst_row0, src, src_row0, n);
}

static void cuda_add(bc_backend *be, bc_btensor *x, const bc_btensor *y, int n) {
    LIVE(be);
    bc_cuda_add(c, x, y, n);
}

static void cuda_swiglu(bc_backend *be, bc_btensor *gate, const bc_btensor *up, int n) {
    LIVE(be);
    bc_cuda_swiglu(c, gate, up, n);
}

static void cuda_synchronize(bc_backend *be) {
    LIVE(be);
    CUDA_OK(c, cudaStreamSynchronize(c->stream));
}

static int cuda_step_begin(bc_backend *be, const void *key, int32_t id, int pos) {
    return bc_cuda_step_begin(cuda_ctx_of(be), key, id, pos);
}

static int cuda_step_end(bc_backend *be) { return bc_cuda_step_end(cuda_ctx_of(be)); }

static void cuda_step_forget(bc_backend *be, const void *key) {
    bc_cuda_step_forget(cuda_ctx_of(be), key);
}

static void cuda_describe(bc_backend *be, char *buf, size_t len) {
    cuda_ctx *c = cuda_ctx_of(be);
    snprintf(buf, len, "decode steps: %llu recorded as CUDA graphs, %llu replayed%s; "
             "embedding table: %.2f GiB in host memory%s",
             (unsigned long long)c->graph_recordings, (unsigned long long)c->graph_replays,
             c->graphs ? "" : " (graphs off)", (double)c->host_table_bytes / 1073741824.0,
             c->host_tables ? "" : " (BC_CUDA_HOST_EMBED=0)");
}

static int cuda_status(bc_backend *be, bc_error *err) {
    cuda_ctx *c = cuda_ctx_of(be);
    return c->failed ? bc_errorf(err, "%s", c->failure) : 0;
}

static const char *cuda_name(bc_backend *be) { (void)be; return "cuda"; }

static void cuda_memory(bc_backend *be, bc_backend_memory *m) {
    cuda_ctx *c = cuda_ctx_of(be);
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) free_b = 0;
    m->weight_bytes = c->weight_bytes + c->host_table_bytes;
    m->host_weight_bytes = c->host_table_bytes;
    m->other_bytes = c->other_bytes + c->act16_bytes;
    m->free_bytes = free_b;
}

static bc_store cuda_weight_store(bc_backend *be) { return cuda_ctx_of(be)->store; }
static bc_store cuda_kv_store(bc_backend *be) { (void)be; return BC_STORE_F16; }

static void cuda_free(bc_backend *be) {
    if (!be) return;
    cuda_ctx *c = cuda_ctx_of(be);
    if (!c->failed) cudaStreamSynchronize(c->stream);
    bc_cuda_graph_free(c);
    bc_cuda_staging_free(c);
    bc_cuda_quant_free_scratch(c);
    cudaFree(c->act16);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
    free(be);
}

/* A weight read quantized from a -4bits / 8-bit checkpoint: uploaded as it
 * is (copied; the caller keeps and frees q). */
static int cuda_tensor_load_quant(bc_backend *be, bc_btensor *t, bc_quant_tensor *q,
                                  bc_error *err) {
    cuda_ctx *c = cuda_ctx_of(be);
    if (c->failed) return bc_errorf(err, "%s", c->failure);
    return bc_cuda_quant_upload(c, t, q, err);
}

static uint64_t cuda_tensor_bytes(bc_backend *be, const bc_btensor *t) {
    (void)be;
    return bc_cuda_store_quantized(t->store) ? bc_cuda_quant_matvec_bytes(t) : t->bytes;
}

static const bc_backend_iface cuda_iface = {
    .name = cuda_name,
    .free = cuda_free,
    .memory = cuda_memory,
    .weight_store = cuda_weight_store,
    .tensor_new = cuda_tensor_new,
    .tensor_free = cuda_tensor_free,
    .tensor_load = cuda_tensor_load,
    .tensor_load_quant = cuda_tensor_load_quant,
    .tensor_bytes = cuda_tensor_bytes,
    .tensor_set = cuda_tensor_set,
    .tensor_get = cuda_tensor_get,
    .embed = cuda_embed,
    .rmsnorm = cuda_rmsnorm,
    .matmul = cuda_matmul,
    .rope = cuda_rope,
    .attention = cuda_attention,
    .copy_rows = cuda_copy_rows,
    .add = cuda_add,
    .swiglu = cuda_swiglu,
    .synchronize = cuda_synchronize,
    .kv_store = cuda_kv_store,
    .status = cuda_status,
    .step_begin = cuda_step_begin,
    .step_end = cuda_step_end,
    .step_forget = cuda_step_forget,
    .table_new = cuda_table_new,
    .describe = cuda_describe,
};

/* ========================================================================
 * Module ABI (C linkage, exported through bc_cuda.map)
 * ======================================================================== */

#define BC_EXPORT extern "C" __attribute__((visibility("default")))

BC_EXPORT int bc_cuda_module_abi_version(void) { return BC_CUDA_ABI_VERSION; }

BC_EXPORT int bc_cuda_module_probe(bc_cuda_probe_info *info, bc_error *err) {
    memset(info, 0, sizeof *info);
    cudaRuntimeGetVersion(&info->runtime_version);
    cudaDriverGetVersion(&info->driver_version);   /* 0 when no driver is installed */
    if (info->driver_version == 0)
        return bc_errorf(err, "no CUDA driver is installed (libcuda.so.1 not found)");
    /* Within one major version a newer runtime runs on an older driver
     * (minor version compatibility); across majors it cannot. */
    if (info->driver_version / 1000 < info->runtime_version / 1000)
        return bc_errorf(err, "the CUDA driver supports CUDA %d.%d but this module was built with "
                         "CUDA %d.%d: update the NVIDIA driver", info->driver_version / 1000,
                         info->driver_version % 1000 / 10, info->runtime_version / 1000,
                         info->runtime_version % 1000 / 10);
    cudaError_t e = cudaGetDeviceCount(&info->device_count);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && info->device_count == 0)) {
        (void)cudaGetLastError();
        return bc_errorf(err, "no CUDA device found (check nvidia-smi and CUDA_VISIBLE_DEVICES)");
    }
    if (e == cudaErrorInsufficientDriver) {
        (void)cudaGetLastError();
        return bc_errorf(err, "the CUDA driver (CUDA %d.%d) is too old for this module (CUDA "
                         "%d.%d): update the NVIDIA driver", info->driver_version / 1000,
                         info->driver_version % 1000 / 10, info->runtime_version / 1000,
                         info->runtime_version % 1000 / 10);
    }
    CUDA_TRY_ERR(err, e);
    cudaDeviceProp prop;
    CUDA_TRY_ERR(err, cudaGetDeviceProperties(&prop, 0));
    snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->cc_major = prop.major;
    info->cc_minor = prop.minor;
    info->multiprocessors = prop.multiProcessorCount;
    if (prop.major < 8)
        return bc_errorf(err, "%s has compute capability %d.%d; the CUDA backend needs 8.0 or "
                         "newer (Ampere, Ada, Hopper)", prop.name, prop.major, prop.minor);
    CUDA_TRY_ERR(err, cudaSetDevice(0));
    size_t free_b = 0, total_b = 0;
    CUDA_TRY_ERR(err, cudaMemGetInfo(&free_b, &total_b));
    info->free_bytes = free_b;
    info->total_bytes = total_b;
    return 0;
}

BC_EXPORT int bc_cuda_module_backend_new(const bc_backend_params *p, bc_backend **out,
                                         bc_error *err) {
    if (p->store == BC_STORE_F32 || p->store >= BC_STORE_COUNT)
        return bc_errorf(err, "weights in %s are not supported on the GPU (use --quant f16, "
                         "bf16, int8 or nf4)", bc_cuda_store_name(p->store));
    CUDA_TRY_ERR(err, cudaSetDevice(0));
    bc_backend *be = (bc_backend *)calloc(1, sizeof *be);
    cuda_ctx *c = (cuda_ctx *)calloc(1, sizeof *c);
    if (!be || !c) { free(be); free(c); return bc_errorf(err, "cuda backend: out of memory"); }
    be->iface = &cuda_iface;
    be->ctx = c;
    c->store = p->store;
    const char *sync = getenv("BC_CUDA_SYNC");
    c->sync_each = sync && *sync && strcmp(sync, "0");
    /* a synchronize after each launch cannot be recorded */
    const char *host_embed = getenv("BC_CUDA_HOST_EMBED");
    c->host_tables = !(host_embed && strcmp(host_embed, "0") == 0);
    const char *graphs = getenv("BC_CUDA_GRAPHS");
    c->graphs = !c->sync_each && !(graphs && strcmp(graphs, "0") == 0);
    cudaError_t e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    if (e == cudaSuccess) s = cublasCreate(&c->blas);
    if (s == CUBLAS_STATUS_SUCCESS && e == cudaSuccess) s = cublasSetStream(c->blas, c->stream);
    /* Tensor cores with fp32 accumulation; no reduced-precision reductions. */
    if (s == CUBLAS_STATUS_SUCCESS && e == cudaSuccess)
        s = cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH);
    if (e != cudaSuccess || s != CUBLAS_STATUS_SUCCESS) {
        int rc = e != cudaSuccess
            ? bc_errorf(err, "cuda: cannot create a stream: %s", cudaGetErrorString(e))
            : bc_errorf(err, "cublas: cannot create a handle: %s", cublas_status_name(s));
        (void)cudaGetLastError();
        cuda_free(be);
        return rc;
    }
    *out = be;
    return 0;
}

BC_EXPORT int bc_cuda_module_fill_uniform(bc_backend *be, bc_btensor *t, uint64_t seed, float lo,
                                          float hi, bc_error *err) {
    if (!be || be->iface != &cuda_iface)
        return bc_errorf(err, "cuda: fill_uniform needs a tensor of the CUDA backend");
    cuda_ctx *c = cuda_ctx_of(be);
    if (c->failed) return bc_errorf(err, "%s", c->failure);
    if (bc_cuda_store_quantized(t->store))   /* random codes, scales of the range's size */
        return bc_cuda_quant_fill_random(c, t, seed, fmaxf(fabsf(lo), fabsf(hi)), err);
    bc_cuda_fill_uniform(c, t, seed, lo, hi);
    return c->failed ? bc_errorf(err, "%s", c->failure) : 0;
}

BC_EXPORT int bc_cuda_module_quant_download(bc_backend *be, const bc_btensor *t,
                                            bc_quant_tensor *out, bc_error *err) {
    if (!be || be->iface != &cuda_iface)
        return bc_errorf(err, "cuda: quant_download needs a tensor of the CUDA backend");
    cuda_ctx *c = cuda_ctx_of(be);
    if (c->failed) return bc_errorf(err, "%s", c->failure);
    return bc_cuda_quant_download(c, t, out, err);
}

BC_EXPORT int bc_cuda_module_copy_bandwidth(uint64_t bytes, double *bytes_per_s, bc_error *err) {
    *bytes_per_s = 0.0;
    void *a = NULL, *b = NULL;
    cudaEvent_t t0 = NULL, t1 = NULL;
    int rc = 0;
    cudaError_t e = cudaMalloc(&a, bytes);
    if (e == cudaSuccess) e = cudaMalloc(&b, bytes);
    if (e == cudaSuccess) e = cudaMemset(a, 1, bytes);
    if (e == cudaSuccess) e = cudaEventCreate(&t0);
    if (e == cudaSuccess) e = cudaEventCreate(&t1);
    for (int run = 0; run < 5 && e == cudaSuccess; run++) {
        float ms = 0.0f;
        e = cudaEventRecord(t0, 0);
        if (e == cudaSuccess) e = cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, 0);
        if (e == cudaSuccess) e = cudaEventRecord(t1, 0);
        if (e == cudaSuccess) e = cudaEventSynchronize(t1);
        if (e == cudaSuccess) e = cudaEventElapsedTime(&ms, t0, t1);
        /* a copy reads and writes every byte */
        double bw = e == cudaSuccess && ms > 0.0f ? 2.0 * (double)bytes / (ms * 1e-3) : 0.0;
        if (run > 0 && bw > *bytes_per_s) *bytes_per_s = bw;   /* run 0 warms up */
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        rc = bc_errorf(err, "cuda: copy bandwidth over %.0f MiB: %s", (double)bytes / 1048576.0,
                       cudaGetErrorString(e));
    }
    if (t0) cudaEventDestroy(t0);
    if (t1) cudaEventDestroy(t1);
    cudaFree(a);
    cudaFree(b);
    return rc;
}
