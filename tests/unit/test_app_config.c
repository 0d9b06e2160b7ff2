/* bc_app_config: the shipped config/baichuan-chat.yaml equals the built-in
 * defaults; good and bad files; layering defaults < user file < -c < options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bc_test.h"
#include "config.h"
#include "options.h"

static bool same_str(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_float(float a, float b) {
    return (isnan(a) && isnan(b)) || a == b;
}

/* Number of fields (presets included) where a and b differ; *first names
 * the first one. */
static int config_diffs(const bc_app_config *a, const bc_app_config *b, const char **first) {
    int n = 0;
    *first = "";
#define DIFF(cond, name)              \
    if (!(cond)) {                    \
        if (n++ == 0) *first = name;  \
    }
    DIFF(same_str(a->model, b->model), "model");
    DIFF(same_str(a->backend, b->backend), "backend");
    DIFF(same_str(a->quant, b->quant), "quant");
    DIFF(a->threads == b->threads, "threads");
    DIFF(same_float(a->generation.temperature, b->generation.temperature), "temperature");
    DIFF(a->generation.top_k == b->generation.top_k, "top_k");
    DIFF(same_float(a->generation.top_p, b->generation.top_p), "top_p");
    DIFF(same_float(a->generation.repetition_penalty, b->generation.repetition_penalty),
         "repetition_penalty");
    DIFF(a->generation.max_new_tokens == b->generation.max_new_tokens, "max_new_tokens");
    DIFF(a->generation.seed_set == b->generation.seed_set &&
             (!a->generation.seed_set || a->generation.seed == b->generation.seed),
         "seed");
    DIFF(same_str(a->system, b->system), "system");
    DIFF(same_str(a->theme, b->theme), "theme");
    DIFF(a->ui.history_pane == b->ui.history_pane, "ui.history_pane");
    DIFF(a->ui.ascii_borders == b->ui.ascii_borders, "ui.ascii_borders");
    DIFF(a->ui.mouse == b->ui.mouse, "ui.mouse");
    DIFF(same_str(a->paths.sessions, b->paths.sessions), "paths.sessions");
    DIFF(same_str(a->paths.history, b->paths.history), "paths.history");
    DIFF(a->n_presets == b->n_presets, "presets");
    for (size_t i = 0; i < a->n_presets && i < b->n_presets; i++) {
        const bc_preset *p = &a->presets[i], *q = &b->presets[i];
        DIFF(same_str(p->name, q->name) && same_str(p->model, q->model) &&
                 same_str(p->backend, q->backend) && same_str(p->quant, q->quant) &&
                 p->threads == q->threads,
             "a preset");
    }
#undef DIFF
    return n;
}
#define N_SCALAR_FIELDS 17 /* all fields above but presets */
#define N_NULL_DEFAULTS 9  /* generation.* (6), system, paths.* (2): null by default */

static bool config_equal(const bc_app_config *a, const bc_app_config *b, const char **diff) {
    return config_diffs(a, b, diff) == 0;
}

/* A config where every field differs from the defaults, so applying the
 * shipped file over it shows that the file sets every key. */
