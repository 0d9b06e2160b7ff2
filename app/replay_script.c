/* Reading replay scripts (YAML) and saved sessions as scripts. */
#include "replay.h"

#define BC_STR_(x) #x
#define BC_STR(x) BC_STR_(x)

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "session.h"
#include "yaml_reader.h"

static const char *const BACKENDS[] = {"auto", "cpu", "cuda", NULL};
static const char *const QUANTS[] = {"auto", "f32", "bf16", "f16", "int8", "nf4", NULL};

bool bc_replay_command_allowed(bc_command_id id) {
    switch (id) {
    case BC_CMD_NEW: case BC_CMD_SYSTEM: case BC_CMD_SET: case BC_CMD_MODEL: case BC_CMD_QUANT:
    case BC_CMD_BACKEND: case BC_CMD_REGEN: case BC_CMD_UNDO: case BC_CMD_SAVE: case BC_CMD_EXPORT:
    case BC_CMD_STATS: case BC_CMD_RENAME: case BC_CMD_QUIT:
        return true;
    case BC_CMD_HELP: case BC_CMD_EDIT: case BC_CMD_COPY: case BC_CMD_THEME: case BC_CMD_CLEAR:
    case BC_CMD_HISTORY:
        return false; /* they act on the screen or the clipboard */
    }
    return false;
}

static bc_replay_script *script_new(const char *name) {
    bc_replay_script *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return NULL;
    }
    s->threads = -1;
    s->generation = (bc_app_generation){NAN, -1, NAN, NAN, -1, 0, false};
    return s;
}

void bc_replay_script_free(bc_replay_script *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_steps; i++) {
        bc_replay_step *st = &s->steps[i];
        free(st->text);
        free(st->expect.contains);
        if (st->expect.regex) regfree(&st->expect.compiled);
        free(st->expect.regex);
    }
    free(s->steps);
    free(s->name);
    free(s->model);
    free(s->backend);
    free(s->quant);
    free(s->system);
    free(s);
}

static int oom(bc_error *err, const char *name) { return bc_errorf(err, "%s: out of memory", name); }

static int dup_into(char **dst, const char *v, const char *name, bc_error *err) {
    free(*dst);
    *dst = strdup(v);
    return *dst ? 0 : oom(err, name);
}

