/* The CPU backend: fp32 compute; weights stored as f32 (default), bf16, or
 * quantized (int8 / nf4, bc_quant formats) for the per-layer linears.
 *
 * Tensors are plain host arrays (quantized ones hold a bc_quant_tensor).
 * Heavy operations (matmul, attention) are split over the thread pool by
 * rows; the per-row math lives in small static functions so that faster
 * kernels can replace them one at a time. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "cpu_kernels.h"
#include "quant.h"

/* Tensors above this size are mmapped (zero pages cost nothing until
 * touched, which matters for a KV cache sized to model_max_length). */
#define BIG_ALLOC_BYTES (1u << 20)

struct bc_btensor {
    int64_t rows, cols;
    bc_store store;
    bool weight;        /* counted as weight memory */
    bool mmapped;       /* data came from mmap (else aligned_alloc) */
    size_t bytes;
    void *data;         /* rows*cols elements of `store` (NULL for INT8/NF4) */
    bc_quant_tensor q;  /* INT8/NF4 stores: the weight, filled by tensor_load* */
};

typedef struct cpu_ctx {
    int threads;
    bc_threadpool *pool;
    bc_store store;
    uint64_t weight_bytes, other_bytes;
    /* Per-worker scratch, grown while loading (operations never allocate):
     * fp32 panels of 16-bit/quantized weights for prefill, and the NF4
     * matvec's split x + scale row. mmapped: pages never touched (f32
     * models, no BLAS) cost no memory. */
    float *panel_scratch;        /* [threads][panel_floats] */
    size_t panel_floats;
    float *matvec_scratch;       /* [threads][matvec_floats] */
    size_t matvec_floats;
} cpu_ctx;

static cpu_ctx *ctx_of(bc_backend *be) { return (cpu_ctx *)be->ctx; }
static float *f32(const bc_btensor *t) { return (float *)t->data; }

const char *bc_store_name(bc_store s) {
    switch (s) {
    case BC_STORE_F32: return "f32";
    case BC_STORE_BF16: return "bf16";
    case BC_STORE_F16: return "f16";
    case BC_STORE_INT8: return "int8";
    case BC_STORE_NF4: return "nf4";
    default: return "?";
    }
}

int bc_store_parse(const char *name, bc_store *out) {
    if (!strcmp(name, "f32")) *out = BC_STORE_F32;
    else if (!strcmp(name, "bf16")) *out = BC_STORE_BF16;
    else if (!strcmp(name, "f16")) *out = BC_STORE_F16;
    else if (!strcmp(name, "int8")) *out = BC_STORE_INT8;
    else if (!strcmp(name, "nf4")) *out = BC_STORE_NF4;
    else return -1;
    return 0;
}

static size_t store_size(bc_store s) { return s == BC_STORE_BF16 ? 2 : 4; }
static bool is_quant(bc_store s) { return s == BC_STORE_INT8 || s == BC_STORE_NF4; }

/* ------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------ */

static bc_btensor *cpu_tensor_new(bc_backend *be, int64_t rows, int64_t cols,
                                  bc_store store, bool weight, bc_error *err) {
    if (rows <= 0 || cols <= 0 || rows > INT64_MAX / cols) {
        bc_errorf(err, "cpu backend: bad tensor shape [%lld, %lld]", (long long)rows,
                  (long long)cols);
        return NULL;
    }
    if (store == BC_STORE_F16 || store >= BC_STORE_COUNT) {
        bc_errorf(err, "cpu backend: %s storage is not supported (use f32, bf16, int8 or nf4)",
                  bc_store_name(store));
        return NULL;
    }
    uint64_t n = (uint64_t)rows * (uint64_t)cols;
    if (n > SIZE_MAX / 8) {
        bc_errorf(err, "cpu backend: tensor [%lld, %lld] is too large", (long long)rows,
                  (long long)cols);
        return NULL;
    }
    bc_btensor *t = calloc(1, sizeof *t);
    if (!t) { bc_errorf(err, "cpu backend: out of memory"); return NULL; }
    t->rows = rows; t->cols = cols; t->store = store; t->weight = weight;
    if (is_quant(store)) return t;   /* the quantized form is allocated when loaded */
    t->bytes = (size_t)n * store_size(store);
    size_t rounded = (t->bytes + 63) & ~(size_t)63;
    if (rounded >= BIG_ALLOC_BYTES) {
        void *p = mmap(NULL, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) p = NULL;
        t->data = p; t->mmapped = true;
    } else {
        t->data = aligned_alloc(64, rounded);
        if (t->data) memset(t->data, 0, rounded);
    }
    if (!t->data) {
        bc_errorf(err, "cpu backend: cannot allocate %.1f MiB for a [%lld, %lld] tensor",
                  (double)t->bytes / 1048576.0, (long long)rows, (long long)cols);
        free(t);
        return NULL;
    }
    cpu_ctx *c = ctx_of(be);
    if (weight) c->weight_bytes += t->bytes; else c->other_bytes += t->bytes;
    return t;
}

