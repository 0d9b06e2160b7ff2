/* config.json and generation_config.json (baichuan2.md §1, §4.3). */
#include "model_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_reader.h"

/* A config.json is ~1 KB; anything past this is not one. */

/* Generous upper bounds: far above any Baichuan2 shape, low enough that
 * products like hidden*vocab or layers*ctx*hidden stay far from overflow in
 * 64-bit size arithmetic downstream. */
#define MAX_HIDDEN (1 << 16)
#define MAX_INTERMEDIATE (1 << 20)
#define MAX_LAYERS 1024
#define MAX_VOCAB (1 << 24)
#define MAX_CONTEXT (1 << 22)

void bc_generation_config_defaults(bc_generation_config *g) {
    /* Values of 13B-Chat's generation_config.json (baichuan2.md §4.3). */
    g->user_token_id = 195;
    g->assistant_token_id = 196;
    g->eos_token_id = 2;
    g->max_new_tokens = 2048;
    g->temperature = 0.3f;
    g->top_k = 5;
    g->top_p = 0.85f;
    g->repetition_penalty = 1.05f;
    g->do_sample = true;
}

/* A token id that may be null (meaning: the model has none, -1). */
static int get_token_id(bc_yaml *y, const yaml_node_t *v, const char *key, int *out,
                        bc_error *err) {
    if (bc_yaml_kind_of(v) == BC_YAML_NULL) {
        *out = -1;
        return 0;
    }
    return bc_yaml_get_int(y, v, key, 0, MAX_VOCAB - 1, out, err);
}

typedef struct seen_keys {
    bool hidden, intermediate, layers, heads, vocab, eps, max_len, max_pos;
} seen_keys;

static int parse_position(bc_yaml *y, const yaml_node_t *v, bc_model_config *cfg,
                          bool *explicit_position, bc_error *err) {
    const char *s;
    if (bc_yaml_get_string(y, v, "position_embedding", &s, err) != 0) return -1;
    if (strcmp(s, "rope") == 0)
        cfg->position = BC_POS_ROPE;
    else if (strcmp(s, "alibi") == 0)
        cfg->position = BC_POS_ALIBI;
    else
        return bc_yaml_errorf(y, v, "position_embedding", err,
                              "\"%.40s\" is neither \"rope\" nor \"alibi\"", s);
    *explicit_position = true;
    return 0;
}

static int parse_torch_dtype(bc_yaml *y, const yaml_node_t *v, bc_model_config *cfg,
                             bc_error *err) {
    if (bc_yaml_kind_of(v) == BC_YAML_NULL) {
        cfg->torch_dtype[0] = '\0';
        return 0;
    }
    const char *s;
    if (bc_yaml_get_string(y, v, "torch_dtype", &s, err) != 0) return -1;
    if (strlen(s) >= sizeof cfg->torch_dtype)
        return bc_yaml_errorf(y, v, "torch_dtype", err, "\"%.40s\" is not a dtype name", s);
    strcpy(cfg->torch_dtype, s);
    return 0;
}

/* One top-level key of config.json. Unknown keys are ignored: configs carry
 * plenty (auto_map, architectures, ...) that inference does not need. */
