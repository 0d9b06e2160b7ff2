/* The Baichuan2 forward pass (baichuan2.md §2) over the backend interface.
 *
 * Sections: weights and state (what lives on the backend), loading (names and
 * shapes checked against the config, conversion with progress, NormHead),
 * position tables (RoPE cos/sin, ALiBi slopes), and the forward pass. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels.h"   /* host-side bf16/f16 -> f32 and the RoPE table */
#include "quant_ckpt.h"

/* ========================================================================
 * Weights and state
 * ======================================================================== */

typedef struct layer_weights {
    bc_btensor *attn_norm;  /* input_layernorm [1, H] f32 */
    bc_btensor *w_pack;     /* self_attn.W_pack [3H, H]: rows Q | K | V */
    bc_btensor *o_proj;     /* self_attn.o_proj [H, H] */
    bc_btensor *mlp_norm;   /* post_attention_layernorm [1, H] f32 */
    bc_btensor *gate;       /* mlp.gate_proj [I, H] */
    bc_btensor *up;         /* mlp.up_proj [I, H] */
    bc_btensor *down;       /* mlp.down_proj [H, I] */
    bc_btensor *k_cache;    /* [ctx, H] keys after RoPE, in the backend's kv_store */
    bc_btensor *v_cache;    /* [ctx, H] */
} layer_weights;

struct bc_model {
    bc_model_config cfg;
    bc_backend *be;              /* not owned */
    int H, n_heads, head_dim, I, V, n_layers;
    int ctx;                     /* KV cache positions */
    int max_batch;               /* rows of every scratch tensor */

    bc_btensor *embed;           /* embed_tokens [V, H] */
    layer_weights *layers;       /* [n_layers] */
    bc_btensor *final_norm;      /* model.norm [1, H] f32 */
    bc_btensor *lm_head;         /* [V, H], rows L2-normalised at load (NormHead) */

    bc_btensor *rope_cos, *rope_sin;  /* [ctx, head_dim/2] (RoPE models) */
    bc_btensor *alibi;                /* [1, n_heads] slopes (ALiBi models) */

    /* Scratch, [max_batch, width] unless stated. */
    bc_btensor *x;               /* residual stream [.., H] */
    bc_btensor *xn;              /* normed [.., H] */
    bc_btensor *qkv;             /* [.., 3H] */
    bc_btensor *attn;            /* attention output [.., H] */
    bc_btensor *proj;            /* o_proj / down_proj output [.., H] */
    bc_btensor *gate, *up;       /* [.., I] */
    bc_btensor *last;            /* [logit_rows, H]: rows whose logits are wanted */
    bc_btensor *logits;          /* [logit_rows, V] */
    int logit_rows;              /* rows of lm_head output per step (all_rows) */
    bc_btensor *scores;          /* [max_batch * n_heads, ctx] attention scores */

    uint64_t decode_weight_bytes;
};

#define BE(m) ((m)->be->iface)

/* ========================================================================
 * Loading
 * ======================================================================== */

typedef struct load_state {
    bc_model *m;
    const bc_checkpoint *ck;
    bc_store store;              /* storage of the five per-layer linears */
    bc_store dense_store;        /* embed_tokens and lm_head (never quantized) */
    bc_model_progress_fn progress;
    void *user;
    uint64_t done, total;        /* source bytes */
    bc_model_fill_fn fill;       /* synthetic models (ck == NULL) */
    void *fill_user;
    const bc_tensor *src;        /* the tensor being converted */
    uint64_t released;           /* bytes of src whose pages were released */
} load_state;

/* Releases the checkpoint pages of src's bytes [released, upto): they have
 * been converted. Big tensors (lm_head: 1 GB in 7B bf16) are released while
 * they convert, so the source is never resident whole beside its copy. */
static void release_source_prefix(load_state *ls, uint64_t upto) {
    if (!ls->src || upto <= ls->released) return;
    bc_tensor part = *ls->src;
    part.data = (const unsigned char *)ls->src->data + ls->released;
    part.nbytes = upto - ls->released;
    bc_checkpoint_release(ls->ck, &part);
    ls->released = upto;
}