static bc_replay_step *add_step(bc_replay_script *s, bc_replay_step_kind kind, const yaml_node_t *n) {
    bc_replay_step *v = realloc(s->steps, (s->n_steps + 1) * sizeof *v);
    if (!v) return NULL;
    s->steps = v;
    bc_replay_step *st = &v[s->n_steps++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->expect.max_tokens = -1;
    st->line = n ? (int)n->start_mark.line + 1 : 0;
    st->column = n ? (int)n->start_mark.column + 1 : 0;
    return st;
}

/* A string value that must be one of `words`. */
static int get_choice(bc_yaml *y, const yaml_node_t *v, const char *key, const char *const *words,
                      const char *shown, char **out, bc_error *err) {
    const char *text;
    if (bc_yaml_get_string(y, v, key, &text, err)) return -1;
    for (const char *const *w = words; *w; w++)
        if (!strcmp(*w, text)) return dup_into(out, text, y->name, err);
    return bc_yaml_errorf(y, v, key, err, "'%s' is not one of %s", text, shown);
}

static int parse_generation(bc_yaml *y, yaml_node_t *map, bc_app_generation *g, bc_error *err) {
    if (bc_yaml_kind_of(map) != BC_YAML_MAP)
        return bc_yaml_errorf(y, map, "generation", err, "expected a mapping, got %s",
                              bc_yaml_kind_name(bc_yaml_kind_of(map)));
    for (size_t i = 0; i < bc_yaml_map_size(map); i++) {
        yaml_node_t *kn, *v;
        const char *k = bc_yaml_map_key(y, map, i, &kn, &v);
        int rc;
        if (!k) rc = bc_yaml_errorf(y, kn, "generation", err, "keys must be plain words");
        else if (!strcmp(k, "temperature")) rc = bc_yaml_get_float(y, v, k, 0, 100, &g->temperature, err);
        else if (!strcmp(k, "top_k")) rc = bc_yaml_get_int(y, v, k, 0, 1000000000, &g->top_k, err);
        else if (!strcmp(k, "top_p")) rc = bc_yaml_get_float(y, v, k, 0, 1, &g->top_p, err);
        else if (!strcmp(k, "repetition_penalty"))
            rc = bc_yaml_get_float(y, v, k, 0.01, 100, &g->repetition_penalty, err);
        else if (!strcmp(k, "max_new_tokens"))
            rc = bc_yaml_get_int(y, v, k, 1, 1 << 20, &g->max_new_tokens, err);
        else
            rc = bc_yaml_errorf(y, kn, "generation", err, "unknown key '%s' (temperature, top_k, "
                                "top_p, repetition_penalty, max_new_tokens)", k);
        if (rc) return -1;
    }
    return 0;
}


/* NULL when regcomp can compile `re` in bounded memory, else why not (see
 * BC_REPLAY_REGEX_*): stacked repetition operators ("a++", "a*{2}") and large
 * or many counted repetitions multiply the compiled tree. */
static const char *regex_too_costly(const char *re) {
    if (strlen(re) > BC_REPLAY_REGEX_MAX_BYTES)
        return "longer than " BC_STR(BC_REPLAY_REGEX_MAX_BYTES) " bytes";
    int counted = 0, group_plus = 0;
    bool after_repeat = false;   /* the previous token was *, +, ? or {m,n} */
    bool after_group = false;    /* the previous character closed a group */
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1]) { p++; after_repeat = after_group = false; continue; }
        if (*p == '[') {         /* a bracket expression: skip to its end */
            const char *q = p + 1;
            if (*q == '^') q++;
            if (*q == ']') q++;
            while (*q && *q != ']') q++;
            if (!*q) return NULL;    /* unterminated: regcomp reports it */
            p = q;
            after_repeat = after_group = false;
            continue;
        }
        bool repeat = *p == '*' || *p == '+' || *p == '?' || *p == '{';
        if (repeat && after_repeat) return "stacked repetition operators (e.g. \"a++\")";
        if ((*p == '+' || *p == '{') && after_group &&
            ++group_plus > BC_REPLAY_REGEX_MAX_GROUP_PLUS)
            return "more than " BC_STR(BC_REPLAY_REGEX_MAX_GROUP_PLUS) " repeated groups \"(...)+\"";
        after_group = *p == ')';
        if (*p == '{') {
            char *end;
            long m = strtol(p + 1, &end, 10), n = m;
            if (*end == ',') n = end[1] == '}' ? -1 : strtol(end + 1, &end, 10);
            if (++counted > BC_REPLAY_REGEX_MAX_COUNTED)
                return "more than " BC_STR(BC_REPLAY_REGEX_MAX_COUNTED) " counted repetitions {m,n}";
            if (m > BC_REPLAY_REGEX_MAX_COUNT || n > BC_REPLAY_REGEX_MAX_COUNT)
                return "a counted repetition {m,n} above " BC_STR(BC_REPLAY_REGEX_MAX_COUNT);
            const char *close = strchr(p, '}');
            if (close) p = close;
        }
        after_repeat = repeat;
    }
    return NULL;
}

static int parse_expect(bc_yaml *y, yaml_node_t *map, bc_replay_step *st, bc_error *err) {
    if (bc_yaml_kind_of(map) != BC_YAML_MAP || bc_yaml_map_size(map) == 0)
        return bc_yaml_errorf(y, map, "expect", err, "expected a mapping with contains, regex "
                              "and/or max_tokens");
    for (size_t i = 0; i < bc_yaml_map_size(map); i++) {
        yaml_node_t *kn, *v;
        const char *k = bc_yaml_map_key(y, map, i, &kn, &v);
        const char *text;
        if (k && !strcmp(k, "contains")) {
            if (bc_yaml_get_string(y, v, k, &text, err) || dup_into(&st->expect.contains, text, y->name, err))
                return -1;
        } else if (k && !strcmp(k, "regex")) {
            if (bc_yaml_get_string(y, v, k, &text, err)) return -1;
            if (st->expect.regex) return bc_yaml_errorf(y, kn, "expect", err, "regex given twice");
            const char *why_not = regex_too_costly(text);
            if (why_not) return bc_yaml_errorf(y, v, "regex", err, "%s", why_not);
            int rc = regcomp(&st->expect.compiled, text, REG_EXTENDED | REG_NOSUB);
            if (rc) {
                char why[256];
                regerror(rc, &st->expect.compiled, why, sizeof why);
                return bc_yaml_errorf(y, v, "regex", err, "not a POSIX extended regular "
                                      "expression: %s", why);
            }
            if (!(st->expect.regex = strdup(text))) {
                regfree(&st->expect.compiled);
                return oom(err, y->name);
            }
        } else if (k && !strcmp(k, "max_tokens")) {
            if (bc_yaml_get_int(y, v, k, 0, 1 << 20, &st->expect.max_tokens, err)) return -1;
        } else {
            return bc_yaml_errorf(y, kn, "expect", err, "unknown check '%s' (contains, regex, "
                                  "max_tokens)", k ? k : "?");
        }
    }
    return 0;
}

