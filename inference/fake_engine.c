/* The fake engine (see fake_engine.h). */
#include "fake_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct fake_engine {
    char name[128];
    char backend[16];
    char quant[16];
    int context_used; /* tokens "in the cache" after the last turn */
} fake_engine;

enum { FAKE_CONTEXT_MAX = 4096 };

bool bc_fake_engine_wanted(const char *model) {
    const char *env = getenv("BC_FAKE_ENGINE");
    if (env && *env && strcmp(env, "0") != 0) return true;
    return model && (!strcmp(model, "fake") || !strncmp(model, "fake:", 5));
}

static int env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 0 || x > 600000) return dflt;
    return (int)x;
}

static void sleep_ms(int ms) {
    if (ms <= 0) return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fake_load(const bc_load_params *p, bc_progress_fn progress, void *user,
                     void **out, bc_error *err) {
    const char *model = p->model ? p->model : "fake";
    int ms = env_int("BC_FAKE_LOAD_MS", 300);
    if (strstr(model, ":slow")) ms = 3000;
    const uint64_t total = 1000000000ull; /* pretend 1 GB of weights */
    const int steps = 20;
    for (int i = 1; i <= steps; i++) {
        sleep_ms(ms / steps);
        if (progress) progress(user, total / steps * (uint64_t)i, total);
        if (strstr(model, ":fail") && i == steps / 2)
            return bc_errorf(err, "%s: simulated load failure at 50%%", model);
    }
    fake_engine *e = calloc(1, sizeof *e);
    if (!e) return bc_errorf(err, "fake engine: out of memory");
    snprintf(e->name, sizeof e->name, "%s", model);
    const char *b = p->backend && strcmp(p->backend, "auto") ? p->backend : "cpu";
    const char *q = p->quant && strcmp(p->quant, "auto") ? p->quant : "f32";
    snprintf(e->backend, sizeof e->backend, "%s", b);
    snprintf(e->quant, sizeof e->quant, "%s", q);
    *out = e;
    return 0;
}

static void fake_get_info(const void *ve, bc_engine_info *info) {
    const fake_engine *e = ve;
    memset(info, 0, sizeof *info);
    info->model_name = e->name;
    info->backend = e->backend;
    info->quant = e->quant;
    info->is_demo = true;
    info->context_max = FAKE_CONTEXT_MAX;
    info->weight_bytes = 1000000000ull;
}

static void fake_reset(void *ve) { ((fake_engine *)ve)->context_used = 0; }
static void fake_free(void *ve) { free(ve); }

/* Growable string for building the reply. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static int sb_add(sbuf *b, const char *s) {
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) return -1;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
    return 0;
}

static int build_reply(const char *user_text, sbuf *b) {
    const char *fixed = getenv("BC_FAKE_REPLY");
    if (fixed && *fixed) return sb_add(b, fixed);
    int rc = sb_add(b, "Echo: ");
    rc |= sb_add(b, user_text);
    rc |= sb_add(b, "\n\n你好，世界！这是一个测试。 😀 café\n\n```c\nint main(void) { return 0; }\n```\n");
    if (strstr(user_text, "FAKE_LONG")) {
        char line[96];
        for (int i = 1; i <= 60 && !rc; i++) {
            snprintf(line, sizeof line, "Line %d of a long reply: 长回复的一行 %d.\n", i, i);
            rc |= sb_add(b, line);
        }
    }
    rc |= sb_add(b, "Done.");
    return rc ? -1 : 0;
}

static int fake_chat(void *ve, const bc_message *msgs, size_t n, const bc_sampling *s,
                     bc_text_fn on_text, void *user, bc_gen_stats *stats, bc_error *err) {
    fake_engine *e = ve;
    memset(stats, 0, sizeof *stats);
    if (n == 0 || msgs[n - 1].role != BC_ROLE_USER)
        return bc_errorf(err, "fake engine: the messages must end with a user message");
    size_t prompt_bytes = 0;
    for (size_t i = 0; i < n; i++) prompt_bytes += strlen(msgs[i].content);
    stats->prompt_tokens = (int)(prompt_bytes / 3 + 2 * n);
    stats->prefilled_tokens = stats->prompt_tokens - e->context_used;
    if (stats->prefilled_tokens < 0) stats->prefilled_tokens = stats->prompt_tokens;
    stats->context_max = FAKE_CONTEXT_MAX;
    const char *user_text = msgs[n - 1].content;
    bool fail = strstr(user_text, "FAKE_ERROR") != NULL;
    int delay = env_int("BC_FAKE_DELAY_MS", 15);

    double t0 = now_s();
    sleep_ms(delay); /* "prefill" */
    stats->prefill_seconds = now_s() - t0;

    sbuf b = {0};
    if (build_reply(user_text, &b) != 0) {
        free(b.s);
        return bc_errorf(err, "fake engine: out of memory");
    }
    static const size_t piece_sizes[] = {1, 2, 3, 5};
    double t1 = now_s();
    size_t pos = 0;
    int rc = 0;
    stats->stop = BC_STOP_EOS;
    for (int k = 0; pos < b.len; k++) {
        if (s->max_new_tokens > 0 && stats->new_tokens >= s->max_new_tokens) {
            stats->stop = BC_STOP_LENGTH;
            break;
        }
        if (fail && k == 8) {
            rc = bc_errorf(err, "fake engine: simulated failure after %d pieces", k);
            break;
        }
        sleep_ms(delay);
        size_t len = piece_sizes[k % 4];
        if (len > b.len - pos) len = b.len - pos;
        stats->new_tokens++;
        int stop = on_text(user, b.s + pos, len);
        pos += len;
        if (stop) {
            stats->stop = BC_STOP_CANCELLED;
            break;
        }
    }
    free(b.s);
    stats->decode_seconds = now_s() - t1;
    e->context_used = stats->prompt_tokens + stats->new_tokens;
    if (e->context_used > FAKE_CONTEXT_MAX) e->context_used = FAKE_CONTEXT_MAX;
    stats->context_used = e->context_used;
    return rc;
}

const bc_engine_ops bc_fake_engine_ops = {
    .name = "fake",
    .load = fake_load,
    .chat = fake_chat,
    .get_info = fake_get_info,
    .reset = fake_reset,
    .free = fake_free,
};