static void tensor_progress(void *user, uint64_t tensor_done) {
    load_state *ls = user;
    release_source_prefix(ls, tensor_done);
    if (ls->progress) ls->progress(ls->user, ls->done + tensor_done, ls->total);
}

/* Finds `name` and checks that it is [rows, cols] (cols == 0: a vector of
 * rows elements) in a dtype we can convert. */
static int find_checked(const bc_checkpoint *ck, const char *name, int64_t rows, int64_t cols,
                        const bc_tensor **out, bc_error *err) {
    const bc_tensor *t = bc_checkpoint_find(ck, name);
    if (!t) return bc_errorf(err, "checkpoint: tensor %s is missing", name);
    const char *file = t->file ? t->file : "checkpoint";
    bool shape_ok = cols ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                         : (t->ndim == 1 && t->shape[0] == rows);
    if (!shape_ok) {
        char got[96] = "[", want[64];
        for (int k = 0; k < t->ndim && k < BC_MAX_DIMS; k++) {
            size_t l = strlen(got);
            snprintf(got + l, sizeof got - l, "%s%lld", k ? ", " : "", (long long)t->shape[k]);
        }
        strncat(got, "]", sizeof got - strlen(got) - 1);
        if (cols) snprintf(want, sizeof want, "[%lld, %lld]", (long long)rows, (long long)cols);
        else snprintf(want, sizeof want, "[%lld]", (long long)rows);
        return bc_errorf(err, "%s: tensor %s: shape %s, expected %s from config.json", file,
                         name, got, want);
    }
    if (t->dtype != BC_DTYPE_F32 && t->dtype != BC_DTYPE_F16 && t->dtype != BC_DTYPE_BF16)
        return bc_errorf(err, "%s: tensor %s: dtype %s is not supported (expected F32, F16 or BF16)",
                         file, name, bc_dtype_name(t->dtype));
    *out = t;
    return 0;
}

static double source_value(const bc_tensor *t, size_t i) {
    const unsigned char *p = t->data;
    uint16_t h;
    float f;
    switch (t->dtype) {
    case BC_DTYPE_F32: memcpy(&f, p + 4 * i, 4); return f;
    case BC_DTYPE_BF16: memcpy(&h, p + 2 * i, 2); return bc_bf16_to_f32(h);
    case BC_DTYPE_F16: memcpy(&h, p + 2 * i, 2); return bc_f16_to_f32(h);
    default: return 0.0;
    }
}

/* NormHead: 1 / max(||row||_2, 1e-12) per vocab row (F.normalize, dim=1). */
static float *lm_head_row_scales(load_state *ls, const bc_tensor *t, int64_t rows,
                                 int64_t cols) {
    float *scale = malloc((size_t)rows * sizeof(float));
    if (!scale) return NULL;
    uint64_t row_bytes = (uint64_t)cols * bc_dtype_size(t->dtype);
    for (int64_t r = 0; r < rows; r++) {
        /* the rows read so far are only needed again for the conversion,
         * which re-reads them from the page cache */
        if ((r & 4095) == 0) release_source_prefix(ls, (uint64_t)r * row_bytes);
        double ss = 0.0;
        for (int64_t k = 0; k < cols; k++) {
            double v = source_value(t, (size_t)(r * cols + k));
            ss += v * v;
        }
        double norm = sqrt(ss);
        scale[r] = (float)(1.0 / (norm > 1e-12 ? norm : 1e-12));
    }
    return scale;
}

/* A weight tensor; the token embedding (table) where the backend keeps
 * such tables (backend.h, table_new). */
static bc_btensor *new_weight(bc_backend *be, int64_t rows, int64_t cols, bc_store store,
                              bool table, bc_error *err) {
    if (table && be->iface->table_new) return be->iface->table_new(be, rows, cols, store, err);
    return be->iface->tensor_new(be, rows, cols, store, true, err);
}