static const char *const SCRAMBLE =
    "model: other\nbackend: cuda\nquant: nf4\nthreads: 7\n"
    "generation: {temperature: 1.5, top_k: 9, top_p: 0.5, repetition_penalty: 1.2,"
    " max_new_tokens: 9, seed: 9}\n"
    "system: be brief\ntheme: mono\n"
    "ui: {history_pane: false, ascii_borders: true, mouse: true}\n"
    "paths: {sessions: /s, history: /h}\n";

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[65536];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void check_shipped_file(void) {
    const char *src = getenv("BC_SOURCE_DIR");
    char path[2048];
    snprintf(path, sizeof path, "%s/config/baichuan-chat.yaml", src ? src : ".");
    size_t len;
    char *text = read_all(path, &len);
    CHECK(text != NULL, "read %s", path);
    if (!text) return;
    bc_app_config def, c;
    bc_error err = {""};
    bc_app_config_defaults(&def);
    bc_app_config_defaults(&c);
    int rc = bc_app_config_apply_text(&c, "scramble", SCRAMBLE, strlen(SCRAMBLE), &err);
    const char *diff;
    /* Every field must start different, or the check below could miss a key
     * that the shipped file forgets to set. */
    int n_diff = config_diffs(&c, &def, &diff);
    CHECK(rc == 0 && n_diff == N_SCALAR_FIELDS, "scramble differs from the defaults in all %d fields (%d; %s)",
          N_SCALAR_FIELDS, n_diff, err.msg);
    rc = bc_app_config_apply_text(&c, path, text, len, &err);
    CHECK(rc == 0, "shipped file parses (%s)", err.msg);
    /* null means "not set here", so over the scramble the file restores every
     * key it sets to a value, and exactly the keys whose default is "unset"
     * keep the scramble's values. */
    n_diff = config_diffs(&c, &def, &diff);
    CHECK(n_diff == N_NULL_DEFAULTS, "shipped file sets every key that has a value to the built-in "
          "default (%d keys differ, want the %d null ones; first: %s)", n_diff, N_NULL_DEFAULTS,
          diff);
    static const char *const nulls[N_NULL_DEFAULTS] = {
        "temperature: null", "top_k: null", "top_p: null", "repetition_penalty: null",
        "max_new_tokens: null", "seed: null", "system: null", "sessions: null", "history: null"};
    for (int i = 0; i < N_NULL_DEFAULTS; i++)
        CHECK(strstr(text, nulls[i]) != NULL, "shipped file documents \"%s\"", nulls[i]);
    bc_app_config_free(&c);
    bc_app_config_defaults(&c);
    rc = bc_app_config_apply_text(&c, path, text, len, &err);
    CHECK(rc == 0 && config_equal(&c, &def, &diff),
          "shipped file over the defaults == built-in defaults (first difference: %s)", diff);
    CHECK(c.warnings == NULL, "shipped file has no unknown keys (%s)", c.warnings ? c.warnings : "");
    bc_app_config_free(&c);
    bc_app_config_free(&def);
}

static int apply(bc_app_config *c, const char *text, bc_error *err) {
    bc_error_clear(err);
    return bc_app_config_apply_text(c, "t.yaml", text, strlen(text), err);
}

/* "t.yaml:L:C: " of the first occurrence of needle (1-based). */
static void pos_of(const char *text, const char *needle, char *out, size_t cap) {
    const char *at = strstr(text, needle);
    int line = 1, col = 1;
    for (const char *p = text; at && p < at; p++) {
        if (*p == '\n') line++, col = 1;
        else col++;
    }
    snprintf(out, cap, "t.yaml:%d:%d: ", line, col);
}

