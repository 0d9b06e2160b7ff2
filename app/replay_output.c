/* Replay transcripts (md, yaml, jsonl) and the side-by-side matrix report.
 * Transcripts hold no times and no speeds, so they are reproducible. */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

static const char *const STOPS[] = {"eos", "length", "cancelled", "context"};

int bc_replay_format_parse(const char *name) {
    if (!name || !strcmp(name, "md")) return BC_REPLAY_MD;
    if (!strcmp(name, "yaml")) return BC_REPLAY_YAML;
    if (!strcmp(name, "jsonl")) return BC_REPLAY_JSONL;
    return -1;
}

/* A JSON string, which is also a valid YAML double-quoted scalar. The text
 * is valid UTF-8 (the worker and libyaml see to that); only control
 * characters, quotes and backslashes need escapes. */
static void quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

static void header(bc_replay_writer *t) {
    if (t->header_done) return;
    t->header_done = true;
    const char *name = base_name(t->script_name ? t->script_name : "script");
    if (t->format == BC_REPLAY_MD) {
        fprintf(t->f, "# Replay of %s\n\n", name);
    } else if (t->format == BC_REPLAY_YAML) {
        fputs("format: baichuan-chat replay 1\nscript: ", t->f);
        quoted(t->f, name);
        fputs("\nmessages:\n", t->f);
    }
}

static bool is_message(const bc_replay_entry *e) {
    return e->kind == BC_ENTRY_SYSTEM || e->kind == BC_ENTRY_USER || e->kind == BC_ENTRY_ASSISTANT;
}

void bc_replay_writer_begin(bc_replay_writer *t, const bc_replay_entry *e) {
    header(t);
    if (t->format != BC_REPLAY_MD) return;
    switch (e->kind) {
    case BC_ENTRY_SYSTEM: fputs("**System:**\n\n", t->f); break;
    case BC_ENTRY_USER: fprintf(t->f, "**You** (step %d):\n\n", e->step); break;
    case BC_ENTRY_ASSISTANT:
        fprintf(t->f, "**Assistant** (%s · %s · %s):\n\n", e->model, e->backend, e->quant);
        break;
    case BC_ENTRY_COMMAND: case BC_ENTRY_EXPECT: break;
    }
    fflush(t->f);
}

void bc_replay_writer_text(bc_replay_writer *t, const char *text, size_t len) {
    if (t->format != BC_REPLAY_MD) return;
    fwrite(text, 1, len, t->f);
    fflush(t->f);
}

static void md_end(bc_replay_writer *t, const bc_replay_entry *e) {
    switch (e->kind) {
    case BC_ENTRY_SYSTEM: case BC_ENTRY_USER: fprintf(t->f, "%s\n\n", e->text); break;
    case BC_ENTRY_ASSISTANT:
        if (e->note) fprintf(t->f, "\n\n_(%s)_\n\n", e->note);
        else fprintf(t->f, "\n\n_(%d tokens, stop: %s)_\n\n", e->new_tokens, STOPS[e->stop]);
        break;
    case BC_ENTRY_COMMAND:
        fprintf(t->f, "> step %d: `%s`%s%s\n\n", e->step, e->text, e->note ? " — " : "",
                e->note ? e->note : "");
        break;
    case BC_ENTRY_EXPECT:
        fprintf(t->f, "> step %d: expect %s — %s\n\n", e->step, e->text, e->note ? e->note : "");
        break;
    }
}

static void jsonl_end(bc_replay_writer *t, const bc_replay_entry *e) {
    static const char *const TYPES[] = {"system", "user", "assistant", "command", "expect"};
    FILE *f = t->f;
    fprintf(f, "{\"step\":%d,\"type\":\"%s\"", e->step, TYPES[e->kind]);
    if (e->kind == BC_ENTRY_ASSISTANT) {
        fputs(",\"model\":", f);
        quoted(f, e->model);
        fprintf(f, ",\"backend\":\"%s\",\"quant\":\"%s\",\"new_tokens\":%d,\"prompt_tokens\":%d,"
                   "\"prefilled_tokens\":%d,\"stop\":\"%s\"", e->backend, e->quant, e->new_tokens,
                e->prompt_tokens, e->prefilled_tokens, e->note ? "error" : STOPS[e->stop]);
    }
    fputs(e->kind == BC_ENTRY_COMMAND ? ",\"command\":" : e->kind == BC_ENTRY_EXPECT ? ",\"check\":"
                                                                                    : ",\"content\":", f);
    quoted(f, e->text);
    if (e->kind == BC_ENTRY_COMMAND || e->kind == BC_ENTRY_EXPECT) {
        fprintf(f, ",\"ok\":%s,\"result\":", e->ok ? "true" : "false");
        quoted(f, e->note ? e->note : "");
    }
    fputs("}\n", f);
}