/* What a weight is, for load_weight. */
enum {
    WEIGHT_MATRIX = 0,
    WEIGHT_VECTOR = 1,     /* an RMSNorm weight: [hidden] in the checkpoint, [1, hidden] here */
    WEIGHT_NORM_ROWS = 2,  /* lm_head: NormHead scales each row to unit length */
    WEIGHT_TABLE = 4,      /* the token embedding: rows are looked up, never multiplied */
};

/* Synthetic models count 2 bytes (bf16) per made value for the progress bar. */
static void count_made(load_state *ls, int64_t rows, int64_t cols) {
    ls->done += (uint64_t)rows * (uint64_t)cols * 2u;
    if (ls->progress) ls->progress(ls->user, ls->done, ls->total);
}

/* Creates a backend tensor for checkpoint tensor `name` and converts it. */
static int load_weight(load_state *ls, const char *name, int64_t rows, int64_t cols,
                       int role, bc_store store, bc_btensor **out, bc_error *err) {
    bc_backend *be = ls->m->be;
    bool vector = role & WEIGHT_VECTOR, norm_rows = role & WEIGHT_NORM_ROWS,
         table = role & WEIGHT_TABLE;
    if (!ls->ck) {   /* synthetic model: the caller fills every weight */
        bc_btensor *t = new_weight(be, rows, cols, store, table, err);
        if (!t) return bc_error_prefix(err, "tensor %s", name);
        *out = t;
        if (ls->fill(ls->fill_user, be, t, rows, cols, vector, err))
            return bc_error_prefix(err, "tensor %s", name);
        count_made(ls, rows, cols);
        return 0;
    }
    const bc_tensor *src;
    if (find_checked(ls->ck, name, vector ? rows * cols : rows, vector ? 0 : cols, &src, err))
        return -1;
    bc_btensor *t = new_weight(be, rows, cols, store, table, err);
    if (!t) return bc_error_prefix(err, "tensor %s", name);
    *out = t;
    float *scale = NULL;
    ls->src = src;
    ls->released = 0;
    if (norm_rows && !(scale = lm_head_row_scales(ls, src, rows, cols)))
        return bc_errorf(err, "tensor %s: out of memory", name);
    ls->released = 0;   /* the conversion reads from the start again */
    int rc = be->iface->tensor_load(be, t, src, scale, tensor_progress, ls, err);
    ls->src = NULL;
    free(scale);
    if (rc) return bc_error_prefix(err, "%s", src->file ? src->file : "checkpoint");
    /* converted: its checkpoint pages need not stay resident (peak memory
     * while loading stays near the final size) */
    bc_checkpoint_release(ls->ck, src);
    ls->done += src->nbytes;
    return 0;
}

static bool store_is_quantized(bc_store s) { return s == BC_STORE_INT8 || s == BC_STORE_NF4; }

/* A weight the checkpoint holds quantized, going into another storage
 * (e.g. a -4bits model run with --quant f32): dequantized to fp32 and
 * converted like a plain fp32 tensor. */
static int load_dequantized(load_state *ls, const char *name, bc_quant_tensor *q, bc_btensor *t,
                            bc_error *err) {
    bc_backend *be = ls->m->be;
    int64_t rows = q->format == BC_QUANT_INT8 ? q->int8.rows : q->nf4.rows;
    int64_t cols = q->format == BC_QUANT_INT8 ? q->int8.cols : q->nf4.cols;
    float *w = malloc((size_t)rows * (size_t)cols * sizeof(float));
    if (!w) return bc_errorf(err, "tensor %s: out of memory dequantizing", name);
    if (q->format == BC_QUANT_INT8) bc_dequantize_int8(&q->int8, w);
    else bc_dequantize_nf4(&q->nf4, w);
    bc_tensor src = {.name = name, .dtype = BC_DTYPE_F32, .ndim = 2, .shape = {rows, cols},
                     .data = w, .nbytes = (uint64_t)rows * (uint64_t)cols * 4u, .file = "memory"};
    int rc = be->iface->tensor_load(be, t, &src, NULL, NULL, NULL, err);
    free(w);
    return rc;
}

