/* bc_model_config: config.json + generation_config.json of a Baichuan2 directory.
 *
 * JSON is read with libyaml (JSON is YAML's flow subset). Keys are those of
 * baichuan2.md §1 and §4.3; unknown keys are ignored; a key of the wrong type or
 * a missing required key is an error "FILE:LINE:COL: KEY: ...". Sizes are
 * range-checked (hidden divisible by heads, ids below vocab_size, ...).
 * model_max_length and max_position_embeddings stand in for each other. */
#ifndef BC_MODEL_CONFIG_H
#define BC_MODEL_CONFIG_H

#include <stdbool.h>

#include "bc_error.h"

typedef enum bc_position_kind {
    BC_POS_ROPE = 0,   /* 7B-shaped: rotate_half RoPE, theta 10000 */
    BC_POS_ALIBI = 1,  /* 13B-shaped: ALiBi slopes of _get_interleave */
} bc_position_kind;

typedef struct bc_model_config {
    int hidden_size;             /* H */
    int intermediate_size;       /* I (SwiGLU) */
    int num_hidden_layers;
    int num_attention_heads;     /* nH; head_dim = H / nH */
    int vocab_size;              /* rows of embed_tokens and lm_head */
    int model_max_length;        /* chat-prompt truncation and KV cache size (tokens) */
    int max_position_embeddings; /* RoPE table size; = model_max_length when absent */
    float rms_norm_eps;
    bc_position_kind position;   /* explicit "position_embedding" key wins, else 13B shape => ALiBi */
    int bos_token_id, eos_token_id, pad_token_id; /* 1/2/0 when absent, -1 when null */
    char torch_dtype[16];        /* "bfloat16", "float16", "float32" or "" */
    bool has_quantization_config;/* -Chat-4bits directories carry one */
} bc_model_config;

typedef struct bc_generation_config {
    int user_token_id;           /* 195 */
    int assistant_token_id;      /* 196 */
    int eos_token_id;            /* 2 */
    int max_new_tokens;          /* 2048 */
    float temperature;           /* 0.3 */
    int top_k;                   /* 5 */
    float top_p;                 /* 0.85 */
    float repetition_penalty;    /* 1.05 */
    bool do_sample;              /* true */
} bc_generation_config;

/* Baichuan2-Chat defaults (generation_config.json of 13B-Chat). */
void bc_generation_config_defaults(bc_generation_config *g);

/* Reads DIR/config.json (required) and DIR/generation_config.json (optional:
 * defaults when absent). */
int bc_model_config_load(const char *dir, bc_model_config *cfg,
                         bc_generation_config *gen, bc_error *err);

/* Parses one config.json text (for tests and fuzzing); `name` is used in messages. */
int bc_model_config_parse(const char *name, const char *text, size_t len,
                          bc_model_config *cfg, bc_error *err);
int bc_generation_config_parse(const char *name, const char *text, size_t len,
                               bc_generation_config *gen, bc_error *err);

#endif