static int parse_command(bc_yaml *y, yaml_node_t *v, bc_replay_step *st, bc_error *err) {
    const char *text;
    if (bc_yaml_get_string(y, v, "command", &text, err)) return -1;
    bc_command c;
    bc_error why;
    bc_error_clear(&why);
    if (bc_command_parse(text, &c, &why))
        return bc_yaml_errorf(y, v, "command", err, "%s", why.msg);
    if (!bc_replay_command_allowed(c.spec->id))
        return bc_yaml_errorf(y, v, "command", err, "/%s acts on the screen; it has no meaning "
                              "in a replay", c.spec->name);
    return dup_into(&st->text, text, y->name, err);
}

static int parse_steps(bc_yaml *y, yaml_node_t *seq, bc_replay_script *s, bc_error *err) {
    if (bc_yaml_kind_of(seq) != BC_YAML_SEQ)
        return bc_yaml_errorf(y, seq, "steps", err, "expected a list, got %s",
                              bc_yaml_kind_name(bc_yaml_kind_of(seq)));
    bool have_user = false;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(&y->doc, *it);
        if (s->n_steps >= BC_REPLAY_MAX_STEPS)
            return bc_yaml_errorf(y, item, "steps", err, "more than %d steps", BC_REPLAY_MAX_STEPS);
        if (bc_yaml_kind_of(item) != BC_YAML_MAP || bc_yaml_map_size(item) != 1)
            return bc_yaml_errorf(y, item, "steps", err, "each step is one of  user: TEXT  |  "
                                  "command: /NAME ARGS  |  expect: {...}");
        yaml_node_t *kn, *v;
        const char *k = bc_yaml_map_key(y, item, 0, &kn, &v);
        bc_replay_step_kind kind;
        if (k && !strcmp(k, "user")) kind = BC_STEP_USER;
        else if (k && !strcmp(k, "command")) kind = BC_STEP_COMMAND;
        else if (k && !strcmp(k, "expect")) kind = BC_STEP_EXPECT;
        else return bc_yaml_errorf(y, kn, "steps", err, "unknown step '%s' (user, command, expect)",
                                   k ? k : "?");
        bc_replay_step *st = add_step(s, kind, v);
        if (!st) return oom(err, y->name);
        const char *text;
        switch (kind) {
        case BC_STEP_USER:
            if (bc_yaml_get_string(y, v, "user", &text, err) || dup_into(&st->text, text, y->name, err))
                return -1;
            have_user = true;
            break;
        case BC_STEP_COMMAND:
            if (parse_command(y, v, st, err)) return -1;
            break;
        case BC_STEP_EXPECT:
            if (!have_user)
                return bc_yaml_errorf(y, v, "expect", err, "there is no reply to check yet "
                                      "(an expect follows a user step)");
            if (parse_expect(y, v, st, err)) return -1;
            break;
        }
    }
    if (s->n_steps == 0) return bc_yaml_errorf(y, seq, "steps", err, "the list is empty");
    return 0;
}

static int parse_top_key(bc_yaml *y, const char *k, yaml_node_t *kn, yaml_node_t *v,
                         bc_replay_script *s, bc_error *err) {
    const char *text;
    if (!k) return bc_yaml_errorf(y, kn, NULL, err, "keys must be plain words");
    if (!strcmp(k, "model"))
        return bc_yaml_get_string(y, v, k, &text, err) || dup_into(&s->model, text, y->name, err) ? -1 : 0;
    if (!strcmp(k, "backend")) return get_choice(y, v, k, BACKENDS, "auto, cpu, cuda", &s->backend, err);
    if (!strcmp(k, "quant"))
        return get_choice(y, v, k, QUANTS, "auto, f32, bf16, f16, int8, nf4", &s->quant, err);
    if (!strcmp(k, "threads")) return bc_yaml_get_int(y, v, k, 0, 1024, &s->threads, err);
    if (!strcmp(k, "seed")) {
        unsigned long long seed;
        if (bc_yaml_get_u64(y, v, k, &seed, err)) return -1;
        s->generation.seed = seed;
        s->generation.seed_set = true;
        return 0;
    }
    if (!strcmp(k, "generation")) return parse_generation(y, v, &s->generation, err);
    if (!strcmp(k, "system"))
        return bc_yaml_get_string(y, v, k, &text, err) || dup_into(&s->system, text, y->name, err) ? -1 : 0;
    if (!strcmp(k, "steps")) return parse_steps(y, v, s, err);
    return bc_yaml_errorf(y, kn, NULL, err, "unknown key '%s' (model, backend, quant, threads, seed, "
                          "generation, system, steps)", k);
}