static void yaml_message(bc_replay_writer *t, const bc_replay_entry *e) {
    static const char *const ROLES[] = {"system", "user", "assistant"};
    FILE *f = t->f;
    fprintf(f, "  - role: %s\n    step: %d\n", ROLES[e->kind], e->step);
    if (e->kind == BC_ENTRY_ASSISTANT) {
        fputs("    model: ", f);
        quoted(f, e->model);
        fprintf(f, "\n    backend: %s\n    quant: %s\n    stop: %s\n    new_tokens: %d\n"
                   "    prompt_tokens: %d\n    prefilled_tokens: %d\n", e->backend, e->quant,
                e->note ? "error" : STOPS[e->stop], e->new_tokens, e->prompt_tokens,
                e->prefilled_tokens);
    }
    fputs("    content: ", f);
    quoted(f, e->text);
    fputc('\n', f);
}

void bc_replay_writer_end(bc_replay_writer *t, const bc_replay_entry *e) {
    header(t);
    if (t->format == BC_REPLAY_MD) md_end(t, e);
    else if (t->format == BC_REPLAY_JSONL) jsonl_end(t, e);
    else if (is_message(e)) yaml_message(t, e); /* commands and checks go under events: */
    fflush(t->f);
}

void bc_replay_writer_finish(bc_replay_writer *t) {
    header(t);
    if (t->format == BC_REPLAY_YAML && t->result) {
        bool any = false;
        for (size_t i = 0; i < t->result->n; i++) any |= is_message(&t->result->entries[i]);
        if (!any) fputs("  []\n", t->f);
        fputs("events:", t->f);
        any = false;
        for (size_t i = 0; i < t->result->n; i++) {
            const bc_replay_entry *e = &t->result->entries[i];
            if (is_message(e)) continue;
            fprintf(t->f, "\n  - step: %d\n    %s: ", e->step, e->kind == BC_ENTRY_COMMAND ? "command" : "expect");
            quoted(t->f, e->text);
            fprintf(t->f, "\n    ok: %s\n    result: ", e->ok ? "true" : "false");
            quoted(t->f, e->note ? e->note : "");
            any = true;
        }
        fputs(any ? "\n" : " []\n", t->f);
    }
    fflush(t->f);
}

/* ---- comparisons ------------------------------------------------------------------ */

int bc_replay_matrix_parse(const char *spec, bc_replay_matrix *m, bc_error *err) {
    memset(m, 0, sizeof *m);
    const char *eq = strchr(spec, '=');
    size_t klen = eq ? (size_t)(eq - spec) : 0;
    if (!eq || !klen || klen >= sizeof m->key)
        return bc_errorf(err, "--matrix: '%s' is not KEY=V1,V2,... (KEY: model, quant, backend)", spec);
    memcpy(m->key, spec, klen);
    m->key[klen] = 0;
    if (strcmp(m->key, "model") && strcmp(m->key, "quant") && strcmp(m->key, "backend"))
        return bc_errorf(err, "--matrix: unknown key '%s' (model, quant, backend)", m->key);
    for (const char *p = eq + 1;;) {
        size_t n = strcspn(p, ",");
        if (!n) {
            bc_replay_matrix_free(m);
            return bc_errorf(err, "--matrix: '%s' has an empty value", spec);
        }
        char **v = realloc(m->values, (m->n_values + 1) * sizeof *v);
        if (!v || !(v[m->n_values] = strndup(p, n))) {
            if (v) m->values = v;
            bc_replay_matrix_free(m);
            return bc_errorf(err, "out of memory");
        }
        m->values = v;
        m->n_values++;
        if (!p[n]) break;
        p += n + 1;
    }
    return 0;
}

