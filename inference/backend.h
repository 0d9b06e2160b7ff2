/* bc_backend: where tensors live and how the model's operations run on them.
 *
 * Shaped like ggml's backend objects: a handle is `{ iface; ctx }`, where iface
 * is a table of function pointers a backend fills in and ctx is its private
 * state. model.c describes the Baichuan2 forward pass purely in terms of these
 * operations on opaque tensors (bc_btensor), so the same description runs on
 * the CPU backend (backend_cpu.c) and on the CUDA backend, a module dlopen'ed
 * at run time that exports the same table. Nothing here assumes that a
 * tensor's memory can be read through a CPU pointer: data moves between host
 * and backend only through tensor_load / tensor_set / tensor_get.
 *
 * Every tensor is a 2-D row-major matrix [rows, cols]. Activations and small
 * tables are always fp32; the KV cache is in the backend's kv_store (fp32 on
 * the CPU, fp16 on CUDA); weights are stored in the backend's storage format
 * (f32 / bf16 / f16) and computed in fp32. All tensors are
 * created while loading: the operations themselves never allocate. */
#ifndef BC_BACKEND_H
#define BC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bc_error.h"
#include "checkpoint.h"
#include "quant.h"

typedef struct bc_backend bc_backend;
typedef struct bc_btensor bc_btensor;   /* opaque, owned by its backend */

/* How a tensor's elements are stored on the backend. */
typedef enum bc_store {
    BC_STORE_F32 = 0,   /* activations, norms, tables, --quant f32 weights */
    BC_STORE_BF16,      /* --quant bf16 weights: 16-bit storage, fp32 compute */
    BC_STORE_F16,       /* --quant f16 weights and the CUDA KV cache (CUDA backend only) */
    BC_STORE_INT8,      /* --quant int8: per-row absmax int8 (bc_quant_int8), linears only */
    BC_STORE_NF4,       /* --quant nf4: bitsandbytes NF4 (bc_quant_nf4), linears only */
    BC_STORE_COUNT
} bc_store;

const char *bc_store_name(bc_store s);           /* "f32", "bf16", "f16", "int8", "nf4" */
/* Parses a store name; returns -1 for an unknown name. Whether a backend can
 * store it is the backend's business (the CPU rejects f16, CUDA int8/nf4). */
int bc_store_parse(const char *name, bc_store *out);

/* Reported while a weight is converted: bytes of *source* data done so far
 * within the current tensor (the caller adds its running total). */
typedef void (*bc_load_progress_fn)(void *user, uint64_t tensor_bytes_done);

typedef struct bc_backend_memory {
    uint64_t weight_bytes;   /* bytes of weight tensors in backend storage (host_weight_bytes
                                included) */
    uint64_t host_weight_bytes; /* of those, kept in host memory by a device backend (table_new) */
    uint64_t other_bytes;    /* activations, KV cache, tables, scratch */
    uint64_t free_bytes;     /* device memory still free (0 = unknown / host RAM) */
} bc_backend_memory;

