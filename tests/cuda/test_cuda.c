/* Suite cuda: the CUDA backend against the CPU backend (fp32 weights).
 *
 * Each operation runs on both backends on the same random inputs (uniform in
 * [-1, 1], as ggml's test-backend-ops) at the shapes of Baichuan2-7B/13B;
 * every device output is poisoned with NaN first, so an element the kernel
 * never writes fails the comparison. Error measure: NMSE = sum (d - r)^2 /
 * sum r^2. Limits: 5e-4 with f16 weights, 5e-3 with bf16 (the KV cache is
 * f16 on the GPU in both cases). Then the whole model on every generated
 * fixture in tests/data/models: logits of the prompt and of 8 greedy steps
 * over the KV cache, NMSE <= 1e-3 against the CPU in f32.
 *
 * Exit 77 (skipped) when the module, the driver or a device is missing.
 * `test_cuda --self-check` runs the same harness with a second CPU backend
 * (bf16 weights) in place of the GPU and small shapes: it checks the test
 * itself on machines without a GPU; `--small` uses those shapes on the GPU
 * (for compute-sanitizer, which is slow). */
#include <stdint.h>

#include "backend.h"
#include "backend_loader.h"
#include "bc_compare.h"
#include "bc_test.h"
#include "checkpoint.h"
#include "cpu_kernels.h"
#include "model.h"
#include "model_config.h"

typedef struct pair {
    bc_backend *ref;     /* CPU, f32 weights */
    bc_backend *dev;     /* the backend under test */
    bc_store store;      /* dev weight storage */
    double tol;          /* NMSE limit for single operations */
    bool small;          /* --self-check: small shapes on a slow CPU */
} pair;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float frand(void) {   /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *random_floats(size_t n) {
    float *v = malloc(n * sizeof(float));
    if (!v) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) v[i] = frand();
    return v;
}

static void die_on(bc_backend *be, bc_error *err, const char *what) {
    if (be->iface->status && be->iface->status(be, err)) {
        printf("Bail out! %s: %s\n", what, err->msg);
        exit(1);
    }
}

/* ---- tensors on both backends ------------------------------------------ */

typedef struct both { bc_btensor *r, *d; int64_t rows, cols; } both;

static both make(pair *p, int64_t rows, int64_t cols, bool weight_store) {
    bc_error err = {{0}};
    both t = {NULL, NULL, rows, cols};
    t.r = p->ref->iface->tensor_new(p->ref, rows, cols, BC_STORE_F32, weight_store, &err);
    if (t.r)
        t.d = p->dev->iface->tensor_new(p->dev, rows, cols,
                                        weight_store ? p->store : BC_STORE_F32, weight_store, &err);
    if (!t.r || !t.d) { printf("Bail out! tensor [%lld, %lld]: %s\n", (long long)rows,
                               (long long)cols, err.msg); exit(1); }
    return t;
}

static void drop(pair *p, both *t) {
    p->ref->iface->tensor_free(p->ref, t->r);
    p->dev->iface->tensor_free(p->dev, t->d);
}

/* Weights: converted from an F32 "checkpoint" tensor by tensor_load. */
static both make_weight(pair *p, int64_t rows, int64_t cols, const float *row_scale) {
    both t = make(p, rows, cols, true);
    float *data = random_floats((size_t)(rows * cols));
    bc_tensor src = {"test.weight", BC_DTYPE_F32, 2, {rows, cols, 0, 0}, data,
                     (uint64_t)(rows * cols) * 4, "memory"};
    bc_error err = {{0}};
    if (p->ref->iface->tensor_load(p->ref, t.r, &src, row_scale, NULL, NULL, &err) ||
        p->dev->iface->tensor_load(p->dev, t.d, &src, row_scale, NULL, NULL, &err)) {
        printf("Bail out! tensor_load: %s\n", err.msg);
        exit(1);
    }
    free(data);
    return t;
}

static void set_random(pair *p, both *t, int64_t rows) {
    float *v = random_floats((size_t)(rows * t->cols));
    p->ref->iface->tensor_set(p->ref, t->r, 0, rows, v);
    p->dev->iface->tensor_set(p->dev, t->d, 0, rows, v);
    free(v);
}