void bc_replay_matrix_free(bc_replay_matrix *m) {
    for (size_t i = 0; i < m->n_values; i++) free(m->values[i]);
    free(m->values);
    m->values = NULL;
    m->n_values = 0;
}

/* A table cell: pipes escaped, line breaks as <br>. */
static void cell(FILE *f, const char *s) {
    if (!*s) fputs("(empty)", f);
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '\n') fputs("<br>", f);
        else if (*s != '\r') fputc(*s, f);
    }
}

/* The i-th assistant entry of a result (NULL past the end). */
static const bc_replay_entry *nth_reply(const bc_replay_result *r, size_t i, const bc_replay_entry **user) {
    const bc_replay_entry *last_user = NULL;
    for (size_t k = 0; k < r->n; k++) {
        const bc_replay_entry *e = &r->entries[k];
        if (e->kind == BC_ENTRY_USER) last_user = e;
        if (e->kind != BC_ENTRY_ASSISTANT) continue;
        if (i-- == 0) {
            if (user) *user = last_user;
            return e;
        }
    }
    return NULL;
}

static size_t count_replies(const bc_replay_result *r) {
    size_t n = 0;
    while (nth_reply(r, n, NULL)) n++;
    return n;
}

/* How many leading tokens (characters without a tokenizer) a and b share. */
static size_t common_prefix(const char *a, const char *b, const bc_tokenizer *tok, const char **unit) {
    int32_t *ia = NULL, *ib = NULL;
    size_t na = 0, nb = 0, n = 0;
    bc_error err;
    if (tok && !bc_tokenizer_encode(tok, a, strlen(a), &ia, &na, &err) &&
        !bc_tokenizer_encode(tok, b, strlen(b), &ib, &nb, &err)) {
        while (n < na && n < nb && ia[n] == ib[n]) n++;
        *unit = "tokens";
    } else {
        /* whole UTF-8 characters */
        size_t i = 0;
        while (a[i] && a[i] == b[i]) {
            if (((unsigned char)a[i] & 0xC0) != 0x80) n++;
            i++;
        }
        if (a[i] != b[i] && ((unsigned char)a[i] & 0xC0) == 0x80) n--; /* split character */
        *unit = "characters";
    }
    free(ia);
    free(ib);
    return n;
}

static void agreement(char *buf, size_t len, const bc_replay_entry *first, const bc_replay_entry *e,
                      const bc_tokenizer *tok) {
    if (!first || !e) snprintf(buf, len, "no reply to compare");
    else if (!strcmp(first->text, e->text)) snprintf(buf, len, "identical");
    else {
        const char *unit;
        size_t n = common_prefix(first->text, e->text, tok, &unit);
        if (n == 1) snprintf(buf, len, "same first %s", !strcmp(unit, "tokens") ? "token" : "character");
        else if (n) snprintf(buf, len, "same first %zu %s", n, unit);
        else snprintf(buf, len, "differs");
    }
}

