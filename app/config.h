/* bc_app_config: the application's settings (YAML, read with libyaml).
 *
 * Layers, each overriding the one before (DESIGN.md "App"):
 *   built-in defaults (== config/baichuan-chat.yaml, checked by a test)
 *   < $XDG_CONFIG_HOME/baichuan-chat/config.yaml (~/.config/... when unset)
 *   < -c FILE
 *   < command-line options.
 * A file that is not valid YAML is skipped as a whole; in a valid file each
 * key applies on its own, and a key with a wrong value keeps what the layers
 * below gave it. Either way the messages ("FILE:LINE:COL: KEY: what is
 * wrong", one per line) are returned, so the program can start anyway and
 * show them. Unknown keys are warnings, not errors. In a file, `null` or an
 * empty value means "not set here" for every key: the layers below decide.
 *
 * "Unset" values defer to something else: NAN / -1 generation values take
 * the model's generation_config.json, NULL paths the XDG directories, a NULL
 * system prompt means none. A leading "~/" in model, theme, a preset's model
 * and paths.* is $HOME. */
#ifndef BC_APP_CONFIG_H
#define BC_APP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bc_error.h"
#include "model_config.h"
#include "options.h"
#include "sampler.h"

/* A config.yaml larger than this is refused unread. */
#define BC_APP_CONFIG_MAX_BYTES (1u << 20)

typedef struct bc_preset {
    char *name;
    char *model;   /* NULL = not set by the preset */
    char *backend; /* NULL = not set */
    char *quant;   /* NULL = not set */
    int threads;   /* -1 = not set; 0 = all cores */
} bc_preset;

typedef struct bc_app_generation {
    float temperature;        /* NAN = the model's; 0 = greedy */
    int top_k;                /* -1 = the model's; 0 = off */
    float top_p;              /* NAN = the model's; 1 = off */
    float repetition_penalty; /* NAN = the model's; 1 = off */
    int max_new_tokens;       /* -1 = the model's */
    uint64_t seed;            /* meaningful when seed_set */
    bool seed_set;            /* false = a fresh seed each run */
} bc_app_generation;

typedef struct bc_app_config {
    char *model;   /* DIR, ORG/NAME, preset name or "demo" (never NULL) */
    char *backend; /* "auto" | "cpu" | "cuda" */
    char *quant;   /* "auto" | "f32" | "bf16" | "f16" | "int8" | "nf4" */
    int threads;   /* 0 = one per core */
    bc_app_generation generation;
    char *system;  /* system prompt; NULL = none */
    char *theme;   /* theme name or file */
    struct {
        bool history_pane;  /* conversation list beside the chat */
        bool ascii_borders; /* ASCII instead of line-drawing characters */
        bool mouse;         /* capture the mouse */
    } ui;
    struct {
        char *sessions; /* NULL = $XDG_DATA_HOME/baichuan-chat/sessions */
        char *history;  /* NULL = $XDG_STATE_HOME/baichuan-chat/history */
    } paths;
    bc_preset *presets;
    size_t n_presets;
    char *preset_used; /* name of the preset that -m/model expanded, or NULL */
    char *warnings;    /* non-fatal messages, one per line; NULL = none */
    /* Set by bc_app_config_load when the -c FILE layer was missing,
     * unreadable or had an error: the headless modes stop on it, since the
     * user named that file on purpose. */
    bool config_file_failed;
} bc_app_config;

/* The built-in defaults. Free with bc_app_config_free. */
int bc_app_config_defaults(bc_app_config *c);
void bc_app_config_free(bc_app_config *c);

/* Layers one YAML text over c. Returns -1 when the text is not valid YAML
 * (c is left exactly as it was) or when keys had wrong values (those keep
 * their values, the other keys apply; err has one line per wrong key).
 * `name` is used in messages. */
int bc_app_config_apply_text(bc_app_config *c, const char *name, const char *text,
                             size_t len, bc_error *err);
/* Same for a file; a missing file is fine when `optional`. */
int bc_app_config_apply_file(bc_app_config *c, const char *path, bool optional,
                             bc_error *err);

/* Applies the command line: options that were given win. When the resulting
 * model names a preset, the preset's fields are filled in first, so that
 * explicit --backend/--quant/--threads still win over the preset. */
int bc_app_config_apply_options(bc_app_config *c, const bc_options *o, bc_error *err);

/* $XDG_CONFIG_HOME/baichuan-chat/config.yaml (or ~/.config/...), malloc'd;
 * NULL when neither XDG_CONFIG_HOME nor HOME is set. */
char *bc_app_config_user_path(void);
/* "~/x" with $HOME put in for the "~"; other paths as they are. malloc'd,
 * NULL when out of memory. */
char *bc_expand_home(const char *path);

/* The whole stack: defaults < user file < -c FILE < options. c is always
 * usable afterwards. Returns -1 when a layer had an error (err holds the
 * messages, one per line); what was right still applies. After the files,
 * a preset whose model names another preset takes that preset's settings
 * (its own win) and model; a chain of presets that loops is an error. */
int bc_app_config_load(bc_app_config *c, const bc_options *o, bc_error *err);

const bc_preset *bc_app_config_preset(const bc_app_config *c, const char *name);

/* The sampling parameters of a run: each value set in the configuration (or
 * on the command line) wins, the rest come from the model's
 * generation_config.json (`model`). A model with do_sample false samples
 * greedily unless a temperature was set. Without a configured seed,
 * `fresh_seed` is used (e.g. from the clock). */
void bc_app_config_sampling(const bc_app_config *c, const bc_generation_config *model,
                            uint64_t fresh_seed, bc_sampling *out);

#endif