static void poison(pair *p, both *t, int64_t rows) {
    size_t n = (size_t)(rows * t->cols);
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = NAN;
    p->dev->iface->tensor_set(p->dev, t->d, 0, rows, v);
    free(v);
}

/* NMSE of the first `rows` rows of t; CHECKs it against tol. */
static double compare(pair *p, both *t, int64_t rows, double tol, const char *what) {
    size_t n = (size_t)(rows * t->cols);
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    bc_error err = {{0}};
    p->dev->iface->synchronize(p->dev);
    p->ref->iface->tensor_get(p->ref, t->r, 0, rows, b);
    p->dev->iface->tensor_get(p->dev, t->d, 0, rows, a);
    die_on(p->dev, &err, what);
    double e = bc_nmse(a, b, n);
    CHECK(e <= tol, "%s [%s]: NMSE %.3g (limit %.0e)", what, bc_store_name(p->store), e, tol);
    free(a);
    free(b);
    return e;
}

/* ---- operations --------------------------------------------------------- */

static void test_matmul(pair *p) {
    static const int full[][3] = {   /* rows, cols, n */
        {12288, 4096, 1}, {4096, 4096, 1}, {11008, 4096, 1}, {4096, 11008, 1},
        {5120, 13696, 1}, {1000, 24, 1}, {4096, 4096, 17}, {15360, 5120, 64}, {1000, 24, 5}};
    static const int tiny[][3] = {{96, 64, 1}, {64, 176, 1}, {40, 24, 1}, {96, 64, 7}, {40, 24, 5}};
    int count = p->small ? 5 : 9;
    for (int s = 0; s < count; s++) {
        const int *sh = p->small ? tiny[s] : full[s];
        both W = make_weight(p, sh[0], sh[1], NULL);
        both x = make(p, sh[2], sh[1], false), y = make(p, sh[2], sh[0], false);
        set_random(p, &x, sh[2]);
        poison(p, &y, sh[2]);
        p->ref->iface->matmul(p->ref, W.r, x.r, sh[2], y.r);
        p->dev->iface->matmul(p->dev, W.d, x.d, sh[2], y.d);
        char what[96];
        snprintf(what, sizeof what, "matmul W[%d, %d] x %d rows", sh[0], sh[1], sh[2]);
        compare(p, &y, sh[2], p->tol, what);
        drop(p, &W); drop(p, &x); drop(p, &y);
    }
}

/* NormHead: tensor_load's row_scale, as lm_head uses it. */
static void test_row_scale(pair *p) {
    int V = p->small ? 300 : 8192, H = p->small ? 64 : 4096;
    float *scale = malloc((size_t)V * sizeof(float));
    for (int r = 0; r < V; r++) scale[r] = 0.01f + 0.5f * (frand() + 1.0f);
    both W = make_weight(p, V, H, scale);
    both x = make(p, 1, H, false), y = make(p, 1, V, false);
    set_random(p, &x, 1);
    poison(p, &y, 1);
    p->ref->iface->matmul(p->ref, W.r, x.r, 1, y.r);
    p->dev->iface->matmul(p->dev, W.d, x.d, 1, y.d);
    compare(p, &y, 1, p->tol, "lm_head rows scaled at load");
    drop(p, &W); drop(p, &x); drop(p, &y);
    free(scale);
}

