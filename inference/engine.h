/* bc_engine: a loaded model ready to chat — the one entry point that the
 * worker thread, `run`, `replay`, `bench` and `perplexity` use.
 *
 * An engine owns tokenizer, weights (in the backend's storage format), the
 * KV cache and scratch buffers. It keeps the conversation's KV cache between
 * calls: each new prompt is compared with the ids already in the cache and only
 * the part after the longest common prefix is prefilled.
 *
 * Not thread-safe: one thread (the worker) drives an engine. */
#ifndef BC_ENGINE_H
#define BC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bc_error.h"
#include "sampler.h"

typedef struct bc_engine bc_engine;

typedef struct bc_load_params {
    const char *model;    /* resolved model directory, or "demo" */
    const char *backend;  /* "auto", "cpu", "cuda" */
    const char *quant;    /* "auto", "f32", "bf16", "f16", "int8", "nf4" */
    int threads;          /* 0 = number of cores */
} bc_load_params;

/* Called while loading: bytes of tensor data processed so far / in total. */
typedef void (*bc_progress_fn)(void *user, uint64_t done, uint64_t total);

typedef enum bc_role { BC_ROLE_SYSTEM = 0, BC_ROLE_USER, BC_ROLE_ASSISTANT } bc_role;

typedef struct bc_message {
    bc_role role;
    const char *content;  /* UTF-8, NUL-terminated */
} bc_message;


/* Receives generated text: whole UTF-8 characters only. Return non-zero to
 * stop generation (cancel); it is honoured before the next token. */
typedef int (*bc_text_fn)(void *user, const char *utf8, size_t len);

typedef enum bc_stop_reason {
    BC_STOP_EOS = 0, BC_STOP_LENGTH, BC_STOP_CANCELLED, BC_STOP_CONTEXT
} bc_stop_reason;

typedef struct bc_gen_stats {
    int prompt_tokens;        /* tokens of the whole prompt */
    int prompt_tokens_dropped; /* chat: tokens the template cut from the start of the
                                  conversation to fit model_max_length - max_new_tokens
                                  (prompt_tokens + this = its uncut length); 0 = none */
    int prefilled_tokens;     /* of which actually prefilled (the rest reused from the cache) */
    int new_tokens;           /* generated */
    double prefill_seconds;
    double decode_seconds;
    int context_used;         /* tokens in the KV cache after the call */
    int context_max;
    bc_stop_reason stop;
} bc_gen_stats;

typedef struct bc_engine_info {
    const char *model_name;   /* e.g. "Baichuan2-7B-Chat" or "demo" */
    const char *backend;      /* "cpu" / "cuda" */
    const char *quant;        /* storage actually used: "f32", "bf16", ... */
    bool is_demo;
    int context_max;          /* model_max_length */
    uint64_t weight_bytes;    /* bytes of weights in backend storage */
} bc_engine_info;

int bc_engine_load(const bc_load_params *p, bc_progress_fn progress, void *user,
                   bc_engine **out, bc_error *err);

/* The backend's own notes for benchmarks (backend.h, describe); "" when it
 * has none. */
void bc_engine_describe_backend(const bc_engine *e, char *buf, size_t len);

/* Runs one assistant turn: the prompt is Baichuan2's build_chat_input over
 * msgs (which end with a user message). */
int bc_engine_chat(bc_engine *e, const bc_message *msgs, size_t n,
                   const bc_sampling *s, bc_text_fn on_text, void *user,
                   bc_gen_stats *stats, bc_error *err);

/* Continues raw text without the chat template (base models, --raw). */
int bc_engine_complete(bc_engine *e, const char *text, const bc_sampling *s,
                       bc_text_fn on_text, void *user, bc_gen_stats *stats,
                       bc_error *err);

void bc_engine_get_info(const bc_engine *e, bc_engine_info *info);

/* The engine's tokenizer (for perplexity, bench, tokenize). */
struct bc_tokenizer;
const struct bc_tokenizer *bc_engine_tokenizer(const bc_engine *e);

/* The model's generation_config.json (Baichuan2-Chat defaults when absent):
 * the defaults of `run` before command-line options. */
struct bc_generation_config;
const struct bc_generation_config *bc_engine_generation_config(const bc_engine *e);

/* The model itself, for tools that run token ids directly (perplexity,
 * bench, tests). Calling this forgets the conversation's KV cache, since the
 * caller is about to overwrite it. */
struct bc_model;
struct bc_model *bc_engine_model(bc_engine *e);

/* Forgets the KV cache (a new conversation). */
void bc_engine_reset(bc_engine *e);

void bc_engine_free(bc_engine *e);

#endif
