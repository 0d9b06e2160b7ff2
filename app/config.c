/* Application settings: defaults, YAML layers and the command line
 * (config.h). Each YAML layer is applied to a copy that replaces the
 * current settings only when the whole file was valid, so one typo never
 * leaves half a file applied. */
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

static int preset_copy(bc_preset *dst, const bc_preset *src) {
    memset(dst, 0, sizeof *dst);
    dst->threads = src->threads;
    if (set_string(&dst->name, src->name) || set_string(&dst->model, src->model) ||
        set_string(&dst->backend, src->backend) || set_string(&dst->quant, src->quant)) {
        preset_free(dst);
        return -1;
    }
    return 0;
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

static int config_copy(bc_app_config *dst, const bc_app_config *src) {
    memset(dst, 0, sizeof *dst);
    dst->threads = src->threads;
    dst->generation = src->generation;
    dst->ui.history_pane = src->ui.history_pane;
    dst->ui.ascii_borders = src->ui.ascii_borders;
    dst->ui.mouse = src->ui.mouse;
    int rc = set_string(&dst->model, src->model) | set_string(&dst->backend, src->backend) |
             set_string(&dst->quant, src->quant) | set_string(&dst->system, src->system) |
             set_string(&dst->theme, src->theme) |
             set_string(&dst->paths.sessions, src->paths.sessions) |
             set_string(&dst->paths.history, src->paths.history) |
             set_string(&dst->preset_used, src->preset_used) |
             set_string(&dst->warnings, src->warnings);
    if (rc == 0 && src->n_presets) {
        dst->presets = calloc(src->n_presets, sizeof *dst->presets);
        if (!dst->presets) rc = -1;
        for (size_t i = 0; rc == 0 && i < src->n_presets; i++, dst->n_presets++)
            rc = preset_copy(&dst->presets[i], &src->presets[i]);
    }
    if (rc != 0) bc_app_config_free(dst);
    return rc;
}

/* ---- typed values --------------------------------------------------------- */

typedef struct parse_ctx {
    bc_yaml *y;
    bc_app_config *c;
    bc_error *err;
} parse_ctx;

static int oom(parse_ctx *p) {
    return bc_errorf(p->err, "%s: out of memory", p->y->name);
}

static int get_choice(parse_ctx *p, const yaml_node_t *v, const char *key,
                      const char *const *choices, char **field) {
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

/* A string that may be null (= unset). */
static int get_nullable_string(parse_ctx *p, const yaml_node_t *v, const char *key,
                               char **field) {
    if (bc_yaml_kind_of(v) == BC_YAML_NULL) {
        free(*field);
        *field = NULL;
        return 0;
    }
    const char *s;
    if (bc_yaml_get_string(p->y, v, key, &s, p->err) != 0) return -1;
    return set_string(field, s) ? oom(p) : 0;
}

static int get_nonempty_string(parse_ctx *p, const yaml_node_t *v, const char *key,
                               char **field) {
    const char *s;
    if (bc_yaml_get_string(p->y, v, key, &s, p->err) != 0) return -1;
    if (!*s) return bc_yaml_errorf(p->y, v, key, p->err, "must not be empty");
    return set_string(field, s) ? oom(p) : 0;
}

static int get_path(parse_ctx *p, const yaml_node_t *v, const char *key, char **field) {
    if (get_nullable_string(p, v, key, field) != 0) return -1;
    if (!*field) return 0;
    char *expanded = bc_expand_home(*field);
    if (!expanded) return oom(p);
    free(*field);
    *field = expanded;
    return 0;
}

static bool is_null(const yaml_node_t *v) {
    return bc_yaml_kind_of(v) == BC_YAML_NULL;
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
    if (strcmp(key, "temperature") == 0) {
        if (is_null(v)) return g->temperature = NAN, 0;
        return bc_yaml_get_float(p->y, v, path, 0.0, 100.0, &g->temperature, p->err);
    }
    if (strcmp(key, "top_k") == 0) {
        if (is_null(v)) return g->top_k = -1, 0;
        return bc_yaml_get_int(p->y, v, path, 0, 1 << 24, &g->top_k, p->err);
    }
    if (strcmp(key, "top_p") == 0) {
        if (is_null(v)) return g->top_p = NAN, 0;
        return bc_yaml_get_float(p->y, v, path, 0.0, 1.0, &g->top_p, p->err);
    }
    if (strcmp(key, "repetition_penalty") == 0) {
        if (is_null(v)) return g->repetition_penalty = NAN, 0;
        if (bc_yaml_get_float(p->y, v, path, 0.0, 100.0, &g->repetition_penalty, p->err) != 0)
            return -1;
        if (!(g->repetition_penalty > 0.0f))
            return bc_yaml_errorf(p->y, v, path, p->err, "must be greater than 0");
        return 0;
    }
    if (strcmp(key, "max_new_tokens") == 0) {
        if (is_null(v)) return g->max_new_tokens = -1, 0;
        return bc_yaml_get_int(p->y, v, path, 1, 1 << 22, &g->max_new_tokens, p->err);
    }
    if (strcmp(key, "seed") == 0) {
        if (is_null(v)) return g->seed_set = false, 0;
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
    if (strcmp(key, "history_pane") == 0)
        return bc_yaml_get_bool(p->y, v, path, &p->c->ui.history_pane, p->err);
    if (strcmp(key, "ascii_borders") == 0)
        return bc_yaml_get_bool(p->y, v, path, &p->c->ui.ascii_borders, p->err);
    if (strcmp(key, "mouse") == 0)
        return bc_yaml_get_bool(p->y, v, path, &p->c->ui.mouse, p->err);
    unknown_key(p, k, "ui", key);
    return 0;
}

static int parse_paths_key(parse_ctx *p, const char *key, const yaml_node_t *v,
                           const yaml_node_t *k) {
    char path[64];
    snprintf(path, sizeof path, "paths.%.40s", key);
    if (strcmp(key, "sessions") == 0) return get_path(p, v, path, &p->c->paths.sessions);
    if (strcmp(key, "history") == 0) return get_path(p, v, path, &p->c->paths.history);
    unknown_key(p, k, "paths", key);
    return 0;
}

typedef int (*section_fn)(parse_ctx *, const char *, const yaml_node_t *, const yaml_node_t *);

static int parse_section(parse_ctx *p, const yaml_node_t *map, const char *name,
                         section_fn fn) {
    if (need_map(p, map, name) != 0) return -1;
    for (size_t i = 0, n = bc_yaml_map_size(map); i < n; i++) {
        yaml_node_t *k, *v;
        const char *key = bc_yaml_map_key(p->y, map, i, &k, &v);
        if (!key) {
            unknown_key(p, k, name, NULL);
            continue;
        }
        if (fn(p, key, v, k) != 0) return -1;
    }
    return 0;
}

/* One preset: {model, backend, quant, threads}; model is required since
 * -m NAME must end up at a model. */
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
            rc = get_nonempty_string(p, v, field, &out->model);
        else if (key && strcmp(key, "backend") == 0)
            rc = get_choice(p, v, field, BACKENDS, &out->backend);
        else if (key && strcmp(key, "quant") == 0)
            rc = get_choice(p, v, field, QUANTS, &out->quant);
        else if (key && strcmp(key, "threads") == 0)
            rc = bc_yaml_get_int(p->y, v, field, 0, MAX_THREADS, &out->threads, p->err);
        else
            unknown_key(p, k, path, key);
        if (rc != 0) return -1;
    }
    if (!out->model)
        return bc_yaml_errorf(p->y, map, path, p->err, "a preset needs a model: key");
    return 0;
}

/* Presets of a later layer replace same-named ones and add new ones. */
static int parse_presets(parse_ctx *p, const yaml_node_t *map) {
    if (need_map(p, map, "presets") != 0) return -1;
    for (size_t i = 0, n = bc_yaml_map_size(map); i < n; i++) {
        yaml_node_t *k, *v;
        const char *name = bc_yaml_map_key(p->y, map, i, &k, &v);
        if (!name || !*name)
            return bc_yaml_errorf(p->y, k, "presets", p->err, "a preset name must be text");
        bc_preset fresh;
        if (parse_preset(p, name, v, &fresh) != 0) {
            preset_free(&fresh);
            return -1;
        }
        bc_app_config *c = p->c;
        size_t at = c->n_presets;
        for (size_t j = 0; j < c->n_presets; j++)
            if (strcmp(c->presets[j].name, name) == 0) at = j;
        if (at == c->n_presets) {
            bc_preset *grown = realloc(c->presets, (c->n_presets + 1) * sizeof *grown);
            if (!grown) {
                preset_free(&fresh);
                return oom(p);
            }
            c->presets = grown;
            c->n_presets++;
        } else {
            preset_free(&c->presets[at]);
        }
        c->presets[at] = fresh;
    }
    return 0;
}

static int parse_top_key(parse_ctx *p, const char *key, const yaml_node_t *v,
                         const yaml_node_t *k) {
    bc_app_config *c = p->c;
    if (strcmp(key, "model") == 0) return get_nonempty_string(p, v, key, &c->model);
    if (strcmp(key, "backend") == 0) return get_choice(p, v, key, BACKENDS, &c->backend);
    if (strcmp(key, "quant") == 0) return get_choice(p, v, key, QUANTS, &c->quant);
    if (strcmp(key, "threads") == 0)
        return bc_yaml_get_int(p->y, v, key, 0, MAX_THREADS, &c->threads, p->err);
    if (strcmp(key, "presets") == 0) return parse_presets(p, v);
    if (strcmp(key, "generation") == 0)
        return parse_section(p, v, "generation", parse_generation_key);
    if (strcmp(key, "system") == 0) return get_nullable_string(p, v, key, &c->system);
    if (strcmp(key, "theme") == 0) return get_nonempty_string(p, v, key, &c->theme);
    if (strcmp(key, "ui") == 0) return parse_section(p, v, "ui", parse_ui_key);
    if (strcmp(key, "paths") == 0) return parse_section(p, v, "paths", parse_paths_key);
    unknown_key(p, k, NULL, key);
    return 0;
}

/* ---- layers --------------------------------------------------------------- */

int bc_app_config_apply_text(bc_app_config *c, const char *name, const char *text,
                             size_t len, bc_error *err) {
    bc_yaml y;
    if (bc_yaml_load(&y, name, text, len, true, err) != 0) return -1;
    bc_app_config next;
    if (config_copy(&next, c) != 0) {
        bc_yaml_free(&y);
        return bc_errorf(err, "%s: out of memory", name);
    }
    parse_ctx p = {&y, &next, err};
    yaml_node_t *root = bc_yaml_root(&y);
    int rc = 0;
    for (size_t i = 0, n = bc_yaml_map_size(root); i < n && rc == 0; i++) {
        yaml_node_t *k, *v;
        const char *key = bc_yaml_map_key(&y, root, i, &k, &v);
        if (key)
            rc = parse_top_key(&p, key, v, k);
        else
            unknown_key(&p, k, NULL, NULL);
    }
    bc_yaml_free(&y);
    if (rc != 0) {
        bc_app_config_free(&next);
        return -1;
    }
    bc_app_config_free(c);
    *c = next;
    return 0;
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

const bc_preset *bc_app_config_preset(const bc_app_config *c, const char *name) {
    for (size_t i = 0; name && i < c->n_presets; i++)
        if (strcmp(c->presets[i].name, name) == 0) return &c->presets[i];
    return NULL;
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

/* Adds one layer's message to the combined report. */
static void collect(bc_error *all, const bc_error *one) {
    if (!all) return;
    size_t used = strlen(all->msg);
    snprintf(all->msg + used, sizeof all->msg - used, "%s%s", used ? "\n" : "", one->msg);
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
        rc = -1;
    }
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