static void check_good_file(void) {
    const char *text =
        "# a user's file\n"
        "model: baichuan-inc/Baichuan2-13B-Chat\n"
        "backend: cpu\n"
        "quant: bf16\n"
        "threads: 6\n"
        "presets:\n"
        "  7b: {model: baichuan-inc/Baichuan2-7B-Chat, backend: cuda, quant: nf4, threads: 2}\n"
        "  local:\n"
        "    model: /models/b2\n"
        "generation:\n"
        "  temperature: 0\n"
        "  top_k: 40\n"
        "  top_p: 0.9\n"
        "  repetition_penalty: 1.1\n"
        "  max_new_tokens: 512\n"
        "  seed: 18446744073709551615\n"
        "system: \"You are terse.\"\n"
        "theme: light\n"
        "ui: {history_pane: false, ascii_borders: true, mouse: true}\n"
        "paths:\n"
        "  sessions: ~/chats\n"
        "  history: /var/tmp/h\n";
    setenv("HOME", "/home/tester", 1);
    bc_app_config c;
    bc_error err;
    bc_app_config_defaults(&c);
    CHECK(apply(&c, text, &err) == 0, "good file parses (%s)", err.msg);
    CHECK(strcmp(c.model, "baichuan-inc/Baichuan2-13B-Chat") == 0 && strcmp(c.backend, "cpu") == 0 &&
              strcmp(c.quant, "bf16") == 0 && c.threads == 6,
          "model/backend/quant/threads");
    CHECK(c.generation.temperature == 0.0f && c.generation.top_k == 40 &&
              c.generation.top_p == 0.9f && c.generation.repetition_penalty == 1.1f &&
              c.generation.max_new_tokens == 512 && c.generation.seed_set &&
              c.generation.seed == UINT64_MAX,
          "generation values (seed up to 2^64-1)");
    CHECK(strcmp(c.system, "You are terse.") == 0 && strcmp(c.theme, "light") == 0, "system, theme");
    CHECK(!c.ui.history_pane && c.ui.ascii_borders && c.ui.mouse, "ui flags");
    CHECK(strcmp(c.paths.sessions, "/home/tester/chats") == 0 &&
              strcmp(c.paths.history, "/var/tmp/h") == 0,
          "paths, ~/ expanded (%s)", c.paths.sessions);
    const bc_preset *p = bc_app_config_preset(&c, "7b");
    CHECK(c.n_presets == 2 && p && strcmp(p->model, "baichuan-inc/Baichuan2-7B-Chat") == 0 &&
              strcmp(p->backend, "cuda") == 0 && strcmp(p->quant, "nf4") == 0 && p->threads == 2,
          "preset 7b");
    p = bc_app_config_preset(&c, "local");
    CHECK(p && strcmp(p->model, "/models/b2") == 0 && !p->backend && !p->quant && p->threads == -1,
          "preset with only a model leaves the rest unset");
    CHECK(c.warnings == NULL, "no warnings");

    /* A later layer: null is "not set here" (the value below stays), "" clears
     * the system prompt, a same-named preset is replaced. */
    const char *later = "generation: {temperature: null, seed: null}\nsystem: \"\"\n"
                        "presets: {local: {model: /elsewhere}}\n";
    CHECK(apply(&c, later, &err) == 0 && c.generation.temperature == 0.0f &&
              c.generation.seed_set && c.generation.seed == UINT64_MAX && c.system &&
              !*c.system && c.n_presets == 2 &&
              strcmp(bc_app_config_preset(&c, "local")->model, "/elsewhere") == 0 &&
              c.generation.top_k == 40,
          "null keeps the value below; \"\" clears the system prompt; presets merge by name; "
          "other keys stay (%s)", err.msg);
    CHECK(apply(&c, "", &err) == 0 && apply(&c, "# only a comment\n", &err) == 0,
          "empty files are fine");
    bc_app_config_free(&c);
}

/* `text` must fail with a message starting at the position of `at` and
 * naming `key`; the config must stay as it was. */
static void expect_error(const char *text, const char *at, const char *key, const char *what) {
    bc_app_config c, before;
    bc_error err;
    bc_app_config_defaults(&c);
    bc_app_config_defaults(&before);
    int rc = apply(&c, text, &err);
    char want[64];
    pos_of(text, at, want, sizeof want);
    const char *diff;
    CHECK(rc != 0 && strncmp(err.msg, want, strlen(want)) == 0 && strstr(err.msg, key) &&
              config_equal(&c, &before, &diff),
          "%s -> %s", what, err.msg);
    bc_app_config_free(&c);
    bc_app_config_free(&before);
}

static void check_errors(void) {
    expect_error("threads: \"4\"\n", "\"4\"", "threads", "threads as a string");
    expect_error("threads: -1\n", "-1", "threads", "negative threads");
    expect_error("backend: gpu\n", "gpu", "backend", "unknown backend");
    expect_error("quant: q4_0\n", "q4_0", "quant", "unknown quant");
    expect_error("ui:\n  mouse: yes\n", "yes", "ui.mouse", "yes is not a boolean");
    expect_error("generation:\n  top_p: 2\n", "2", "generation.top_p", "top_p above 1");
    expect_error("generation:\n  seed: -1\n", "-1", "generation.seed", "negative seed");
    expect_error("generation:\n  repetition_penalty: 0\n", "0", "generation.repetition_penalty",
                 "zero penalty");
    expect_error("generation: 5\n", "5", "generation", "a section that is not a mapping");
    expect_error("model: \"\"\n", "\"\"", "model", "empty model");
    expect_error("theme: \"\"\n", "\"\"", "theme", "empty theme");
    expect_error("presets:\n  x: {model: \"\"}\n", "\"\"", "presets.x.model",
                 "a preset with an empty model");
    expect_error("presets:\n  x: cpu\n", "cpu", "presets.x", "a preset that is not a mapping");
    expect_error("presets:\n  x: {backend: cpu}\n", "{", "presets.x", "a preset without model");
    expect_error("presets:\n  x: {model: m, quant: q3}\n", "q3", "presets.x.quant",
                 "a preset with a bad quant");
}