static void cpu_tensor_free(bc_backend *be, bc_btensor *t) {
    if (!t) return;
    cpu_ctx *c = ctx_of(be);
    if (t->weight) c->weight_bytes -= t->bytes; else c->other_bytes -= t->bytes;
    if (is_quant(t->store)) bc_quant_tensor_free(&t->q);
    else if (t->mmapped) munmap(t->data, (t->bytes + 63) & ~(size_t)63);
    else free(t->data);
    free(t);
}

/* One source row (F32/F16/BF16, little-endian, possibly unaligned in an
 * mmapped file) to fp32; half16 is a [cols] scratch for the 16-bit bits. */
static void source_row_to_f32(const bc_tensor *src, int64_t row, int64_t cols, uint16_t *half16,
                              float *dst) {
    size_t es = bc_dtype_size(src->dtype);
    const unsigned char *p = (const unsigned char *)src->data + (size_t)row * (size_t)cols * es;
    if (src->dtype == BC_DTYPE_F32) {
        memcpy(dst, p, (size_t)cols * 4);
        return;
    }
    memcpy(half16, p, (size_t)cols * 2);
    if (src->dtype == BC_DTYPE_BF16) bc_convert_bf16_to_f32(half16, dst, (size_t)cols);
    else bc_convert_f16_to_f32(half16, dst, (size_t)cols);
}

