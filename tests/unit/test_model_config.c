/* config.json / generation_config.json: the real 13B-Chat files checked
 * against Python's json module, then broken, mistyped and incomplete texts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bc_test.h"
#include "model_config.h"

/* ---- the real files, compared with tests/unit/json_values.py ------------- */

/* Field by field: memcmp would also compare padding bytes. */
static int same_generation(const bc_generation_config *a, const bc_generation_config *b) {
    return a->user_token_id == b->user_token_id &&
           a->assistant_token_id == b->assistant_token_id && a->eos_token_id == b->eos_token_id &&
           a->max_new_tokens == b->max_new_tokens && a->temperature == b->temperature &&
           a->top_k == b->top_k && a->top_p == b->top_p &&
           a->repetition_penalty == b->repetition_penalty && a->do_sample == b->do_sample;
}

typedef struct py_value {
    char key[64];
    char value[256];
} py_value;

/* Runs the Python helper on `path`; returns the number of key/value lines, or
 * -1 when Python is not there. */
static int python_values(const char *path, py_value *out, int cap) {
    const char *src = getenv("BC_SOURCE_DIR");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/unit/json_values.py' '%s' 2>/dev/null",
             src, path);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int n = 0;
    char line[512];
    while (n < cap && fgets(line, sizeof line, p)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        char *value = tab + 1;
        value[strcspn(value, "\n")] = '\0';
        if (strlen(line) >= sizeof out[n].key || strlen(value) >= sizeof out[n].value) continue;
        strcpy(out[n].key, line);
        strcpy(out[n].value, value);
        n++;
    }
    int status = pclose(p);
    return status == 0 && n > 0 ? n : -1;
}

static const char *lookup(const py_value *v, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0) return v[i].value;
    return NULL;
}

static void check_int(const py_value *v, int n, const char *key, int got) {
    const char *want = lookup(v, n, key);
    CHECK(want && atoi(want) == got, "%s = %d (python json: %s)", key, got, want ? want : "absent");
}

static void check_float(const py_value *v, int n, const char *key, float got) {
    const char *want = lookup(v, n, key);
    CHECK(want && (float)strtod(want, NULL) == got, "%s = %g (python json: %s)", key, got,
          want ? want : "absent");
}

static void check_real_files(void) {
    const char *src = getenv("BC_SOURCE_DIR");
    char dir[2048], path[2100];
    snprintf(dir, sizeof dir, "%s/../shared/baichuan2/13B-Chat", src ? src : ".");
    snprintf(path, sizeof path, "%s/config.json", dir);
    struct stat st;
    if (!src || stat(path, &st) != 0) {
        printf("# skipping the real-file checks: %s is absent\n", path);
        return;
    }
    bc_model_config cfg;
    bc_generation_config gen;
    bc_error err = {""};
    int rc = bc_model_config_load(dir, &cfg, &gen, &err);
    CHECK(rc == 0, "13B-Chat config loads (%s)", err.msg);
    if (rc != 0) return;

    py_value v[64];
    int n = python_values(path, v, 64);
    if (n < 0) {
        /* CI installs the references: there a missing Python is a failure,
         * not a reason to skip the comparison. */
        const char *required = getenv("BC_REQUIRE_REFS");
        if (required && *required == '1')
            CHECK(0, "the Python reference (json_values.py) ran (BC_REQUIRE_REFS=1)");
        else
            printf("# skipping the comparison with Python: /usr/bin/python3 is unavailable\n");
        return;
    }
    check_int(v, n, "hidden_size", cfg.hidden_size);
    check_int(v, n, "intermediate_size", cfg.intermediate_size);
    check_int(v, n, "num_hidden_layers", cfg.num_hidden_layers);
    check_int(v, n, "num_attention_heads", cfg.num_attention_heads);
    check_int(v, n, "vocab_size", cfg.vocab_size);
    check_int(v, n, "model_max_length", cfg.model_max_length);
    check_int(v, n, "bos_token_id", cfg.bos_token_id);
    check_int(v, n, "eos_token_id", cfg.eos_token_id);
    check_int(v, n, "pad_token_id", cfg.pad_token_id);
    check_float(v, n, "rms_norm_eps", cfg.rms_norm_eps);
    const char *dtype = lookup(v, n, "torch_dtype");
    CHECK(dtype && strcmp(dtype, cfg.torch_dtype) == 0, "torch_dtype = %s", cfg.torch_dtype);
    /* baichuan2.md §1.1: the 13B config has no max_position_embeddings; it
     * falls back to model_max_length. */
    CHECK(!lookup(v, n, "max_position_embeddings") &&
              cfg.max_position_embeddings == cfg.model_max_length,
          "max_position_embeddings falls back to model_max_length (%d)",
          cfg.max_position_embeddings);
    CHECK(cfg.position == BC_POS_ALIBI, "13B shape without position_embedding key => ALiBi");
    CHECK(!cfg.has_quantization_config, "no quantization_config");

    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    n = python_values(path, v, 64);
    CHECK(n > 0, "python reads generation_config.json");
    if (n <= 0) return;
    check_int(v, n, "user_token_id", gen.user_token_id);
    check_int(v, n, "assistant_token_id", gen.assistant_token_id);
    check_int(v, n, "eos_token_id", gen.eos_token_id);
    check_int(v, n, "max_new_tokens", gen.max_new_tokens);
    check_int(v, n, "top_k", gen.top_k);
    check_float(v, n, "temperature", gen.temperature);
    check_float(v, n, "top_p", gen.top_p);
    check_float(v, n, "repetition_penalty", gen.repetition_penalty);
    const char *ds = lookup(v, n, "do_sample");
    CHECK(ds && (strcmp(ds, "true") == 0) == gen.do_sample, "do_sample");

    /* The built-in defaults are documented as 13B-Chat's file: hold them to it. */
    bc_generation_config def;
    bc_generation_config_defaults(&def);
    CHECK(same_generation(&def, &gen), "bc_generation_config_defaults equals the file");
}

