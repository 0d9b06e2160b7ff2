/* bc_replay: scripted sessions. A script (YAML) names a model and its
 * settings and lists steps: user messages, slash commands (the same table as
 * the TUI, app/commands.h) and checks on the last reply. The runner plays it
 * through the inference worker, writes a transcript (md, yaml or jsonl) and
 * collects what a comparison (`--matrix`) needs.
 *
 *   model: demo                 # any -m value; optional: backend, quant, threads
 *   seed: 42
 *   generation: {temperature: 0, max_new_tokens: 64}
 *   system: "You are a concise assistant."
 *   steps:
 *     - user: "你好"
 *     - command: /quant bf16
 *     - expect: {contains: "x", regex: "^[a-z]", max_tokens: 64}
 *
 * A saved session file (app/session.h) is a script too: its system prompt and
 * user turns are replayed.
 *
 * Determinism: the transcript holds no time and no speed, so with a fixed seed
 * (or temperature 0) the same script gives byte-identical transcripts. */
#ifndef BC_REPLAY_H
#define BC_REPLAY_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bc_error.h"
#include "commands.h"
#include "config.h"
#include "engine.h"

/* A script larger than this is refused (a script is text a person wrote;
 * anything bigger is a mistake or an attack on the parser). */
#define BC_REPLAY_MAX_BYTES (1024 * 1024)
/* At most this many steps. */
#define BC_REPLAY_MAX_STEPS 10000
/* An expect's regex: glibc's regcomp copies the pattern's tree once per
 * repetition, so a short pattern of stacked or large counted repetitions
 * ("a+++++...", "(a{100}){100}") can take gigabytes. Found by fuzzing. */
#define BC_REPLAY_REGEX_MAX_BYTES 512
#define BC_REPLAY_REGEX_MAX_COUNT 16      /* largest m, n in {m,n} */
#define BC_REPLAY_REGEX_MAX_COUNTED 2     /* {m,n} repetitions in one pattern */
#define BC_REPLAY_REGEX_MAX_GROUP_PLUS 3  /* "(...)+" : each one doubles the group */

typedef enum bc_replay_step_kind {
    BC_STEP_USER = 0, BC_STEP_COMMAND, BC_STEP_EXPECT
} bc_replay_step_kind;

typedef struct bc_replay_expect {
    char *contains;   /* substring of the last reply; NULL = no check */
    char *regex;      /* POSIX ERE matched anywhere in it; NULL = no check */
    regex_t compiled; /* of regex, when set */
    int max_tokens;   /* the reply has at most this many tokens; -1 = no check */
} bc_replay_expect;

typedef struct bc_replay_step {
    bc_replay_step_kind kind;
    int line, column;      /* position in the script, 1-based; 0 = from a session file */
    char *text;            /* USER: the message; COMMAND: "/name args" (already validated) */
    bc_replay_expect expect;
} bc_replay_step;

typedef struct bc_replay_script {
    char *name;                   /* file name used in messages */
    char *model, *backend, *quant; /* NULL = not set by the script */
    int threads;                  /* -1 = not set */
    bc_app_generation generation; /* NAN / -1 = not set; seed in seed/seed_set */
    char *system;                 /* NULL = none */
    bc_replay_step *steps;
    size_t n_steps;
    bool from_session;            /* read from a saved session file */
} bc_replay_script;

/* Parses a script held in memory. Errors read "NAME:LINE:COL: KEY: what". */
int bc_replay_script_parse(const char *name, const char *text, size_t len,
                           bc_replay_script **out, bc_error *err);
/* Reads a script or a saved session file (at most BC_REPLAY_MAX_BYTES). */
int bc_replay_script_load(const char *path, bc_replay_script **out, bc_error *err);
void bc_replay_script_free(bc_replay_script *s);

/* "contains \"x\", max_tokens 64": the check as written, for messages. */
void bc_replay_expect_describe(const bc_replay_expect *x, char *buf, size_t len);
/* Checks a reply (NULL = there is none) of new_tokens tokens; `why` gets
 * "held" or the reason it did not hold. The runner and the TUI share it. */
bool bc_replay_expect_check(const bc_replay_expect *x, const char *reply, int new_tokens, char *why,
                            size_t len);

/* Whether a command may appear in a replay (UI-only ones like /theme may not). */
bool bc_replay_command_allowed(bc_command_id id);

/* ---- results ------------------------------------------------------------ */

typedef enum bc_replay_entry_kind {
    BC_ENTRY_SYSTEM = 0, BC_ENTRY_USER, BC_ENTRY_ASSISTANT, BC_ENTRY_COMMAND, BC_ENTRY_EXPECT
} bc_replay_entry_kind;

