/* `baichuan-chat replay SCRIPT [-o OUT] [--format md|yaml|jsonl] [--matrix KEY=V1,V2]`
 *
 * Without -o the transcript streams to stdout as the replies are generated;
 * with -o nothing goes to stdout and OUT is written (atomically) at the end.
 * The per-step summary (tokens, tokens/s, model/backend/quant) goes to
 * stderr. The conversation is saved to the session store like a TUI one
 * (not for --matrix runs, which are comparisons).
 *
 * Exit: 0 all steps ran (or a /quit ended the script: the steps skipped are
 * counted) and every expect held; 1 an expect or a step failed (the first is
 * named), a --matrix column failed, OUT cannot be created (checked before
 * anything runs) or a runtime error; 2 a bad script or usage. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demo_model.h"
#include "model_path.h"
#include "modes.h"
#include "replay.h"
#include "session.h"
#include "tokenizer.h"
#include "tokenizer_open.h"

/* Collects output in memory for -o, streams it to stdout otherwise. */
typedef struct output {
    FILE *f;
    char *buf;
    size_t len;
    const char *path; /* NULL = stdout */
} output;

static int output_open(output *out, const char *path) {
    memset(out, 0, sizeof *out);
    out->path = path;
    out->f = path ? open_memstream(&out->buf, &out->len) : stdout;
    if (!out->f) fprintf(stderr, "baichuan-chat: replay: out of memory\n");
    return out->f ? 0 : 1;
}

/* Returns 0, or 1 when OUT could not be written. */
static int output_close(output *out) {
    if (!out->path) {
        /* A transcript that never reached stdout (a full disk, a closed pipe)
         * must not end in exit 0. */
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "baichuan-chat: replay: writing the transcript to stdout failed\n");
            return 1;
        }
        return 0;
    }
    if (fclose(out->f) != 0) {
        fprintf(stderr, "baichuan-chat: replay: out of memory collecting the transcript\n");
        free(out->buf);
        return 1;
    }
    bc_error err;
    int rc = bc_write_file_atomic(out->path, out->buf ? out->buf : "", out->len, &err);
    if (rc) fprintf(stderr, "baichuan-chat: replay: %s\n", err.msg);
    free(out->buf);
    return rc ? 1 : 0;
}

/* -o OUT is written at the end of the run: refuse up front a path that
 * cannot be created there (its directory missing or read-only, a
 * directory in its place), rather than after minutes of generation. The
 * same cases as bc_write_file_atomic: a non-regular file (/dev/null) is
 * written in place, anything else through a new file next to the target. */
static int output_check(const char *path) {
    struct stat st;
    if (!*path) return fprintf(stderr, "baichuan-chat: replay: -o needs a file name\n"), 1;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return fprintf(stderr, "baichuan-chat: replay: -o %s: is a directory\n", path), 1;
        if (!S_ISREG(st.st_mode)) {
            if (access(path, W_OK) == 0) return 0;
            return fprintf(stderr, "baichuan-chat: replay: -o %s: %s\n", path, strerror(errno)), 1;
        }
    } else if (errno != ENOENT) {
        return fprintf(stderr, "baichuan-chat: replay: -o %s: %s\n", path, strerror(errno)), 1;
    }
    char resolved[PATH_MAX], dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", realpath(path, resolved) ? resolved : path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else slash[slash == dir] = '\0';   /* "/x" -> "/" */
    const char *why = NULL;
    if (stat(dir, &st) != 0) why = strerror(errno);
    else if (!S_ISDIR(st.st_mode)) why = "not a directory";
    else if (access(dir, W_OK | X_OK) != 0) why = strerror(errno);
    if (why)
        fprintf(stderr, "baichuan-chat: replay: -o %s: cannot create a file in %s: %s\n", path, dir,
                why);
    return why ? 1 : 0;
}

static char *sessions_dir_for(const bc_app_config *cfg) {
    bc_error err;
    char *dir = bc_sessions_dir_at(cfg->paths.sessions, &err);
    if (!dir) fprintf(stderr, "baichuan-chat: replay: the conversation is not saved: %s\n", err.msg);
    return dir;
}

/* The last stderr line: the reason of the first failure, or what ran. The
 * success line is printed only when the run and its transcript both
 * succeeded (out_rc: output_close's; it has said why already). */
static int finish(const bc_replay_script *s, const bc_replay_result *r, int run_rc,
                  const bc_error *err, int out_rc) {
    if (run_rc) {
        fprintf(stderr, "baichuan-chat: replay: %s\n", err->msg);
        return 1;
    }
    if (r->first_failure[0]) {
        fprintf(stderr, "baichuan-chat: replay: %s (%d expect(s) and %d step(s) failed)\n",
                r->first_failure, r->expects_failed, r->steps_failed);
        return 1;
    }
    if (out_rc) {
        fprintf(stderr, "baichuan-chat: replay: the steps ran but the transcript was not written\n");
        return out_rc;
    }
    if (r->steps_skipped)
        fprintf(stderr, "replay: done in %.2f s, %zu of %zu steps ran (%d skipped after the /quit "
                        "at step %d), every expect held; peak RSS %.1f MB\n",
                r->seconds, s->n_steps - (size_t)r->steps_skipped, s->n_steps, r->steps_skipped,
                r->quit_step, (double)r->peak_rss_bytes / 1e6);
    else
        fprintf(stderr, "replay: done in %.2f s, every step ran and every expect held; peak RSS "
                        "%.1f MB\n", r->seconds, (double)r->peak_rss_bytes / 1e6);
    return 0;
}

