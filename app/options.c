/* Command-line parsing: one table of options, each marked with the modes that
 * accept it, so `--help` for a subcommand and the parser never disagree. */
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_build_config.h"
#include "replay.h"

#define M(x) (1u << (x))
#define ALL_MODES (M(BC_MODE_DEFAULT) | M(BC_MODE_RUN) | M(BC_MODE_REPLAY) | \
                   M(BC_MODE_BENCH) | M(BC_MODE_PERPLEXITY) | M(BC_MODE_TOKENIZE))
#define CHAT_MODES (M(BC_MODE_DEFAULT) | M(BC_MODE_RUN) | M(BC_MODE_REPLAY))
#define LOAD_MODES (CHAT_MODES | M(BC_MODE_BENCH) | M(BC_MODE_PERPLEXITY))

typedef enum opt_id {
    OPT_MODEL, OPT_BACKEND, OPT_QUANT, OPT_CONFIG, OPT_SYSTEM, OPT_FILE,
    OPT_SESSION, OPT_OUTPUT, OPT_FORMAT, OPT_REPLAY, OPT_THEME, OPT_N, OPT_TEMP,
    OPT_TOPK, OPT_TOPP, OPT_PENALTY, OPT_SEED, OPT_THREADS, OPT_CTX, OPT_RAW,
    OPT_PIECES, OPT_TOKENIZER, OPT_HELP, OPT_VERSION, OPT_MATRIX, OPT_PROMPT_TOKENS,
} opt_id;

typedef struct opt_spec {
    opt_id id;
    char short_name;     /* 0 = none */
    const char *long_name;
    const char *arg;     /* NULL = flag */
    unsigned modes;      /* bitmask of bc_mode */
    const char *help;
} opt_spec;

static const opt_spec OPTIONS[] = {
    {OPT_MODEL, 'm', "model", "MODEL", ALL_MODES,
     "model directory, Hugging Face id (from the local HF cache), preset name, 'demo', or "
     "'synthetic:7b|13b' (real shapes, random weights: for bench)"},
    {OPT_BACKEND, 0, "backend", "auto|cpu|cuda", LOAD_MODES, "compute backend (default auto)"},
    {OPT_QUANT, 0, "quant", "auto|f32|bf16|f16|int8|nf4", LOAD_MODES, "weight storage format"},
    {OPT_CONFIG, 'c', "config", "FILE", ALL_MODES, "extra configuration file (YAML)"},
    {OPT_SYSTEM, 0, "system", "TEXT", CHAT_MODES, "system prompt"},
    {OPT_FILE, 'f', "file", "FILE", M(BC_MODE_TOKENIZE) | M(BC_MODE_PERPLEXITY) | M(BC_MODE_BENCH),
     "read the text from FILE"},
    {OPT_SESSION, 0, "session", "NAME|FILE", M(BC_MODE_DEFAULT), "resume a saved conversation"},
    {OPT_OUTPUT, 'o', "output", "FILE", M(BC_MODE_REPLAY), "write the transcript to FILE"},
    {OPT_FORMAT, 0, "format", "md|yaml|jsonl", M(BC_MODE_REPLAY), "transcript format (default md)"},
    {OPT_MATRIX, 0, "matrix", "KEY=V1,V2,...", M(BC_MODE_REPLAY),
     "run once per value of model, quant or backend; write a side-by-side report"},
    {OPT_REPLAY, 0, "replay", "SCRIPT", M(BC_MODE_DEFAULT), "play a replay script visibly in the TUI"},
    {OPT_THEME, 0, "theme", "NAME", M(BC_MODE_DEFAULT), "colour theme (dark, light, high-contrast, mono)"},
    {OPT_N, 'n', "max-new-tokens", "N", CHAT_MODES | M(BC_MODE_BENCH), "stop after N new tokens (bench: decode N tokens, default 128)"},
    {OPT_PROMPT_TOKENS, 'p', "prompt-tokens", "T", M(BC_MODE_BENCH), "bench: prefill a T-token prompt (default 512)"},
    {OPT_TEMP, 0, "temp", "T", CHAT_MODES, "sampling temperature; 0 = greedy"},
    {OPT_TOPK, 0, "top-k", "K", CHAT_MODES, "keep the K most likely tokens; 0 = off"},
    {OPT_TOPP, 0, "top-p", "P", CHAT_MODES, "nucleus sampling threshold; 1 = off"},
    {OPT_PENALTY, 0, "repeat-penalty", "R", CHAT_MODES, "repetition penalty; 1 = off"},
    {OPT_SEED, 0, "seed", "S", CHAT_MODES, "random seed (reproducible sampling)"},
    {OPT_THREADS, 't', "threads", "N", LOAD_MODES, "CPU threads (default: all cores)"},
    {OPT_CTX, 0, "ctx", "N", M(BC_MODE_PERPLEXITY), "window length in tokens (default model_max_length)"},
    {OPT_RAW, 0, "raw", NULL, M(BC_MODE_RUN), "feed the text without the chat template (base models)"},
    {OPT_PIECES, 0, "pieces", NULL, M(BC_MODE_TOKENIZE), "print pieces instead of ids"},
    {OPT_TOKENIZER, 0, "tokenizer", NULL, M(BC_MODE_BENCH), "benchmark the tokenizer instead of the model"},
    {OPT_HELP, 'h', "help", NULL, ALL_MODES, "show this help"},
    {OPT_VERSION, 'V', "version", NULL, ALL_MODES, "show version and build options"},
};
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