/* One of the five per-layer linears: quantized in the checkpoint (taken as
 * is when the storage matches, else dequantized) or a plain tensor
 * (converted, and quantized online for --quant int8 / nf4). */
static int load_linear(load_state *ls, const char *module, int64_t rows, int64_t cols,
                       bc_btensor **out, bc_error *err) {
    bc_backend *be = ls->m->be;
    char name[160];
    snprintf(name, sizeof name, "%s.weight", module);
    bc_quant_tensor q;
    uint64_t src_bytes;
    if (!ls->ck) return load_weight(ls, name, rows, cols, WEIGHT_MATRIX, ls->store, out, err);
    int found = bc_quant_ckpt_read(ls->ck, module, rows, cols, &q, &src_bytes, err);
    if (found < 0) return -1;
    if (!found) return load_weight(ls, name, rows, cols, WEIGHT_MATRIX, ls->store, out, err);
    bc_btensor *t = be->iface->tensor_new(be, rows, cols, ls->store, true, err);
    if (!t) { bc_quant_tensor_free(&q); return bc_error_prefix(err, "tensor %s", name); }
    *out = t;
    bool as_is = (q.format == BC_QUANT_NF4 && ls->store == BC_STORE_NF4) ||
                 (q.format == BC_QUANT_INT8 && ls->store == BC_STORE_INT8);
    int rc = as_is ? be->iface->tensor_load_quant(be, t, &q, err)
                   : load_dequantized(ls, name, &q, t, err);
    bc_quant_tensor_free(&q);
    if (rc) return bc_error_prefix(err, "tensor %s", name);
    ls->done += src_bytes;
    if (ls->progress) ls->progress(ls->user, ls->done, ls->total);
    return 0;
}

static uint64_t expected_source_bytes(const bc_checkpoint *ck, const bc_model_config *c) {
    char name[128];
    uint64_t total = 0;
    const char *top[] = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
    const char *per_layer[] = {"input_layernorm", "self_attn.W_pack", "self_attn.o_proj",
                               "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj",
                               "mlp.down_proj"};
    for (size_t k = 0; k < 3; k++) {
        const bc_tensor *t = bc_checkpoint_find(ck, top[k]);
        if (t) total += t->nbytes;
    }
    for (int l = 0; l < c->num_hidden_layers; l++)
        for (size_t k = 0; k < 7; k++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", l, per_layer[k]);
            uint64_t quantized = bc_quant_ckpt_source_bytes(ck, name);
            strncat(name, ".weight", sizeof name - strlen(name) - 1);
            const bc_tensor *t = bc_checkpoint_find(ck, name);
            if (quantized) total += quantized;
            else if (t) total += t->nbytes;
        }
    return total;
}

/* What count_made adds up to for a synthetic model of cfg's shapes. */
static uint64_t synthetic_bytes(const bc_model_config *c) {
    uint64_t H = (uint64_t)c->hidden_size, I = (uint64_t)c->intermediate_size,
             V = (uint64_t)c->vocab_size, L = (uint64_t)c->num_hidden_layers;
    return 2u * (2u * V * H + H + L * (2u * H + 4u * H * H + 3u * H * I));
}

static int load_all_weights(load_state *ls, bc_error *err) {
    bc_model *m = ls->m;
    int H = m->H, I = m->I, V = m->V;
    bc_store st = ls->dense_store;
    if (load_weight(ls, "model.embed_tokens.weight", V, H, WEIGHT_TABLE, st, &m->embed, err))
        return -1;
    char name[128];
    for (int l = 0; l < m->n_layers; l++) {
        layer_weights *w = &m->layers[l];
#define NORM(suffix, field)                                                          \
        snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, suffix);         \
        if (load_weight(ls, name, 1, H, WEIGHT_VECTOR, BC_STORE_F32, &w->field, err)) return -1;
#define LINEAR(suffix, rows, cols, field)                                            \
        snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);                \
        if (load_linear(ls, name, rows, cols, &w->field, err)) return -1;
        NORM("input_layernorm", attn_norm)
        LINEAR("self_attn.W_pack", 3 * H, H, w_pack)
        LINEAR("self_attn.o_proj", H, H, o_proj)
        NORM("post_attention_layernorm", mlp_norm)
        LINEAR("mlp.gate_proj", I, H, gate)
        LINEAR("mlp.up_proj", I, H, up)
        LINEAR("mlp.down_proj", H, I, down)
