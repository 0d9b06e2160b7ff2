/* The replay runner: plays a script through the inference worker. */
#include "replay.h"

#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_setup.h"
#include "model_path.h"
#include "session.h"
#include "worker.h"

/* ---- memory figures -------------------------------------------------------- */

static uint64_t proc_status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t n = strlen(field);
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') {
            kb = strtoull(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

uint64_t bc_rss_bytes(void) { return proc_status_kb("VmRSS") * 1024; }
uint64_t bc_rss_peak_bytes(void) { return proc_status_kb("VmHWM") * 1024; }

bool bc_rss_reset_peak(void) {
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = write(fd, "5", 1) == 1; /* 5: reset the peak RSS (proc(5)) */
    close(fd);
    return ok;
}

/* Copies src into dst[cap], cut at cap - 1 bytes (messages, short names). */
static void copy_cut(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* ---- results ------------------------------------------------------------------ */

void bc_replay_result_free(bc_replay_result *r) {
    for (size_t i = 0; i < r->n; i++) {
        free(r->entries[i].text);
        free(r->entries[i].note);
    }
    free(r->entries);
    memset(r, 0, sizeof *r);
}

/* Appends an entry; returns its index or -1. */
static long add_entry(bc_replay_result *r, bc_replay_entry_kind kind, int step, const char *text) {
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        bc_replay_entry *v = realloc(r->entries, cap * sizeof *v);
        if (!v) return -1;
        r->entries = v;
        r->cap = cap;
    }
    bc_replay_entry *e = &r->entries[r->n];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->step = step;
    if (!(e->text = strdup(text ? text : ""))) return -1;
    return (long)r->n++;
}

static void set_note(bc_replay_entry *e, bool ok, const char *fmt, ...) BC_PRINTF(3, 4);
static void set_note(bc_replay_entry *e, bool ok, const char *fmt, ...) {
    char buf[BC_ERROR_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(e->note);
    e->note = strdup(buf);
    e->ok = ok;
}

/* ---- settings ----------------------------------------------------------------- */

int bc_replay_settings(const bc_options *o, const bc_replay_script *s, const char *matrix_key,
                       const char *matrix_value, bc_app_config *cfg, FILE *log) {
    /* The script fills what the command line left unset, so that
     * bc_app_config_load gives defaults < config files < script < options. */
    bc_options m = *o;
    const bc_app_generation *g = &s->generation;
    if (!m.model) m.model = s->model;
    if (!m.backend) m.backend = s->backend;
    if (!m.quant) m.quant = s->quant;
    if (m.threads <= 0 && s->threads > 0) m.threads = s->threads;
    if (!m.system) m.system = s->system;
    if (m.n_predict == BC_UNSET_INT && g->max_new_tokens > 0) m.n_predict = g->max_new_tokens;
    if (isnan(m.temperature)) m.temperature = g->temperature;
    if (m.top_k == BC_UNSET_INT && g->top_k >= 0) m.top_k = g->top_k;
    if (isnan(m.top_p)) m.top_p = g->top_p;
    if (isnan(m.repeat_penalty)) m.repeat_penalty = g->repetition_penalty;
    if (!m.seed_set && g->seed_set) {
        m.seed = g->seed;
        m.seed_set = true;
    }
    if (matrix_key && !strcmp(matrix_key, "model")) m.model = matrix_value;
    if (matrix_key && !strcmp(matrix_key, "quant")) m.quant = matrix_value;
    if (matrix_key && !strcmp(matrix_key, "backend")) m.backend = matrix_value;
    bc_error err;
    int rc = bc_app_config_load(cfg, &m, &err);
    if (rc && log) fprintf(log, "baichuan-chat: config: %s\n", err.msg);
    if (cfg->warnings && log) fprintf(log, "baichuan-chat: config warning: %s\n", cfg->warnings);
    return rc;
}

/* ---- the runner ---------------------------------------------------------------- */

typedef struct runner {
    const bc_replay_script *script;
    const bc_replay_run_opts *o;
    bc_replay_result *r;
    bc_worker *w;
    bc_session *conv;           /* the conversation sent to the model */
    bc_app_generation gen;      /* the settings' generation values, changed by /set */
    uint64_t fresh_seed;        /* used when no seed is configured */
    /* What is loaded (as asked for: a resolved directory or "demo"). */
    char *dir;
    char backend[16], quant[16];
    bc_worker_info info;
    bool quit;
    char fatal[BC_ERROR_MAX];   /* why the run cannot go on ("" = it can) */
} runner;

static void step_label(const runner *R, int step, char *buf, size_t len) {
    const bc_replay_step *st = &R->script->steps[step - 1];
    if (st->line) snprintf(buf, len, "step %d (line %d)", step, st->line);
    else snprintf(buf, len, "step %d", step);
}

static void logf_(const runner *R, const char *fmt, ...) BC_PRINTF(2, 3);
static void logf_(const runner *R, const char *fmt, ...) {
    if (!R->o->log) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(R->o->log, fmt, ap);
    va_end(ap);
    fflush(R->o->log);
}

/* Remembers the first failure for the exit message. */
static void failed(runner *R, int step, const char *fmt, ...) BC_PRINTF(3, 4);
static void failed(runner *R, int step, const char *fmt, ...) {
    if (R->r->first_failure[0]) return;
    char label[64] = "";
    if (step > 0) step_label(R, step, label, sizeof label);
    char what[BC_ERROR_MAX + 80];
    size_t used = (size_t)snprintf(what, sizeof what, "%s%s", label, label[0] ? ": " : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what + used, sizeof what - used, fmt, ap);
    va_end(ap);
    copy_cut(R->r->first_failure, sizeof R->r->first_failure, what);
}

static void save_conv(runner *R) {
    if (!R->o->sessions_dir || !R->conv->n) return;
    bc_error err;
    if (bc_session_save(R->conv, NULL, &err)) logf_(R, "baichuan-chat: warning: %s\n", err.msg);
}

static void entry_begin(runner *R, long i) {
    if (R->o->transcript) bc_replay_writer_begin(R->o->transcript, &R->r->entries[i]);
}
static void entry_end(runner *R, long i) {
    if (R->o->transcript) bc_replay_writer_end(R->o->transcript, &R->r->entries[i]);
}

static void describe_loaded(const runner *R, char *buf, size_t len) {
    snprintf(buf, len, "%s · %s · %s", R->info.model_name, R->info.backend, R->info.quant);
}

/* Loads dir/backend/quant through the worker. Returns 0 when it loaded; 1
 * when it failed and the previous model is back (reason in err); -1 when no
 * model is loaded now. */
static int load(runner *R, const char *dir, const char *backend, const char *quant, bc_error *err) {
    uint64_t id = bc_worker_load(R->w, dir, backend, quant, R->o->cfg->threads);
    if (!id) return bc_errorf(err, "out of memory");
    bc_error_clear(err);
    int result = -1;
    int last_pct = -1;
    for (;;) {
        bc_event *ev = bc_worker_wait_event(R->w);
        if (ev->request_id != id) {
            bc_event_free(ev);
            continue;
        }
        bc_event_type type = ev->type;
        if (type == BC_EV_LOAD_PROGRESS && R->o->progress && ev->bytes_total) {
            int pct = (int)(100.0 * (double)ev->bytes_done / (double)ev->bytes_total);
            if (pct != last_pct) logf_(R, "\rloading %s: %3d%%", dir, pct);
            last_pct = pct;
        } else if (type == BC_EV_ERROR && !err->msg[0]) {
            snprintf(err->msg, sizeof err->msg, "%s", ev->message);
        } else if (type == BC_EV_LOADED) {
            R->info = ev->info;
            result = err->msg[0] ? 1 : 0;
        }
        bc_event_free(ev);
        if (type == BC_EV_LOADED || type == BC_EV_UNLOADED) break;
    }
    if (last_pct >= 0) logf_(R, "\r%*s\r", (int)strlen(dir) + 16, "");
    if (result == 0) {
        char *d = strdup(dir);
        if (!d) return bc_errorf(err, "out of memory");
        free(R->dir);
        R->dir = d;
        snprintf(R->backend, sizeof R->backend, "%s", backend);
        snprintf(R->quant, sizeof R->quant, "%s", quant);
    }
    if (result < 0 && !err->msg[0]) bc_errorf(err, "%s: the load failed", dir);
    return result;
}

static void sampling_now(const runner *R, bc_sampling *s) {
    bc_app_config c = *R->o->cfg;
    c.generation = R->gen;
    bc_app_config_sampling(&c, &R->info.generation, R->fresh_seed, s);
}

/* Runs one assistant turn over the whole conversation. */
static int reply(runner *R, int step) {
    bc_session *c = R->conv;
    bc_message *msgs = calloc(c->n ? c->n : 1, sizeof *msgs);
    if (!msgs) return -1;
    for (size_t i = 0; i < c->n; i++) msgs[i] = (bc_message){c->msgs[i].role, c->msgs[i].content};
    bc_sampling s;
    sampling_now(R, &s);
    uint64_t id = bc_worker_generate(R->w, msgs, c->n, &s);
    free(msgs);
    long ei = id ? add_entry(R->r, BC_ENTRY_ASSISTANT, step, "") : -1;
    if (ei < 0) return -1;
    bc_replay_entry *e = &R->r->entries[ei];
    snprintf(e->model, sizeof e->model, "%s", R->info.model_name);
    snprintf(e->backend, sizeof e->backend, "%s", R->info.backend);
    snprintf(e->quant, sizeof e->quant, "%s", R->info.quant);
    entry_begin(R, ei);
    char *text = NULL;
    size_t len = 0;
    bool ok = false, done = false;
    int dropped = 0;
    char why[BC_ERROR_MAX] = "";
    while (!done) {
        bc_event *ev = bc_worker_wait_event(R->w);
        if (ev->request_id == id) {
            if (ev->type == BC_EV_TEXT) {
                char *t = realloc(text, len + ev->text_len + 1);
                if (t) {
                    memcpy(t + len, ev->text, ev->text_len);
                    len += ev->text_len;
                    t[len] = 0;
                    text = t;
                }
                if (R->o->transcript) bc_replay_writer_text(R->o->transcript, ev->text, ev->text_len);
            } else if (ev->type == BC_EV_DONE) {
                e = &R->r->entries[ei];
                e->new_tokens = ev->stats.new_tokens;
                e->prompt_tokens = ev->stats.prompt_tokens;
                e->prefilled_tokens = ev->stats.prefilled_tokens;
                e->decode_seconds = ev->stats.decode_seconds;
                e->prefill_seconds = ev->stats.prefill_seconds;
                e->stop = ev->stats.stop;
                dropped = ev->stats.prompt_tokens_dropped;
                ok = done = true;
            } else if (ev->type == BC_EV_ERROR) {
                snprintf(why, sizeof why, "%s", ev->message);
                done = true;
            }
        }
        bc_event_free(ev);
    }
    e = &R->r->entries[ei];
    free(e->text);
    e->text = text ? text : strdup("");
    if (!ok) set_note(e, false, "generation failed: %s", why);
    entry_end(R, ei);
    char label[64];
    step_label(R, step, label, sizeof label);
    if (!ok) {
        logf_(R, "%s: the reply failed: %s\n", label, why);
        failed(R, step, "the reply failed: %s", why);
        R->r->steps_failed++;
        return 0;
    }
    static const char *const STOPS[] = {"eos", "length", "cancelled", "context"};
    bc_error err;
    int mi = bc_session_add(c, BC_ROLE_ASSISTANT, e->text, &err);
    if (mi >= 0) bc_session_set_meta(c, (size_t)mi, e->model, e->backend, e->quant, &s, STOPS[e->stop]);
    save_conv(R);
    if (dropped > 0)
        logf_(R, "%s: warning: the conversation was cut from %d to %d tokens (its start dropped) "
                 "to fit the context\n", label, e->prompt_tokens + dropped, e->prompt_tokens);
    logf_(R, "%s: %d tokens, %.1f tok/s (prompt %d, prefilled %d in %.3f s) · %s · %s · %s\n", label,
          e->new_tokens, e->decode_seconds > 0 ? e->new_tokens / e->decode_seconds : 0.0,
          e->prompt_tokens, e->prefilled_tokens, e->prefill_seconds, e->model, e->backend, e->quant);
    return 0;
}

/* ---- steps ------------------------------------------------------------------- */

static int user_step(runner *R, int step, const char *text) {
    bc_error err;
    long ei = add_entry(R->r, BC_ENTRY_USER, step, text);
    if (ei < 0 || bc_session_add(R->conv, BC_ROLE_USER, text, &err) < 0) return -1;
    entry_begin(R, ei);
    entry_end(R, ei);
    save_conv(R);
    return reply(R, step);
}

static const bc_replay_entry *last_reply(const runner *R) {
    for (size_t i = R->r->n; i > 0; i--)
        if (R->r->entries[i - 1].kind == BC_ENTRY_ASSISTANT) return &R->r->entries[i - 1];
    return NULL;
}

void bc_replay_expect_describe(const bc_replay_expect *x, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    if (x->contains) used += (size_t)snprintf(buf + used, len - used, "contains \"%s\"", x->contains);
    if (x->regex && used < len)
        used += (size_t)snprintf(buf + used, len - used, "%sregex \"%s\"", used ? ", " : "", x->regex);
    if (x->max_tokens >= 0 && used < len)
        snprintf(buf + used, len - used, "%smax_tokens %d", used ? ", " : "", x->max_tokens);
}

bool bc_replay_expect_check(const bc_replay_expect *x, const char *reply, int new_tokens, char *why,
                            size_t len) {
    if (!reply) snprintf(why, len, "there is no reply to check");
    else if (x->contains && !strstr(reply, x->contains))
        snprintf(why, len, "the reply does not contain \"%s\"", x->contains);
    else if (x->regex && regexec(&x->compiled, reply, 0, NULL, 0) != 0)
        snprintf(why, len, "the reply does not match /%s/", x->regex);
    else if (x->max_tokens >= 0 && new_tokens > x->max_tokens)
        snprintf(why, len, "the reply has %d tokens, more than %d", new_tokens, x->max_tokens);
    else {
        snprintf(why, len, "held");
        return true;
    }
    return false;
}

static int expect_step(runner *R, int step, const bc_replay_expect *x) {
    char what[2048];
    bc_replay_expect_describe(x, what, sizeof what);
    long ei = add_entry(R->r, BC_ENTRY_EXPECT, step, what);
    if (ei < 0) return -1;
    const bc_replay_entry *rep = last_reply(R);
    bc_replay_entry *e = &R->r->entries[ei];
    char why[2200];
    bool held = bc_replay_expect_check(x, rep ? rep->text : NULL, rep ? rep->new_tokens : 0, why, sizeof why);
    set_note(e, held, "%s", why);
    entry_begin(R, ei);
    entry_end(R, ei);
    char label[64];
    step_label(R, step, label, sizeof label);
    logf_(R, "%s: expect %s: %s\n", label, what, e->note);
    if (!e->ok) {
        R->r->expects_failed++;
        failed(R, step, "expect %s failed: %s", what, e->note);
    }
    return 0;
}

/* /model NAME: a preset's fields, then the model name resolved to a directory. */
static int switch_model(runner *R, const char *name, char **dir, char *backend, char *quant,
                        bc_error *err) {
    const bc_preset *p = bc_app_config_preset(R->o->cfg, name);
    const char *spec = p && p->model ? p->model : name;
    if (p && p->backend) snprintf(backend, 16, "%s", p->backend);
    if (p && p->quant) snprintf(quant, 16, "%s", p->quant);
    return bc_model_resolve(spec, dir, err);
}

/* /model, /quant, /backend: unload, load the new configuration; when that
 * fails the worker loads the previous one back and the script goes on. */
static int switch_step(runner *R, int step, const bc_command *c, bc_replay_entry *e) {
    char backend[16], quant[16];
    snprintf(backend, sizeof backend, "%s", R->backend);
    snprintf(quant, sizeof quant, "%s", R->quant);
    char *dir = NULL;
    bc_error err;
    bc_error_clear(&err);
    int rc = 0;
    if (c->spec->id == BC_CMD_MODEL) rc = switch_model(R, c->arg, &dir, backend, quant, &err);
    else dir = strdup(R->dir);
    if (c->spec->id == BC_CMD_QUANT) copy_cut(quant, sizeof quant, c->arg);
    if (c->spec->id == BC_CMD_BACKEND) copy_cut(backend, sizeof backend, c->arg);
    double t0 = bc_app_now();
    char now[400];
    if (rc == 0 && dir) rc = load(R, dir, backend, quant, &err);
    else if (rc == 0) rc = bc_errorf(&err, "out of memory");
    else rc = 1; /* nothing was unloaded: the name did not resolve */
    free(dir);
    describe_loaded(R, now, sizeof now);
    char label[64];
    step_label(R, step, label, sizeof label);
    if (rc == 0) {
        set_note(e, true, "loaded %s", now);
        logf_(R, "%s: %s: loaded %s (%.1f MB of weights) in %.2f s\n", label, e->text, now,
              (double)R->info.weight_bytes / 1e6, bc_app_now() - t0);
        return 0;
    }
    if (rc < 0) {
        char why[BC_ERROR_MAX + 300];
        snprintf(why, sizeof why, "%.200s failed and no model is loaded now: %s", e->text, err.msg);
        copy_cut(R->fatal, sizeof R->fatal, why);
        return -1;
    }
    set_note(e, false, "failed: %s; kept %s", err.msg, now);
    logf_(R, "%s: %s failed: %s; still on %s\n", label, e->text, err.msg, now);
    failed(R, step, "%s failed: %s", e->text, err.msg);
    R->r->steps_failed++;
    return 0;
}

/* Same as the TUI's /system: replace, insert at the top, or (empty) remove. */
static int set_system(bc_session *s, const char *text, bc_error *err) {
    if (s->n && s->msgs[0].role == BC_ROLE_SYSTEM) {
        if (*text) return bc_session_set_content(s, 0, text, err);
        bc_session_msg first = s->msgs[0];
        memmove(&s->msgs[0], &s->msgs[1], (s->n - 1) * sizeof *s->msgs);
        s->msgs[s->n - 1] = first;
        bc_session_truncate(s, s->n - 1);
    } else if (*text) {
        if (bc_session_add(s, BC_ROLE_SYSTEM, text, err) < 0) return -1;
        bc_session_msg sys = s->msgs[s->n - 1];
        memmove(&s->msgs[1], &s->msgs[0], (s->n - 1) * sizeof *s->msgs);
        s->msgs[0] = sys;
    }
    return 0;
}

static int new_conversation(runner *R, bc_error *err) {
    bc_session *s = bc_session_new(R->o->sessions_dir ? R->o->sessions_dir : ".", err);
    if (!s) return -1;
    bc_session_free(R->conv);
    R->conv = s;
    bc_worker_reset(R->w);
    return R->o->cfg->system ? set_system(s, R->o->cfg->system, err) : 0;
}

static int command_step(runner *R, int step, const char *line) {
    bc_command c;
    bc_error err;
    bc_error_clear(&err);
    if (bc_command_parse(line, &c, &err)) return -1; /* validated when the script was read */
    long ei = add_entry(R->r, BC_ENTRY_COMMAND, step, line);
    if (ei < 0) return -1;
    bc_replay_entry *e = &R->r->entries[ei];
    bc_session *s = R->conv;
    int rc = 0;
    e->ok = true;
    switch (c.spec->id) {
    case BC_CMD_MODEL: case BC_CMD_QUANT: case BC_CMD_BACKEND:
        rc = switch_step(R, step, &c, e);
        break;
    case BC_CMD_NEW: rc = new_conversation(R, &err); break;
    case BC_CMD_SYSTEM:
        rc = set_system(s, c.arg, &err);
        save_conv(R);
        break;
    case BC_CMD_SET: bc_command_apply_generation(&c, &R->gen); break;
    case BC_CMD_REGEN:
        if (s->n && s->msgs[s->n - 1].role == BC_ROLE_ASSISTANT) bc_session_truncate(s, s->n - 1);
        if (!s->n || s->msgs[s->n - 1].role != BC_ROLE_USER) {
            set_note(e, false, "nothing to answer");
            break;
        }
        entry_begin(R, ei);
        entry_end(R, ei);
        return reply(R, step);
    case BC_CMD_UNDO: {
        size_t u = s->n;
        while (u > 0 && s->msgs[u - 1].role != BC_ROLE_USER) u--;
        if (u == 0) set_note(e, false, "no message to take back");
        else bc_session_truncate(s, u - 1);
        bc_worker_reset(R->w);
        save_conv(R);
        break;
    }
    case BC_CMD_SAVE:
        if (R->o->sessions_dir && bc_session_save(s, NULL, &err)) set_note(e, false, "%s", err.msg);
        else if (c.arg[0] && bc_session_save(s, c.arg, &err)) set_note(e, false, "%s", err.msg);
        break;
    case BC_CMD_EXPORT:
        if (bc_session_export_md(s, c.arg, &err)) set_note(e, false, "%s", err.msg);
        break;
    case BC_CMD_RENAME:
        if (bc_session_set_title(s, c.arg, &err) == 0) save_conv(R);
        break;
    case BC_CMD_STATS: {
        char params[256], now[400];
        bc_sampling smp;
        sampling_now(R, &smp);
        bc_sampling_describe(&smp, params, sizeof params);
        describe_loaded(R, now, sizeof now);
        logf_(R, "stats: %s, context %d tokens, %zu messages; %s\n", now, R->info.context_max, s->n,
              params);
        break;
    }
    case BC_CMD_QUIT: R->quit = true; break;
    default: set_note(e, false, "not available in a replay"); break;
    }
    if (rc < 0) {
        if (!R->fatal[0]) snprintf(R->fatal, sizeof R->fatal, "%s", err.msg);
        return -1;
    }
    e = &R->r->entries[ei];
    bool is_switch = c.spec->id == BC_CMD_MODEL || c.spec->id == BC_CMD_QUANT ||
                     c.spec->id == BC_CMD_BACKEND;
    char label[64];
    step_label(R, step, label, sizeof label);
    if (!is_switch && e->ok) logf_(R, "%s: %s: done\n", label, line);
    if (!is_switch && !e->ok) {
        logf_(R, "%s: %s: %s\n", label, line, e->note);
        failed(R, step, "%s: %s", line, e->note);
        R->r->steps_failed++;
    }
    entry_begin(R, ei);
    entry_end(R, ei);
    return 0;
}

static int first_load(runner *R, bc_error *err) {
    char *dir = NULL;
    if (bc_model_resolve(R->o->cfg->model, &dir, err)) return -1;
    double t0 = bc_app_now();
    int rc = load(R, dir, R->o->cfg->backend, R->o->cfg->quant, err);
    free(dir);
    if (rc != 0) return bc_error_prefix(err, "cannot load the model");
    char now[400];
    describe_loaded(R, now, sizeof now);
    logf_(R, "loaded %s (%.1f MB of weights) in %.2f s%s\n", now, (double)R->info.weight_bytes / 1e6,
          bc_app_now() - t0, R->info.is_demo ? " — a built-in DEMO model (random weights): its replies are noise" : "");
    R->r->weight_bytes = R->info.weight_bytes;
    return 0;
}

static int run_steps(runner *R, bc_error *err) {
    const bc_replay_script *s = R->script;
    if (R->o->cfg->system) {
        long ei = add_entry(R->r, BC_ENTRY_SYSTEM, 0, R->o->cfg->system);
        if (ei < 0) return bc_errorf(err, "out of memory");
        entry_begin(R, ei);
        entry_end(R, ei);
    }
    size_t i;
    for (i = 0; i < s->n_steps && !R->quit; i++) {
        const bc_replay_step *st = &s->steps[i];
        int step = (int)i + 1, rc = 0;
        if (st->kind == BC_STEP_USER) rc = user_step(R, step, st->text);
        else if (st->kind == BC_STEP_COMMAND) rc = command_step(R, step, st->text);
        else rc = expect_step(R, step, &st->expect);
        if (rc) {
            char label[64];
            step_label(R, step, label, sizeof label);
            return bc_errorf(err, "%s: %s", label, R->fatal[0] ? R->fatal : "out of memory");
        }
    }
    if (R->quit && i < s->n_steps) {
        /* A /quit mid-script is legitimate, but the steps after it are part
         * of the script: say that they did not run. */
        R->r->quit_step = (int)i;
        R->r->steps_skipped = (int)(s->n_steps - i);
        logf_(R, "replay: warning: /quit at step %d: the %d step(s) after it were skipped\n",
              R->r->quit_step, R->r->steps_skipped);
    }
    return 0;
}

int bc_replay_run(const bc_replay_script *s, const bc_replay_run_opts *o, bc_replay_result *r,
                  bc_error *err) {
    memset(r, 0, sizeof *r);
    bc_error_clear(err);
    bc_rss_reset_peak();
    double t0 = bc_app_now();
    runner R = {.script = s, .o = o, .r = r, .gen = o->cfg->generation};
    if (o->transcript) o->transcript->result = r;
    R.fresh_seed = bc_app_fresh_seed();
    R.w = bc_worker_start(err);
    if (!R.w) return -1;
    int rc = new_conversation(&R, err);
    if (!rc) rc = first_load(&R, err);
    if (!rc) rc = run_steps(&R, err);
    if (o->transcript) bc_replay_writer_finish(o->transcript);
    bc_worker_stop(R.w);
    bc_session_free(R.conv);
    free(R.dir);
    r->seconds = bc_app_now() - t0;
    r->peak_rss_bytes = bc_rss_peak_bytes();
    if (rc) copy_cut(r->stopped, sizeof r->stopped, err->msg);
    return rc;
}