static int parse_config_key(bc_yaml *y, const char *key, const yaml_node_t *v,
                            bc_model_config *cfg, seen_keys *seen, bool *explicit_position,
                            bc_error *err) {
    if (strcmp(key, "hidden_size") == 0) {
        seen->hidden = true;
        return bc_yaml_get_int(y, v, key, 1, MAX_HIDDEN, &cfg->hidden_size, err);
    }
    if (strcmp(key, "intermediate_size") == 0) {
        seen->intermediate = true;
        return bc_yaml_get_int(y, v, key, 1, MAX_INTERMEDIATE, &cfg->intermediate_size, err);
    }
    if (strcmp(key, "num_hidden_layers") == 0) {
        seen->layers = true;
        return bc_yaml_get_int(y, v, key, 1, MAX_LAYERS, &cfg->num_hidden_layers, err);
    }
    if (strcmp(key, "num_attention_heads") == 0) {
        seen->heads = true;
        return bc_yaml_get_int(y, v, key, 1, MAX_HIDDEN, &cfg->num_attention_heads, err);
    }
    if (strcmp(key, "vocab_size") == 0) {
        seen->vocab = true;
        return bc_yaml_get_int(y, v, key, 1, MAX_VOCAB, &cfg->vocab_size, err);
    }
    if (strcmp(key, "rms_norm_eps") == 0) {
        seen->eps = true;
        if (bc_yaml_get_float(y, v, key, 0.0, 1.0, &cfg->rms_norm_eps, err) != 0) return -1;
        if (!(cfg->rms_norm_eps > 0.0f))
            return bc_yaml_errorf(y, v, key, err, "must be greater than 0");
        return 0;
    }
    if (strcmp(key, "model_max_length") == 0) {
        seen->max_len = true;
        return bc_yaml_get_int(y, v, key, 1, MAX_CONTEXT, &cfg->model_max_length, err);
    }
    if (strcmp(key, "max_position_embeddings") == 0) {
        seen->max_pos = true;
        return bc_yaml_get_int(y, v, key, 1, MAX_CONTEXT, &cfg->max_position_embeddings, err);
    }
    if (strcmp(key, "bos_token_id") == 0) return get_token_id(y, v, key, &cfg->bos_token_id, err);
    if (strcmp(key, "eos_token_id") == 0) return get_token_id(y, v, key, &cfg->eos_token_id, err);
    if (strcmp(key, "pad_token_id") == 0) return get_token_id(y, v, key, &cfg->pad_token_id, err);
    if (strcmp(key, "torch_dtype") == 0) return parse_torch_dtype(y, v, cfg, err);
    if (strcmp(key, "position_embedding") == 0)
        return parse_position(y, v, cfg, explicit_position, err);
    if (strcmp(key, "quantization_config") == 0) {
        bc_yaml_kind k = bc_yaml_kind_of(v);
        if (k == BC_YAML_NULL) {
            cfg->has_quantization_config = false;
            return 0;
        }
        if (k != BC_YAML_MAP)
            return bc_yaml_errorf(y, v, key, err, "expected a mapping, got %s",
                                  bc_yaml_kind_name(k));
        cfg->has_quantization_config = true;
        return 0;
    }
    return 0;
}

static int missing(bc_yaml *y, const yaml_node_t *root, const char *key, bc_error *err) {
    return bc_yaml_errorf(y, root, key, err, "required key is missing");
}