/* ---- synthetic texts ------------------------------------------------------ */

/* A minimal valid 7B-shaped config, as key/value pairs so tests can replace or
 * drop one key. */
static const char *const base_keys[][2] = {
    {"hidden_size", "4096"},        {"intermediate_size", "11008"},
    {"num_hidden_layers", "32"},    {"num_attention_heads", "32"},
    {"vocab_size", "125696"},       {"rms_norm_eps", "1e-06"},
    {"model_max_length", "4096"},   {"max_position_embeddings", "4096"},
    {"architectures", "[\"BaichuanForCausalLM\"]"},
};
#define N_BASE (sizeof base_keys / sizeof base_keys[0])

/* Builds the base config with `key` replaced by `value` (dropped when value is
 * NULL, appended when not a base key). One key per line. */
static void build(char *buf, size_t cap, const char *key, const char *value) {
    size_t n = (size_t)snprintf(buf, cap, "{\n");
    int found = 0;
    for (size_t i = 0; i < N_BASE; i++) {
        const char *v = base_keys[i][1];
        if (key && strcmp(key, base_keys[i][0]) == 0) {
            found = 1;
            if (!value) continue;
            v = value;
        }
        n += (size_t)snprintf(buf + n, cap - n, "  \"%s\": %s,\n", base_keys[i][0], v);
    }
    if (key && !found && value)
        n += (size_t)snprintf(buf + n, cap - n, "  \"%s\": %s,\n", key, value);
    snprintf(buf + n - 2, cap - n + 2, "\n}\n"); /* replaces the last ",\n" */
}

/* "line:column" (1-based) of the first occurrence of `needle` in `text`. */
static void position_of(const char *text, const char *needle, char *out, size_t cap) {
    const char *at = strstr(text, needle);
    int line = 1, col = 1;
    for (const char *p = text; at && p < at; p++) {
        if (*p == '\n') line++, col = 1;
        else col++;
    }
    snprintf(out, cap, ":%d:%d:", line, col);
}

static int parse(const char *text, bc_model_config *cfg, bc_error *err) {
    bc_error_clear(err);
    return bc_model_config_parse("t/config.json", text, strlen(text), cfg, err);
}