static float *scratch_alloc(size_t floats) {
    void *p = mmap(NULL, floats * sizeof(float), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Makes *buf hold `want` floats per worker (kept if already as large). */
static int grow_scratch(cpu_ctx *c, float **buf, size_t *per, size_t want, bc_error *err) {
    if (want <= *per) return 0;
    size_t workers = (size_t)bc_threadpool_size(c->pool);
    float *s = scratch_alloc(want * workers);
    if (!s) return bc_errorf(err, "cpu backend: out of memory for per-thread scratch");
    if (*buf) munmap(*buf, *per * workers * sizeof(float));
    *buf = s;
    *per = want;
    return 0;
}

/* Scratch a weight of `cols` columns in `store` needs at run time. */
static int ensure_scratch(cpu_ctx *c, bc_store store, int64_t cols, bc_error *err) {
    if (store == BC_STORE_F32) return 0;
    if (grow_scratch(c, &c->panel_scratch, &c->panel_floats,
                     bc_matmul_panel_floats((int)cols), err))
        return -1;
    if (store != BC_STORE_NF4) return 0;
    return grow_scratch(c, &c->matvec_scratch, &c->matvec_floats,
                        bc_quant_matvec_scratch_floats(cols), err);
}

/* Records a quantized form in t and counts its bytes as weight memory. */
static int adopt_quant(bc_backend *be, bc_btensor *t, bc_quant_tensor *q, bc_error *err) {
    if (ensure_scratch(ctx_of(be), t->store, t->cols, err)) {
        bc_quant_tensor_free(q);
        return -1;
    }
    t->q = *q;
    memset(q, 0, sizeof *q);
    t->bytes = t->q.format == BC_QUANT_INT8 ? bc_quant_int8_bytes(&t->q.int8)
                                            : bc_quant_nf4_bytes(&t->q.nf4);
    cpu_ctx *c = ctx_of(be);
    if (t->weight) c->weight_bytes += t->bytes; else c->other_bytes += t->bytes;
    return 0;
}

/* --quant int8|nf4: the source tensor (F32/F16/BF16, usually mmapped) is
 * quantized block by block straight from its bytes; no fp32 copy of the
 * whole tensor is made. NF4 uses double quantization, as Baichuan2's
 * quantize(4) (compress_statistics=True). The weights are quantized as they
 * are, not rounded through fp16 first as bitsandbytes' .cuda() does: that
 * would only lose precision (and overflow for large bf16 values). */
static int quantize_online(bc_backend *be, bc_btensor *t, const bc_tensor *src,
                           const float *row_scale, bc_load_progress_fn progress, void *user,
                           bc_error *err) {
    if (row_scale)
        return bc_errorf(err, "tensor %s: row scaling is not supported for quantized storage",
                         src->name);
    if (t->q.format) return bc_errorf(err, "tensor %s: loaded twice", src->name);
    bc_quant_options opt = {.double_quant = 1, .via_f16 = 0, .pool = ctx_of(be)->pool};
    bc_quant_format f = t->store == BC_STORE_INT8 ? BC_QUANT_INT8 : BC_QUANT_NF4;
    bc_quant_tensor q;
    if (bc_quant_tensor_from_rows(f, src->data, src->dtype, t->rows, t->cols, &opt, src->name,
                                  &q, err))
        return -1;
    if (adopt_quant(be, t, &q, err)) return -1;
    if (progress) progress(user, src->nbytes);
    return 0;
}

static int cpu_tensor_load_quant(bc_backend *be, bc_btensor *t, bc_quant_tensor *q,
                                 bc_error *err) {
    bc_store want = q->format == BC_QUANT_INT8 ? BC_STORE_INT8 : BC_STORE_NF4;
    int64_t rows = q->format == BC_QUANT_INT8 ? q->int8.rows : q->nf4.rows;
    int64_t cols = q->format == BC_QUANT_INT8 ? q->int8.cols : q->nf4.cols;
    void *storage = q->format == BC_QUANT_INT8 ? q->int8.storage : q->nf4.storage;
    if (t->store != want || t->q.format)
        return bc_errorf(err, "cpu backend: a %s weight cannot go into %s storage",
                         bc_store_name(want), bc_store_name(t->store));
    if (rows != t->rows || cols != t->cols)
        return bc_errorf(err, "cpu backend: quantized weight [%lld, %lld] for a [%lld, %lld] tensor",
                         (long long)rows, (long long)cols, (long long)t->rows, (long long)t->cols);
    if (!storage) return bc_errorf(err, "cpu backend: a quantized view cannot be adopted");
    return adopt_quant(be, t, q, err);
}

static uint64_t cpu_tensor_bytes(bc_backend *be, const bc_btensor *t) {
    (void)be;
    return t->bytes;
}

static int cpu_tensor_load(bc_backend *be, bc_btensor *t, const bc_tensor *src,
                           const float *row_scale, bc_load_progress_fn progress,
                           void *user, bc_error *err) {
    if (src->dtype != BC_DTYPE_F32 && src->dtype != BC_DTYPE_F16 && src->dtype != BC_DTYPE_BF16)
        return bc_errorf(err, "tensor %s: dtype %s is not supported (expected F32, F16 or BF16)",
                         src->name, bc_dtype_name(src->dtype));
    int64_t numel = bc_tensor_numel(src);
    if (numel != t->rows * t->cols)
        return bc_errorf(err, "tensor %s: %lld elements, expected %lld", src->name,
                         (long long)numel, (long long)(t->rows * t->cols));
    if (is_quant(t->store))
        return quantize_online(be, t, src, row_scale, progress, user, err);
    if (t->weight && ensure_scratch(ctx_of(be), t->store, t->cols, err)) return -1;
    size_t cols = (size_t)t->cols;
    float *row = malloc(cols * sizeof(float));
    uint16_t *half16 = malloc(cols * sizeof(uint16_t));
    if (!row || !half16) { free(row); free(half16); return bc_errorf(err, "cpu backend: out of memory"); }
    /* bf16 into bf16 storage with nothing to scale: the bits as they are */
    bool copy_bits = t->store == BC_STORE_BF16 && src->dtype == BC_DTYPE_BF16 && !row_scale;
    size_t src_row_bytes = cols * bc_dtype_size(src->dtype);
    uint64_t done = 0, reported = 0;
    for (int64_t r = 0; r < t->rows; r++) {
        if (copy_bits) {
            memcpy((uint16_t *)t->data + (size_t)r * cols,
                   (const unsigned char *)src->data + (size_t)r * src_row_bytes, src_row_bytes);
        } else {
            float *dst = t->store == BC_STORE_F32 ? f32(t) + (size_t)r * cols : row;
            source_row_to_f32(src, r, t->cols, half16, dst);
            if (row_scale)
                for (size_t k = 0; k < cols; k++) dst[k] *= row_scale[r];
            if (t->store == BC_STORE_BF16)
                bc_convert_f32_to_bf16(dst, (uint16_t *)t->data + (size_t)r * cols, cols);
        }
        done += src_row_bytes;
        if (progress && (done - reported >= (16u << 20) || r + 1 == t->rows)) {
            progress(user, done);
            reported = done;
        }
    }
    free(row);
    free(half16);
    return 0;
}

static void cpu_tensor_set(bc_backend *be, bc_btensor *t, int64_t row0, int64_t nrows,
                           const float *src) {
    (void)be;
    memcpy(f32(t) + row0 * t->cols, src, (size_t)(nrows * t->cols) * sizeof(float));
}

static void cpu_tensor_get(bc_backend *be, const bc_btensor *t, int64_t row0, int64_t nrows,
                           float *dst) {
    (void)be;
    memcpy(dst, f32(t) + row0 * t->cols, (size_t)(nrows * t->cols) * sizeof(float));
}

/* ------------------------------------------------------------------------
 * Operations
 * ------------------------------------------------------------------------ */

static void cpu_embed(bc_backend *be, const bc_btensor *table, const int32_t *ids, int n,
                      bc_btensor *out) {
    (void)be;
    int64_t H = table->cols;
    for (int i = 0; i < n; i++) {
        float *dst = f32(out) + (int64_t)i * H;
        if (table->store == BC_STORE_F32) {
            memcpy(dst, f32(table) + (int64_t)ids[i] * H, (size_t)H * sizeof(float));
        } else {
            const uint16_t *src = (const uint16_t *)table->data + (int64_t)ids[i] * H;
            bc_convert_bf16_to_f32(src, dst, (size_t)H);
        }
    }
}

static void cpu_rmsnorm(bc_backend *be, const bc_btensor *x, const bc_btensor *w, int n,
                        float eps, bc_btensor *out) {
    bc_rmsnorm(ctx_of(be)->pool, f32(out), f32(x), f32(w), n, (int)x->cols, eps);
}

static void expand_int8(const void *w, int row0, int nrows, float *dst) {
    bc_dequant_int8_rows(&((const bc_quant_tensor *)w)->int8, row0, nrows, dst);
}
static void expand_nf4(const void *w, int row0, int nrows, float *dst) {
    bc_dequant_nf4_rows(&((const bc_quant_tensor *)w)->nf4, row0, nrows, dst);
}

static void quant_matmul(bc_backend *be, const bc_btensor *W, const bc_btensor *x, int n,
                         bc_btensor *out) {
    cpu_ctx *c = ctx_of(be);
    if (n > 1) { /* prefill: fp32 panels of W through the f32 GEMM */
        bc_panel_fn expand = W->q.format == BC_QUANT_INT8 ? expand_int8 : expand_nf4;
        bc_matmul_panels(c->pool, expand, &W->q, f32(x), f32(out), n, (int)W->rows,
                         (int)W->cols, c->panel_scratch);
        return;
    }
    bc_matvec_quant_pool(c->pool, &W->q, f32(x), f32(out), c->matvec_scratch, c->matvec_floats);
}

static void cpu_matmul(bc_backend *be, const bc_btensor *W, const bc_btensor *x, int n,
                       bc_btensor *out) {
    cpu_ctx *c = ctx_of(be);
    int rows = (int)W->rows, cols = (int)W->cols;
    if (is_quant(W->store)) {
        quant_matmul(be, W, x, n, out);
    } else if (W->store == BC_STORE_F32) {
        if (n == 1) bc_matvec_f32(c->pool, f32(W), f32(x), f32(out), rows, cols);
        else bc_matmul_f32(c->pool, f32(W), f32(x), f32(out), n, rows, cols);
    } else {
        const uint16_t *w16 = (const uint16_t *)W->data;
        if (n == 1) bc_matvec_bf16(c->pool, w16, f32(x), f32(out), rows, cols);
        else bc_matmul_bf16_scratch(c->pool, w16, f32(x), f32(out), n, rows, cols,
                                    c->panel_floats >= bc_matmul_panel_floats(cols)
                                        ? c->panel_scratch : NULL);
    }
}

static void cpu_rope(bc_backend *be, bc_btensor *x, int n, int col0, int n_heads,
                     int head_dim, int pos0, const bc_btensor *cos_table,
                     const bc_btensor *sin_table) {
    (void)be;
    int half = head_dim / 2;
    for (int i = 0; i < n; i++) {
        const float *cs = f32(cos_table) + (int64_t)(pos0 + i) * half;
        const float *sn = f32(sin_table) + (int64_t)(pos0 + i) * half;
        bc_rope_apply(f32(x) + (int64_t)i * x->cols + col0, n_heads, head_dim, cs, sn);
    }
}

/* Attention. `scores` is only scratch here: each worker takes its own slice
 * of it (so only threads x block x keys of it is ever touched).
 *
 * Prefill (n >= ATTN_MIN_BLOCKED rows): one work item = one head x a block of
 * up to ATTN_QUERY_BLOCK query rows. S^T = K Q^T for all keys the block sees
 * comes from our GEMM kernel (the Q block is its packed panel, the keys
 * stream through), then a causal softmax per query, then O = P^T V with each
 * V row read once for the whole block. Decode: one item = (row, head), a dot
 * product per key. */
enum { ATTN_QUERY_BLOCK = 32, ATTN_MIN_BLOCKED = 8 };

typedef struct attention_job {
    const bc_btensor *qkv, *k_cache, *v_cache, *slopes;
    bc_btensor *out;
    float *scratch;          /* per worker: `scratch_floats` floats */
    size_t scratch_floats;
    int n, pos0, n_heads, head_dim, qblocks;
} attention_job;

/* Scale, ALiBi bias, causal mask and softmax of one query's scores s[t*ld]
 * for keys t < n_keys, of which t <= p are visible; masked ones become 0. */
static void attention_softmax(float *s, size_t ld, int n_keys, int p, float scale, float slope) {
    float max = -INFINITY;
    for (int t = 0; t <= p; t++) {
        float v = s[(size_t)t * ld] * scale - slope * (float)(p - t);
        s[(size_t)t * ld] = v;
        if (v > max) max = v;
    }
    float sum = 0.0f;
    for (int t = 0; t <= p; t++) {
        float e = expf(s[(size_t)t * ld] - max);
        s[(size_t)t * ld] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (int t = 0; t <= p; t++) s[(size_t)t * ld] *= inv;
    for (int t = p + 1; t < n_keys; t++) s[(size_t)t * ld] = 0.0f;
}

static void attention_blocks(void *arg, int begin, int end, int worker) {
    const attention_job *j = arg;
    int d = j->head_dim, H = j->n_heads * d;
    float scale = 1.0f / sqrtf((float)d);
    float *st = j->scratch + (size_t)worker * j->scratch_floats; /* S^T [keys][block] */
    for (int item = begin; item < end; item++) {
        int h = item / j->qblocks, i0 = (item % j->qblocks) * ATTN_QUERY_BLOCK;
        int nq = j->n - i0 < ATTN_QUERY_BLOCK ? j->n - i0 : ATTN_QUERY_BLOCK;
        int n_keys = j->pos0 + i0 + nq;
        const float *q = f32(j->qkv) + (int64_t)i0 * 3 * H + (int64_t)h * d;
        const float *k = f32(j->k_cache) + (int64_t)h * d;
        const float *v = f32(j->v_cache) + (int64_t)h * d;
        bc_gemm_nt_f32(k, H, q, 3 * H, st, ATTN_QUERY_BLOCK, n_keys, nq, d);
        float slope = j->slopes ? f32(j->slopes)[h] : 0.0f;
        for (int r = 0; r < nq; r++)
            attention_softmax(st + r, ATTN_QUERY_BLOCK, n_keys, j->pos0 + i0 + r, scale, slope);
        float *o = f32(j->out) + (int64_t)i0 * H + (int64_t)h * d;
        bc_gemm_tn_f32(st, ATTN_QUERY_BLOCK, v, H, o, H, nq, d, n_keys);
    }
}

static void attention_rows(void *arg, int begin, int end, int worker) {
    const attention_job *j = arg;
    int d = j->head_dim, H = j->n_heads * d;
    float scale = 1.0f / sqrtf((float)d);
    float *s = j->scratch + (size_t)worker * j->scratch_floats;
    for (int item = begin; item < end; item++) {
        int i = item / j->n_heads, h = item % j->n_heads;
        int p = j->pos0 + i;
        const float *q = f32(j->qkv) + (int64_t)i * 3 * H + (int64_t)h * d;
        for (int t = 0; t <= p; t++)
            s[t] = bc_dot(q, f32(j->k_cache) + (int64_t)t * H + (int64_t)h * d, d);
        attention_softmax(s, 1, p + 1, p, scale, j->slopes ? f32(j->slopes)[h] : 0.0f);
        float *o = f32(j->out) + (int64_t)i * H + (int64_t)h * d;
        /* o = sum_t s[t] v_t, vectorized (one query: P is a column) */
        bc_gemm_tn_f32(s, 1, f32(j->v_cache) + (int64_t)h * d, H, o, d, 1, d, p + 1);
    }
}

static void cpu_attention(bc_backend *be, const bc_btensor *qkv, bc_btensor *k_cache,
                          bc_btensor *v_cache, const bc_btensor *slopes, int n, int pos0,
                          int n_heads, int head_dim, bc_btensor *scores, bc_btensor *out) {
    int64_t H = (int64_t)n_heads * head_dim;
    for (int i = 0; i < n; i++) {   /* K and V of the new rows into the cache */
        const float *row = f32(qkv) + (int64_t)i * 3 * H;
        memcpy(f32(k_cache) + (int64_t)(pos0 + i) * H, row + H, (size_t)H * sizeof(float));
        memcpy(f32(v_cache) + (int64_t)(pos0 + i) * H, row + 2 * H, (size_t)H * sizeof(float));
    }
    bc_threadpool *pool = ctx_of(be)->pool;
    bool blocked = n >= ATTN_MIN_BLOCKED;
    size_t keys = (size_t)pos0 + (size_t)n;
    size_t need = blocked ? keys * ATTN_QUERY_BLOCK : keys;
    size_t total = (size_t)scores->rows * (size_t)scores->cols;
    size_t per = total / (size_t)bc_threadpool_size(pool);
    /* scores is [>= n*n_heads, >= pos0+n]: always enough for one worker */
    if (per < need) { pool = NULL; per = total; }
    if (per < need) blocked = false;
    attention_job job = {qkv, k_cache, v_cache, slopes, out, f32(scores), per, n, pos0,
                         n_heads, head_dim, (n + ATTN_QUERY_BLOCK - 1) / ATTN_QUERY_BLOCK};
    if (blocked) bc_threadpool_run(pool, attention_blocks, &job, n_heads * job.qblocks);
    else bc_threadpool_run(pool, attention_rows, &job, n * n_heads);
}

static void cpu_copy_rows(bc_backend *be, bc_btensor *dst, int dst_row0, const bc_btensor *src,
                          int src_row0, int n) {
    (void)be;
    memcpy(f32(dst) + (int64_t)dst_row0 * dst->cols, f32(src) + (int64_t)src_row0 * src->cols,
           (size_t)n * (size_t)src->cols * sizeof(float));
}

static void cpu_add(bc_backend *be, bc_btensor *x, const bc_btensor *y, int n) {
    bc_add(ctx_of(be)->pool, f32(x), f32(x), f32(y), (size_t)n * (size_t)x->cols);
}

static void cpu_swiglu(bc_backend *be, bc_btensor *gate, const bc_btensor *up, int n) {
    bc_silu_mul(ctx_of(be)->pool, f32(gate), f32(gate), f32(up), (size_t)n * (size_t)gate->cols);
}

static void cpu_synchronize(bc_backend *be) { (void)be; }

static const char *cpu_name(bc_backend *be) { (void)be; return "cpu"; }

static void cpu_memory(bc_backend *be, bc_backend_memory *m) {
    cpu_ctx *c = ctx_of(be);
    m->weight_bytes = c->weight_bytes;
    m->other_bytes = c->other_bytes;
    m->free_bytes = 0;
}

static bc_store cpu_weight_store(bc_backend *be) { return ctx_of(be)->store; }

static void cpu_free(bc_backend *be) {
    if (!be) return;
    cpu_ctx *c = ctx_of(be);
    size_t workers = (size_t)bc_threadpool_size(c->pool);
    if (c->panel_scratch) munmap(c->panel_scratch, c->panel_floats * workers * sizeof(float));
    if (c->matvec_scratch)
        munmap(c->matvec_scratch, c->matvec_floats * workers * sizeof(float));
    bc_threadpool_free(c->pool);
    free(c);
    free(be);
}

static const bc_backend_iface cpu_iface = {
    .name = cpu_name,
    .free = cpu_free,
    .memory = cpu_memory,
    .weight_store = cpu_weight_store,
    .tensor_new = cpu_tensor_new,
    .tensor_free = cpu_tensor_free,
    .tensor_load = cpu_tensor_load,
    .tensor_load_quant = cpu_tensor_load_quant,
    .tensor_bytes = cpu_tensor_bytes,
    .tensor_set = cpu_tensor_set,
    .tensor_get = cpu_tensor_get,
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .matmul = cpu_matmul,
    .rope = cpu_rope,
    .attention = cpu_attention,
    .copy_rows = cpu_copy_rows,
    .add = cpu_add,
    .swiglu = cpu_swiglu,
    .synchronize = cpu_synchronize,
};

int bc_backend_cpu_new(const bc_backend_params *p, bc_backend **out, bc_error *err) {
    int threads = p->threads;
    if (threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 0 ? (int)nc : 1;
    }
    if (p->store >= BC_STORE_COUNT) return bc_errorf(err, "cpu backend: unknown weight storage");
    if (p->store == BC_STORE_F16)
        return bc_errorf(err, "cpu backend: weights in f16 are not supported (use --quant f32, "
                         "bf16, int8 or nf4; f16 needs --backend cuda)");
    bc_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) { free(be); free(c); return bc_errorf(err, "cpu backend: out of memory"); }
    c->threads = threads;
    c->store = p->store;
    c->pool = bc_threadpool_new(threads, err);
    if (!c->pool) { free(be); free(c); return -1; }
    be->iface = &cpu_iface;
    be->ctx = c;
    *out = be;
    return 0;
}

int bc_backend_cpu_threads(const bc_backend *be) {
    return be && be->iface == &cpu_iface ? ((cpu_ctx *)be->ctx)->threads : 0;
}
