/* Quantized models end to end, against tests/quant/make_4bit_models.py
 * (torch.save files in bitsandbytes' layouts; expected values from the
 * float64 reference forward pass on the dequantized weights):
 *
 *  - each quantized checkpoint (nf4 list / nf4 packed / int8 SCB) loaded as
 *    is, dequantized to f32 and to bf16: logits against the reference;
 *  - online quantization of the dense fp16 model gives the same codes as the
 *    reference quantizer (logits bit-identical to loading the nf4 / int8
 *    files), and the load progress reaches its total;
 *  - perplexity of the trained model in f32, bf16, int8, nf4 (table in the
 *    log) against the reference and against each other;
 *  - hostile quant_state files: a clear error naming the tensor, no crash.
 *
 * Error measure for logits: worst row of max|c - r| / max|r|. */
#include <stdint.h>

#include "bc_compare.h"
#include "bc_test.h"
#include "checkpoint.h"
#include "model.h"
#include "model_config.h"
#include "quant_ckpt.h"

enum { MAX_IDS = 256, VOCAB = 256 };

typedef struct expected {
    int n_prompt, prompt[MAX_IDS], logit_rows;
    int n_eval, eval[MAX_IDS];
    double ppl_f32, ppl_nf4, ppl_int8;
} expected;

static int read_ids(FILE *f, int *n, int *out) {
    if (fscanf(f, "%d", n) != 1 || *n <= 0 || *n > MAX_IDS) return -1;
    for (int i = 0; i < *n; i++)
        if (fscanf(f, "%d", &out[i]) != 1) return -1;
    return 0;
}

