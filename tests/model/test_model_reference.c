/* The C forward pass against tests/model/reference.py (float64 numpy, written
 * from the spec) on every fixture in tests/data/models/: full logits of each
 * prompt, and the 32-token greedy continuation over the KV cache.
 *
 * Error measure: max_i |c_i - r_i| / max_i |r_i| over a logits row.
 * Bounds: f32 storage 1e-4; bf16 storage 1e-2 (weights, and the normalised
 * lm_head even of a bf16 checkpoint, rounded to 8 mantissa bits). Greedy
 * continuations are compared for f32 storage. */
#include <stdint.h>

#include "bc_compare.h"
#include "bc_test.h"
#include "checkpoint.h"
#include "model.h"
#include "model_config.h"
#include "synthetic_model.h"

static const char *FIXTURES[] = {"rope-safetensors-bf16", "alibi6-bin-f16", "rope-shards-f32"};

typedef struct expected {
    int n_prompts;
    int prompt_len[4], prompt[4][256];
    int logit_rows[4];   /* reference logits: the last logit_rows positions */
    int greedy_len[4], greedy[4][64];
} expected;

static int read_ints(FILE *f, int n, int *out) {
    for (int i = 0; i < n; i++)
        if (fscanf(f, "%d", &out[i]) != 1) return -1;
    return 0;
}

static int read_expected(const char *dir, expected *e) {
    char path[1024], word[32];
    snprintf(path, sizeof path, "%s/expected.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    memset(e, 0, sizeof *e);
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '#') { while ((c = fgetc(f)) != EOF && c != '\n') {} continue; }
        ungetc(c, f);
        int k, n;
        if (fscanf(f, "%31s", word) != 1) break;
        if (!strcmp(word, "prompt") && fscanf(f, "%d %d", &k, &n) == 2 && k < 4 && n <= 256) {
            e->prompt_len[k] = n;
            if (read_ints(f, n, e->prompt[k])) break;
            if (k + 1 > e->n_prompts) e->n_prompts = k + 1;
        } else if (!strcmp(word, "logit_rows") && fscanf(f, "%d %d", &k, &n) == 2 && k < 4) {
            e->logit_rows[k] = n;
        } else if (!strcmp(word, "greedy") && fscanf(f, "%d %d", &k, &n) == 2 && k < 4 && n <= 64) {
            e->greedy_len[k] = n;
            if (read_ints(f, n, e->greedy[k])) break;
        } else {
            while ((c = fgetc(f)) != EOF && c != '\n') {}
        }
    }
    fclose(f);
    return e->n_prompts > 0 ? 0 : -1;
}

static float *read_logits(const char *dir, int k, size_t count) {
    char path[1024];
    snprintf(path, sizeof path, "%s/logits%d.f32", dir, k);
    return bc_read_f32_file(path, count);
}

/* The CPU backend wrapped in a backend that offers step_begin/step_end and
 * table_new (backend.h) the way the CUDA backend does, minus the replay: it cycles
 * through "run directly", "recording that succeeds" and "recording that
 * fails" (the model must then issue the step again). The greedy tokens must
 * not change, and the protocol must be kept. */
static bc_backend_iface stepping_iface;
static struct {
    int begins, ends, forgets, bad, tables;
    bool recording;
    const void *key;
} steps;

static int stepping_begin(bc_backend *be, const void *key, int32_t id, int pos) {
    (void)be; (void)id; (void)pos;
    if (steps.recording) steps.bad++;   /* begin without the end of a recording */
    steps.key = key;
    int mode = steps.begins++ % 3 == 0 ? BC_STEP_DIRECT : BC_STEP_RECORDING;
    steps.recording = mode == BC_STEP_RECORDING;
    return mode;
}

static int stepping_end(bc_backend *be) {
    (void)be;
    if (!steps.recording) steps.bad++;
    steps.recording = false;
    return steps.ends++ % 2 ? -1 : 0;
}

static void stepping_forget(bc_backend *be, const void *key) {
    (void)be;
    if (key != steps.key) steps.bad++;
    steps.forgets++;
}

/* table_new as a backend with its own memory offers it: only the token
 * embedding may come here (counted), and it must work as a plain weight. */
static bc_btensor *stepping_table_new(bc_backend *be, int64_t rows, int64_t cols, bc_store store,
                                      bc_error *err) {
    steps.tables++;
    return be->iface->tensor_new(be, rows, cols, store, true, err);
}

static void make_stepping(bc_backend *be) {
    stepping_iface = *be->iface;
    stepping_iface.step_begin = stepping_begin;
    stepping_iface.step_end = stepping_end;
    stepping_iface.step_forget = stepping_forget;
    stepping_iface.table_new = stepping_table_new;
    be->iface = &stepping_iface;
    memset(&steps, 0, sizeof steps);
}