#undef NORM
#undef LINEAR
    }
    if (load_weight(ls, "model.norm.weight", 1, H, WEIGHT_VECTOR, BC_STORE_F32, &m->final_norm,
                    err))
        return -1;
    return load_weight(ls, "lm_head.weight", V, H, WEIGHT_NORM_ROWS, st, &m->lm_head, err);
}

/* ========================================================================
 * Position tables
 * ======================================================================== */

/* _get_interleave: for a power of two n, s_h = r^(h+1) with r = 2^(-8/n);
 * otherwise the slopes of the largest power of two c < n followed by the
 * even-indexed slopes of 2c, up to n in total. */
void bc_alibi_slopes(int n, double *slopes) {
    int c = 1;
    while (c * 2 <= n) c *= 2;
    double r = pow(2.0, -8.0 / c);
    for (int h = 0; h < c; h++) slopes[h] = pow(r, h + 1);
    if (c == n) return;
    double r2 = pow(2.0, -8.0 / (2 * c));
    for (int k = 0; c + k < n; k++) slopes[c + k] = pow(r2, 2 * k + 1);
}

static int make_position_tables(bc_model *m, bc_error *err) {
    bc_backend *be = m->be;
    if (m->cfg.position == BC_POS_ROPE) {
        int half = m->head_dim / 2;
        m->rope_cos = BE(m)->tensor_new(be, m->ctx, half, BC_STORE_F32, false, err);
        m->rope_sin = m->rope_cos ? BE(m)->tensor_new(be, m->ctx, half, BC_STORE_F32, false, err) : NULL;
        float *c = malloc((size_t)m->ctx * (size_t)half * sizeof(float));
        float *s = malloc((size_t)m->ctx * (size_t)half * sizeof(float));
        if (!m->rope_sin || !c || !s) {
            free(c); free(s);
            return m->rope_sin ? bc_errorf(err, "RoPE tables: out of memory") : -1;
        }
        bc_rope_table(c, s, m->ctx, m->head_dim, 10000.0f);   /* theta is fixed for Baichuan2 */
        BE(m)->tensor_set(be, m->rope_cos, 0, m->ctx, c);
        BE(m)->tensor_set(be, m->rope_sin, 0, m->ctx, s);
        free(c); free(s);
        return 0;
    }
    m->alibi = BE(m)->tensor_new(be, 1, m->n_heads, BC_STORE_F32, false, err);
    double *sd = malloc((size_t)m->n_heads * sizeof(double));
    float *sf = malloc((size_t)m->n_heads * sizeof(float));
    if (!m->alibi || !sd || !sf) {
        free(sd); free(sf);
        return m->alibi ? bc_errorf(err, "ALiBi slopes: out of memory") : -1;
    }
    bc_alibi_slopes(m->n_heads, sd);
    for (int h = 0; h < m->n_heads; h++) sf[h] = (float)sd[h];
    BE(m)->tensor_set(be, m->alibi, 0, 1, sf);
    free(sd); free(sf);
    return 0;
}

/* ======================================================================== */

/* Rows of logits computed per lm_head product when every row's logits are
 * wanted (perplexity): [64, V] fp32 is 32 MiB at 125,696 words, where a
 * [max_batch, V] buffer would be 257 MiB at the CPU's 512-row batches. */
enum { LOGIT_ROWS_MAX = 64 };