/* Checks that need several keys: presence, divisibility, token ids in range. */
static int check_config(bc_yaml *y, const yaml_node_t *root, bc_model_config *cfg,
                        const seen_keys *seen, bool explicit_position, bc_error *err) {
    if (!seen->hidden) return missing(y, root, "hidden_size", err);
    if (!seen->intermediate) return missing(y, root, "intermediate_size", err);
    if (!seen->layers) return missing(y, root, "num_hidden_layers", err);
    if (!seen->heads) return missing(y, root, "num_attention_heads", err);
    if (!seen->vocab) return missing(y, root, "vocab_size", err);
    if (!seen->eps) return missing(y, root, "rms_norm_eps", err);
    if (!seen->max_len && !seen->max_pos)
        return bc_yaml_errorf(y, root, "model_max_length", err,
                              "missing, and so is max_position_embeddings (one is required)");
    /* The 13B config has only model_max_length, older 7B copies may have only
     * max_position_embeddings: each stands in for the other. */
    if (!seen->max_len) cfg->model_max_length = cfg->max_position_embeddings;
    if (!seen->max_pos) cfg->max_position_embeddings = cfg->model_max_length;

    if (cfg->hidden_size % cfg->num_attention_heads != 0)
        return bc_yaml_errorf(y, root, "num_attention_heads", err,
                              "hidden_size %d is not divisible by %d heads", cfg->hidden_size,
                              cfg->num_attention_heads);
    if (!explicit_position)
        cfg->position = (cfg->hidden_size == 5120 && cfg->num_hidden_layers == 40)
                            ? BC_POS_ALIBI
                            : BC_POS_ROPE;
    int head_dim = cfg->hidden_size / cfg->num_attention_heads;
    if (cfg->position == BC_POS_ROPE && head_dim % 2 != 0)
        return bc_yaml_errorf(y, root, "num_attention_heads", err,
                              "head dimension %d is odd; RoPE rotates pairs of dimensions",
                              head_dim);
    const struct {
        const char *key;
        int id;
    } ids[] = {{"bos_token_id", cfg->bos_token_id},
               {"eos_token_id", cfg->eos_token_id},
               {"pad_token_id", cfg->pad_token_id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id >= cfg->vocab_size)
            return bc_yaml_errorf(y, root, ids[i].key, err, "%d is not below vocab_size %d",
                                  ids[i].id, cfg->vocab_size);
    return 0;
}

static void config_defaults(bc_model_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    /* BaichuanConfig class defaults for keys a config.json may leave out. */
    cfg->bos_token_id = 1;
    cfg->eos_token_id = 2;
    cfg->pad_token_id = 0;
}

int bc_model_config_parse(const char *name, const char *text, size_t len,
                          bc_model_config *cfg, bc_error *err) {
    config_defaults(cfg);
    bc_yaml y;
    if (bc_yaml_load(&y, name, text, len, false, err) != 0) return -1;
    yaml_node_t *root = bc_yaml_root(&y);
    seen_keys seen = {0};
    bool explicit_position = false;
    int rc = 0;
    for (size_t i = 0, n = bc_yaml_map_size(root); i < n && rc == 0; i++) {
        yaml_node_t *kn, *v;
        const char *key = bc_yaml_map_key(&y, root, i, &kn, &v);
        if (!key) continue; /* not a JSON object key; nothing we read */
        rc = parse_config_key(&y, key, v, cfg, &seen, &explicit_position, err);
    }
    if (rc == 0) rc = check_config(&y, root, cfg, &seen, explicit_position, err);
    bc_yaml_free(&y);
    return rc;
}

/* eos_token_id may be a list in newer transformers' files; the first entry is
 * the end-of-sequence token the chat template relies on. */
static int get_eos(bc_yaml *y, const yaml_node_t *v, int *out, bc_error *err) {
    if (bc_yaml_kind_of(v) == BC_YAML_SEQ) {
        if (v->data.sequence.items.top == v->data.sequence.items.start)
            return bc_yaml_errorf(y, v, "eos_token_id", err, "empty list");
        v = yaml_document_get_node(&y->doc, *v->data.sequence.items.start);
    }
    return bc_yaml_get_int(y, v, "eos_token_id", 0, MAX_VOCAB - 1, out, err);
}

static int parse_generation_key(bc_yaml *y, const char *key, const yaml_node_t *v,
                                bc_generation_config *g, bc_error *err) {
    if (strcmp(key, "user_token_id") == 0)
        return bc_yaml_get_int(y, v, key, 0, MAX_VOCAB - 1, &g->user_token_id, err);
    if (strcmp(key, "assistant_token_id") == 0)
        return bc_yaml_get_int(y, v, key, 0, MAX_VOCAB - 1, &g->assistant_token_id, err);
    if (strcmp(key, "eos_token_id") == 0) return get_eos(y, v, &g->eos_token_id, err);
    if (strcmp(key, "max_new_tokens") == 0)
        return bc_yaml_get_int(y, v, key, 1, MAX_CONTEXT, &g->max_new_tokens, err);
    if (strcmp(key, "temperature") == 0)
        return bc_yaml_get_float(y, v, key, 0.0, 100.0, &g->temperature, err);
    if (strcmp(key, "top_k") == 0)
        return bc_yaml_get_int(y, v, key, 0, MAX_VOCAB, &g->top_k, err);
    if (strcmp(key, "top_p") == 0)
        return bc_yaml_get_float(y, v, key, 0.0, 1.0, &g->top_p, err);
    if (strcmp(key, "repetition_penalty") == 0) {
        if (bc_yaml_get_float(y, v, key, 0.0, 100.0, &g->repetition_penalty, err) != 0)
            return -1;
        if (!(g->repetition_penalty > 0.0f))
            return bc_yaml_errorf(y, v, key, err, "must be greater than 0");
        return 0;
    }
    if (strcmp(key, "do_sample") == 0) return bc_yaml_get_bool(y, v, key, &g->do_sample, err);
    return 0;
}

int bc_generation_config_parse(const char *name, const char *text, size_t len,
                               bc_generation_config *gen, bc_error *err) {
    bc_generation_config_defaults(gen);
    bc_yaml y;
    if (bc_yaml_load(&y, name, text, len, false, err) != 0) return -1;
    yaml_node_t *root = bc_yaml_root(&y);
    int rc = 0;
    for (size_t i = 0, n = bc_yaml_map_size(root); i < n && rc == 0; i++) {
        yaml_node_t *v;
        const char *key = bc_yaml_map_key(&y, root, i, NULL, &v);
        if (key) rc = parse_generation_key(&y, key, v, gen, err);
    }
    bc_yaml_free(&y);
    return rc;
}

static char *join_path(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int parse_file(const char *dir, const char *file, bool optional, bool *present,
                      int (*parse)(const char *, const char *, size_t, void *, bc_error *),
                      void *out, bc_error *err) {
    char *path = join_path(dir, file);
    if (!path) return bc_errorf(err, "%s/%s: out of memory", dir, file);
    *present = true;
    FILE *probe = fopen(path, "rb");
    /* Only a file that is not there is "absent": one that exists but cannot
     * be opened (EACCES, EIO, EMFILE) is an error, not a silent default. */
    if (!probe && optional && errno == ENOENT) {
        *present = false;
        free(path);
        return 0;
    }
    if (probe) fclose(probe);
    char *text;
    size_t len;
    int rc = bc_yaml_read_file(path, BC_MODEL_CONFIG_MAX_BYTES, &text, &len, err);
    if (rc == 0) {
        rc = parse(path, text, len, out, err);
        free(text);
    }
    free(path);
    return rc;
}

static int parse_model_cb(const char *name, const char *text, size_t len, void *out,
                          bc_error *err) {
    return bc_model_config_parse(name, text, len, out, err);
}

static int parse_generation_cb(const char *name, const char *text, size_t len, void *out,
                               bc_error *err) {
    return bc_generation_config_parse(name, text, len, out, err);
}

int bc_model_config_load(const char *dir, bc_model_config *cfg, bc_generation_config *gen,
                         bc_error *err) {
    bool present;
    if (parse_file(dir, "config.json", false, &present, parse_model_cb, cfg, err) != 0)
        return -1;
    if (parse_file(dir, "generation_config.json", true, &present, parse_generation_cb, gen,
                   err) != 0)
        return -1;
    if (!present) bc_generation_config_defaults(gen);
    const struct {
        const char *key;
        int id;
    } ids[] = {{"user_token_id", gen->user_token_id},
               {"assistant_token_id", gen->assistant_token_id},
               {"eos_token_id", gen->eos_token_id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id >= cfg->vocab_size)
            return bc_errorf(err,
                             "%s/generation_config.json: %s: %d is not below vocab_size %d of "
                             "config.json",
                             dir, ids[i].key, ids[i].id, cfg->vocab_size);
    return 0;
}