static void test_small_ops(pair *p) {
    int H = p->small ? 64 : 5120, I = p->small ? 176 : 13696, V = 1000, n = 5;
    /* embedding gather from a table in weight storage */
    both table = make_weight(p, V, H, NULL);
    both out = make(p, n, H, false);
    int32_t ids[5] = {0, 999, 17, 17, 512};
    poison(p, &out, n);
    p->ref->iface->embed(p->ref, table.r, ids, n, out.r);
    p->dev->iface->embed(p->dev, table.d, ids, n, out.d);
    compare(p, &out, n, p->tol, "embed");
    drop(p, &table);

    /* RMSNorm (weights f32 on both) */
    both x = make(p, n, H, false), w = make(p, 1, H, false);
    set_random(p, &x, n);
    set_random(p, &w, 1);
    poison(p, &out, n);
    p->ref->iface->rmsnorm(p->ref, x.r, w.r, n, 1e-6f, out.r);
    p->dev->iface->rmsnorm(p->dev, x.d, w.d, n, 1e-6f, out.d);
    compare(p, &out, n, 1e-10, "rmsnorm");

    /* residual add */
    p->ref->iface->add(p->ref, x.r, out.r, n);
    p->dev->iface->add(p->dev, x.d, out.d, n);
    compare(p, &x, n, 1e-12, "add");

    /* row copy */
    both last = make(p, 1, H, false);
    poison(p, &last, 1);
    p->ref->iface->copy_rows(p->ref, last.r, 0, x.r, n - 1, 1);
    p->dev->iface->copy_rows(p->dev, last.d, 0, x.d, n - 1, 1);
    compare(p, &last, 1, 0.0, "copy_rows");
    drop(p, &x); drop(p, &w); drop(p, &out); drop(p, &last);

    /* SwiGLU */
    both g = make(p, n, I, false), u = make(p, n, I, false);
    set_random(p, &g, n);
    set_random(p, &u, n);
    p->ref->iface->swiglu(p->ref, g.r, u.r, n);
    p->dev->iface->swiglu(p->dev, g.d, u.d, n);
    compare(p, &g, n, 1e-10, "swiglu");
    drop(p, &g); drop(p, &u);
}

static void test_rope(pair *p) {
    int n_heads = p->small ? 4 : 32, d = p->small ? 16 : 128, H = n_heads * d, ctx = 512, n = 4;
    int half = d / 2;
    float *c = malloc((size_t)ctx * half * sizeof(float)), *s = malloc((size_t)ctx * half * 4);
    bc_rope_table(c, s, ctx, d, 10000.0f);
    both ct = make(p, ctx, half, false), st = make(p, ctx, half, false);
    p->ref->iface->tensor_set(p->ref, ct.r, 0, ctx, c);
    p->dev->iface->tensor_set(p->dev, ct.d, 0, ctx, c);
    p->ref->iface->tensor_set(p->ref, st.r, 0, ctx, s);
    p->dev->iface->tensor_set(p->dev, st.d, 0, ctx, s);
    both qkv = make(p, n, 3 * H, false);
    set_random(p, &qkv, n);
    for (int col0 = 0; col0 <= H; col0 += H) {
        p->ref->iface->rope(p->ref, qkv.r, n, col0, n_heads, d, 300, ct.r, st.r);
        p->dev->iface->rope(p->dev, qkv.d, n, col0, n_heads, d, 300, ct.d, st.d);
    }
    compare(p, &qkv, n, 1e-10, "rope (q and k at positions 300..303)");
    drop(p, &ct); drop(p, &st); drop(p, &qkv);
    free(c);
    free(s);
}

/* Fills the cache chunk by chunk up to `upto`, then decodes one token there;
 * every call's output is compared (prefill and decode kernels, split-K). */
