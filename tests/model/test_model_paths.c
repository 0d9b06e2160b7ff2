/* Forward-pass invariants on the built-in demo weights (no files needed):
 * batch prefill == one token at a time (KV-cache path), chunked prefill ==
 * one batch, bf16 storage close to f32, ALiBi slopes == _get_interleave, and
 * weight validation errors naming the tensor. Logit values themselves are
 * checked against the float64 reference in test_model_reference.c. */
#include <stdint.h>

#include "bc_test.h"
#include "checkpoint.h"
#include "demo_model.h"
#include "model.h"

enum { VOCAB = 300, N = 23 };

static bc_model *load(bc_checkpoint *ck, const bc_model_config *cfg, bc_store store,
                      int max_batch, bc_backend **be, bc_error *err) {
    bc_backend_params bp = {1, store};
    if (bc_backend_cpu_new(&bp, be, err)) return NULL;
    bc_model_params mp = {.ctx = 64, .max_batch = max_batch};
    bc_model *m = NULL;
    if (bc_model_load(cfg, ck, *be, &mp, NULL, NULL, &m, err)) { (*be)->iface->free(*be); return NULL; }
    return m;
}

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double scale = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
    }
    return d / (scale > 0 ? scale : 1);
}

static void test_paths(bc_checkpoint *ck, const bc_model_config *cfg) {
    bc_error err = {{0}};
    bc_backend *be1, *be2, *be3;
    bc_model *batch = load(ck, cfg, BC_STORE_F32, 64, &be1, &err);
    bc_model *chunked = load(ck, cfg, BC_STORE_F32, 5, &be2, &err);
    bc_model *bf16 = load(ck, cfg, BC_STORE_BF16, 64, &be3, &err);
    CHECK(batch && chunked && bf16, "models load (%s)", err.msg);
    if (!batch || !chunked || !bf16) return;
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (i * 37 + 11) % VOCAB;
    static float all[N * VOCAB], steps[N * VOCAB], chunk[N * VOCAB], half[N * VOCAB], last[VOCAB];
    CHECK(bc_model_forward(batch, ids, N, 0, true, all, &err) == 0, "batch prefill");
    for (int i = 0; i < N; i++)
        bc_model_forward(batch, ids + i, 1, i, false, steps + (size_t)i * VOCAB, &err);
    CHECK(max_rel_diff(steps, all, (size_t)N * VOCAB) < 1e-5,
          "one token at a time over the KV cache == batch prefill (rel diff %.2e)",
          max_rel_diff(steps, all, (size_t)N * VOCAB));
    bc_model_forward(chunked, ids, N, 0, true, chunk, &err);
    CHECK(max_rel_diff(chunk, all, (size_t)N * VOCAB) < 1e-5,
          "prefill in chunks of 5 == one batch (rel diff %.2e)", max_rel_diff(chunk, all, (size_t)N * VOCAB));
    bc_model_forward(batch, ids, N, 0, false, last, &err);
    CHECK(max_rel_diff(last, all + (size_t)(N - 1) * VOCAB, VOCAB) < 1e-6, "last-row logits == row N-1");
    /* Continue from a cached prefix: positions 10.. after 10 cached tokens. */
    bc_model_forward(batch, ids, 10, 0, false, last, &err);
    bc_model_forward(batch, ids + 10, N - 10, 10, false, last, &err);
    CHECK(max_rel_diff(last, all + (size_t)(N - 1) * VOCAB, VOCAB) < 1e-5,
          "prefill after a cached prefix == fresh prefill");
    bc_model_forward(bf16, ids, N, 0, true, half, &err);
    double d = max_rel_diff(half, all, (size_t)N * VOCAB);
    CHECK(d < 3e-2, "bf16 storage within 3e-2 of f32 (rel diff %.2e)", d);
    CHECK(bc_model_forward(batch, ids, 2, 63, false, last, &err) != 0 && strstr(err.msg, "context"),
          "running past the context is an error (%s)", err.msg);
    int32_t bad = VOCAB;
    CHECK(bc_model_forward(batch, &bad, 1, 0, false, last, &err) != 0 && strstr(err.msg, "vocabulary"),
          "an id outside the vocabulary is an error (%s)", err.msg);
    bc_model_free(batch); be1->iface->free(be1);
    bc_model_free(chunked); be2->iface->free(be2);
    bc_model_free(bf16); be3->iface->free(be3);
}

