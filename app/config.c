/* Application settings: defaults, YAML layers and the command line
 * (config.h). A layer that is not valid YAML changes nothing; in a valid one
 * every key is applied on its own, so a wrong value costs only that key (it
 * keeps the value of the layers below) and the message names it. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_reader.h"

#define MAX_THREADS 4096
#define WARNINGS_MAX 8192 /* a file full of unknown keys must not grow this forever */

static const char *const BACKENDS[] = {"auto", "cpu", "cuda", NULL};
static const char *const QUANTS[] = {"auto", "f32", "bf16", "f16", "int8", "nf4", NULL};

/* ---- small helpers -------------------------------------------------------- */

/* Replaces *field with a copy of v (NULL clears it). */
static int set_string(char **field, const char *v) {
    char *copy = NULL;
    if (v && !(copy = strdup(v))) return -1;
    free(*field);
    *field = copy;
    return 0;
}

static void add_warning(bc_app_config *c, const char *fmt, ...) BC_PRINTF(2, 3);
static void add_warning(bc_app_config *c, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t old = c->warnings ? strlen(c->warnings) : 0, add = strlen(line);
    if (old + add + 2 > WARNINGS_MAX) return;
    char *w = realloc(c->warnings, old + add + 2);
    if (!w) return;
    memcpy(w + old, line, add);
    w[old + add] = '\n';
    w[old + add + 1] = '\0';
    c->warnings = w;
}

/* "~/x" -> "$HOME/x"; anything else as written. malloc'd. */
char *bc_expand_home(const char *path) {
    const char *home = getenv("HOME");
    if (path[0] != '~' || path[1] != '/' || !home || !*home) return strdup(path);
    size_t n = strlen(home) + strlen(path);
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s%s", home, path + 1);
    return out;
}

static void preset_free(bc_preset *p) {
    free(p->name);
    free(p->model);
    free(p->backend);
    free(p->quant);
    memset(p, 0, sizeof *p);
}

/* ---- lifecycle ------------------------------------------------------------ */

void bc_app_config_free(bc_app_config *c) {
    free(c->model);
    free(c->backend);
    free(c->quant);
    free(c->system);
    free(c->theme);
    free(c->paths.sessions);
    free(c->paths.history);
    for (size_t i = 0; i < c->n_presets; i++) preset_free(&c->presets[i]);
    free(c->presets);
    free(c->preset_used);
    free(c->warnings);
    memset(c, 0, sizeof *c);
}

/* Must equal config/baichuan-chat.yaml (tests/unit/test_app_config.c). */
int bc_app_config_defaults(bc_app_config *c) {
    memset(c, 0, sizeof *c);
    c->threads = 0;
    c->generation.temperature = NAN;
    c->generation.top_k = -1;
    c->generation.top_p = NAN;
    c->generation.repetition_penalty = NAN;
    c->generation.max_new_tokens = -1;
    c->generation.seed_set = false;
    c->ui.history_pane = true;
    c->ui.ascii_borders = false;
    c->ui.mouse = false;
    if (set_string(&c->model, "demo") || set_string(&c->backend, "auto") ||
        set_string(&c->quant, "auto") || set_string(&c->theme, "dark")) {
        bc_app_config_free(c);
        return -1;
    }
    return 0;
}

/* ---- typed values --------------------------------------------------------- */

/* The failing key's message goes to `err`; record() copies it to `all`, so
 * one wrong key does not stop the keys after it. */
typedef struct parse_ctx {
    bc_yaml *y;
    bc_app_config *c;
    bc_error *err; /* the message of the key that just failed */
    bc_error *all; /* every failed key's message, one per line */
    int n_errors;
} parse_ctx;

/* Appends a line to a report of several messages (cut when full). */
static void append_line(bc_error *all, const char *line) {
    size_t used = strlen(all->msg), room = sizeof all->msg - used;
    if (room < 2) return;
    if (used) all->msg[used++] = '\n', room--;
    size_t n = strlen(line);
    if (n >= room) n = room - 1;
    memcpy(all->msg + used, line, n);
    all->msg[used + n] = '\0';
}

