/* The CPU backend: fp32 compute; weights stored as f32 (default) or bf16.
 *
 * Tensors are plain host arrays. Heavy operations (matmul, attention) are
 * split over threads by rows; the per-row math lives in small static
 * functions so that faster kernels can replace them one at a time. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "cpu_kernels.h"

/* Tensors above this size are mmapped (zero pages cost nothing until
 * touched, which matters for a KV cache sized to model_max_length). */
#define BIG_ALLOC_BYTES (1u << 20)

struct bc_btensor {
    int64_t rows, cols;
    bc_store store;
    bool weight;        /* counted as weight memory */
    bool mmapped;       /* data came from mmap (else aligned_alloc) */
    size_t bytes;
    void *data;         /* rows*cols elements of `store` */
};

typedef struct cpu_ctx {
    int threads;
    bc_threadpool *pool;
    bc_store store;
    uint64_t weight_bytes, other_bytes;
} cpu_ctx;

static cpu_ctx *ctx_of(bc_backend *be) { return (cpu_ctx *)be->ctx; }
static float *f32(const bc_btensor *t) { return (float *)t->data; }

const char *bc_store_name(bc_store s) {
    switch (s) {
    case BC_STORE_F32: return "f32";
    case BC_STORE_BF16: return "bf16";
    default: return "?";
    }
}

int bc_store_parse(const char *name, bc_store *out) {
    if (!strcmp(name, "f32")) *out = BC_STORE_F32;
    else if (!strcmp(name, "bf16")) *out = BC_STORE_BF16;
    else return -1;
    return 0;
}

static size_t store_size(bc_store s) { return s == BC_STORE_BF16 ? 2 : 4; }

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
    uint64_t n = (uint64_t)rows * (uint64_t)cols;
    if (n > SIZE_MAX / 8) {
        bc_errorf(err, "cpu backend: tensor [%lld, %lld] is too large", (long long)rows,
                  (long long)cols);
        return NULL;
    }
    bc_btensor *t = calloc(1, sizeof *t);
    if (!t) { bc_errorf(err, "cpu backend: out of memory"); return NULL; }
    t->rows = rows; t->cols = cols; t->store = store; t->weight = weight;
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
    if (t->mmapped) munmap(t->data, (t->bytes + 63) & ~(size_t)63);
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

static int cpu_tensor_load(bc_backend *be, bc_btensor *t, const bc_tensor *src,
                           const float *row_scale, bc_load_progress_fn progress,
                           void *user, bc_error *err) {
    (void)be;
    if (src->dtype != BC_DTYPE_F32 && src->dtype != BC_DTYPE_F16 && src->dtype != BC_DTYPE_BF16)
        return bc_errorf(err, "tensor %s: dtype %s is not supported (expected F32, F16 or BF16)",
                         src->name, bc_dtype_name(src->dtype));
    int64_t numel = bc_tensor_numel(src);
    if (numel != t->rows * t->cols)
        return bc_errorf(err, "tensor %s: %lld elements, expected %lld", src->name,
                         (long long)numel, (long long)(t->rows * t->cols));
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

static void cpu_matmul(bc_backend *be, const bc_btensor *W, const bc_btensor *x, int n,
                       bc_btensor *out) {
    bc_threadpool *pool = ctx_of(be)->pool;
    int rows = (int)W->rows, cols = (int)W->cols;
    if (W->store == BC_STORE_F32) {
        if (n == 1) bc_matvec_f32(pool, f32(W), f32(x), f32(out), rows, cols);
        else bc_matmul_f32(pool, f32(W), f32(x), f32(out), n, rows, cols);
    } else {
        const uint16_t *w16 = (const uint16_t *)W->data;
        if (n == 1) bc_matvec_bf16(pool, w16, f32(x), f32(out), rows, cols);
        else bc_matmul_bf16(pool, w16, f32(x), f32(out), n, rows, cols);
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

typedef struct attention_job {
    const bc_btensor *qkv, *k_cache, *v_cache, *slopes;
    bc_btensor *scores, *out;
    int n, pos0, n_heads, head_dim;
} attention_job;

/* One (query row, head) pair: scores over keys 0..p, softmax, weighted sum
 * of values. Work items are numbered i*n_heads + h. */
static void attention_items(void *arg, int begin, int end, int worker) {
    (void)worker;
    const attention_job *j = arg;
    int d = j->head_dim, H = j->n_heads * d;
    float scale = 1.0f / sqrtf((float)d);
    for (int item = begin; item < end; item++) {
        int i = item / j->n_heads, h = item % j->n_heads;
        int p = j->pos0 + i;
        const float *q = f32(j->qkv) + (int64_t)i * 3 * H + (int64_t)h * d;
        float *s = f32(j->scores) + (int64_t)item * j->scores->cols;
        float slope = j->slopes ? f32(j->slopes)[h] : 0.0f;
        float max = -INFINITY;
        for (int t = 0; t <= p; t++) {
            const float *k = f32(j->k_cache) + (int64_t)t * H + (int64_t)h * d;
            float v = bc_dot(q, k, d) * scale - slope * (float)(p - t);
            s[t] = v;
            if (v > max) max = v;
        }
        float sum = 0.0f;
        for (int t = 0; t <= p; t++) { s[t] = expf(s[t] - max); sum += s[t]; }
        float inv = 1.0f / sum;
        float *o = f32(j->out) + (int64_t)i * H + (int64_t)h * d;
        memset(o, 0, (size_t)d * sizeof(float));
        for (int t = 0; t <= p; t++) {
            const float *v = f32(j->v_cache) + (int64_t)t * H + (int64_t)h * d;
            bc_axpy(o, s[t] * inv, v, d);
        }
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
    attention_job job = {qkv, k_cache, v_cache, slopes, scores, out, n, pos0, n_heads, head_dim};
    bc_threadpool_run(ctx_of(be)->pool, attention_items, &job, n * n_heads);
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