/* null, ~ and an empty value are "not set here" for every key (the reference
 * file's promise): over a layer that set everything, nothing changes and
 * nothing is reported. */
static void check_nulls(void) {
    const char *nulls =
        "model: null\nbackend: ~\nquant:\nthreads: null\ntheme:\nsystem: null\n"
        "presets: null\n"
        "generation: {temperature: null, top_k: ~, top_p: null, repetition_penalty: null,"
        " max_new_tokens: null, seed: null}\n"
        "ui: {history_pane: null, ascii_borders: ~, mouse: }\n"
        "paths: {sessions: null, history: }\n";
    bc_app_config c, before;
    bc_error err;
    const char *diff;
    bc_app_config_defaults(&c);
    apply(&c, SCRAMBLE, &err);
    bc_app_config_defaults(&before);
    apply(&before, SCRAMBLE, &err);
    int rc = apply(&c, nulls, &err);
    CHECK(rc == 0 && config_equal(&c, &before, &diff) && !c.warnings,
          "null / ~ / empty leave every key as the layer below set it (%s%s)", err.msg, diff);
    bc_app_config_free(&c);
    bc_app_config_defaults(&c);
    rc = apply(&c, "model:\ntheme: null\n", &err);
    CHECK(rc == 0 && strcmp(c.model, "demo") == 0 && strcmp(c.theme, "dark") == 0,
          "model:/theme: null over the defaults keep demo/dark (%s)", err.msg);
    CHECK(apply(&c, "presets: {p: {model: m, backend: null, quant: ~, threads: }}\n", &err) == 0 &&
              bc_app_config_preset(&c, "p") && !bc_app_config_preset(&c, "p")->backend &&
              !bc_app_config_preset(&c, "p")->quant && bc_app_config_preset(&c, "p")->threads == -1,
          "null preset fields are unset (%s)", err.msg);
    bc_app_config_free(&c);
    bc_app_config_free(&before);
}

/* One wrong key costs only itself: the others apply, each wrong one is
 * reported on a line of its own with its position. */
static void check_partial(void) {
    const char *text = "model: /m/13b\n"
                       "threads: \"4\"\n"
                       "theme: light\n"
                       "generation: {top_k: 5, top_p: 2, repetition_penalty: 0}\n"
                       "presets:\n"
                       "  bad: {model: x, quant: q3}\n"
                       "  good: {model: y}\n"
                       "ui: {mouse: yes, ascii_borders: true}\n";
    bc_app_config c;
    bc_error err;
    bc_app_config_defaults(&c);
    c.generation.repetition_penalty = 1.5f;
    int rc = apply(&c, text, &err);
    char p1[64], p2[64], p3[64], p4[64], p5[64];
    pos_of(text, "\"4\"", p1, sizeof p1);
    pos_of(text, "2,", p2, sizeof p2);
    pos_of(text, "0}", p3, sizeof p3);
    pos_of(text, "q3", p4, sizeof p4);
    pos_of(text, "yes", p5, sizeof p5);
    int lines = 1;
    for (const char *q = err.msg; *q; q++) lines += *q == '\n';
    CHECK(rc != 0 && lines == 5 && strstr(err.msg, p1) && strstr(err.msg, "threads") &&
              strstr(err.msg, p2) && strstr(err.msg, "generation.top_p") && strstr(err.msg, p3) &&
              strstr(err.msg, "generation.repetition_penalty") && strstr(err.msg, p4) &&
              strstr(err.msg, "presets.bad.quant") && strstr(err.msg, p5) &&
              strstr(err.msg, "ui.mouse"),
          "each wrong key reported with its position, one per line:\n# %s", err.msg);
    CHECK(strcmp(c.model, "/m/13b") == 0 && strcmp(c.theme, "light") == 0 &&
              c.generation.top_k == 5 && c.ui.ascii_borders && bc_app_config_preset(&c, "good"),
          "the right keys around them apply (model %s, theme %s)", c.model, c.theme);
    CHECK(c.threads == 0 && isnan(c.generation.top_p) && c.generation.repetition_penalty == 1.5f &&
              !c.ui.mouse && !bc_app_config_preset(&c, "bad"),
          "the wrong keys keep their values; a wrong preset is left out whole");
    bc_app_config_free(&c);
}