static int read_expected(const char *dir, expected *e) {
    char path[1200], word[32], fmt[16];
    snprintf(path, sizeof path, "%s/expected.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    memset(e, 0, sizeof *e);
    int c, rc = 0;
    while (!rc && (c = fgetc(f)) != EOF) {
        if (c == '#' || c == '\n') {
            while (c != '\n' && (c = fgetc(f)) != EOF) {}
            continue;
        }
        ungetc(c, f);
        if (fscanf(f, "%31s", word) != 1) break;
        double v;
        if (!strcmp(word, "prompt")) rc = read_ids(f, &e->n_prompt, e->prompt);
        else if (!strcmp(word, "eval")) rc = read_ids(f, &e->n_eval, e->eval);
        else if (!strcmp(word, "logit_rows")) rc = fscanf(f, "%d", &e->logit_rows) == 1 ? 0 : -1;
        else if (!strcmp(word, "perplexity") && fscanf(f, "%15s %lf", fmt, &v) == 2) {
            if (!strcmp(fmt, "f32")) e->ppl_f32 = v;
            else if (!strcmp(fmt, "nf4")) e->ppl_nf4 = v;
            else if (!strcmp(fmt, "int8")) e->ppl_int8 = v;
        } else rc = -1;
    }
    fclose(f);
    return rc || !e->n_prompt || !e->n_eval || e->logit_rows <= 0 ||
                   e->logit_rows > e->n_prompt ? -1 : 0;
}

static float *read_logits(const char *dir, size_t count) {
    char path[1200];
    snprintf(path, sizeof path, "%s/logits.f32", dir);
    return bc_read_f32_file(path, count);
}

/* ---- loading ---------------------------------------------------------------- */

typedef struct progress_log { uint64_t last, total; int calls, backwards; } progress_log;

static void on_progress(void *user, uint64_t done, uint64_t total) {
    progress_log *p = user;
    if (done < p->last) p->backwards++;
    p->last = done;
    p->total = total;
    p->calls++;
}

typedef struct loaded {
    bc_backend *be;
    bc_model *m;
    progress_log progress;
} loaded;

static int load(const char *dir, bc_store store, bool dense_f32, loaded *out, bc_error *err) {
    memset(out, 0, sizeof *out);
    bc_model_config cfg;
    bc_generation_config gen;
    bc_checkpoint *ck = NULL;
    bc_backend_params bp = {2, store};
    bc_model_params mp = {.ctx = 0, .max_batch = 16, .dense_f32 = dense_f32};
    int rc = bc_model_config_load(dir, &cfg, &gen, err) || bc_checkpoint_open_dir(dir, &ck, err) ||
             bc_backend_cpu_new(&bp, &out->be, err) ||
             bc_model_load(&cfg, ck, out->be, &mp, on_progress, &out->progress, &out->m, err);
    bc_checkpoint_close(ck);
    if (rc && out->be) { out->be->iface->free(out->be); out->be = NULL; }
    return rc ? -1 : 0;
}

static void unload(loaded *l) {
    bc_model_free(l->m);
    if (l->be) l->be->iface->free(l->be);
    memset(l, 0, sizeof *l);
}

static float *prompt_logits(loaded *l, const expected *e, bc_error *err) {
    float *all = malloc((size_t)e->n_prompt * VOCAB * sizeof(float));
    int32_t ids[MAX_IDS];
    for (int i = 0; i < e->n_prompt; i++) ids[i] = e->prompt[i];
    if (!all || bc_model_forward(l->m, ids, e->n_prompt, 0, true, all, err)) {
        free(all);
        return NULL;
    }
    return all;
}

static double perplexity(loaded *l, const expected *e, bc_error *err) {
    int n = e->n_eval;
    float *logits = malloc((size_t)n * VOCAB * sizeof(float));
    int32_t ids[MAX_IDS];
    for (int i = 0; i < n; i++) ids[i] = e->eval[i];
    if (!logits || bc_model_forward(l->m, ids, n - 1, 0, true, logits, err)) {
        free(logits);
        return NAN;
    }
    double nll = 0;
    for (int i = 0; i + 1 < n; i++) {
        const float *row = logits + (size_t)i * VOCAB;
        double mx = row[0], sum = 0;
        for (int k = 1; k < VOCAB; k++) if (row[k] > mx) mx = row[k];
        for (int k = 0; k < VOCAB; k++) sum += exp(row[k] - mx);
        nll += mx + log(sum) - row[ids[i + 1]];
    }
    free(logits);
    return exp(nll / (n - 1));
}

/* ---- quantized checkpoints against the reference ----------------------------- */

static void check_checkpoint(const char *root, const char *name, bc_store native) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    bc_error err = {{0}};
    expected e;
    CHECK(read_expected(dir, &e) == 0, "%s: expected.txt", name);
    float *ref = read_logits(dir, (size_t)e.logit_rows * VOCAB);
    if (!ref) { CHECK(0, "%s: logits.f32", name); return; }
    bc_checkpoint *ck = NULL;
    int fmt = bc_checkpoint_open_dir(dir, &ck, &err) ? -1 : bc_quant_ckpt_format(ck);
    bc_checkpoint_close(ck);
    CHECK(fmt == (native == BC_STORE_NF4 ? BC_QUANT_NF4 : BC_QUANT_INT8),
          "%s: detected as %s by its keys", name, bc_store_name(native));
    struct { bc_store store; bool dense_f32; double bound; const char *what; } runs[] = {
        {native, true, 1e-4, "as is (embeddings f32)"},
        {native, false, 1e-2, "as is (embeddings bf16)"},
        {BC_STORE_F32, false, 1e-4, "dequantized to f32"},
        {BC_STORE_BF16, false, 1e-2, "dequantized to bf16"},
    };
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        loaded l;
        err.msg[0] = '\0';
        float *got = NULL;
        if (!load(dir, runs[k].store, runs[k].dense_f32, &l, &err)) got = prompt_logits(&l, &e, &err);
        double worst = got ? bc_worst_row_error(got + (size_t)(e.n_prompt - e.logit_rows) * VOCAB,
                                             ref, e.logit_rows, VOCAB)
                           : INFINITY;
        CHECK(worst <= runs[k].bound, "%s, %s store, %s: last %d logit rows, max rel error %.2e <= %.0e %s",
              name, bc_store_name(runs[k].store), runs[k].what, e.logit_rows, worst,
              runs[k].bound, err.msg);
        if (k == 0)
            CHECK(l.progress.calls > 0 && !l.progress.backwards && l.progress.last == l.progress.total &&
                  l.progress.total > 0, "%s: load progress monotonic, ends at its total (%llu of %llu bytes)",
                  name, (unsigned long long)l.progress.last, (unsigned long long)l.progress.total);
        free(got);
        unload(&l);
    }
    free(ref);
}

/* Online quantization of the dense model == the files written from the
 * reference quantizer: identical logits, bit for bit. */