static void test_base(void) {
    char text[2048];
    bc_model_config cfg;
    bc_error err;
    build(text, sizeof text, NULL, NULL);
    CHECK(parse(text, &cfg, &err) == 0, "base config parses (%s)", err.msg);
    CHECK(cfg.hidden_size == 4096 && cfg.num_hidden_layers == 32 && cfg.vocab_size == 125696,
          "base values read");
    CHECK(cfg.position == BC_POS_ROPE, "4096/32 => RoPE");
    CHECK(cfg.bos_token_id == 1 && cfg.eos_token_id == 2 && cfg.pad_token_id == 0,
          "token ids default to BaichuanConfig's 1/2/0");
    CHECK(cfg.torch_dtype[0] == '\0', "torch_dtype empty when absent");

    const char *compact =
        "{\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,"
        "\"num_attention_heads\":4,\"vocab_size\":300,\"rms_norm_eps\":1e-5,"
        "\"max_position_embeddings\":512,\"x\":[1,{\"y\":\"z\"}]}";
    CHECK(parse(compact, &cfg, &err) == 0 && cfg.hidden_size == 64 &&
              cfg.model_max_length == 512 && cfg.rms_norm_eps == 1e-5f,
          "minified JSON (no spaces after ':' and ',') parses (%s)", err.msg);
    build(text, sizeof text, "model_max_length", NULL);
    CHECK(parse(text, &cfg, &err) == 0 && cfg.model_max_length == 4096,
          "model_max_length falls back to max_position_embeddings");
}

static void test_position(void) {
    char text[2048];
    bc_model_config cfg;
    bc_error err;
    /* 13B shape: hidden 5120, 40 layers, 40 heads. */
    const char *thirteen =
        "{\"hidden_size\": 5120, \"intermediate_size\": 13696, \"num_hidden_layers\": 40,"
        " \"num_attention_heads\": 40, \"vocab_size\": 125696, \"rms_norm_eps\": 1e-06,"
        " \"model_max_length\": 4096%s}";
    snprintf(text, sizeof text, thirteen, "");
    CHECK(parse(text, &cfg, &err) == 0 && cfg.position == BC_POS_ALIBI, "13B shape => ALiBi");
    snprintf(text, sizeof text, thirteen, ", \"position_embedding\": \"rope\"");
    CHECK(parse(text, &cfg, &err) == 0 && cfg.position == BC_POS_ROPE,
          "explicit rope wins over the 13B shape");
    build(text, sizeof text, "position_embedding", "\"alibi\"");
    CHECK(parse(text, &cfg, &err) == 0 && cfg.position == BC_POS_ALIBI,
          "explicit alibi wins over the 7B shape");
    build(text, sizeof text, "position_embedding", "\"learned\"");
    CHECK(parse(text, &cfg, &err) != 0 && strstr(err.msg, "position_embedding"),
          "unknown position_embedding rejected: %s", err.msg);
    build(text, sizeof text, "quantization_config",
          "{\"load_in_4bit\": true, \"bnb_4bit_quant_type\": \"nf4\"}");
    CHECK(parse(text, &cfg, &err) == 0 && cfg.has_quantization_config,
          "quantization_config detected");
    build(text, sizeof text, "quantization_config", "5");
    CHECK(parse(text, &cfg, &err) != 0 && strstr(err.msg, "quantization_config"),
          "non-mapping quantization_config rejected: %s", err.msg);
}

static void test_missing_keys(void) {
    static const char *const required[] = {"hidden_size", "intermediate_size",
                                           "num_hidden_layers", "num_attention_heads",
                                           "vocab_size", "rms_norm_eps"};
    char text[2048];
    bc_model_config cfg;
    bc_error err;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        build(text, sizeof text, required[i], NULL);
        CHECK(parse(text, &cfg, &err) != 0 && strstr(err.msg, required[i]) &&
                  strstr(err.msg, "t/config.json:1:1:"),
              "missing %s: %s", required[i], err.msg);
    }
    /* Both context keys gone. */
    const char *no_ctx =
        "{\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2,"
        " \"num_attention_heads\": 4, \"vocab_size\": 300, \"rms_norm_eps\": 1e-6}";
    CHECK(parse(no_ctx, &cfg, &err) != 0 && strstr(err.msg, "model_max_length") &&
              strstr(err.msg, "max_position_embeddings"),
          "missing context length: %s", err.msg);
}