typedef struct bc_backend_iface {
    const char *(*name)(bc_backend *be);                  /* "cpu", "cuda" */
    void (*free)(bc_backend *be);                         /* frees every tensor too */
    void (*memory)(bc_backend *be, bc_backend_memory *m);
    /* Storage the model should use for its large matrices (from --quant). */
    bc_store (*weight_store)(bc_backend *be);

    /* --- tensors ------------------------------------------------------- */
    /* A new [rows, cols] tensor, zero-filled. weight = counts as weight memory. */
    bc_btensor *(*tensor_new)(bc_backend *be, int64_t rows, int64_t cols,
                              bc_store store, bool weight, bc_error *err);
    void (*tensor_free)(bc_backend *be, bc_btensor *t);
    /* Converts a checkpoint tensor (F32/F16/BF16, host memory, may be mmapped)
     * into t's storage, streaming row blocks. Each row r is multiplied by
     * row_scale[r] first when row_scale != NULL (NormHead's normalisation). */
    int (*tensor_load)(bc_backend *be, bc_btensor *t, const bc_tensor *src,
                       const float *row_scale, bc_load_progress_fn progress,
                       void *user, bc_error *err);
    /* Takes a weight that is already quantized in host memory (read as is from
     * a -4bits or 8-bit checkpoint) into t, whose store must be the matching
     * BC_STORE_NF4 / BC_STORE_INT8. The backend takes over q's allocation
     * (q->...storage is NULL afterwards) or copies it; q must own its memory.
     * For INT8/NF4 stores, tensor_load above quantizes F32/F16/BF16 sources
     * online (NF4 with double quantization, as Baichuan2's quantizer). */
    int (*tensor_load_quant)(bc_backend *be, bc_btensor *t, bc_quant_tensor *q,
                             bc_error *err);
    /* Bytes one matvec over t reads (codes + scales for quantized stores). */
    uint64_t (*tensor_bytes)(bc_backend *be, const bc_btensor *t);
    /* Host <-> backend copies of rows [row0, row0+nrows) of an fp32 tensor. */
    void (*tensor_set)(bc_backend *be, bc_btensor *t, int64_t row0, int64_t nrows,
                       const float *src);
    void (*tensor_get)(bc_backend *be, const bc_btensor *t, int64_t row0,
                       int64_t nrows, float *dst);

    /* --- operations (n = number of token rows in the batch) ------------- */
    /* out[i,:] = table[ids[i],:]; ids are host ints already range-checked. */
    void (*embed)(bc_backend *be, const bc_btensor *table, const int32_t *ids,
                  int n, bc_btensor *out);
    /* out[i,:] = x[i,:] * rsqrt(mean(x[i,:]^2) + eps) * w (w: [1, cols]). */
    void (*rmsnorm)(bc_backend *be, const bc_btensor *x, const bc_btensor *w,
                    int n, float eps, bc_btensor *out);
    /* out[i, o] = sum_k x[i, k] * W[o, k] for i < n (W in weight storage).
     * n == 1 is the decode matvec; n > 1 the prefill matmul. */
    void (*matmul)(bc_backend *be, const bc_btensor *W, const bc_btensor *x,
                   int n, bc_btensor *out);
    /* rotate_half RoPE in place on columns [col0, col0 + n_heads*head_dim) of
     * x's first n rows; row i is at position pos0 + i. Within a head dims j and
     * j + d/2 are rotated together by angle pos*inv_freq[j].
     * cos_table/sin_table: [max_pos, head_dim/2]. */
    void (*rope)(bc_backend *be, bc_btensor *x, int n, int col0, int n_heads,
                 int head_dim, int pos0, const bc_btensor *cos_table,
                 const bc_btensor *sin_table);
    /* Causal multi-head attention with a KV cache.
     *  qkv:   [n, 3H] rows Q|K|V (H = n_heads*head_dim), already rotated;
     *  k_cache, v_cache: [ctx, H]; rows pos0..pos0+n-1 are written from qkv;
     *  slopes: [1, n_heads] ALiBi slopes (bias -s_h*(i-j)) or NULL;
     *  scores: scratch [>= n*n_heads, >= pos0+n];
     *  out:   [n, H], heads concatenated.
     * Query row i (position pos0+i) attends to keys 0..pos0+i, scale 1/sqrt(d). */
    void (*attention)(bc_backend *be, const bc_btensor *qkv, bc_btensor *k_cache,
                      bc_btensor *v_cache, const bc_btensor *slopes, int n,
                      int pos0, int n_heads, int head_dim, bc_btensor *scores,
                      bc_btensor *out);
    /* dst rows [dst_row0, +n) = src rows [src_row0, +n) (fp32, same cols). */
    void (*copy_rows)(bc_backend *be, bc_btensor *dst, int dst_row0,
                      const bc_btensor *src, int src_row0, int n);
    /* x[i,:] += y[i,:] for i < n. */
    void (*add)(bc_backend *be, bc_btensor *x, const bc_btensor *y, int n);
    /* gate[i,:] = silu(gate[i,:]) * up[i,:] for i < n. */
    void (*swiglu)(bc_backend *be, bc_btensor *gate, const bc_btensor *up, int n);
    /* Waits until every queued operation is done (no-op on the CPU). */
    void (*synchronize)(bc_backend *be);

    /* --- optional slots (NULL = the default in the comment) ------------- */
    /* Storage of the KV cache tensors (NULL: f32). Only `attention` reads or
     * writes them, so a backend may keep them narrower than fp32. */
    bc_store (*kv_store)(bc_backend *be);
    /* Operations return nothing; a backend whose work can fail later (a GPU
     * fault, a launch error) records the first failure and refuses further
     * work. Returns 0, or -1 with that message (NULL: never fails). */
    int (*status)(bc_backend *be, bc_error *err);
    /* A decode step (one token, the last row's logits) recorded once and
     * replayed (a CUDA graph). The caller owns the protocol (model.c):
     *   step_begin(key, id, pos) ->
     *     BC_STEP_REPLAYED:  the recording of key's step already runs for
     *                        token id at pos: issue no operations;
     *     BC_STEP_RECORDING: issue the step's operations, then step_end;
     *     BC_STEP_DIRECT:    issue them, no step_end.
     *   step_end() -> 0 (the recorded step runs), or -1: nothing was recorded
     *     or run; issue the operations again, directly.
     * The caller reads the logits (tensor_get) before the next step, and
     * calls step_forget(key) before the tensors of key's step are freed. */
    int (*step_begin)(bc_backend *be, const void *key, int32_t id, int pos);
    int (*step_end)(bc_backend *be);
    void (*step_forget)(bc_backend *be, const void *key);
    /* A [rows, cols] weight that only `embed` reads, one row per token (the
     * token embedding): a backend with memory of its own may keep it in host
     * memory, saving 1 GiB of GPU memory on 7B for microseconds per token
     * (NULL: tensor_new). Loaded with tensor_load like any weight. */
    bc_btensor *(*table_new)(bc_backend *be, int64_t rows, int64_t cols, bc_store store,
                             bc_error *err);
    /* One line of what the backend did that the figures do not show (CUDA:
     * graph recordings and replays, where the embedding lives), for
     * benchmarks; NULL: nothing to say. New slots go after this one. */
    void (*describe)(bc_backend *be, char *buf, size_t len);
} bc_backend_iface;

enum { BC_STEP_DIRECT = 0, BC_STEP_RECORDING = 1, BC_STEP_REPLAYED = 2 };

struct bc_backend {
    const bc_backend_iface *iface;
    void *ctx;
};

typedef struct bc_backend_params {
    int threads;     /* 0 = number of online cores */
    bc_store store;  /* weight storage */
} bc_backend_params;

/* The CPU backend: fp32 compute, weights in f32, bf16, int8 or nf4. */
int bc_backend_cpu_new(const bc_backend_params *p, bc_backend **out, bc_error *err);

/* Threads the CPU backend actually uses (for stats); 0 for other backends. */
int bc_backend_cpu_threads(const bc_backend *be);

#endif