static int make_state(bc_model *m, bc_error *err) {
    bc_backend *be = m->be;
    int B = m->max_batch;
    m->logit_rows = B < LOGIT_ROWS_MAX ? B : LOGIT_ROWS_MAX;
    bc_store kv = BE(m)->kv_store ? BE(m)->kv_store(be) : BC_STORE_F32;
    for (int l = 0; l < m->n_layers; l++) {
        m->layers[l].k_cache = BE(m)->tensor_new(be, m->ctx, m->H, kv, false, err);
        if (!m->layers[l].k_cache) return -1;
        m->layers[l].v_cache = BE(m)->tensor_new(be, m->ctx, m->H, kv, false, err);
        if (!m->layers[l].v_cache) return -1;
    }
    struct { bc_btensor **t; int64_t rows, cols; } s[] = {
        {&m->x, B, m->H}, {&m->xn, B, m->H}, {&m->qkv, B, 3 * (int64_t)m->H},
        {&m->attn, B, m->H}, {&m->proj, B, m->H}, {&m->gate, B, m->I}, {&m->up, B, m->I},
        {&m->last, m->logit_rows, m->H}, {&m->logits, m->logit_rows, m->V},
        {&m->scores, (int64_t)B * m->n_heads, m->ctx},
    };
    for (size_t k = 0; k < sizeof s / sizeof s[0]; k++)
        if (!(*s[k].t = BE(m)->tensor_new(be, s[k].rows, s[k].cols, BC_STORE_F32, false, err)))
            return bc_error_prefix(err, "scratch");
    return 0;
}

static int check_config(const bc_model_config *c, bc_error *err) {
    if (c->hidden_size <= 0 || c->num_attention_heads <= 0 || c->num_hidden_layers <= 0 ||
        c->intermediate_size <= 0 || c->vocab_size <= 0 || c->model_max_length <= 0)
        return bc_errorf(err, "config.json: sizes must be positive");
    if (c->hidden_size % c->num_attention_heads)
        return bc_errorf(err, "config.json: hidden_size %d is not a multiple of num_attention_heads %d",
                         c->hidden_size, c->num_attention_heads);
    if (c->position == BC_POS_ROPE && (c->hidden_size / c->num_attention_heads) % 2)
        return bc_errorf(err, "config.json: RoPE needs an even head dimension");
    return 0;
}

/* Bytes one decode step reads: every linear (codes + scales when quantized),
 * lm_head, the norms, one embedding row. */
static uint64_t decode_bytes(bc_model *m) {
    bc_backend *be = m->be;
    uint64_t (*bytes)(bc_backend *, const bc_btensor *) = BE(m)->tensor_bytes;
    uint64_t total = bytes(be, m->lm_head) + bytes(be, m->final_norm) +
                     bytes(be, m->embed) / (uint64_t)m->V;
    for (int l = 0; l < m->n_layers; l++) {
        layer_weights *w = &m->layers[l];
        total += bytes(be, w->attn_norm) + bytes(be, w->w_pack) + bytes(be, w->o_proj) +
                 bytes(be, w->mlp_norm) + bytes(be, w->gate) + bytes(be, w->up) +
                 bytes(be, w->down);
    }
    return total;
}

/* Weights from ck, or (ck == NULL) made by fill. */
static int model_build(const bc_model_config *cfg, const bc_checkpoint *ck, bc_model_fill_fn fill,
                       void *fill_user, bc_backend *be, const bc_model_params *params,
                       bc_model_progress_fn progress, void *user, bc_model **out, bc_error *err) {
    if (check_config(cfg, err)) return -1;
    bc_model *m = calloc(1, sizeof *m);
    if (!m) return bc_errorf(err, "out of memory");
    m->cfg = *cfg;
    m->be = be;
    m->H = cfg->hidden_size;
    m->n_heads = cfg->num_attention_heads;
    m->head_dim = m->H / m->n_heads;
    m->I = cfg->intermediate_size;
    m->V = cfg->vocab_size;
    m->n_layers = cfg->num_hidden_layers;
    m->ctx = params && params->ctx > 0 ? params->ctx : cfg->model_max_length;
    m->max_batch = params && params->max_batch > 0 ? params->max_batch : 64;
    if (m->max_batch > m->ctx) m->max_batch = m->ctx;
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    if (!m->layers) { free(m); return bc_errorf(err, "out of memory"); }

    /* The linears are stored as the backend was told (--quant); embeddings
     * and lm_head stay 16-bit when the linears are quantized (as upstream
     * keeps them fp16), unless the caller asks for f32. */
    bc_store st = BE(m)->weight_store(be);
    bc_store dense = st;
    if (store_is_quantized(st))
        dense = params && params->dense_f32 ? BC_STORE_F32 : BC_STORE_BF16;
    load_state ls = {.m = m, .ck = ck, .store = st, .dense_store = dense,
                     .progress = progress, .user = user,
                     .total = ck ? expected_source_bytes(ck, cfg) : synthetic_bytes(cfg),
                     .fill = fill, .fill_user = fill_user};
    if (load_all_weights(&ls, err) || make_position_tables(m, err) || make_state(m, err) ||
        (BE(m)->status && BE(m)->status(be, err))) {
        bc_model_free(m);
        return -1;
    }
    m->decode_weight_bytes = decode_bytes(m);
    *out = m;
    return 0;
}