/* A wrong value for `key` must fail with "t/config.json:L:C: key:" pointing
 * at the value. */
static void expect_bad(const char *key, const char *value, const char *why) {
    char text[2048], pos[64], want[256];
    bc_model_config cfg;
    bc_error err;
    build(text, sizeof text, key, value);
    char needle[160];
    snprintf(needle, sizeof needle, "\"%s\": %s", key, value);
    position_of(text, needle, pos, sizeof pos);
    /* The column of the value: after `"key": `. */
    int line, col;
    sscanf(pos, ":%d:%d:", &line, &col);
    snprintf(want, sizeof want, "t/config.json:%d:%d: %s:", line, col + (int)strlen(key) + 4, key);
    int rc = parse(text, &cfg, &err);
    CHECK(rc != 0 && strstr(err.msg, want), "%s = %s rejected (%s): %s", key, value, why,
          err.msg);
}

static void test_bad_values(void) {
    expect_bad("hidden_size", "\"4096\"", "a string");
    expect_bad("hidden_size", "4096.0", "a float");
    expect_bad("hidden_size", "true", "a boolean");
    expect_bad("hidden_size", "null", "null");
    expect_bad("hidden_size", "[4096]", "a list");
    expect_bad("hidden_size", "0", "zero");
    expect_bad("hidden_size", "-4096", "negative");
    expect_bad("hidden_size", "99999999999999999999", "overflow");
    expect_bad("num_hidden_layers", "100000", "too many layers");
    expect_bad("vocab_size", "0", "zero");
    expect_bad("rms_norm_eps", "0", "zero eps");
    expect_bad("rms_norm_eps", "\"1e-6\"", "a string");
    expect_bad("rms_norm_eps", "-1e-6", "negative eps");
    expect_bad("model_max_length", "-1", "negative");
    expect_bad("max_position_embeddings", "\"4096\"", "a string");
    expect_bad("bos_token_id", "-3", "negative id");
    expect_bad("torch_dtype", "\"bfloat16-with-a-very-long-suffix\"", "too long");

    char text[2048];
    bc_model_config cfg;
    bc_error err;
    build(text, sizeof text, "num_attention_heads", "48");
    CHECK(parse(text, &cfg, &err) != 0 && strstr(err.msg, "num_attention_heads") &&
              strstr(err.msg, "divisible"),
          "4096 not divisible by 48 heads: %s", err.msg);
    build(text, sizeof text, "eos_token_id", "125696");
    CHECK(parse(text, &cfg, &err) != 0 && strstr(err.msg, "eos_token_id"),
          "eos id >= vocab rejected: %s", err.msg);
    build(text, sizeof text, "pad_token_id", "null");
    CHECK(parse(text, &cfg, &err) == 0 && cfg.pad_token_id == -1, "pad_token_id null => -1");
    build(text, sizeof text, "hidden_act", "{\"anything\": [1, 2, {\"x\": null}]}");
    CHECK(parse(text, &cfg, &err) == 0, "unknown keys of any type are ignored (%s)", err.msg);
}