typedef struct mode_spec {
    bc_mode mode;
    const char *name;
    const char *usage;
    const char *summary;
} mode_spec;

static const mode_spec MODES[] = {
    {BC_MODE_DEFAULT, "", "[OPTIONS]",
     "Chat in the terminal UI (when stdin and stdout are terminals; otherwise like 'run')."},
    {BC_MODE_RUN, "run", "[OPTIONS] [PROMPT]",
     "One user turn (PROMPT, or all of stdin); the reply streams to stdout, statistics to stderr."},
    {BC_MODE_REPLAY, "replay", "[OPTIONS] SCRIPT",
     "Play a scripted session (YAML) headless; exit 1 when an expect fails."},
    {BC_MODE_BENCH, "bench", "[OPTIONS]",
     "Measure load time, prefill and decode speed, memory and bandwidth."},
    {BC_MODE_PERPLEXITY, "perplexity", "-m MODEL -f FILE [--ctx N]",
     "Perplexity of the model on a text file."},
    {BC_MODE_TOKENIZE, "tokenize", "[-m MODEL] [--pieces] [-f FILE | TEXT]",
     "Print the token ids (or pieces) of a text; needs only tokenizer.model."},
};
#define N_MODES (sizeof MODES / sizeof MODES[0])

const char *bc_mode_name(bc_mode m) {
    for (size_t i = 0; i < N_MODES; i++)
        if (MODES[i].mode == m) return MODES[i].name[0] ? MODES[i].name : "chat";
    return "?";
}

static void print_help(bc_mode m) {
    const mode_spec *ms = &MODES[0];
    for (size_t i = 0; i < N_MODES; i++)
        if (MODES[i].mode == m) ms = &MODES[i];
    printf("usage: baichuan-chat %s%s%s\n\n%s\n\n", ms->name, ms->name[0] ? " " : "",
           ms->usage, ms->summary);
    if (m == BC_MODE_DEFAULT) {
        printf("subcommands:\n");
        for (size_t i = 1; i < N_MODES; i++)
            printf("  %-11s %s\n", MODES[i].name, MODES[i].summary);
        printf("  (baichuan-chat SUBCOMMAND --help for its options)\n\n");
    }
    printf("options:\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_spec *o = &OPTIONS[i];
        if (!(o->modes & M(m))) continue;
        char left[64];
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->long_name,
                     o->arg ? " " : "", o->arg ? o->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->long_name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        if (strlen(left) > 30)
            printf("  %s\n  %-30s %s\n", left, "", o->help);
        else
            printf("  %-30s %s\n", left, o->help);
    }
}

static void print_version(void) {
    printf("baichuan-chat %s\n", BC_VERSION);
    printf("build: cuda=%s tui=%s\n", BC_HAVE_CUDA ? "yes" : "no", BC_HAVE_TUI ? "yes" : "no");
    printf("License GPL-3.0-or-later: this is free software; there is NO WARRANTY.\n");
}