static int parse_root(bc_yaml *y, bc_replay_script *s, bc_error *err) {
    yaml_node_t *root = bc_yaml_root(y);
    yaml_node_t *steps = NULL;
    for (size_t i = 0; i < bc_yaml_map_size(root); i++) {
        yaml_node_t *kn, *v;
        const char *k = bc_yaml_map_key(y, root, i, &kn, &v);
        if (parse_top_key(y, k, kn, v, s, err)) return -1;
        if (k && !strcmp(k, "steps")) steps = v;
    }
    if (!steps)
        return bc_yaml_errorf(y, yaml_document_get_root_node(&y->doc), NULL, err,
                              "'steps' is missing (a list of user / command / expect steps)");
    return 0;
}

int bc_replay_script_parse(const char *name, const char *text, size_t len, bc_replay_script **out,
                           bc_error *err) {
    *out = NULL;
    if (len > BC_REPLAY_MAX_BYTES)
        return bc_errorf(err, "%s:1:1: the script is %zu bytes; a script may have at most %d",
                         name, len, BC_REPLAY_MAX_BYTES);
    bc_yaml y;
    if (bc_yaml_load(&y, name, text, len, false, err)) return -1;
    bc_replay_script *s = script_new(name);
    int rc = s ? parse_root(&y, s, err) : oom(err, name);
    bc_yaml_free(&y);
    if (rc) {
        bc_replay_script_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* A saved session: its system prompt and user turns, in order. */
static int script_from_session(const char *path, bc_replay_script **out, bc_error *err) {
    bc_session *ses;
    if (bc_session_load(path, &ses, err)) return -1;
    bc_replay_script *s = script_new(path);
    int rc = s ? 0 : oom(err, path);
    for (size_t i = 0; !rc && i < ses->n; i++) {
        const bc_session_msg *m = &ses->msgs[i];
        if (m->role == BC_ROLE_SYSTEM && i == 0) {
            rc = dup_into(&s->system, m->content, path, err);
        } else if (m->role == BC_ROLE_USER) {
            bc_replay_step *st = s->n_steps < BC_REPLAY_MAX_STEPS ? add_step(s, BC_STEP_USER, NULL) : NULL;
            rc = st ? dup_into(&st->text, m->content, path, err)
                    : bc_errorf(err, "%s: more than %d user turns", path, BC_REPLAY_MAX_STEPS);
        }
    }
    if (!rc && s->n_steps == 0) rc = bc_errorf(err, "%s:1:1: the session has no user turn to replay", path);
    bc_session_free(ses);
    if (rc) {
        bc_replay_script_free(s);
        return -1;
    }
    s->from_session = true;
    *out = s;
    return 0;
}

/* A session file is a mapping with a 'messages' list (and no 'steps'). */
static bool looks_like_session(const char *name, const char *text, size_t len) {
    bc_yaml y;
    bc_error ignored;
    if (bc_yaml_load(&y, name, text, len, false, &ignored)) return false;
    yaml_node_t *root = bc_yaml_root(&y);
    bool messages = false, steps = false;
    for (size_t i = 0; i < bc_yaml_map_size(root); i++) {
        const char *k = bc_yaml_map_key(&y, root, i, NULL, NULL);
        messages |= k && !strcmp(k, "messages");
        steps |= k && !strcmp(k, "steps");
    }
    bc_yaml_free(&y);
    return messages && !steps;
}

int bc_replay_script_load(const char *path, bc_replay_script **out, bc_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return bc_errorf(err, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > BC_REPLAY_MAX_BYTES)
        return bc_errorf(err, "%s:1:1: the script is %lld bytes; a script may have at most %d",
                         path, (long long)st.st_size, BC_REPLAY_MAX_BYTES);
    char *text;
    size_t len;
    if (bc_yaml_read_file(path, BC_REPLAY_MAX_BYTES, &text, &len, err)) return -1;
    int rc = looks_like_session(path, text, len) ? script_from_session(path, out, err)
                                                 : bc_replay_script_parse(path, text, len, out, err);
    free(text);
    return rc;
}
