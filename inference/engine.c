/* bc_engine: tokenizer + backend + model + the conversation's KV cache.
 *
 * The cache holds the K/V rows of `cache_ids`. A new prompt (chat or raw) is
 * compared with those ids; only the part after the longest common prefix is
 * prefilled. Generated ids are appended as they are fed to the model, so the
 * next turn usually re-uses everything up to the end of the previous reply. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "backend_loader.h"
#include "chat_template.h"
#include "checkpoint.h"
#include "demo_model.h"
#include "synthetic_model.h"
#include "model.h"
#include "model_config.h"
#include "quant_ckpt.h"
#include "tokenizer.h"

/* Tokens per prefill batch on the CPU (see bc_engine_load). */
#define BC_CPU_PREFILL_BATCH 512

struct bc_engine {
    bc_model_config cfg;
    bc_generation_config gen;
    bc_tokenizer *tok;
    bc_backend *be;
    bc_model *model;
    bool is_demo;
    char name[256];
    int ctx;                 /* KV cache positions */
    int32_t *cache_ids;      /* [ctx]: ids whose K/V are in the cache */
    int n_cache;
    int32_t *history;        /* [ctx + 1]: prompt + generated ids (repetition penalty) */
    float *logits;           /* [vocab] */
    bc_detok_stream *detok;
    char *text;              /* [text_cap]: one push of detok (whole characters) */
    size_t text_cap;         /* bc_detok_stream_max_push(): a push never keeps text back */
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ========================================================================
 * Loading
 * ======================================================================== */

/* --quant auto: a quantized checkpoint runs in its own format (-4bits: nf4,
 * 8-bit: int8); anything else as the backend prefers (f32 on the CPU, f16 on
 * CUDA). */
static const char *auto_quant(const bc_checkpoint *ck) {
    int f = ck ? bc_quant_ckpt_format(ck) : 0;
    return f == BC_QUANT_NF4 ? "nf4" : f == BC_QUANT_INT8 ? "int8" : "auto";
}

/* Backend choice (auto / cpu / cuda) and weight storage: backend_loader.c. */
static int open_backend(const bc_load_params *p, const bc_checkpoint *ck, bc_backend **be,
                        bc_error *err) {
    const char *quant = p->quant && strcmp(p->quant, "auto") ? p->quant : auto_quant(ck);
    return bc_backend_open(p->backend, quant, p->threads, be, NULL, 0, err);
}

static const char *base_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    static char buf[256];
    size_t len = n - b < sizeof buf - 1 ? n - b : sizeof buf - 1;
    memcpy(buf, path + b, len);
    buf[len] = '\0';
    return buf;
}

/* Tokenizer, config and checkpoint of a directory, or of the demo; a
 * synthetic model has no checkpoint (*ck stays NULL: its weights are made
 * on the backend). */
static int open_sources(bc_engine *e, const char *model, bc_checkpoint **ck, bc_error *err) {
    bool synthetic = bc_synthetic_is_spec(model);
    if (!strcmp(model, "demo") || synthetic) {
        size_t len;
        const unsigned char *data = bc_demo_tokenizer_data(&len);
        if (!data) return bc_errorf(err, "%s: this build has no embedded demo tokenizer", model);
        if (bc_tokenizer_load_memory(data, len, "demo tokenizer", &e->tok, err)) return -1;
        e->is_demo = true;
        snprintf(e->name, sizeof e->name, "%s", model);
        if (synthetic) return bc_synthetic_config(model, &e->cfg, &e->gen, err);
        return bc_demo_model_build(bc_tokenizer_vocab_size(e->tok), &e->cfg, &e->gen, ck, err);
    }
    if (bc_model_config_load(model, &e->cfg, &e->gen, err)) return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.model", model);
    if (bc_tokenizer_load(path, &e->tok, err)) return -1;
    if (bc_tokenizer_vocab_size(e->tok) > e->cfg.vocab_size)
        return bc_errorf(err, "%s: the tokenizer has %d pieces but config.json's vocab_size is %d",
                         path, bc_tokenizer_vocab_size(e->tok), e->cfg.vocab_size);
    snprintf(e->name, sizeof e->name, "%s", base_name(model));
    return bc_checkpoint_open_dir(model, ck, err);
}

typedef struct progress_relay { bc_progress_fn fn; void *user; } progress_relay;

static void relay_progress(void *user, uint64_t done, uint64_t total) {
    progress_relay *r = user;
    if (r->fn) r->fn(r->user, done, total);
}