static int parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *s, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (*s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

static int one_of(const char *v, const char *const *allowed) {
    for (; *allowed; allowed++)
        if (!strcmp(v, *allowed)) return 0;
    return -1;
}

static const char *const BACKENDS[] = {"auto", "cpu", "cuda", NULL};
static const char *const QUANTS[] = {"auto", "f32", "bf16", "f16", "int8", "nf4", NULL};
static const char *const FORMATS[] = {"md", "yaml", "jsonl", NULL};

#define BAD(...) (snprintf(why, why_len, __VA_ARGS__), 2)

/* --matrix KEY=V1,V2: the syntax, and for quant/backend the same values as
 * --quant/--backend, so that a typo is refused before any model loads.
 * Models (directories, presets) are only known when they load. */
static int check_matrix(const char *spec, char *why, size_t why_len) {
    bc_replay_matrix m;
    bc_error err;
    if (bc_replay_matrix_parse(spec, &m, &err)) return BAD("%s", err.msg);
    const char *const *allowed = !strcmp(m.key, "quant")     ? QUANTS
                                 : !strcmp(m.key, "backend") ? BACKENDS
                                                             : NULL;
    int rc = 0;
    for (size_t i = 0; allowed && i < m.n_values && !rc; i++)
        if (one_of(m.values[i], allowed))
            rc = BAD("--matrix: %s '%s' is not one of %s", m.key, m.values[i],
                     allowed == QUANTS ? "auto, f32, bf16, f16, int8, nf4" : "auto, cpu, cuda");
    bc_replay_matrix_free(&m);
    return rc;
}

/* Stores the value of one option; returns 0, or 2 with `why` filled. */
static int apply(bc_options *o, const opt_spec *sp, const char *v, char *why, size_t why_len) {
    switch (sp->id) {
    case OPT_MODEL: o->model = v; break;
    case OPT_BACKEND:
        if (one_of(v, BACKENDS)) return BAD("--backend: '%s' is not one of auto, cpu, cuda", v);
        o->backend = v; break;
    case OPT_QUANT:
        if (one_of(v, QUANTS)) return BAD("--quant: '%s' is not one of auto, f32, bf16, f16, int8, nf4", v);
        o->quant = v; break;
    case OPT_CONFIG: o->config_file = v; break;
    case OPT_SYSTEM: o->system = v; break;
    case OPT_FILE: o->file = v; break;
    case OPT_SESSION: o->session = v; break;
    case OPT_OUTPUT: o->output = v; break;
    case OPT_FORMAT:
        if (one_of(v, FORMATS)) return BAD("--format: '%s' is not one of md, yaml, jsonl", v);
        o->format = v; break;
    case OPT_REPLAY: o->replay = v; break;
    case OPT_MATRIX:
        /* One comparison per run: a second --matrix replacing the first
         * without a word would compare something else than asked. */
        if (o->matrix)
            return BAD("--matrix given twice ('%s', '%s'): one KEY=V1,V2,... per run", o->matrix, v);
        if (check_matrix(v, why, why_len)) return 2;
        o->matrix = v; break;
    case OPT_THEME: o->theme = v; break;
    case OPT_N:
        if (parse_int(v, 1, 1 << 20, &o->n_predict)) return BAD("-n: '%s' is not a whole number from 1 to 1048576", v);
        break;
    case OPT_TEMP:
        if (parse_float(v, 0.0f, 100.0f, &o->temperature)) return BAD("--temp: '%s' is not a number from 0 to 100", v);
        break;
    case OPT_TOPK:
        if (parse_int(v, 0, INT_MAX, &o->top_k)) return BAD("--top-k: '%s' is not a whole number >= 0", v);
        break;
    case OPT_TOPP:
        if (parse_float(v, 0.0f, 1.0f, &o->top_p) || o->top_p <= 0.0f)
            return BAD("--top-p: '%s' is not a number in (0, 1]", v);
        break;
    case OPT_PENALTY:
        if (parse_float(v, 0.0f, 100.0f, &o->repeat_penalty) || o->repeat_penalty <= 0.0f)
            return BAD("--repeat-penalty: '%s' is not a number > 0", v);
        break;
    case OPT_SEED:
        if (parse_u64(v, &o->seed)) return BAD("--seed: '%s' is not a whole number >= 0", v);
        o->seed_set = true; break;
    case OPT_THREADS:
        if (parse_int(v, 0, 1024, &o->threads)) return BAD("--threads: '%s' is not a whole number from 0 to 1024", v);
        break;
    case OPT_CTX:
        if (parse_int(v, 2, 1 << 20, &o->ctx)) return BAD("--ctx: '%s' is not a whole number from 2 to 1048576", v);
        break;
    case OPT_RAW: o->raw = true; break;
    case OPT_PIECES: o->pieces = true; break;
    case OPT_TOKENIZER: o->bench_tokenizer = true; break;
    case OPT_PROMPT_TOKENS:
        if (parse_int(v, 1, 1 << 20, &o->prompt_tokens)) return BAD("--prompt-tokens: '%s' is not a whole number from 1 to 1048576", v);
        break;
    case OPT_HELP: case OPT_VERSION: break;
    }
    return 0;
}

static const opt_spec *find_long(const char *name, size_t len) {
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(OPTIONS[i].long_name) == len && !strncmp(OPTIONS[i].long_name, name, len))
            return &OPTIONS[i];
    return NULL;
}