static void summary_rows(FILE *f, const bc_replay_matrix *m, const bc_replay_result *res,
                         const bc_tokenizer *tok) {
    size_t cols = m->n_values;
    fputs("| |", f);
    for (size_t c = 0; c < cols; c++) fprintf(f, " %s = %s |", m->key, m->values[c]);
    fputs("\n|---|", f);
    for (size_t c = 0; c < cols; c++) fputs("---|", f);
    fputs("\n| loaded |", f);
    for (size_t c = 0; c < cols; c++) {
        const bc_replay_entry *e = nth_reply(&res[c], 0, NULL);
        if (e) fprintf(f, " %s · %s · %s |", e->model, e->backend, e->quant);
        else fputs(res[c].stopped[0] ? " (failed: see checks) |" : " (no reply) |", f);
    }
    fputs("\n| weights |", f);
    for (size_t c = 0; c < cols; c++) {
        if (res[c].stopped[0] && !res[c].weight_bytes) fputs(" — |", f); /* nothing loaded */
        else fprintf(f, " %.2f MB |", (double)res[c].weight_bytes / 1e6);
    }
    fputs("\n| peak memory (RSS) |", f);
    for (size_t c = 0; c < cols; c++) fprintf(f, " %.1f MB |", (double)res[c].peak_rss_bytes / 1e6);
    fputs("\n| decode speed |", f);
    for (size_t c = 0; c < cols; c++) {
        double tokens = 0, seconds = 0;
        for (size_t i = 0; i < res[c].n; i++)
            if (res[c].entries[i].kind == BC_ENTRY_ASSISTANT) {
                tokens += res[c].entries[i].new_tokens;
                seconds += res[c].entries[i].decode_seconds;
            }
        if (res[c].stopped[0] && tokens == 0) fputs(" — |", f);
        else fprintf(f, " %.1f tok/s (%.0f tokens) |", seconds > 0 ? tokens / seconds : 0.0, tokens);
    }
    fputs("\n| checks |", f);
    for (size_t c = 0; c < cols; c++) {
        /* A run that stopped (its model did not load) checked nothing: its
         * reason goes here, not only to stderr. */
        if (res[c].stopped[0]) {
            fputs(" **run failed:** ", f);
            cell(f, res[c].stopped);
        } else if (!res[c].expects_failed && !res[c].steps_failed) {
            fputs(" all held", f);
        } else {
            fprintf(f, " %d expect(s), %d step(s) failed", res[c].expects_failed, res[c].steps_failed);
        }
        if (res[c].steps_skipped)
            fprintf(f, "; %d step(s) skipped after /quit", res[c].steps_skipped);
        fputs(" |", f);
    }
    fprintf(f, "\n| agreement with %s |", m->values[0]);
    size_t n0 = count_replies(&res[0]);
    for (size_t c = 0; c < cols; c++) {
        size_t same = 0, n = count_replies(&res[c]);
        for (size_t i = 0; i < n0; i++) {
            const bc_replay_entry *a = nth_reply(&res[0], i, NULL), *b = nth_reply(&res[c], i, NULL);
            same += b && !strcmp(a->text, b->text);
        }
        if (c == 0) fputs(" — |", f);
        else if (res[c].stopped[0]) fputs(" — (run failed) |", f);
        else fprintf(f, " %zu of %zu replies identical%s |", same, n0, n != n0 ? " (reply count differs)" : "");
    }
    (void)tok;
    fputs("\n\n", f);
}

void bc_replay_matrix_report(FILE *f, const bc_replay_script *s, const bc_replay_matrix *m,
                             const bc_replay_result *res, const bc_tokenizer *tok) {
    fprintf(f, "# Replay comparison: %s = ", m->key);
    for (size_t c = 0; c < m->n_values; c++) fprintf(f, "%s%s", c ? ", " : "", m->values[c]);
    fprintf(f, "\n\nScript `%s`, %zu steps; agreement is measured against the first column, "
               "in tokens of its model's tokenizer.\n\n", base_name(s->name), s->n_steps);
    summary_rows(f, m, res, tok);
    size_t rows = 0;
    for (size_t c = 0; c < m->n_values; c++) {
        size_t n = count_replies(&res[c]);
        if (n > rows) rows = n;
    }
    for (size_t i = 0; i < rows; i++) {
        const bc_replay_entry *user = NULL, *first = nth_reply(&res[0], i, &user);
        fprintf(f, "## Reply %zu", i + 1);
        if (first) fprintf(f, " (step %d)", first->step);
        fputs("\n\n", f);
        if (user) {
            fputs("> ", f);
            cell(f, user->text);
            fputs("\n\n", f);
        }
        fputs("|", f);
        for (size_t c = 0; c < m->n_values; c++) fprintf(f, " %s |", m->values[c]);
        fputs("\n|", f);
        for (size_t c = 0; c < m->n_values; c++) fputs("---|", f);
        fputs("\n|", f);
        for (size_t c = 0; c < m->n_values; c++) {
            const bc_replay_entry *e = nth_reply(&res[c], i, NULL);
            fputc(' ', f);
            if (e) cell(f, e->text);
            else fputs("(no reply)", f);
            fputs(" |", f);
        }
        fputs("\n|", f);
        for (size_t c = 0; c < m->n_values; c++) {
            const bc_replay_entry *e = nth_reply(&res[c], i, NULL);
            char agree[96];
            agreement(agree, sizeof agree, first, e, tok);
            if (e)
                fprintf(f, " %d tokens · %.1f tok/s · %s |", e->new_tokens,
                        e->decode_seconds > 0 ? e->new_tokens / e->decode_seconds : 0.0,
                        c ? agree : "reference");
            else fputs(" — |", f);
        }
        fputs("\n\n", f);
    }
}