static void test_broken_json(void) {
    bc_model_config cfg;
    bc_error err;
    const char *cut = "{\n  \"hidden_size\": 4096,\n  \"vocab_size\": [1, 2\n";
    CHECK(parse(cut, &cfg, &err) != 0 && strstr(err.msg, "t/config.json:4:") &&
              strstr(err.msg, "not valid"),
          "truncated JSON names the line where it ends: %s", err.msg);
    const char *no_comma = "{\n  \"hidden_size\": 4096\n  \"vocab_size\": 3\n}";
    CHECK(parse(no_comma, &cfg, &err) != 0 && strstr(err.msg, "t/config.json:3:"),
          "missing comma names line 3: %s", err.msg);
    CHECK(parse("", &cfg, &err) != 0 && strstr(err.msg, "empty"), "empty text: %s", err.msg);
    CHECK(parse("[1, 2]", &cfg, &err) != 0 && strstr(err.msg, "mapping"),
          "top-level list rejected: %s", err.msg);
    char text[2048];
    build(text, sizeof text, NULL, NULL);
    strcat(text, "}\n");
    CHECK(parse(text, &cfg, &err) != 0 && strstr(err.msg, "t/config.json:"),
          "trailing garbage rejected: %s", err.msg);
    /* 100k nested lists: must be refused without recursing that deep. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 32);
    if (!deep) return; /* also keeps gcc -fsanitize's -Warray-bounds quiet */
    size_t n = (size_t)sprintf(deep, "{\"a\": ");
    memset(deep + n, '[', depth);
    memset(deep + n + depth, ']', depth);
    strcpy(deep + n + 2 * depth, "}");
    CHECK(parse(deep, &cfg, &err) != 0 && strstr(err.msg, "nested"),
          "deep nesting refused: %s", err.msg);
    free(deep);
}

static void test_generation(void) {
    bc_generation_config g;
    bc_error err = {""};
    const char *t = "{\"eos_token_id\": [2, 5], \"temperature\": 0, \"top_k\": 0,"
                    " \"do_sample\": false, \"max_new_tokens\": 64}";
    CHECK(bc_generation_config_parse("g.json", t, strlen(t), &g, &err) == 0 &&
              g.eos_token_id == 2 && g.temperature == 0.0f && g.top_k == 0 && !g.do_sample &&
              g.max_new_tokens == 64 && g.user_token_id == 195,
          "generation config with an eos list; unset keys keep defaults (%s)", err.msg);
    static const char *const bad[][2] = {
        {"{\"top_p\": 1.5}", "top_p"},
        {"{\"temperature\": -1}", "temperature"},
        {"{\"repetition_penalty\": 0}", "repetition_penalty"},
        {"{\"do_sample\": \"true\"}", "do_sample"},
        {"{\"max_new_tokens\": 0}", "max_new_tokens"},
        {"{\"top_k\": 2.5}", "top_k"},
        {"{\"user_token_id\": \"195\"}", "user_token_id"},
        {"{\"eos_token_id\": []}", "eos_token_id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bc_error_clear(&err);
        int rc = bc_generation_config_parse("g.json", bad[i][0], strlen(bad[i][0]), &g, &err);
        char want[64];
        snprintf(want, sizeof want, "g.json:1:");
        CHECK(rc != 0 && strstr(err.msg, want) && strstr(err.msg, bad[i][1]), "%s rejected: %s",
              bad[i][0], err.msg);
    }
}

/* A directory with config.json only: generation defaults; none at all: error. */
static void test_load_dir(void) {
    char dir[] = "/tmp/bc_model_config_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    bc_model_config cfg;
    bc_generation_config gen;
    bc_error err = {""};
    CHECK(bc_model_config_load(dir, &cfg, &gen, &err) != 0 && strstr(err.msg, "config.json") &&
              strstr(err.msg, dir),
          "missing config.json names the path: %s", err.msg);
    char path[256], text[2048];
    snprintf(path, sizeof path, "%s/config.json", dir);
    build(text, sizeof text, NULL, NULL);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    bc_error_clear(&err);
    int rc = bc_model_config_load(dir, &cfg, &gen, &err);
    bc_generation_config def;
    bc_generation_config_defaults(&def);
    CHECK(rc == 0 && same_generation(&def, &gen),
          "no generation_config.json => defaults (%s)", err.msg);
    char gpath[256];
    snprintf(gpath, sizeof gpath, "%s/generation_config.json", dir);
    f = fopen(gpath, "w");
    fputs("{\"user_token_id\": 200000}", f);
    fclose(f);
    CHECK(bc_model_config_load(dir, &cfg, &gen, &err) != 0 &&
              strstr(err.msg, "generation_config.json") && strstr(err.msg, "user_token_id"),
          "out-of-vocab role token rejected: %s", err.msg);
    unlink(gpath);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    check_real_files();
    test_base();
    test_position();
    test_missing_keys();
    test_bad_values();
    test_broken_json();
    test_generation();
    test_load_dir();
    return bc_test_done();
}