static void record(parse_ctx *p) {
    append_line(p->all, p->err->msg);
    p->n_errors++;
}

static int oom(parse_ctx *p) {
    return bc_errorf(p->err, "%s: out of memory", p->y->name);
}

/* The reference file promises that `null` (or nothing after the colon) means
 * "not set here" for every key: the layers below decide. Getters return 0
 * without touching the field then. */
static bool is_null(const yaml_node_t *v) {
    return bc_yaml_kind_of(v) == BC_YAML_NULL;
}

static int get_choice(parse_ctx *p, const yaml_node_t *v, const char *key,
                      const char *const *choices, char **field) {
    if (is_null(v)) return 0;
    const char *s;
    if (bc_yaml_get_string(p->y, v, key, &s, p->err) != 0) return -1;
    for (const char *const *c = choices; *c; c++)
        if (strcmp(s, *c) == 0) return set_string(field, s) ? oom(p) : 0;
    char list[128] = "";
    for (const char *const *c = choices; *c; c++) {
        strncat(list, *c, sizeof list - strlen(list) - 1);
        if (c[1]) strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    return bc_yaml_errorf(p->y, v, key, p->err, "\"%.40s\" is not one of %s", s, list);
}

static int get_string(parse_ctx *p, const yaml_node_t *v, const char *key, char **field) {
    if (is_null(v)) return 0;
    const char *s;
    if (bc_yaml_get_string(p->y, v, key, &s, p->err) != 0) return -1;
    return set_string(field, s) ? oom(p) : 0;
}

/* A file or directory (or a name looked up elsewhere): "~/" is $HOME, as in
 * /theme, /model and /save. `nonempty`: "" is refused, since no lookup
 * could succeed with it. */
static int get_path(parse_ctx *p, const yaml_node_t *v, const char *key, bool nonempty,
                    char **field) {
    if (is_null(v)) return 0;
    const char *s;
    if (bc_yaml_get_string(p->y, v, key, &s, p->err) != 0) return -1;
    if (nonempty && !*s) return bc_yaml_errorf(p->y, v, key, p->err, "must not be empty");
    char *expanded = bc_expand_home(s);
    if (!expanded) return oom(p);
    free(*field);
    *field = expanded;
    return 0;
}

static int get_int(parse_ctx *p, const yaml_node_t *v, const char *key, long long min,
                   long long max, int *field) {
    return is_null(v) ? 0 : bc_yaml_get_int(p->y, v, key, min, max, field, p->err);
}

static int get_float(parse_ctx *p, const yaml_node_t *v, const char *key, double min,
                     double max, float *field) {
    return is_null(v) ? 0 : bc_yaml_get_float(p->y, v, key, min, max, field, p->err);
}

static int get_bool(parse_ctx *p, const yaml_node_t *v, const char *key, bool *field) {
    return is_null(v) ? 0 : bc_yaml_get_bool(p->y, v, key, field, p->err);
}

/* A mapping section ("generation:", "ui:", ...). null leaves it alone. */
static int need_map(parse_ctx *p, const yaml_node_t *v, const char *key) {
    bc_yaml_kind k = bc_yaml_kind_of(v);
    if (k == BC_YAML_MAP || k == BC_YAML_NULL) return 0;
    return bc_yaml_errorf(p->y, v, key, p->err, "expected a mapping (key: value lines), got %s",
                          bc_yaml_kind_name(k));
}

static void unknown_key(parse_ctx *p, const yaml_node_t *k, const char *section,
                        const char *key) {
    add_warning(p->c, "%s:%zu:%zu: unknown key \"%s%s%.60s\" (ignored)", p->y->name,
                k ? k->start_mark.line + 1 : 1, k ? k->start_mark.column + 1 : 1,
                section ? section : "", section ? "." : "", key ? key : "?");
}

/* ---- sections ------------------------------------------------------------- */

static int parse_generation_key(parse_ctx *p, const char *key, const yaml_node_t *v,
                                const yaml_node_t *k) {
    bc_app_generation *g = &p->c->generation;
    char path[64];
    snprintf(path, sizeof path, "generation.%.40s", key);
    if (strcmp(key, "temperature") == 0) return get_float(p, v, path, 0.0, 100.0, &g->temperature);
    if (strcmp(key, "top_k") == 0) return get_int(p, v, path, 0, 1 << 24, &g->top_k);
    if (strcmp(key, "top_p") == 0) return get_float(p, v, path, 0.0, 1.0, &g->top_p);
    if (strcmp(key, "repetition_penalty") == 0) {
        float penalty = g->repetition_penalty;
        if (get_float(p, v, path, 0.0, 100.0, &penalty) != 0) return -1;
        if (!is_null(v) && !(penalty > 0.0f))
            return bc_yaml_errorf(p->y, v, path, p->err, "must be greater than 0");
        g->repetition_penalty = penalty;
        return 0;
    }
    if (strcmp(key, "max_new_tokens") == 0)
        return get_int(p, v, path, 1, 1 << 22, &g->max_new_tokens);
    if (strcmp(key, "seed") == 0) {
        if (is_null(v)) return 0;
        unsigned long long seed;
        if (bc_yaml_get_u64(p->y, v, path, &seed, p->err) != 0) return -1;
        g->seed = seed;
        g->seed_set = true;
        return 0;
    }
    unknown_key(p, k, "generation", key);
    return 0;
}

static int parse_ui_key(parse_ctx *p, const char *key, const yaml_node_t *v,
                        const yaml_node_t *k) {
    char path[64];
    snprintf(path, sizeof path, "ui.%.40s", key);
    if (strcmp(key, "history_pane") == 0) return get_bool(p, v, path, &p->c->ui.history_pane);
    if (strcmp(key, "ascii_borders") == 0) return get_bool(p, v, path, &p->c->ui.ascii_borders);
    if (strcmp(key, "mouse") == 0) return get_bool(p, v, path, &p->c->ui.mouse);
    unknown_key(p, k, "ui", key);
    return 0;
}

static int parse_paths_key(parse_ctx *p, const char *key, const yaml_node_t *v,
                           const yaml_node_t *k) {
    char path[64];
    snprintf(path, sizeof path, "paths.%.40s", key);
    if (strcmp(key, "sessions") == 0) return get_path(p, v, path, false, &p->c->paths.sessions);
    if (strcmp(key, "history") == 0) return get_path(p, v, path, false, &p->c->paths.history);
    unknown_key(p, k, "paths", key);
    return 0;
}

typedef int (*section_fn)(parse_ctx *, const char *, const yaml_node_t *, const yaml_node_t *);

/* Each key of the section on its own: a wrong one is recorded, the others
 * still apply. */
static void parse_section(parse_ctx *p, const yaml_node_t *map, const char *name,
                          section_fn fn) {
    if (need_map(p, map, name) != 0) {
        record(p);
        return;
    }
    for (size_t i = 0, n = bc_yaml_map_size(map); i < n; i++) {
        yaml_node_t *k, *v;
        const char *key = bc_yaml_map_key(p->y, map, i, &k, &v);
        if (!key)
            unknown_key(p, k, name, NULL);
        else if (fn(p, key, v, k) != 0)
            record(p);
    }
}

/* One preset: {model, backend, quant, threads}; model is required since
 * -m NAME must end up at a model. A preset is taken whole or not at all:
 * half of one (say, without its quant) would load something else. */
static int parse_preset(parse_ctx *p, const char *name, const yaml_node_t *map,
                        bc_preset *out) {
    memset(out, 0, sizeof *out);
    out->threads = -1;
    char path[128];
    snprintf(path, sizeof path, "presets.%.60s", name);
    if (bc_yaml_kind_of(map) != BC_YAML_MAP)
        return bc_yaml_errorf(p->y, map, path, p->err,
                              "expected a mapping like {model: ..., backend: ...}, got %s",
                              bc_yaml_kind_name(bc_yaml_kind_of(map)));
    if (set_string(&out->name, name)) return oom(p);
    char field[160];
    for (size_t i = 0, n = bc_yaml_map_size(map); i < n; i++) {
        yaml_node_t *k, *v;
        const char *key = bc_yaml_map_key(p->y, map, i, &k, &v);
        snprintf(field, sizeof field, "%s.%.20s", path, key ? key : "?");
        int rc = 0;
        if (key && strcmp(key, "model") == 0)
            rc = get_path(p, v, field, true, &out->model);
        else if (key && strcmp(key, "backend") == 0)
            rc = get_choice(p, v, field, BACKENDS, &out->backend);
        else if (key && strcmp(key, "quant") == 0)
            rc = get_choice(p, v, field, QUANTS, &out->quant);
        else if (key && strcmp(key, "threads") == 0)
            rc = get_int(p, v, field, 0, MAX_THREADS, &out->threads);
        else
            unknown_key(p, k, path, key);
        if (rc != 0) return -1;
    }
    if (!out->model)
        return bc_yaml_errorf(p->y, map, path, p->err, "a preset needs a model: key");
    return 0;
}

/* Stores a parsed preset: a later layer replaces a same-named one. */
static int keep_preset(parse_ctx *p, bc_preset *fresh) {
    bc_app_config *c = p->c;
    size_t at = c->n_presets;
    for (size_t j = 0; j < c->n_presets; j++)
        if (strcmp(c->presets[j].name, fresh->name) == 0) at = j;
    if (at == c->n_presets) {
        bc_preset *grown = realloc(c->presets, (c->n_presets + 1) * sizeof *grown);
        if (!grown) return oom(p);
        c->presets = grown;
        c->n_presets++;
    } else {
        preset_free(&c->presets[at]);
    }
    c->presets[at] = *fresh;
    return 0;
}

/* Presets of a later layer replace same-named ones and add new ones; a wrong
 * preset is recorded and skipped, the others apply. */
static void parse_presets(parse_ctx *p, const yaml_node_t *map) {
    if (need_map(p, map, "presets") != 0) {
        record(p);
        return;
    }
    for (size_t i = 0, n = bc_yaml_map_size(map); i < n; i++) {
        yaml_node_t *k, *v;
        const char *name = bc_yaml_map_key(p->y, map, i, &k, &v);
        bc_preset fresh;
        memset(&fresh, 0, sizeof fresh);
        int rc = !name || !*name
                     ? bc_yaml_errorf(p->y, k, "presets", p->err, "a preset name must be text")
                     : parse_preset(p, name, v, &fresh);
        if (rc == 0) rc = keep_preset(p, &fresh);
        if (rc != 0) {
            preset_free(&fresh);
            record(p);
        }
    }
}

static void parse_top_key(parse_ctx *p, const char *key, const yaml_node_t *v,
                          const yaml_node_t *k) {
    bc_app_config *c = p->c;
    int rc = 0;
    if (strcmp(key, "model") == 0) rc = get_path(p, v, key, true, &c->model);
    else if (strcmp(key, "backend") == 0) rc = get_choice(p, v, key, BACKENDS, &c->backend);
    else if (strcmp(key, "quant") == 0) rc = get_choice(p, v, key, QUANTS, &c->quant);
    else if (strcmp(key, "threads") == 0) rc = get_int(p, v, key, 0, MAX_THREADS, &c->threads);
    else if (strcmp(key, "presets") == 0) parse_presets(p, v);
    else if (strcmp(key, "generation") == 0) parse_section(p, v, key, parse_generation_key);
    else if (strcmp(key, "system") == 0) rc = get_string(p, v, key, &c->system);
    else if (strcmp(key, "theme") == 0) rc = get_path(p, v, key, true, &c->theme);
    else if (strcmp(key, "ui") == 0) parse_section(p, v, key, parse_ui_key);
    else if (strcmp(key, "paths") == 0) parse_section(p, v, key, parse_paths_key);
    else unknown_key(p, k, NULL, key);
    if (rc != 0) record(p);
}

/* ---- layers --------------------------------------------------------------- */

int bc_app_config_apply_text(bc_app_config *c, const char *name, const char *text,
                             size_t len, bc_error *err) {
    bc_yaml y;
    if (bc_yaml_load(&y, name, text, len, true, err) != 0) return -1;
    bc_error one, all;
    bc_error_clear(&one);
    bc_error_clear(&all);
    parse_ctx p = {&y, c, &one, &all, 0};
    yaml_node_t *root = bc_yaml_root(&y);
    for (size_t i = 0, n = bc_yaml_map_size(root); i < n; i++) {
        yaml_node_t *k, *v;
        const char *key = bc_yaml_map_key(&y, root, i, &k, &v);
        if (key)
            parse_top_key(&p, key, v, k);
        else
            unknown_key(&p, k, NULL, NULL);
    }
    bc_yaml_free(&y);
    if (p.n_errors == 0) return 0;
    if (err) *err = all;
    return -1;
}

int bc_app_config_apply_file(bc_app_config *c, const char *path, bool optional,
                             bc_error *err) {
    if (optional) {
        FILE *f = fopen(path, "rb");
        if (!f) return 0;
        fclose(f);
    }
    char *text;
    size_t len;
    if (bc_yaml_read_file(path, BC_APP_CONFIG_MAX_BYTES, &text, &len, err) != 0) return -1;
    int rc = bc_app_config_apply_text(c, path, text, len, err);
    free(text);
    return rc;
}

/* Adds one layer's message to the combined report. */
static void collect(bc_error *all, const bc_error *one) {
    if (all) append_line(all, one->msg);
}

const bc_preset *bc_app_config_preset(const bc_app_config *c, const char *name) {
    for (size_t i = 0; name && i < c->n_presets; i++)
        if (strcmp(c->presets[i].name, name) == 0) return &c->presets[i];
    return NULL;
}

/* A preset whose model names another preset (`alias: {model: small}`) takes
 * that preset's settings, its own winning, and ends at that preset's model:
 * so -m alias, /model alias and a replay script's /model all load what
 * `small` loads. A chain that comes back to a preset already on it is an
 * error (no model at its end); a preset naming itself names a directory. */
static int flatten_preset(bc_app_config *c, bc_preset *pr, bc_error *err) {
    const bc_preset *at = pr, *next;
    size_t hops = 0;
    while ((next = bc_app_config_preset(c, at->model)) && next != at) {
        if (++hops >= c->n_presets)
            return bc_errorf(err, "presets.%.60s.model: \"%.60s\" is a preset whose chain of "
                                  "models loops back; a chain of presets must end at a model",
                             pr->name, pr->model);
        at = next;
    }
    if (at == pr) return 0;
    for (next = bc_app_config_preset(c, pr->model); next;
         next = bc_app_config_preset(c, next->model)) {
        if ((!pr->backend && next->backend && set_string(&pr->backend, next->backend)) ||
            (!pr->quant && next->quant && set_string(&pr->quant, next->quant)))
            return bc_errorf(err, "configuration: out of memory");
        if (pr->threads < 0) pr->threads = next->threads;
        if (next == at) break;
    }
    return set_string(&pr->model, at->model) ? bc_errorf(err, "configuration: out of memory") : 0;
}

static int flatten_presets(bc_app_config *c, bc_error *all) {
    int rc = 0;
    bc_error one;
    for (size_t i = 0; i < c->n_presets; i++)
        if (flatten_preset(c, &c->presets[i], &one) != 0) {
            collect(all, &one);
            rc = -1;
        }
    return rc;
}

static int expand_preset(bc_app_config *c) {
    const bc_preset *pr = bc_app_config_preset(c, c->model);
    if (!pr) return 0;
    if (set_string(&c->preset_used, pr->name)) return -1;
    if (pr->backend && set_string(&c->backend, pr->backend)) return -1;
    if (pr->quant && set_string(&c->quant, pr->quant)) return -1;
    if (pr->threads >= 0) c->threads = pr->threads;
    return set_string(&c->model, pr->model); /* last: pr lives in c->presets, not c->model */
}

int bc_app_config_apply_options(bc_app_config *c, const bc_options *o, bc_error *err) {
    int rc = 0;
    if (o->model) rc |= set_string(&c->model, o->model);
    rc |= expand_preset(c);
    if (o->backend) rc |= set_string(&c->backend, o->backend);
    if (o->quant) rc |= set_string(&c->quant, o->quant);
    if (o->threads > 0) c->threads = o->threads;
    if (o->system) rc |= set_string(&c->system, o->system);
    if (o->theme) rc |= set_string(&c->theme, o->theme);
    bc_app_generation *g = &c->generation;
    if (o->n_predict != BC_UNSET_INT) g->max_new_tokens = o->n_predict;
    if (!isnan(o->temperature)) g->temperature = o->temperature;
    if (o->top_k != BC_UNSET_INT) g->top_k = o->top_k;
    if (!isnan(o->top_p)) g->top_p = o->top_p;
    if (!isnan(o->repeat_penalty)) g->repetition_penalty = o->repeat_penalty;
    if (o->seed_set) {
        g->seed = o->seed;
        g->seed_set = true;
    }
    return rc ? bc_errorf(err, "configuration: out of memory") : 0;
}

char *bc_app_config_user_path(void) {
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    const char *base, *mid;
    /* The XDG spec says a relative XDG_CONFIG_HOME is invalid and ignored. */
    if (xdg && xdg[0] == '/') {
        base = xdg;
        mid = "";
    } else if (home && *home) {
        base = home;
        mid = "/.config";
    } else {
        return NULL;
    }
    const char *tail = "/baichuan-chat/config.yaml";
    size_t n = strlen(base) + strlen(mid) + strlen(tail) + 1;
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s%s%s", base, mid, tail);
    return path;
}

int bc_app_config_load(bc_app_config *c, const bc_options *o, bc_error *err) {
    bc_error_clear(err);
    if (bc_app_config_defaults(c) != 0) return bc_errorf(err, "configuration: out of memory");
    int rc = 0;
    bc_error one;
    char *user = bc_app_config_user_path();
    if (user && bc_app_config_apply_file(c, user, true, &one) != 0) {
        collect(err, &one);
        rc = -1;
    }
    free(user);
    if (o && o->config_file && bc_app_config_apply_file(c, o->config_file, false, &one) != 0) {
        collect(err, &one);
        c->config_file_failed = true;
        rc = -1;
    }
    /* After every file: a preset may name one that a later layer defines. */
    if (flatten_presets(c, err) != 0) rc = -1;
    if (o && bc_app_config_apply_options(c, o, &one) != 0) {
        collect(err, &one);
        rc = -1;
    } else if (!o && expand_preset(c) != 0) {
        rc = bc_errorf(err, "configuration: out of memory");
    }
    return rc;
}

void bc_app_config_sampling(const bc_app_config *c, const bc_generation_config *model,
                            uint64_t fresh_seed, bc_sampling *out) {
    const bc_app_generation *g = &c->generation;
    out->temperature = !isnan(g->temperature) ? g->temperature
                       : model->do_sample     ? model->temperature
                                              : 0.0f;
    out->top_k = g->top_k >= 0 ? g->top_k : model->top_k;
    out->top_p = !isnan(g->top_p) ? g->top_p : model->top_p;
    out->repetition_penalty =
        !isnan(g->repetition_penalty) ? g->repetition_penalty : model->repetition_penalty;
    out->max_new_tokens = g->max_new_tokens > 0 ? g->max_new_tokens : model->max_new_tokens;
    out->seed = g->seed_set ? g->seed : fresh_seed;
}