static void check_online(const char *root) {
    char dense[600], file[600];
    snprintf(dense, sizeof dense, "%s/trained-f16", root);
    bc_error err = {{0}};
    expected e;
    if (read_expected(dense, &e)) { CHECK(0, "trained-f16: expected.txt"); return; }
    struct { bc_store store; const char *file; } pairs[] = {
        {BC_STORE_NF4, "nf4-list"}, {BC_STORE_NF4, "nf4-packed"}, {BC_STORE_INT8, "int8-scb"}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        snprintf(file, sizeof file, "%s/%s", root, pairs[k].file);
        loaded a, b;
        float *la = NULL, *lb = NULL;
        if (!load(dense, pairs[k].store, true, &a, &err)) la = prompt_logits(&a, &e, &err);
        if (!load(file, pairs[k].store, true, &b, &err)) lb = prompt_logits(&b, &e, &err);
        bool same = la && lb && !memcmp(la, lb, (size_t)e.n_prompt * VOCAB * sizeof(float));
        CHECK(same, "online %s quantization of trained-f16 == loading %s (logits bit-identical) %s",
              bc_store_name(pairs[k].store), pairs[k].file, err.msg);
        if (k == 0)
            CHECK(a.progress.calls > 0 && !a.progress.backwards && a.progress.last == a.progress.total,
                  "online nf4: progress ends at its total (%llu bytes)",
                  (unsigned long long)a.progress.total);
        free(la);
        free(lb);
        unload(&a);
        unload(&b);
    }
}

static void check_perplexity(const char *root) {
    char dense[600];
    snprintf(dense, sizeof dense, "%s/trained-f16", root);
    bc_error err = {{0}};
    expected e;
    if (read_expected(dense, &e)) { CHECK(0, "trained-f16: expected.txt"); return; }
    struct { bc_store store; bool dense_f32; double ref; double ppl; } runs[] = {
        {BC_STORE_F32, false, e.ppl_f32, 0}, {BC_STORE_BF16, false, 0, 0},
        {BC_STORE_INT8, true, e.ppl_int8, 0}, {BC_STORE_NF4, true, e.ppl_nf4, 0},
        {BC_STORE_INT8, false, 0, 0}, {BC_STORE_NF4, false, 0, 0},
    };
    size_t n = sizeof runs / sizeof runs[0];
    for (size_t k = 0; k < n; k++) {
        loaded l;
        runs[k].ppl = load(dense, runs[k].store, runs[k].dense_f32, &l, &err) ? NAN
                                                                               : perplexity(&l, &e, &err);
        unload(&l);
        if (runs[k].ref > 0)
            CHECK(fabs(runs[k].ppl / runs[k].ref - 1) <= 1e-4,
                  "perplexity %s%s %.6f == reference %.6f (rel 1e-4) %s", bc_store_name(runs[k].store),
                  runs[k].dense_f32 ? " (embeddings f32)" : "", runs[k].ppl, runs[k].ref, err.msg);
    }
    double f32 = runs[0].ppl;
    printf("# held-out perplexity of trained-f16 (%d bytes of text), vs f32:\n", e.n_eval);
    printf("#   format  embeddings  perplexity  change\n");
    for (size_t k = 0; k < n; k++)
        printf("#   %-6s  %-10s  %10.4f  %+6.2f%%\n", bc_store_name(runs[k].store),
               runs[k].store == BC_STORE_F32 ? "f32" : runs[k].dense_f32 ? "f32" : "bf16",
               runs[k].ppl, 100.0 * (runs[k].ppl / f32 - 1));
    CHECK(fabs(runs[4].ppl / f32 - 1) <= 0.01, "int8 perplexity within 1%% of f32 (%+.2f%%)",
          100.0 * (runs[4].ppl / f32 - 1));
    CHECK(fabs(runs[5].ppl / f32 - 1) <= 0.05, "nf4 perplexity within 5%% of f32 (%+.2f%%)",
          100.0 * (runs[5].ppl / f32 - 1));
    /* the model is not a random one: it predicts text far better than chance */
    CHECK(f32 < VOCAB / 4.0, "trained model: f32 perplexity %.2f is well below the vocabulary (%d)",
          f32, VOCAB);
}

/* A quantized checkpoint whose shapes do not match the config is refused
 * through the model loader with the tensor named. */
