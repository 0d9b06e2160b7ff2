/* bc_model: the Baichuan2 forward pass (baichuan2.md §2), described once and
 * executed through a bc_backend.
 *
 *   h = embed_tokens[ids]
 *   per layer: h += o_proj(Attn(W_pack · RMSNorm(h)))
 *              h += down(silu(gate · RMSNorm(h)) * (up · RMSNorm(h)))
 *   logits = NormHead(RMSNorm(h))
 *
 * Positions come from RoPE (7B shape) or ALiBi (13B shape), chosen by the
 * config. The model owns the KV cache (fp32, `ctx` positions) and every
 * scratch buffer; all are allocated by bc_model_load, so running tokens never
 * allocates. Which positions of the cache hold valid keys is the caller's
 * business (bc_engine tracks the ids it prefilled). */
#ifndef BC_MODEL_H
#define BC_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "bc_error.h"
#include "checkpoint.h"
#include "model_config.h"

typedef struct bc_model bc_model;

/* Load progress: bytes of checkpoint tensor data converted so far / total. */
typedef void (*bc_model_progress_fn)(void *user, uint64_t done, uint64_t total);

typedef struct bc_model_params {
    int ctx;        /* KV cache length in tokens; 0 = cfg->model_max_length */
    int max_batch;  /* tokens per prefill step; 0 = 64 */
    bool dense_f32; /* quantized linears: keep embed_tokens and lm_head in f32
                       instead of bf16 (tests comparing against fp32 references) */
} bc_model_params;

/* Checks every tensor named in baichuan2.md §6.2 against cfg (missing, wrong
 * shape or unsupported dtype is an error naming the tensor; extra keys are
 * ignored) and converts them into backend storage. The five per-layer
 * linears may be stored quantized in the checkpoint (bitsandbytes layouts,
 * quant_ckpt.h): taken as they are when the backend's weight store is that
 * format, else dequantized. With an int8/nf4 store, plain linears are
 * quantized online as they stream from the checkpoint; each tensor's
 * checkpoint pages are released once converted. The model keeps using
 * `be` (not owned) but not `ck`: the checkpoint may be closed afterwards. */
int bc_model_load(const bc_model_config *cfg, const bc_checkpoint *ck, bc_backend *be,
                  const bc_model_params *params, bc_model_progress_fn progress,
                  void *user, bc_model **out, bc_error *err);

/* A model of cfg's shapes whose weights are not read from a checkpoint but
 * made by fill (random values generated on the device, say): benchmarks of
 * the real 7B/13B shapes without a 15 GB file (synthetic_model.h). fill gets
 * each weight tensor, [rows, cols], right after it is created; `norm` is true
 * for the RMSNorm vectors ([1, hidden]). progress (may be NULL) is called
 * after each tensor with 2 bytes counted per value made, as if read from a
 * bf16 checkpoint. */
typedef int (*bc_model_fill_fn)(void *user, bc_backend *be, bc_btensor *t, int64_t rows,
                                int64_t cols, bool norm, bc_error *err);
int bc_model_new_synthetic(const bc_model_config *cfg, bc_backend *be,
                           const bc_model_params *params, bc_model_fill_fn fill, void *fill_user,
                           bc_model_progress_fn progress, void *user, bc_model **out,
                           bc_error *err);

void bc_model_free(bc_model *m);

/* Runs ids[0..n) at positions pos..pos+n-1 (prefill in batches of max_batch
 * when n > 1; n == 1 is a decode step), filling the KV cache. Writes the
 * logits of the last token (logits: [vocab]) or, with all_rows, of every
 * token (logits: [n, vocab]). Fails if pos + n > ctx or an id is out of range. */
int bc_model_forward(bc_model *m, const int32_t *ids, int n, int pos, bool all_rows,
                     float *logits, bc_error *err);

int bc_model_ctx(const bc_model *m);
int bc_model_vocab(const bc_model *m);
const bc_model_config *bc_model_get_config(const bc_model *m);
/* Bytes of weights streamed by one decode step (every linear + lm_head +
 * norms + one embedding row), in backend storage. */
uint64_t bc_model_decode_weight_bytes(const bc_model *m);
/* Floating-point operations of a prefill of n tokens (2 per multiply-add of
 * every linear layer, plus lm_head for the last row only; attention scores
 * not counted), for GFLOP/s figures. */
double bc_model_prefill_flops(const bc_model *m, int n_tokens);

/* ALiBi slopes of Baichuan2's _get_interleave(n_heads) (any n >= 1). */
void bc_alibi_slopes(int n_heads, double *slopes);

#endif