static int replay_once(const bc_options *o, const bc_replay_script *s) {
    bc_app_config cfg;
    bc_replay_settings(o, s, NULL, NULL, &cfg, stderr);
    if (cfg.config_file_failed) { /* -c FILE was named on purpose: not a warning */
        bc_app_config_free(&cfg);
        return 2;
    }
    output out;
    if (output_open(&out, o->output)) {
        bc_app_config_free(&cfg);
        return 1;
    }
    bc_replay_writer t = {.format = (bc_replay_format)bc_replay_format_parse(o->format),
                       .f = out.f, .script_name = s->name};
    char *dir = sessions_dir_for(&cfg);
    bc_replay_run_opts ro = {.cfg = &cfg, .transcript = &t, .log = stderr,
                             .progress = isatty(STDERR_FILENO), .sessions_dir = dir};
    bc_replay_result r;
    bc_error err;
    int rc = bc_replay_run(s, &ro, &r, &err);
    int out_rc = output_close(&out);
    int code = finish(s, &r, rc, &err, out_rc);
    bc_replay_result_free(&r);
    free(dir);
    bc_app_config_free(&cfg);
    return code;
}

/* The first column's tokenizer, to count agreeing tokens; NULL when it
 * cannot be opened (characters are compared then). */
static bc_tokenizer *first_tokenizer(const bc_options *o, const bc_replay_script *s,
                                     const bc_replay_matrix *m) {
    bc_app_config cfg;
    bc_replay_settings(o, s, m->key, m->values[0], &cfg, NULL);
    bc_tokenizer *tok = NULL;
    char *dir = NULL;
    bc_error err;
    if (bc_model_resolve(cfg.model, &dir, &err) == 0) {
        size_t len;
        const unsigned char *data = strcmp(dir, "demo") ? NULL : bc_demo_tokenizer_data(&len);
        if (data) bc_tokenizer_load_memory(data, len, "demo tokenizer", &tok, &err);
        else bc_tokenizer_open_model(dir, &tok, &err);
    }
    free(dir);
    bc_app_config_free(&cfg);
    return tok;
}

static int replay_matrix(const bc_options *o, const bc_replay_script *s) {
    bc_replay_matrix m;
    bc_error err;
    if (bc_replay_matrix_parse(o->matrix, &m, &err)) {
        fprintf(stderr, "baichuan-chat: replay: %s\n", err.msg);
        return 2;
    }
    /* The configuration's messages once, before the columns; -c FILE was
     * named on purpose, so an error in it stops the run. */
    bc_app_config first;
    bc_replay_settings(o, s, m.key, m.values[0], &first, stderr);
    bool config_failed = first.config_file_failed;
    bc_app_config_free(&first);
    if (config_failed) {
        bc_replay_matrix_free(&m);
        return 2;
    }
    bc_replay_result *res = calloc(m.n_values, sizeof *res);
    if (!res) {
        bc_replay_matrix_free(&m);
        return 1;
    }
    int code = 0;
    for (size_t c = 0; c < m.n_values; c++) {
        fprintf(stderr, "== %s = %s ==\n", m.key, m.values[c]);
        bc_app_config cfg;
        bc_replay_settings(o, s, m.key, m.values[c], &cfg, NULL);
        bc_replay_run_opts ro = {.cfg = &cfg, .log = stderr, .progress = isatty(STDERR_FILENO)};
        if (bc_replay_run(s, &ro, &res[c], &err)) {
            fprintf(stderr, "baichuan-chat: replay: %s = %s: %s\n", m.key, m.values[c], err.msg);
            code = 1;
        } else if (res[c].first_failure[0]) {
            fprintf(stderr, "baichuan-chat: replay: %s = %s: %s\n", m.key, m.values[c],
                    res[c].first_failure);
            code = 1;
        }
        bc_app_config_free(&cfg);
    }
    bc_tokenizer *tok = first_tokenizer(o, s, &m);
    output out;
    if (output_open(&out, o->output) == 0) {
        bc_replay_matrix_report(out.f, s, &m, res, tok);
        if (output_close(&out)) code = 1;
    } else {
        code = 1;
    }
    bc_tokenizer_free(tok);
    for (size_t c = 0; c < m.n_values; c++) bc_replay_result_free(&res[c]);
    free(res);
    bc_replay_matrix_free(&m);
    return code;
}

int bc_mode_replay(const bc_options *o) {
    bc_replay_script *s;
    bc_error err;
    if (bc_replay_script_load(o->positional[0], &s, &err)) {
        fprintf(stderr, "baichuan-chat: replay: %s\n", err.msg);
        return 2;
    }
    if (o->output && output_check(o->output)) {
        bc_replay_script_free(s);
        return 1;
    }
    int rc = o->matrix ? replay_matrix(o, s) : replay_once(o, s);
    bc_replay_script_free(s);
    return rc;
}
