/* bc_worker: the inference thread. It owns the engine; the UI thread talks to
 * it only through two bc_queues (requests in, events out) and an atomic
 * cancel mark (DESIGN.md "Data flow").
 *
 * Every request gets an id (increasing). Events carry the id of the request
 * they answer, so the UI can ignore stale ones. bc_worker_cancel() cancels
 * every generate request submitted so far: the running one stops before its
 * next token (its text so far has been delivered; done.stop = CANCELLED) and
 * queued ones finish at once with zero tokens.
 *
 * The engine is reached through bc_engine_ops so that the fake engine
 * (fake_engine.h, used by the TUI tests) and the real one are interchangeable;
 * bc_worker_ops_for_model() picks one from the model name. */
#ifndef BC_WORKER_H
#define BC_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bc_error.h"
#include "engine.h"
#include "model_config.h"
#include "sampler.h"

/* The engine as a function table; `e` is the engine handle. */
typedef struct bc_engine_ops {
    const char *name; /* "fake", "engine" */
    int (*load)(const bc_load_params *p, bc_progress_fn progress, void *user,
                void **out, bc_error *err);
    int (*chat)(void *e, const bc_message *msgs, size_t n, const bc_sampling *s,
                bc_text_fn on_text, void *user, bc_gen_stats *stats, bc_error *err);
    void (*get_info)(const void *e, bc_engine_info *info);
    void (*reset)(void *e);
    void (*free)(void *e);
    /* The model's generation_config.json (sampling defaults); NULL when the
     * engine has none (the fake one): Baichuan2-Chat's defaults then. */
    const bc_generation_config *(*generation_config)(const void *e);
} bc_engine_ops;

/* The fake engine for "fake", "fake:..." or any model when BC_FAKE_ENGINE=1;
 * otherwise the real engine (bc_engine_*). */
const bc_engine_ops *bc_worker_ops_for_model(const char *model);

typedef enum bc_event_type {
    BC_EV_LOAD_PROGRESS = 0, /* bytes_done / bytes_total */
    BC_EV_LOADED,            /* info */
    BC_EV_UNLOADED,          /* answer to unload (or a failed load left nothing) */
    BC_EV_TEXT,              /* text/text_len: whole UTF-8 characters */
    BC_EV_DONE,              /* stats: a generate request finished */
    BC_EV_ERROR,             /* message; for a generate it is the last event */
} bc_event_type;

/* Engine description with owned copies of its strings. */
typedef struct bc_worker_info {
    char model_name[256];
    char backend[16];
    char quant[16];
    bool is_demo;
    int context_max;       /* tokens */
    uint64_t weight_bytes;
    bc_generation_config generation; /* the model's sampling defaults */
} bc_worker_info;

typedef enum bc_request_kind {
    BC_REQ_LOAD = 0, BC_REQ_GENERATE, BC_REQ_UNLOAD, BC_REQ_RESET, BC_REQ_SHUTDOWN
} bc_request_kind;

typedef struct bc_event {
    bc_event_type type;
    uint64_t request_id;
    bc_request_kind request_kind; /* kind of the request it answers */
    uint64_t bytes_done, bytes_total; /* LOAD_PROGRESS */
    bc_worker_info info;              /* LOADED */
    char *text;                       /* TEXT: NUL-terminated, owned */
    size_t text_len;                  /* bytes */
    bc_gen_stats stats;               /* DONE */
    /* DONE: memory ran out while the reply streamed and some of its TEXT
     * events were dropped: the text the UI has is incomplete. */
    bool text_dropped;
    char message[BC_ERROR_MAX];       /* ERROR */
} bc_event;

void bc_event_free(bc_event *ev);

typedef struct bc_worker bc_worker;

/* Starts the thread; nothing is loaded yet. */
bc_worker *bc_worker_start(bc_error *err);

/* Asks the thread to stop (cancelling a running generate), joins it, frees the
 * engine and every queued request/event. */
void bc_worker_stop(bc_worker *w);

/* Each returns the request id (> 0), or 0 when memory ran out.
 *
 * A load replaces the loaded model: the old one is freed first (every byte:
 * its heap is handed back to the system, so a GPU or a small machine never
 * holds two), then the new one loads with LOAD_PROGRESS events. When that
 * fails, the ERROR event gives the reason and the previous configuration is
 * loaded back (LOADED again; UNLOADED if even that fails). The conversation
 * lives in the caller: the next generate re-prefills it under the loaded
 * model's template and context limit. */
uint64_t bc_worker_load(bc_worker *w, const char *model, const char *backend,
                        const char *quant, int threads);
/* msgs are deep-copied; they end with the user message to answer. */
uint64_t bc_worker_generate(bc_worker *w, const bc_message *msgs, size_t n,
                            const bc_sampling *s);
uint64_t bc_worker_unload(bc_worker *w);
/* Forgets the KV cache (new conversation, or history edited). */
uint64_t bc_worker_reset(bc_worker *w);

/* Cancels every generate request submitted so far. Thread-safe, never blocks. */
void bc_worker_cancel(bc_worker *w);

/* Poll this fd for POLLIN; then call bc_worker_clear_wake() and drain with
 * bc_worker_next_event() until it returns NULL. */
int bc_worker_wake_fd(const bc_worker *w);
void bc_worker_clear_wake(bc_worker *w);
bc_event *bc_worker_next_event(bc_worker *w);

/* Blocks until an event arrives (tests and headless callers). */
bc_event *bc_worker_wait_event(bc_worker *w);

#endif