/* "~/" is $HOME in every key that takes a path, as in /theme and /model. */
static void check_home(void) {
    setenv("HOME", "/home/tester", 1);
    bc_app_config c;
    bc_error err;
    bc_app_config_defaults(&c);
    int rc = apply(&c, "theme: ~/t.yaml\nmodel: ~/models/b2\npresets: {p: {model: ~/m}}\n"
                       "paths: {sessions: ~/s, history: ~/h}\n", &err);
    const bc_preset *p = bc_app_config_preset(&c, "p");
    CHECK(rc == 0 && strcmp(c.theme, "/home/tester/t.yaml") == 0 &&
              strcmp(c.model, "/home/tester/models/b2") == 0 && p &&
              strcmp(p->model, "/home/tester/m") == 0 &&
              strcmp(c.paths.sessions, "/home/tester/s") == 0 &&
              strcmp(c.paths.history, "/home/tester/h") == 0,
          "~/ expanded in theme (%s), model (%s), a preset's model and paths", c.theme, c.model);
    CHECK(apply(&c, "theme: high-contrast\nmodel: baichuan-inc/Baichuan2-7B-Chat\n", &err) == 0 &&
              strcmp(c.theme, "high-contrast") == 0 &&
              strcmp(c.model, "baichuan-inc/Baichuan2-7B-Chat") == 0,
          "names without ~/ are kept as written");
    bc_app_config_free(&c);
}

static void check_syntax_positions(void) {
    bc_app_config c, before;
    bc_error err;
    const char *diff;
    bc_app_config_defaults(&c);
    bc_app_config_defaults(&before);
    CHECK(apply(&c, "model: x\ntheme: [dark\n", &err) != 0 && strstr(err.msg, "t.yaml:3:") &&
              strstr(err.msg, "not valid") && config_equal(&c, &before, &diff),
          "an unclosed list is reported where the text ends; nothing applied: %s", err.msg);
    CHECK(apply(&c, "model: x\n\ttheme: dark\n", &err) != 0 && strstr(err.msg, "t.yaml:2:"),
          "a tab in indentation is reported on line 2: %s", err.msg);
    CHECK(apply(&c, "model: x\n  theme: dark\n", &err) != 0 && strstr(err.msg, "t.yaml:2:"),
          "bad indentation is reported on line 2: %s", err.msg);
    CHECK(apply(&c, "- a\n- b\n", &err) != 0 && strstr(err.msg, "mapping"),
          "a list at the top is refused: %s", err.msg);
    bc_app_config_free(&c);
    bc_app_config_free(&before);
}

static void check_warnings(void) {
    const char *text = "colour: red\n"
                       "ui:\n  mouse: true\n  blink: true\n"
                       "presets:\n  fast: {model: m, colour: blue}\n"
                       "generation: {temprature: 0.5}\n";
    bc_app_config c;
    bc_error err;
    bc_app_config_defaults(&c);
    int rc = apply(&c, text, &err);
    char p1[64], p2[64], p3[64], p4[64];
    pos_of(text, "colour: red", p1, sizeof p1);
    pos_of(text, "blink", p2, sizeof p2);
    pos_of(text, "colour: blue", p3, sizeof p3);
    pos_of(text, "temprature", p4, sizeof p4);
    const char *w = c.warnings ? c.warnings : "";
    CHECK(rc == 0 && c.ui.mouse && bc_app_config_preset(&c, "fast"),
          "unknown keys do not stop the file (%s)", err.msg);
    CHECK(strstr(w, p1) && strstr(w, "\"colour\""), "top-level unknown key warned at %s", p1);
    CHECK(strstr(w, p2) && strstr(w, "\"ui.blink\""), "unknown ui key warned at %s", p2);
    CHECK(strstr(w, p3) && strstr(w, "\"presets.fast.colour\""),
          "unknown preset field warned at %s", p3);
    CHECK(strstr(w, p4) && strstr(w, "\"generation.temprature\""), "misspelt key warned at %s",
          p4);
    for (const char *line = w; *line;) {
        size_t n = strcspn(line, "\n");
        printf("# warning: %.*s\n", (int)n, line);
        line += n + (line[n] == '\n');
    }
    bc_app_config_free(&c);
}

/* ---- layering ------------------------------------------------------------- */