int bc_engine_load(const bc_load_params *p, bc_progress_fn progress, void *user,
                   bc_engine **out, bc_error *err) {
    bc_engine *e = calloc(1, sizeof *e);
    if (!e) return bc_errorf(err, "out of memory");
    bc_checkpoint *ck = NULL;
    progress_relay relay = {progress, user};
    /* sources first: --quant auto depends on what the checkpoint holds */
    int rc = open_sources(e, p->model ? p->model : "demo", &ck, err);
    if (!rc) rc = open_backend(p, ck, &e->be, err);
    /* Prefill streams the weights once per batch. A GPU needs 256-row
     * batches to keep its tensor cores busy; the CPU's GEMM packs each panel
     * of W once per batch, which costs little only with T in the hundreds
     * (1B bf16 model, 2 cores: 64 rows 28 GFLOP/s, 512 rows ~100). */
    bool cuda = !rc && !strcmp(e->be->iface->name(e->be), "cuda");
    bc_model_params mp = {.max_batch = cuda ? 256 : BC_CPU_PREFILL_BATCH};
    bc_synthetic_fill_state fill = {0};
    if (!rc && !ck)
        rc = bc_model_new_synthetic(&e->cfg, e->be, &mp, bc_synthetic_fill, &fill,
                                    relay_progress, &relay, &e->model, err);
    else if (!rc)
        rc = bc_model_load(&e->cfg, ck, e->be, &mp, relay_progress, &relay, &e->model, err);
    bc_checkpoint_close(ck);   /* the weights now live in the backend */
    if (!rc) {
        e->ctx = bc_model_ctx(e->model);
        e->cache_ids = malloc((size_t)e->ctx * sizeof(int32_t));
        e->history = malloc(((size_t)e->ctx + 1) * sizeof(int32_t));
        e->logits = malloc((size_t)e->cfg.vocab_size * sizeof(float));
        e->detok = bc_detok_stream_new(e->tok);
        e->text_cap = bc_detok_stream_max_push(e->tok);
        e->text = malloc(e->text_cap);
        if (!e->cache_ids || !e->history || !e->logits || !e->detok || !e->text)
            rc = bc_errorf(err, "out of memory");
    }
    if (rc) { bc_engine_free(e); return -1; }
    *out = e;
    return 0;
}

void bc_engine_free(bc_engine *e) {
    if (!e) return;
    bc_model_free(e->model);
    if (e->be) e->be->iface->free(e->be);
    bc_tokenizer_free(e->tok);
    bc_detok_stream_free(e->detok);
    free(e->cache_ids);
    free(e->history);
    free(e->logits);
    free(e->text);
    free(e);
}

void bc_engine_reset(bc_engine *e) { e->n_cache = 0; }

void bc_engine_get_info(const bc_engine *e, bc_engine_info *info) {
    bc_backend_memory mem;
    e->be->iface->memory(e->be, &mem);
    info->model_name = e->name;
    info->backend = e->be->iface->name(e->be);
    info->quant = bc_store_name(e->be->iface->weight_store(e->be));
    info->is_demo = e->is_demo;
    info->context_max = e->ctx;
    info->weight_bytes = mem.weight_bytes;
}

void bc_engine_describe_backend(const bc_engine *e, char *buf, size_t len) {
    if (len) buf[0] = '\0';
    if (e->be->iface->describe) e->be->iface->describe(e->be, buf, len);
}

const bc_tokenizer *bc_engine_tokenizer(const bc_engine *e) { return e->tok; }
const bc_generation_config *bc_engine_generation_config(const bc_engine *e) { return &e->gen; }

bc_model *bc_engine_model(bc_engine *e) {
    e->n_cache = 0;   /* the caller will overwrite the cache */
    return e->model;
}

/* ========================================================================
 * Generation
 * ======================================================================== */

/* Brings the cache to exactly `prompt` and leaves the logits of its last
 * token in e->logits. Only ids after the common prefix are run; when the
 * whole prompt is cached, its last token is run again to get its logits. */
static int prefill(bc_engine *e, const int32_t *prompt, int n, bc_gen_stats *st, bc_error *err) {
    if (n <= 0) return bc_errorf(err, "the prompt is empty");
    if (n >= e->ctx)
        return bc_errorf(err, "the prompt has %d tokens; the context holds %d", n, e->ctx);
    int common = 0;
    while (common < n && common < e->n_cache && e->cache_ids[common] == prompt[common]) common++;
    if (common == n) common--;
    e->n_cache = common;
    double t0 = now_seconds();
    if (bc_model_forward(e->model, prompt + common, n - common, common, false, e->logits, err))
        return -1;
    st->prefill_seconds = now_seconds() - t0;
    memcpy(e->cache_ids + common, prompt + common, (size_t)(n - common) * sizeof(int32_t));
    e->n_cache = n;
    st->prompt_tokens = n;
    st->prefilled_tokens = n - common;
    return 0;
}

static int emit(bc_text_fn on_text, void *user, const char *buf, size_t len) {
    return len && on_text ? on_text(user, buf, len) : 0;
}

