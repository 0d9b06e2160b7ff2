/* bc_options: the command line, parsed once into one struct that every mode
 * (TUI, run, replay, bench, perplexity, tokenize) reads. Numeric options that
 * were not given are marked "unset" so that config and model defaults can
 * fill them in later (built-in < config file < -c FILE < command line). */
#ifndef BC_OPTIONS_H
#define BC_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum bc_mode {
    BC_MODE_DEFAULT = 0, /* TUI on a terminal, else like run */
    BC_MODE_RUN,
    BC_MODE_REPLAY,
    BC_MODE_BENCH,
    BC_MODE_PERPLEXITY,
    BC_MODE_TOKENIZE,
} bc_mode;

#define BC_UNSET_INT (-1)

typedef struct bc_options {
    bc_mode mode;
    const char *model;        /* -m: DIR, HF id, preset name or "demo"; NULL = config/default */
    const char *backend;      /* --backend auto|cpu|cuda; NULL = config */
    const char *quant;        /* --quant auto|f32|bf16|f16|int8|nf4; NULL = config */
    const char *config_file;  /* -c FILE */
    const char *system;       /* --system TEXT */
    const char *file;         /* -f FILE (tokenize, perplexity, bench --tokenizer) */
    const char *session;      /* --session NAME|FILE (TUI) */
    const char *output;       /* -o FILE (replay) */
    const char *format;       /* --format md|yaml|jsonl (replay) */
    const char *replay;       /* --replay SCRIPT (TUI plays a script visibly) */
    const char *matrix;       /* --matrix KEY=V1,V2 (replay: one run per value) */
    const char *theme;        /* --theme NAME */
    int n_predict;            /* -n: max new tokens; BC_UNSET_INT */
    float temperature;        /* --temp; NAN = unset */
    int top_k;                /* --top-k; BC_UNSET_INT */
    float top_p;              /* --top-p; NAN = unset */
    float repeat_penalty;     /* --repeat-penalty; NAN = unset */
    uint64_t seed;            /* --seed */
    bool seed_set;
    int threads;              /* --threads; 0 = cores */
    int ctx;                  /* --ctx (perplexity window); 0 = model_max_length */
    int prompt_tokens;        /* bench -p: prompt length in tokens; 0 = 512 */
    bool raw;                 /* --raw: no chat template */
    bool pieces;              /* tokenize --pieces */
    bool bench_tokenizer;     /* bench --tokenizer */
    int positional_count;     /* PROMPT / SCRIPT / TEXT words */
    char **positional;
} bc_options;

/* Parses argv. Returns 0 on success; 1 when help or version was printed (exit
 * 0); 2 on bad usage, with a one-line reason in `why`. Help and version go to
 * stdout here because that is what the user asked for. */
int bc_options_parse(int argc, char **argv, bc_options *o, char *why, size_t why_len);

const char *bc_mode_name(bc_mode m);

#endif