static void test_attention_case(pair *p, int n_heads, int d, int ctx, bool alibi, int upto) {
    int H = n_heads * d, B = 64;
    both kc = {0}, vc = {0};
    bc_error err = {{0}};
    bc_store kvs_r = p->ref->iface->kv_store ? p->ref->iface->kv_store(p->ref) : BC_STORE_F32;
    bc_store kvs_d = p->dev->iface->kv_store ? p->dev->iface->kv_store(p->dev) : BC_STORE_F32;
    kc.r = p->ref->iface->tensor_new(p->ref, ctx, H, kvs_r, false, &err);
    vc.r = p->ref->iface->tensor_new(p->ref, ctx, H, kvs_r, false, &err);
    kc.d = p->dev->iface->tensor_new(p->dev, ctx, H, kvs_d, false, &err);
    vc.d = p->dev->iface->tensor_new(p->dev, ctx, H, kvs_d, false, &err);
    if (!kc.r || !vc.r || !kc.d || !vc.d) { printf("Bail out! KV cache: %s\n", err.msg); exit(1); }
    both slopes = {0};
    if (alibi) {
        slopes = make(p, 1, n_heads, false);
        double *sd = malloc((size_t)n_heads * sizeof(double));
        float *sf = malloc((size_t)n_heads * sizeof(float));
        bc_alibi_slopes(n_heads, sd);
        for (int h = 0; h < n_heads; h++) sf[h] = (float)sd[h];
        p->ref->iface->tensor_set(p->ref, slopes.r, 0, 1, sf);
        p->dev->iface->tensor_set(p->dev, slopes.d, 0, 1, sf);
        free(sd);
        free(sf);
    }
    both qkv = make(p, B, 3 * H, false), out = make(p, B, H, false);
    both scores = make(p, (int64_t)B * n_heads, ctx, false);
    double worst_prefill = 0.0;
    int pos = 0;
    while (pos <= upto) {
        int n = pos == upto ? 1 : (upto - pos < B ? upto - pos : B);
        set_random(p, &qkv, n);
        poison(p, &out, n);
        p->ref->iface->attention(p->ref, qkv.r, kc.r, vc.r, slopes.r, n, pos, n_heads, d,
                                 scores.r, out.r);
        p->dev->iface->attention(p->dev, qkv.d, kc.d, vc.d, slopes.d, n, pos, n_heads, d,
                                 scores.d, out.d);
        char what[128];
        snprintf(what, sizeof what, "attention %d heads x %d%s, %d rows at %d", n_heads, d,
                 alibi ? " ALiBi" : "", n, pos);
        if (n == 1) {
            compare(p, &out, 1, p->tol, what);
        } else {   /* many chunks: report the worst, and any failure at once */
            size_t cnt = (size_t)n * H;
            float *a = malloc(cnt * 4), *b = malloc(cnt * 4);
            p->ref->iface->tensor_get(p->ref, out.r, 0, n, b);
            p->dev->iface->tensor_get(p->dev, out.d, 0, n, a);
            die_on(p->dev, &err, what);
            double e = bc_nmse(a, b, cnt);
            if (!(e <= p->tol)) CHECK(e <= p->tol, "%s: NMSE %.3g", what, e);
            if (e > worst_prefill || !isfinite(e)) worst_prefill = e;
            free(a);
            free(b);
        }
        pos += n;
    }
    CHECK(worst_prefill <= p->tol, "attention %d heads x %d%s: prefill to %d, worst NMSE %.3g",
          n_heads, d, alibi ? " ALiBi" : "", upto, worst_prefill);
    p->ref->iface->tensor_free(p->ref, kc.r); p->ref->iface->tensor_free(p->ref, vc.r);
    p->dev->iface->tensor_free(p->dev, kc.d); p->dev->iface->tensor_free(p->dev, vc.d);
    if (alibi) drop(p, &slopes);
    drop(p, &qkv); drop(p, &out); drop(p, &scores);
}

static void test_attention(pair *p) {
    if (p->small) {
        test_attention_case(p, 4, 16, 320, false, 300);
        test_attention_case(p, 6, 4, 128, true, 100);
        return;
    }
    test_attention_case(p, 32, 128, 1024, false, 1000);   /* 7B: RoPE'd q/k, no bias */
    test_attention_case(p, 40, 128, 1024, true, 700);     /* 13B: ALiBi */
    test_attention_case(p, 6, 4, 128, true, 100);         /* the fixtures' tiny heads */
    test_attention_case(p, 2, 128, 4096, true, 4095);     /* long context, 16 splits */
}

/* ---- the whole model ----------------------------------------------------- */