static int generate(bc_engine *e, const int32_t *prompt, int n, const bc_sampling *s_in,
                    bc_text_fn on_text, void *user, bc_gen_stats *st, bc_error *err) {
    bc_gen_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    st->context_max = e->ctx;
    bc_sampling s = *s_in;
    if (s.max_new_tokens <= 0) s.max_new_tokens = e->gen.max_new_tokens;
    if (prefill(e, prompt, n, st, err)) return -1;
    bc_sampler *sampler = bc_sampler_new(e->cfg.vocab_size, &s);
    if (!sampler) return bc_errorf(err, "out of memory");
    memcpy(e->history, prompt, (size_t)n * sizeof(int32_t));
    size_t n_hist = (size_t)n;
    bc_detok_stream_reset(e->detok);
    int eos = e->gen.eos_token_id >= 0 ? e->gen.eos_token_id : e->cfg.eos_token_id;
    double t0 = now_seconds();
    int rc = 0;
    for (;;) {
        if (st->new_tokens >= s.max_new_tokens) { st->stop = BC_STOP_LENGTH; break; }
        int id = bc_sampler_sample(sampler, e->logits, e->history, n_hist);
        if (id == eos) { st->stop = BC_STOP_EOS; break; }
        e->history[n_hist++] = id;
        st->new_tokens++;
        size_t len = bc_detok_stream_push(e->detok, id, e->text, e->text_cap);
        if (emit(on_text, user, e->text, len)) { st->stop = BC_STOP_CANCELLED; break; }
        if (e->n_cache >= e->ctx) { st->stop = BC_STOP_CONTEXT; break; }
        e->cache_ids[e->n_cache] = id;
        if ((rc = bc_model_forward(e->model, &e->cache_ids[e->n_cache], 1, e->n_cache, false,
                                   e->logits, err)))
            break;
        e->n_cache++;
    }
    st->decode_seconds = now_seconds() - t0;
    /* The held-back tail: flush hands out at most text_cap bytes a call, so
     * call it until it has nothing left. */
    size_t len;
    while (!rc && st->stop != BC_STOP_CANCELLED &&
           (len = bc_detok_stream_flush(e->detok, e->text, e->text_cap)) > 0)
        if (emit(on_text, user, e->text, len)) st->stop = BC_STOP_CANCELLED;
    st->context_used = e->n_cache;
    bc_sampler_free(sampler);
    return rc ? -1 : 0;
}

int bc_engine_complete(bc_engine *e, const char *text, const bc_sampling *s, bc_text_fn on_text,
                       void *user, bc_gen_stats *stats, bc_error *err) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (bc_tokenizer_encode(e->tok, text, strlen(text), &ids, &n, err)) return -1;
    int rc = generate(e, ids, (int)n, s, on_text, user, stats, err);
    free(ids);
    return rc;
}

/* Length of build_chat_input over all the turns before any cut: the system
 * ids without a role token, every other message with its role token, and
 * the assistant token that asks for the reply. */
static size_t template_tokens(const bc_chat_turn *turns, size_t n) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += turns[i].n + (turns[i].role != BC_ROLE_SYSTEM);
    if (n && turns[n - 1].role != BC_ROLE_ASSISTANT) total++;
    return total;
}

int bc_engine_chat(bc_engine *e, const bc_message *msgs, size_t n, const bc_sampling *s,
                   bc_text_fn on_text, void *user, bc_gen_stats *stats, bc_error *err) {
    bc_chat_turn *turns = calloc(n ? n : 1, sizeof *turns);
    if (!turns) return bc_errorf(err, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int32_t *ids = NULL;
        size_t m = 0;
        rc = bc_tokenizer_encode(e->tok, msgs[i].content, strlen(msgs[i].content), &ids, &m, err);
        turns[i].role = msgs[i].role;
        turns[i].ids = ids;
        turns[i].n = m;
    }
    int max_new = s->max_new_tokens > 0 ? s->max_new_tokens : e->gen.max_new_tokens;
    int max_input = e->cfg.model_max_length - max_new;
    if (max_input > e->ctx - 1) max_input = e->ctx - 1;
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    if (!rc && max_input <= 0)
        rc = bc_errorf(err, "max_new_tokens %d leaves no room for the prompt in a context of %d",
                       max_new, e->cfg.model_max_length);
    if (!rc)
        rc = bc_chat_build(turns, n, e->gen.user_token_id, e->gen.assistant_token_id, max_input,
                           &prompt, &n_prompt, err);
    if (!rc) rc = generate(e, prompt, (int)n_prompt, s, on_text, user, stats, err);
    /* The cut keeps the newest part (upstream's behaviour); the caller is
     * told how much went so that it can say so. */
    if (!rc && stats) {
        size_t full = template_tokens(turns, n);
        stats->prompt_tokens_dropped = full > n_prompt ? (int)(full - n_prompt) : 0;
    }
    for (size_t i = 0; i < n; i++) free((void *)turns[i].ids);
    free(turns);
    free(prompt);
    return rc;
}