static void check_config_mismatch(const char *root) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/nf4-list", root);
    bc_error err = {{0}};
    bc_model_config cfg;
    bc_generation_config gen;
    bc_checkpoint *ck = NULL;
    bc_backend *be = NULL;
    bc_model *m = NULL;
    bc_backend_params bp = {1, BC_STORE_NF4};
    int ok = !bc_model_config_load(dir, &cfg, &gen, &err) && !bc_checkpoint_open_dir(dir, &ck, &err) &&
             !bc_backend_cpu_new(&bp, &be, &err);
    if (ok) {
        cfg.intermediate_size = 192;
        int rc = bc_model_load(&cfg, ck, be, NULL, NULL, NULL, &m, &err);
        CHECK(rc != 0 && strstr(err.msg, "model.layers.0.mlp.gate_proj.weight.quant_state.1") &&
              strstr(err.msg, "does not match [192, 64]"),
              "nf4 checkpoint vs a config with another intermediate_size: %s", err.msg);
    } else {
        CHECK(0, "nf4-list opens (%s)", err.msg);
    }
    bc_model_free(m);
    if (be) be->iface->free(be);
    bc_checkpoint_close(ck);
}

/* ---- hostile quant_state files -------------------------------------------------- */

static float *dequantized(const char *dir, const char *name, bc_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    bc_checkpoint *ck = NULL;
    bc_quant_tensor q;
    uint64_t bytes;
    float *w = NULL;
    if (!bc_checkpoint_open_file(path, &ck, err) &&
        bc_quant_ckpt_read(ck, "m", 64, 64, &q, &bytes, err) == 1) {
        w = malloc(64 * 64 * sizeof(float));
        if (w && q.format == BC_QUANT_NF4) bc_dequantize_nf4(&q.nf4, w);
        else if (w) bc_dequantize_int8(&q.int8, w);
        bc_quant_tensor_free(&q);
    }
    bc_checkpoint_close(ck);
    return w;
}

static void check_hostile(const char *root) {
    char dir[600], path[1200], line[512];
    snprintf(dir, sizeof dir, "%s/hostile", root);
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) { CHECK(0, "%s: readable", path); return; }
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = '\0';
        char *sp = strchr(line, ' ');
        if (!sp) continue;
        *sp = '\0';
        const char *name = line, *want = sp + 1;
        snprintf(path, sizeof path, "%s/%s.bin", dir, name);
        bc_error err = {{0}};
        bc_checkpoint *ck = NULL;
        bc_quant_tensor q;
        uint64_t bytes = 0;
        int rc = bc_checkpoint_open_file(path, &ck, &err) ? -2
                                                           : bc_quant_ckpt_read(ck, "m", 64, 64, &q, &bytes, &err);
        if (rc == 1) bc_quant_tensor_free(&q);
        bc_checkpoint_close(ck);
        if (!strcmp(want, "ok"))
            CHECK(rc == 1 && bytes > 0, "hostile/%s: valid, reads (%s)", name, err.msg);
        else
            CHECK(rc < 0 && strstr(err.msg, want), "hostile/%s: refused naming '%s': %s", name, want,
                  err.msg);
        cases++;
    }
    fclose(f);
    CHECK(cases >= 20, "hostile: %d cases", cases);
    /* the valid layouts of the same weights decode to the same values */
    bc_error err = {{0}};
    float *list = dequantized(dir, "ok-list", &err), *packed = dequantized(dir, "ok-packed", &err);
    float *key = dequantized(dir, "ok-list-weight-key", &err);
    float *plain = dequantized(dir, "ok-list-plain", &err);
    float *pplain = dequantized(dir, "ok-packed-plain", &err);
    size_t sz = 64 * 64 * sizeof(float);
    CHECK(list && packed && key && !memcmp(list, packed, sz) && !memcmp(list, key, sz),
          "list, packed and weight-key layouts decode identically");
    CHECK(plain && pplain && !memcmp(plain, pplain, sz),
          "list and packed layouts without double quantization decode identically");
    free(list); free(packed); free(key); free(plain); free(pplain);
}

int main(void) {
    const char *src = getenv("BC_SOURCE_DIR");
    if (!src) BC_SKIP("BC_SOURCE_DIR is not set");
    char root[400];
    snprintf(root, sizeof root, "%s/tests/data/quant_models", src);
    check_checkpoint(root, "nf4-list", BC_STORE_NF4);
    check_checkpoint(root, "nf4-packed", BC_STORE_NF4);
    check_checkpoint(root, "int8-scb", BC_STORE_INT8);
    check_online(root);
    check_perplexity(root);
    check_config_mismatch(root);
    check_hostile(root);
    return bc_test_done();
}