/* One line of the transcript. */
typedef struct bc_replay_entry {
    bc_replay_entry_kind kind;
    int step;              /* 1-based step number; 0 = the script's header */
    char *text;            /* content, command line, or the check as written */
    char *note;            /* COMMAND / EXPECT: outcome in words; may be NULL */
    bool ok;               /* COMMAND / EXPECT: it worked / held */
    /* ASSISTANT: what produced it, and deterministic counts */
    char model[256], backend[16], quant[16];
    int new_tokens, prompt_tokens, prefilled_tokens;
    bc_stop_reason stop;
    /* ASSISTANT timings: in summaries and reports, never in transcripts */
    double decode_seconds, prefill_seconds;
} bc_replay_entry;

typedef struct bc_replay_result {
    bc_replay_entry *entries;
    size_t n, cap;
    int expects_failed;     /* number of expects that did not hold */
    int steps_failed;       /* commands or turns that failed (e.g. a switch) */
    char first_failure[BC_ERROR_MAX]; /* "step 4 (line 12): ..." */
    char stopped[BC_ERROR_MAX]; /* why the run could not go on (its error); "" = it did */
    int steps_skipped;      /* steps not run because a /quit came before them */
    int quit_step;          /* the step of that /quit; 0 = none */
    uint64_t peak_rss_bytes; /* VmHWM at the end (reset at the start when possible) */
    uint64_t weight_bytes;   /* of the model the run started with */
    double seconds;          /* wall time of the whole run */
} bc_replay_result;

void bc_replay_result_free(bc_replay_result *r);

/* ---- transcript writer ---------------------------------------------------- */

typedef enum bc_replay_format {
    BC_REPLAY_MD = 0, BC_REPLAY_YAML, BC_REPLAY_JSONL
} bc_replay_format;

/* "md" / "yaml" / "jsonl"; -1 for anything else. */
int bc_replay_format_parse(const char *name);

typedef struct bc_replay_writer {
    bc_replay_format format;
    FILE *f;
    const char *script_name;
    bool header_done;
    /* yaml: command/expect entries are listed after the messages */
    const bc_replay_result *result;
} bc_replay_writer;

/* Called by the runner: an entry starts (md writes its heading), its text
 * streams (md only), it ends (yaml/jsonl write the whole entry). */
void bc_replay_writer_begin(bc_replay_writer *t, const bc_replay_entry *e);
void bc_replay_writer_text(bc_replay_writer *t, const char *text, size_t len);
void bc_replay_writer_end(bc_replay_writer *t, const bc_replay_entry *e);
void bc_replay_writer_finish(bc_replay_writer *t);

/* ---- running -------------------------------------------------------------- */

typedef struct bc_replay_run_opts {
    const bc_app_config *cfg;   /* settings: defaults < config files < script < options */
    bc_replay_writer *transcript;  /* written as the run goes; NULL = none */
    FILE *log;                  /* per-step summary and progress; NULL = silent */
    bool progress;              /* load progress on log (a terminal) */
    const char *sessions_dir;   /* save the conversation there after every turn; NULL = no */
} bc_replay_run_opts;

/* Plays the script. Returns 0 when it ran to the end or to a /quit (expects
 * may have failed: see r->expects_failed / r->steps_failed; steps after a
 * /quit: r->steps_skipped), -1 with err when it could not go on (the first
 * model did not load, a model switch left no model); r->stopped keeps that
 * reason for reports. */
int bc_replay_run(const bc_replay_script *s, const bc_replay_run_opts *o, bc_replay_result *r,
                  bc_error *err);

/* Settings of a run: defaults < config files < script < command line.
 * `o` is the command line; matrix_key/value ("quant", "bf16") override one
 * more field (NULL = none). Errors in config files are reported on `log`. */
int bc_replay_settings(const bc_options *o, const bc_replay_script *s, const char *matrix_key,
                       const char *matrix_value, bc_app_config *cfg, FILE *log);

/* ---- comparisons ----------------------------------------------------------- */

/* "quant=f32,bf16" -> key "quant" and values. Keys: model, quant, backend. */
typedef struct bc_replay_matrix {
    char key[16];
    char **values;
    size_t n_values;
} bc_replay_matrix;

int bc_replay_matrix_parse(const char *spec, bc_replay_matrix *m, bc_error *err);
void bc_replay_matrix_free(bc_replay_matrix *m);

/* Side-by-side Markdown report of one result per matrix value. The
 * tokenizer (of the first column's model; NULL = compare characters) counts
 * the common prefix of replies that differ. */
struct bc_tokenizer;
void bc_replay_matrix_report(FILE *f, const bc_replay_script *s, const bc_replay_matrix *m,
                             const bc_replay_result *results, const struct bc_tokenizer *tok);

/* Current / peak resident memory of this process (VmRSS / VmHWM), bytes; 0
 * when /proc is not there. bc_rss_reset_peak asks the kernel to restart
 * VmHWM from the current RSS (Linux >= 4.0); false when it cannot. */
uint64_t bc_rss_bytes(void);
uint64_t bc_rss_peak_bytes(void);
bool bc_rss_reset_peak(void);

#endif