static void test_model(pair *p, const char *fixture) {
    const char *src = getenv("BC_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/models/%s", src ? src : ".", fixture);
    bc_model_config cfg;
    bc_generation_config gen;
    bc_checkpoint *ck = NULL;
    bc_error err = {{0}};
    if (bc_model_config_load(dir, &cfg, &gen, &err) || bc_checkpoint_open_dir(dir, &ck, &err)) {
        CHECK(0, "%s: %s", fixture, err.msg);
        return;
    }
    bc_model *mr = NULL, *md = NULL;
    bc_model_params small_batch = {.max_batch = 4};   /* the device model prefills 4 tokens at a time */
    if (bc_model_load(&cfg, ck, p->ref, NULL, NULL, NULL, &mr, &err) ||
        bc_model_load(&cfg, ck, p->dev, &small_batch, NULL, NULL, &md, &err)) {
        CHECK(0, "%s: load: %s", fixture, err.msg);
        bc_model_free(mr);
        bc_checkpoint_close(ck);
        return;
    }
    bc_checkpoint_close(ck);
    int V = bc_model_vocab(mr), n = 11, steps = 8;
    int32_t ids[32];
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(3 + (i * 7919) % (V - 3));
    float *lr = malloc((size_t)n * V * 4), *ld = malloc((size_t)n * V * 4);
    for (size_t i = 0; i < (size_t)n * V; i++) ld[i] = NAN;
    int rc = bc_model_forward(mr, ids, n, 0, true, lr, &err);
    if (!rc) rc = bc_model_forward(md, ids, n, 0, true, ld, &err);
    double e = rc ? INFINITY : bc_nmse(ld, lr, (size_t)n * V);
    CHECK(!rc && e <= 1e-3, "%s [%s]: prompt logits (%d tokens, batches of 4) NMSE %.3g %s",
          fixture, bc_store_name(p->store), n, e, rc ? err.msg : "");
    int agree = 0;
    double worst = 0.0;
    for (int s = 0; s < steps && !rc; s++) {
        int32_t next = bc_argmax(lr + (s ? 0 : (size_t)(n - 1) * V), V);
        agree += bc_argmax(ld + (s ? 0 : (size_t)(n - 1) * V), V) == next;
        rc = bc_model_forward(mr, &next, 1, n + s, false, lr, &err);
        if (!rc) rc = bc_model_forward(md, &next, 1, n + s, false, ld, &err);
        double es = rc ? INFINITY : bc_nmse(ld, lr, (size_t)V);
        if (es > worst || !isfinite(es)) worst = es;
    }
    CHECK(!rc && worst <= 1e-3, "%s [%s]: %d decode steps over the KV cache, worst NMSE %.3g, "
          "top-1 agreement %d/%d %s", fixture, bc_store_name(p->store), steps, worst, agree,
          steps, rc ? err.msg : "");
    free(lr);
    free(ld);
    bc_model_free(mr);
    bc_model_free(md);
}

/* ---- main ---------------------------------------------------------------- */

static void run_all(pair *p) {
    test_matmul(p);
    test_row_scale(p);
    test_small_ops(p);
    test_rope(p);
    test_attention(p);
    const char *fixtures[] = {"rope-safetensors-bf16", "alibi6-bin-f16", "rope-shards-f32"};
    for (size_t k = 0; k < 3; k++) test_model(p, fixtures[k]);
}

int main(int argc, char **argv) {
    bool self_check = argc > 1 && !strcmp(argv[1], "--self-check");
    bool small = self_check || (argc > 1 && !strcmp(argv[1], "--small"));   /* memcheck runs */
    bc_error err = {{0}};
    bc_backend_params cpu_params = {0, BC_STORE_F32};
    bc_backend *ref = NULL;
    if (!self_check) {
        bc_cuda_probe_info info;
        if (bc_cuda_probe(&info, &err)) BC_SKIP("no usable CUDA device: %s", err.msg);
        printf("# device: %s, compute capability %d.%d, %d SMs, %.1f GiB (%.1f free); "
               "driver %d, runtime %d; module %s\n", info.name, info.cc_major, info.cc_minor,
               info.multiprocessors, (double)info.total_bytes / 1073741824.0,
               (double)info.free_bytes / 1073741824.0, info.driver_version, info.runtime_version,
               bc_cuda_module_path());
    }
    if (bc_backend_cpu_new(&cpu_params, &ref, &err)) { printf("Bail out! %s\n", err.msg); return 1; }
    bc_store stores[2] = {BC_STORE_F16, BC_STORE_BF16};
    for (int k = self_check ? 1 : 0; k < 2; k++) {
        bc_backend_params dp = {0, stores[k]};
        bc_backend *dev = NULL;
        int rc = self_check ? bc_backend_cpu_new(&dp, &dev, &err)
                            : bc_backend_cuda_new(&dp, &dev, &err);
        if (rc) { printf("Bail out! %s\n", err.msg); return 1; }
        pair p = {ref, dev, stores[k], stores[k] == BC_STORE_F16 ? 5e-4 : 5e-3, small};
        run_all(&p);
        dev->iface->free(dev);
    }
    ref->iface->free(ref);
    return bc_test_done();
}