static char tmp[] = "/tmp/bc_app_config_XXXXXX";

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int parse_args(bc_options *o, int argc, const char **argv) {
    char why[256];
    return bc_options_parse(argc, (char **)argv, o, why, sizeof why);
}

static void check_layers(void) {
    if (!mkdtemp(tmp)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char dir[256], user[300], extra[300];
    snprintf(dir, sizeof dir, "%s/baichuan-chat", tmp);
    mkdir(dir, 0755);
    snprintf(user, sizeof user, "%s/config.yaml", dir);
    snprintf(extra, sizeof extra, "%s/extra.yaml", tmp);
    setenv("XDG_CONFIG_HOME", tmp, 1);
    write_file(user, "theme: light\nthreads: 3\ngeneration: {temperature: 0.5, top_k: 7}\n"
                     "presets: {7b: {model: /m/7b, backend: cpu, quant: bf16, threads: 2}}\n");
    write_file(extra, "threads: 5\ngeneration: {top_k: 11}\n");

    char *path = bc_app_config_user_path();
    CHECK(path && strcmp(path, user) == 0, "user config path from XDG_CONFIG_HOME: %s", path);
    free(path);

    const char *argv1[] = {"baichuan-chat", "-c", extra, "--temp", "0.9"};
    bc_options o;
    CHECK(parse_args(&o, 5, argv1) == 0, "options parse");
    bc_app_config c;
    bc_error err;
    int rc = bc_app_config_load(&c, &o, &err);
    CHECK(rc == 0, "load (%s)", err.msg);
    CHECK(strcmp(c.theme, "light") == 0, "user file beats defaults (theme %s)", c.theme);
    CHECK(c.threads == 5 && c.generation.top_k == 11, "-c FILE beats the user file (threads %d)",
          c.threads);
    CHECK(c.generation.temperature == 0.9f, "the command line beats -c FILE (temp %g)",
          c.generation.temperature);
    CHECK(strcmp(c.model, "demo") == 0 && strcmp(c.backend, "auto") == 0,
          "untouched keys keep the defaults");
    bc_app_config_free(&c);
    free(o.positional);

    /* -m PRESET: the preset fills model/backend/quant/threads; an explicit
     * --quant still wins. */
    const char *argv2[] = {"baichuan-chat", "-m", "7b", "--quant", "int8"};
    CHECK(parse_args(&o, 5, argv2) == 0, "options parse");
    rc = bc_app_config_load(&c, &o, &err);
    CHECK(rc == 0 && strcmp(c.model, "/m/7b") == 0 && strcmp(c.backend, "cpu") == 0 &&
              strcmp(c.quant, "int8") == 0 && c.threads == 2 && c.preset_used &&
              strcmp(c.preset_used, "7b") == 0,
          "preset expanded, --quant wins (model %s backend %s quant %s threads %d)", c.model,
          c.backend, c.quant, c.threads);
    bc_app_config_free(&c);
    free(o.positional);

    /* A preset whose model is another preset takes that one's settings (its
     * own win) and model, also across layers; a loop is an error. */
    write_file(extra, "threads: 5\ngeneration: {top_k: 11}\n"
                      "presets:\n  alias: {model: small, quant: int8}\n"
                      "  small: {model: 7b, threads: 4}\n"
                      "  loop1: {model: loop2}\n  loop2: {model: loop1}\n  self: {model: self}\n");
    const char *argv5[] = {"baichuan-chat", "-c", extra, "-m", "alias"};
    CHECK(parse_args(&o, 5, argv5) == 0, "options parse");
    rc = bc_app_config_load(&c, &o, &err);
    const bc_preset *self = bc_app_config_preset(&c, "self");
    CHECK(strcmp(c.model, "/m/7b") == 0 && strcmp(c.backend, "cpu") == 0 &&
              strcmp(c.quant, "int8") == 0 && c.threads == 4 && c.preset_used &&
              strcmp(c.preset_used, "alias") == 0,
          "-m alias -> small -> 7b (a preset of the user file): model %s backend %s quant %s "
          "threads %d", c.model, c.backend, c.quant, c.threads);
    CHECK(bc_app_config_preset(&c, "alias") &&
              strcmp(bc_app_config_preset(&c, "alias")->model, "/m/7b") == 0,
          "the preset itself ends at the model, as /model alias sees it");
    CHECK(rc != 0 && strstr(err.msg, "presets.loop1.model") && strstr(err.msg, "loops") &&
              !c.config_file_failed && self && strcmp(self->model, "self") == 0,
          "a loop of presets is reported (and is not an error of the file); a preset naming "
          "itself names a directory: %s", err.msg);
    bc_app_config_free(&c);
    free(o.positional);

    /* A broken user file: its message comes back, the other layers apply. */
    write_file(user, "theme: light\nthreads: [\n");
    const char *argv3[] = {"baichuan-chat", "-c", extra, "--top-p", "0.7"};
    CHECK(parse_args(&o, 5, argv3) == 0, "options parse");
    rc = bc_app_config_load(&c, &o, &err);
    CHECK(rc != 0 && strstr(err.msg, user) && strstr(err.msg, ":3:"),
          "broken user file reported with its path and line: %s", err.msg);
    CHECK(strcmp(c.theme, "dark") == 0 && c.threads == 5 && c.generation.top_p == 0.7f &&
              !c.config_file_failed,
          "the broken file is skipped whole; -c and options still apply");
    bc_app_config_free(&c);
    free(o.positional);

    /* A missing -c FILE is an error; a missing user file is not. */
    unlink(user);
    const char *argv4[] = {"baichuan-chat", "-c", "/nonexistent/x.yaml"};
    CHECK(parse_args(&o, 3, argv4) == 0, "options parse");
    rc = bc_app_config_load(&c, &o, &err);
    CHECK(rc != 0 && strstr(err.msg, "/nonexistent/x.yaml") && strcmp(c.model, "demo") == 0 &&
              c.config_file_failed,
          "missing -c file: %s", err.msg);
    bc_app_config_free(&c);
    free(o.positional);
    write_file(extra, "threads: 5\nbackend: gpu\n");
    const char *argv6[] = {"baichuan-chat", "-c", extra};
    CHECK(parse_args(&o, 3, argv6) == 0, "options parse");
    rc = bc_app_config_load(&c, &o, &err);
    CHECK(rc != 0 && c.config_file_failed && c.threads == 5 && strstr(err.msg, "backend"),
          "a wrong key in -c FILE marks the -c layer as failed; its right keys apply: %s",
          err.msg);
    bc_app_config_free(&c);
    free(o.positional);

    unsetenv("XDG_CONFIG_HOME");
    setenv("HOME", "/home/u", 1);
    path = bc_app_config_user_path();
    CHECK(path && strcmp(path, "/home/u/.config/baichuan-chat/config.yaml") == 0,
          "without XDG_CONFIG_HOME: ~/.config (%s)", path);
    free(path);
    unlink(extra);
    rmdir(dir);
    rmdir(tmp);
}

static void check_sampling(void) {
    bc_app_config c;
    bc_error err;
    bc_generation_config model;
    bc_generation_config_defaults(&model);
    bc_app_config_defaults(&c);
    bc_sampling s;
    bc_app_config_sampling(&c, &model, 77, &s);
    CHECK(s.temperature == model.temperature && s.top_k == model.top_k && s.top_p == model.top_p &&
              s.repetition_penalty == model.repetition_penalty &&
              s.max_new_tokens == model.max_new_tokens && s.seed == 77,
          "defaults defer to the model's generation config and the fresh seed");
    apply(&c, "generation: {top_k: 0, seed: 5, max_new_tokens: 100}\n", &err);
    model.do_sample = false;
    bc_app_config_sampling(&c, &model, 77, &s);
    CHECK(s.top_k == 0 && s.seed == 5 && s.max_new_tokens == 100 && s.temperature == 0.0f &&
              s.top_p == model.top_p,
          "configured values win; do_sample false means greedy");
    apply(&c, "generation: {temperature: 0.8}\n", &err);
    bc_app_config_sampling(&c, &model, 77, &s);
    CHECK(s.temperature == 0.8f, "a configured temperature wins over do_sample false");
    bc_app_config_free(&c);
}

int main(void) {
    check_sampling();
    check_shipped_file();
    check_good_file();
    check_errors();
    check_nulls();
    check_partial();
    check_home();
    check_syntax_positions();
    check_warnings();
    check_layers();
    return bc_test_done();
}