static const opt_spec *find_short(char c) {
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (OPTIONS[i].short_name == c) return &OPTIONS[i];
    return NULL;
}

int bc_options_parse(int argc, char **argv, bc_options *o, char *why, size_t why_len) {
    memset(o, 0, sizeof *o);
    o->n_predict = BC_UNSET_INT;
    o->top_k = BC_UNSET_INT;
    o->temperature = NAN;
    o->top_p = NAN;
    o->repeat_penalty = NAN;
    o->positional = calloc((size_t)argc + 1, sizeof *o->positional);
    if (!o->positional) return BAD("out of memory");

    int i = 1;
    if (i < argc && argv[i][0] != '-') {
        size_t k;
        for (k = 1; k < N_MODES; k++)
            if (!strcmp(argv[i], MODES[k].name)) break;
        if (k == N_MODES)
            return BAD("unknown subcommand '%s' (try: run, replay, bench, perplexity, tokenize)", argv[i]);
        o->mode = MODES[k].mode;
        i++;
    }
    bool only_positional = false;
    for (; i < argc; i++) {
        char *a = argv[i];
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            o->positional[o->positional_count++] = a;
            continue;
        }
        if (!strcmp(a, "--")) { only_positional = true; continue; }
        const opt_spec *sp;
        const char *value = NULL;
        char shown[64];
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            sp = find_long(a + 2, len);
            if (eq) value = eq + 1;
            snprintf(shown, sizeof shown, "--%.*s", (int)len, a + 2);
            if (!sp) return BAD("unknown option %s (see --help)", shown);
            if (!sp->arg && value) return BAD("%s takes no value", shown);
        } else {
            sp = find_short(a[1]);
            snprintf(shown, sizeof shown, "-%c", a[1]);
            if (!sp) return BAD("unknown option %s (see --help)", shown);
            if (a[2]) {
                if (!sp->arg) return BAD("%s takes no value", shown);
                value = a + 2;
            }
        }
        if (sp->id == OPT_HELP) { print_help(o->mode); return 1; }
        if (sp->id == OPT_VERSION) { print_version(); return 1; }
        if (!(sp->modes & M(o->mode)))
            return BAD("option %s does not apply to '%s' (see --help)", shown, bc_mode_name(o->mode));
        if (sp->arg && !value) {
            if (i + 1 >= argc) return BAD("option %s needs a value (%s)", shown, sp->arg);
            value = argv[++i];
        }
        int rc = apply(o, sp, value, why, why_len);
        if (rc) return rc;
    }

    switch (o->mode) {
    case BC_MODE_REPLAY:
        if (o->positional_count != 1) return BAD("replay needs exactly one SCRIPT");
        /* The comparison is one Markdown report; --format picks a transcript's. */
        if (o->matrix && o->format && strcmp(o->format, "md"))
            return BAD("--format %s does not apply to --matrix (its report is Markdown)", o->format);
        break;
    case BC_MODE_PERPLEXITY:
        if (!o->file) return BAD("perplexity needs -f FILE");
        if (o->positional_count) return BAD("perplexity takes no positional arguments");
        break;
    case BC_MODE_TOKENIZE:
        if (o->file && o->positional_count) return BAD("tokenize takes -f FILE or TEXT, not both");
        break;
    case BC_MODE_BENCH:
        if (o->positional_count) return BAD("bench takes no positional arguments");
        if (o->bench_tokenizer && !o->file) return BAD("bench --tokenizer needs -f FILE");
        if (o->bench_tokenizer && (o->n_predict != BC_UNSET_INT || o->prompt_tokens || o->quant ||
                                   o->backend || o->threads))
            return BAD("bench --tokenizer measures the tokenizer only: -p, -n, --quant, --backend "
                       "and --threads do not apply");
        if (!o->bench_tokenizer && o->file) return BAD("bench -f FILE goes with --tokenizer (the model bench uses a fixed pseudo-random prompt: -p T sets its length)");
        break;
    case BC_MODE_RUN:
        /* the system prompt is part of the chat template --raw leaves out */
        if (o->raw && o->system) return BAD("--system does not apply with --raw (the text is fed as is)");
        break;
    case BC_MODE_DEFAULT:
        break;
    }
    return 0;
}