static void check_fixture(const char *dir, const char *name, bc_store store, bool stepping) {
    bc_error err = {{0}};
    bc_model_config cfg;
    bc_generation_config gen;
    bc_checkpoint *ck = NULL;
    bc_backend *be = NULL;
    bc_model *m = NULL;
    expected e;
    bc_backend_params bp = {2, store};
    int ok = !bc_model_config_load(dir, &cfg, &gen, &err) && !bc_checkpoint_open_dir(dir, &ck, &err) &&
             !bc_backend_cpu_new(&bp, &be, &err);
    if (ok && stepping) make_stepping(be);
    ok = ok && !bc_model_load(&cfg, ck, be, NULL, NULL, NULL, &m, &err) && !read_expected(dir, &e);
    char tag[48];
    snprintf(tag, sizeof tag, "%s%s", bc_store_name(store), stepping ? ", stepping backend" : "");
    CHECK(ok, "%s (%s): loads (%s)", name, tag, err.msg);
    bc_checkpoint_close(ck);
    if (!ok) { if (be) be->iface->free(be); return; }
    int V = cfg.vocab_size;
    bool exact_storage = store == BC_STORE_F32;
    double bound = exact_storage ? 1e-4 : 1e-2;
    for (int k = 0; k < e.n_prompts; k++) {
        int n = e.prompt_len[k], rows = e.logit_rows[k];
        float *ref = rows > 0 && rows <= n ? read_logits(dir, k, (size_t)rows * V) : NULL;
        float *got = malloc((size_t)n * V * sizeof(float));
        int32_t ids[256 + 64];
        for (int i = 0; i < n; i++) ids[i] = e.prompt[k][i];
        int rc = bc_model_forward(m, ids, n, 0, true, got, &err);
        double worst = ref && !rc ? bc_worst_row_error(got + (size_t)(n - rows) * V, ref, rows, V)
                                  : INFINITY;
        CHECK(worst <= bound, "%s (%s): prompt %d (%d tokens), last %d x %d logits: max rel error %.2e <= %.0e",
              name, tag, k, n, rows, V, worst, bound);
        if (exact_storage) {
            /* greedy over the KV cache: prompt prefilled, then one token at a time */
            float *last = malloc((size_t)V * sizeof(float));
            int pos = n, same = 0, first_diff = -1;
            rc = bc_model_forward(m, ids, n, 0, false, last, &err);
            for (int t = 0; t < e.greedy_len[k] && !rc; t++) {
                int id = bc_argmax(last, V);
                if (id == e.greedy[k][t]) same++;
                else if (first_diff < 0) first_diff = t;
                ids[pos] = id;
                rc = bc_model_forward(m, &ids[pos], 1, pos, false, last, &err);
                pos++;
            }
            CHECK(!rc && same == e.greedy_len[k], "%s (%s): prompt %d: greedy %d tokens identical (first difference at %d)",
                  name, tag, k, e.greedy_len[k], first_diff);
            free(last);
        }
        free(ref);
        free(got);
    }
    bc_model_free(m);
    if (stepping)
        CHECK(steps.tables == 1, "%s: the token embedding (only) is made with table_new (%d)",
              name, steps.tables);
    if (stepping)
        CHECK(steps.begins > 3 && steps.bad == 0 && steps.forgets == 1 && !steps.recording,
              "%s: decode steps keep the step_begin/step_end protocol (%d steps, %d recordings "
              "ended, %d violations, forgotten %d time(s) at free)", name, steps.begins,
              steps.ends, steps.bad, steps.forgets);
    be->iface->free(be);
}

/* Load progress of a synthetic model: one report per tensor, never going
 * back, ending at its total; the embedding (only) made with table_new. */
typedef struct progress_log { int calls, backwards; uint64_t last, total; } progress_log;

static void log_progress(void *user, uint64_t done, uint64_t total) {
    progress_log *p = user;
    if (done < p->last || (p->calls && total != p->total)) p->backwards++;
    p->calls++;
    p->last = done;
    p->total = total;
}

static void check_synthetic_progress(void) {
    bc_error err = {{0}};
    bc_model_config cfg;
    bc_generation_config gen;
    bc_backend *be = NULL;
    bc_model *m = NULL;
    bc_backend_params bp = {2, BC_STORE_BF16};
    bc_synthetic_fill_state fill = {0};
    progress_log log = {0};
    int ok = !bc_synthetic_config("synthetic:tiny", &cfg, &gen, &err) &&
             !bc_backend_cpu_new(&bp, &be, &err);
    if (ok) make_stepping(be);
    ok = ok && !bc_model_new_synthetic(&cfg, be, NULL, bc_synthetic_fill, &fill, log_progress,
                                       &log, &m, &err);
    CHECK(ok, "synthetic:tiny builds (%s)", err.msg);
    int tensors = 3 + 7 * cfg.num_hidden_layers;
    uint64_t H = (uint64_t)cfg.hidden_size, I = (uint64_t)cfg.intermediate_size,
             V = (uint64_t)cfg.vocab_size, L = (uint64_t)cfg.num_hidden_layers;
    uint64_t values = 2 * V * H + H + L * (2 * H + 4 * H * H + 3 * H * I);
    CHECK(ok && log.calls == tensors && log.backwards == 0 && log.last == log.total &&
              log.total == 2 * values,
          "synthetic:tiny: %d progress reports for %d tensors, never backwards (%d), ending at "
          "the total %llu = 2 bytes x %llu values (%llu)", log.calls, tensors, log.backwards,
          (unsigned long long)log.total, (unsigned long long)values,
          (unsigned long long)log.last);
    CHECK(steps.tables == 1, "synthetic:tiny: the token embedding (only) is made with table_new "
          "(%d)", steps.tables);
    bc_model_free(m);
    if (be) be->iface->free(be);
}

int main(void) {
    const char *src = getenv("BC_SOURCE_DIR");
    if (!src) BC_SKIP("BC_SOURCE_DIR is not set");
    check_synthetic_progress();
    for (size_t i = 0; i < sizeof FIXTURES / sizeof FIXTURES[0]; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/data/models/%s", src, FIXTURES[i]);
        check_fixture(dir, FIXTURES[i], BC_STORE_F32, false);
        check_fixture(dir, FIXTURES[i], BC_STORE_BF16, false);
        check_fixture(dir, FIXTURES[i], BC_STORE_F32, true);
    }
    return bc_test_done();
}