int bc_model_load(const bc_model_config *cfg, const bc_checkpoint *ck, bc_backend *be,
                  const bc_model_params *params, bc_model_progress_fn progress, void *user,
                  bc_model **out, bc_error *err) {
    if (!ck) return bc_errorf(err, "model: no checkpoint");
    return model_build(cfg, ck, NULL, NULL, be, params, progress, user, out, err);
}

int bc_model_new_synthetic(const bc_model_config *cfg, bc_backend *be,
                           const bc_model_params *params, bc_model_fill_fn fill, void *fill_user,
                           bc_model_progress_fn progress, void *user, bc_model **out,
                           bc_error *err) {
    if (!fill) return bc_errorf(err, "model: no fill function");
    return model_build(cfg, NULL, fill, fill_user, be, params, progress, user, out, err);
}

void bc_model_free(bc_model *m) {
    if (!m) return;
    bc_backend *be = m->be;
    if (be->iface->step_forget) be->iface->step_forget(be, m);
    void (*f)(bc_backend *, bc_btensor *) = be->iface->tensor_free;
    f(be, m->embed); f(be, m->final_norm); f(be, m->lm_head);
    for (int l = 0; l < m->n_layers; l++) {
        layer_weights *w = &m->layers[l];
        f(be, w->attn_norm); f(be, w->w_pack); f(be, w->o_proj); f(be, w->mlp_norm);
        f(be, w->gate); f(be, w->up); f(be, w->down); f(be, w->k_cache); f(be, w->v_cache);
    }
    f(be, m->rope_cos); f(be, m->rope_sin); f(be, m->alibi);
    f(be, m->x); f(be, m->xn); f(be, m->qkv); f(be, m->attn); f(be, m->proj);
    f(be, m->gate); f(be, m->up); f(be, m->last); f(be, m->logits); f(be, m->scores);
    free(m->layers);
    free(m);
}

/* ========================================================================
 * Forward pass
 * ======================================================================== */

/* n (<= max_batch) tokens at positions pos.. through every layer; leaves the
 * final-normed hidden states in m->xn. */
static void forward_batch(bc_model *m, const int32_t *ids, int n, int pos) {
    bc_backend *be = m->be;
    const bc_backend_iface *op = be->iface;
    float eps = m->cfg.rms_norm_eps;
    op->embed(be, m->embed, ids, n, m->x);
    for (int l = 0; l < m->n_layers; l++) {
        layer_weights *w = &m->layers[l];
        /* attention block */
        op->rmsnorm(be, m->x, w->attn_norm, n, eps, m->xn);
        op->matmul(be, w->w_pack, m->xn, n, m->qkv);
        if (m->cfg.position == BC_POS_ROPE) {
            op->rope(be, m->qkv, n, 0, m->n_heads, m->head_dim, pos, m->rope_cos, m->rope_sin);
            op->rope(be, m->qkv, n, m->H, m->n_heads, m->head_dim, pos, m->rope_cos, m->rope_sin);
        }
        op->attention(be, m->qkv, w->k_cache, w->v_cache, m->alibi, n, pos, m->n_heads,
                      m->head_dim, m->scores, m->attn);
        op->matmul(be, w->o_proj, m->attn, n, m->proj);
        op->add(be, m->x, m->proj, n);
        /* SwiGLU MLP block */
        op->rmsnorm(be, m->x, w->mlp_norm, n, eps, m->xn);
        op->matmul(be, w->gate, m->xn, n, m->gate);
        op->matmul(be, w->up, m->xn, n, m->up);
        op->swiglu(be, m->gate, m->up, n);
        op->matmul(be, w->down, m->gate, n, m->proj);
        op->add(be, m->x, m->proj, n);
    }
    op->rmsnorm(be, m->x, m->final_norm, n, eps, m->xn);
}