static void test_alibi(bc_checkpoint *ck, const bc_model_config *cfg) {
    double s[40];
    bc_alibi_slopes(40, s);
    /* _get_interleave(40), closed form (baichuan2.md 2.5): the 32 power-of-two
     * slopes 2^(-(h+1)/4), then the odd-exponent slopes 2^(-(2k+1)/8) of the
     * 64-head list for the remaining 8 heads. */
    double worst = 0;
    for (int h = 0; h < 40; h++) {
        double want = h < 32 ? pow(2.0, -(h + 1) / 4.0) : pow(2.0, -(2 * (h - 32) + 1) / 8.0);
        worst = fmax(worst, fabs(s[h] - want) / want);
    }
    CHECK(worst < 1e-12, "ALiBi slopes for 40 heads follow _get_interleave (worst rel. error %.2g)",
          worst);
    bc_alibi_slopes(6, s);  /* c = 4: 2^-2, 2^-4, 2^-6, 2^-8, then 2^-1, 2^-3 */
    CHECK(fabs(s[0] - 0.25) < 1e-15 && fabs(s[3] - 1.0 / 256) < 1e-15 &&
          fabs(s[4] - 0.5) < 1e-15 && fabs(s[5] - 0.125) < 1e-15, "ALiBi slopes for 6 heads");
    bc_model_config a = *cfg;
    a.position = BC_POS_ALIBI;
    bc_error err = {{0}};
    bc_backend *be;
    bc_model *m = load(ck, &a, BC_STORE_F32, 64, &be, &err);
    CHECK(m != NULL, "ALiBi model loads");
    if (!m) return;
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (i * 53 + 7) % VOCAB;
    static float all[N * VOCAB], steps[N * VOCAB];
    bc_model_forward(m, ids, N, 0, true, all, &err);
    for (int i = 0; i < N; i++) bc_model_forward(m, ids + i, 1, i, false, steps + (size_t)i * VOCAB, &err);
    CHECK(max_rel_diff(steps, all, (size_t)N * VOCAB) < 1e-5, "ALiBi: KV-cache path == batch");
    bc_model_free(m); be->iface->free(be);
}

/* Validation: a checkpoint with one tensor changed must fail naming it. */
static void test_validation(const bc_model_config *cfg) {
    bc_error err = {{0}};
    bc_model_config c = *cfg;
    bc_generation_config g;
    bc_checkpoint *ck;
    bc_demo_model_build(VOCAB, &c, &g, &ck, &err);
    bc_checkpoint *bad = bc_checkpoint_new_memory();
    for (size_t i = 0; i < bc_checkpoint_count(ck); i++) {
        const bc_tensor *t = bc_checkpoint_at(ck, i);
        if (!strcmp(t->name, "model.layers.1.mlp.up_proj.weight")) continue;   /* missing */
        if (!strcmp(t->name, "model.layers.0.self_attn.o_proj.weight")) {     /* wrong shape */
            int64_t sh[2] = {t->shape[0] / 2, t->shape[1] * 2};
            bc_checkpoint_add_copy(bad, t->name, t->dtype, 2, sh, t->data, &err);
            continue;
        }
        bc_checkpoint_add_copy(bad, t->name, t->dtype, t->ndim, t->shape, t->data, &err);
    }
    int64_t one = 1;
    int32_t extra = 5;
    bc_checkpoint_add_copy(bad, "model.layers.0.self_attn.rotary_emb.inv_freq", BC_DTYPE_I32, 1,
                           &one, &extra, &err);
    bc_backend *be;
    bc_backend_params bp = {1, BC_STORE_F32};
    bc_backend_cpu_new(&bp, &be, &err);
    bc_model *m = NULL;
    int rc = bc_model_load(&c, bad, be, NULL, NULL, NULL, &m, &err);
    CHECK(rc != 0 && strstr(err.msg, "model.layers.0.self_attn.o_proj.weight") &&
          strstr(err.msg, "shape [64, 256], expected [128, 128]"), "wrong shape named: %s", err.msg);
    bc_checkpoint_close(bad);
    bad = bc_checkpoint_new_memory();
    for (size_t i = 0; i < bc_checkpoint_count(ck); i++) {
        const bc_tensor *t = bc_checkpoint_at(ck, i);
        if (strcmp(t->name, "model.layers.1.mlp.up_proj.weight"))
            bc_checkpoint_add_copy(bad, t->name, t->dtype, t->ndim, t->shape, t->data, &err);
    }
    rc = bc_model_load(&c, bad, be, NULL, NULL, NULL, &m, &err);
    CHECK(rc != 0 && strstr(err.msg, "model.layers.1.mlp.up_proj.weight is missing"),
          "missing tensor named: %s", err.msg);
    bc_checkpoint_close(bad);
    bad = bc_checkpoint_new_memory();
    for (size_t i = 0; i < bc_checkpoint_count(ck); i++) {
        const bc_tensor *t = bc_checkpoint_at(ck, i);
        bc_dtype dt = strcmp(t->name, "model.norm.weight") ? t->dtype : BC_DTYPE_I32;
        bc_checkpoint_add_copy(bad, t->name, dt, t->ndim, t->shape, t->data, &err);
    }
    rc = bc_model_load(&c, bad, be, NULL, NULL, NULL, &m, &err);
    CHECK(rc != 0 && strstr(err.msg, "model.norm.weight: dtype I32"), "bad dtype named: %s", err.msg);
    bc_checkpoint_close(bad);
    bc_checkpoint_close(ck);
    be->iface->free(be);
}

int main(void) {
    bc_model_config cfg;
    bc_generation_config gen;
    bc_checkpoint *ck = NULL;
    bc_error err = {{0}};
    CHECK(bc_demo_model_build(VOCAB, &cfg, &gen, &ck, &err) == 0, "demo weights build");
    if (!ck) return bc_test_done();
    test_paths(ck, &cfg);
    test_alibi(ck, &cfg);
    test_validation(&cfg);
    bc_checkpoint_close(ck);
    return bc_test_done();
}