/* lm_head over the last of the b rows in m->xn, into m->logits row 0. */
static void last_row_logits(bc_model *m, int b) {
    bc_backend *be = m->be;
    be->iface->copy_rows(be, m->last, 0, m->xn, b - 1, 1);
    be->iface->matmul(be, m->lm_head, m->last, 1, m->logits);
}

/* One decode token on a backend that can record a step and replay it
 * (backend.h, step_begin): the same operations as forward_batch with n = 1
 * plus the lm_head, issued at most once per model. */
static void decode_step(bc_model *m, int32_t id, int pos) {
    bc_backend *be = m->be;
    const bc_backend_iface *op = be->iface;
    int mode = op->step_begin(be, m, id, pos);
    if (mode == BC_STEP_REPLAYED) return;
    forward_batch(m, &id, 1, pos);
    last_row_logits(m, 1);
    if (mode == BC_STEP_RECORDING && op->step_end(be) != 0) {
        forward_batch(m, &id, 1, pos);
        last_row_logits(m, 1);
    }
}

int bc_model_forward(bc_model *m, const int32_t *ids, int n, int pos, bool all_rows,
                     float *logits, bc_error *err) {
    if (n <= 0) return bc_errorf(err, "model: no tokens to run");
    if (pos < 0 || pos > m->ctx - n)
        return bc_errorf(err, "model: %d tokens at position %d do not fit the context of %d",
                         n, pos, m->ctx);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->V)
            return bc_errorf(err, "model: token id %d is outside the vocabulary (%d)", ids[i], m->V);
    bc_backend *be = m->be;
    const bc_backend_iface *op = be->iface;
    if (n == 1 && !all_rows && op->step_begin) {
        decode_step(m, ids[0], pos);
        op->tensor_get(be, m->logits, 0, 1, logits);
        op->synchronize(be);
        return op->status ? op->status(be, err) : 0;
    }
    for (int done = 0; done < n;) {
        int b = n - done < m->max_batch ? n - done : m->max_batch;
        forward_batch(m, ids + done, b, pos + done);
        if (all_rows) {
            for (int r = 0; r < b; r += m->logit_rows) {
                int nr = b - r < m->logit_rows ? b - r : m->logit_rows;
                op->copy_rows(be, m->last, 0, m->xn, r, nr);
                op->matmul(be, m->lm_head, m->last, nr, m->logits);
                op->tensor_get(be, m->logits, 0, nr,
                               logits + ((size_t)done + (size_t)r) * (size_t)m->V);
            }
        } else if (done + b == n) {
            last_row_logits(m, b);
            op->tensor_get(be, m->logits, 0, 1, logits);
        }
        done += b;
    }
    op->synchronize(be);
    return op->status ? op->status(be, err) : 0;
}

int bc_model_ctx(const bc_model *m) { return m->ctx; }
int bc_model_vocab(const bc_model *m) { return m->V; }
const bc_model_config *bc_model_get_config(const bc_model *m) { return &m->cfg; }
uint64_t bc_model_decode_weight_bytes(const bc_model *m) { return m->decode_weight_bytes; }

double bc_model_prefill_flops(const bc_model *m, int n_tokens) {
    double H = m->H, I = m->I, V = m->V;
    return 2.0 * n_tokens * m->n_layers * (4.0 * H * H + 3.0 * H * I) + 2.0 * V * H;
}
