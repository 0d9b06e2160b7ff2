/* bc_worker: the inference thread, its request loop and its events. */
#include "worker.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

/* Most final events one request can post: a failed load posts ERROR, and
 * when reloading the previous model fails too, ERROR and UNLOADED. */
#define MAX_FINAL_EVENTS 3

typedef struct request {
    bc_request_kind kind;
    uint64_t id;
    /* Events that must reach the UI whatever happens (DONE, ERROR, LOADED,
     * UNLOADED), allocated with their queue slots when the request is made,
     * so that running out of memory later cannot leave the UI waiting. */
    bc_event *finals[MAX_FINAL_EVENTS];
    int n_finals;        /* allocated */
    int n_finals_used;   /* posted */
    /* LOAD */
    char *model, *backend, *quant;
    int threads;
    /* GENERATE: owned deep copy */
    bc_message *msgs;
    size_t n_msgs;
    bc_sampling sampling;
} request;

struct bc_worker {
    pthread_t thread;
    bc_queue *requests; /* request*, UI -> worker */
    bc_queue *events;   /* bc_event*, worker -> UI, with wake fd */
    atomic_uint_fast64_t next_id;      /* last id handed out */
    atomic_uint_fast64_t cancel_upto;  /* generates with id <= this are cancelled */
    atomic_bool stopping;

    /* Worker-thread state only. */
    const bc_engine_ops *ops;
    void *engine;
    char *loaded_model, *loaded_backend, *loaded_quant; /* params of `engine` */
    int loaded_threads;
};

/* ---- requests ---------------------------------------------------------- */

static void request_free(void *p) {
    request *r = p;
    if (!r) return;
    for (int i = r->n_finals_used; i < r->n_finals; i++) free(r->finals[i]);
    free(r->model);
    free(r->backend);
    free(r->quant);
    for (size_t i = 0; i < r->n_msgs; i++) free((char *)r->msgs[i].content);
    free(r->msgs);
    free(r);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* Final events each kind of request may post (see MAX_FINAL_EVENTS). */
static int finals_needed(bc_request_kind kind) {
    switch (kind) {
    case BC_REQ_LOAD: return MAX_FINAL_EVENTS;
    case BC_REQ_GENERATE: return 1;  /* DONE or ERROR */
    case BC_REQ_UNLOAD: return 1;    /* UNLOADED */
    case BC_REQ_RESET:
    case BC_REQ_SHUTDOWN: return 0;
    }
    return 0;
}

static uint64_t submit(bc_worker *w, request *r) {
    int need = finals_needed(r->kind);
    for (; r->n_finals < need; r->n_finals++)
        if (!(r->finals[r->n_finals] = calloc(1, sizeof(bc_event)))) break;
    if (r->n_finals < need || bc_queue_reserve(w->events, (size_t)need) != 0) {
        request_free(r);
        return 0;
    }
    /* Read the id before the push: once queued, r belongs to the worker. */
    uint64_t id = atomic_fetch_add(&w->next_id, 1) + 1;
    r->id = id;
    if (bc_queue_push(w->requests, r) != 0) {
        bc_queue_unreserve(w->events, (size_t)need);
        request_free(r);
        return 0;
    }
    return id;
}

/* Gives back the queue slots of final events the request did not post. */
static void request_done(bc_worker *w, request *r) {
    bc_queue_unreserve(w->events, (size_t)(r->n_finals - r->n_finals_used));
    request_free(r);
}

uint64_t bc_worker_load(bc_worker *w, const char *model, const char *backend,
                        const char *quant, int threads) {
    request *r = calloc(1, sizeof *r);
    if (!r) return 0;
    r->kind = BC_REQ_LOAD;
    r->model = dup_or_null(model ? model : "demo");
    r->backend = dup_or_null(backend ? backend : "auto");
    r->quant = dup_or_null(quant ? quant : "auto");
    r->threads = threads;
    if (!r->model || !r->backend || !r->quant) {
        request_free(r);
        return 0;
    }
    return submit(w, r);
}

uint64_t bc_worker_generate(bc_worker *w, const bc_message *msgs, size_t n,
                            const bc_sampling *s) {
    request *r = calloc(1, sizeof *r);
    if (!r) return 0;
    r->kind = BC_REQ_GENERATE;
    r->sampling = *s;
    r->msgs = calloc(n ? n : 1, sizeof *r->msgs);
    if (!r->msgs) {
        request_free(r);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        r->msgs[i].role = msgs[i].role;
        r->msgs[i].content = strdup(msgs[i].content ? msgs[i].content : "");
        r->n_msgs = i + 1;
        if (!r->msgs[i].content) {
            request_free(r);
            return 0;
        }
    }
    return submit(w, r);
}

static uint64_t simple(bc_worker *w, bc_request_kind kind) {
    request *r = calloc(1, sizeof *r);
    if (!r) return 0;
    r->kind = kind;
    return submit(w, r);
}

uint64_t bc_worker_unload(bc_worker *w) { return simple(w, BC_REQ_UNLOAD); }
uint64_t bc_worker_reset(bc_worker *w) { return simple(w, BC_REQ_RESET); }

void bc_worker_cancel(bc_worker *w) {
    atomic_store(&w->cancel_upto, atomic_load(&w->next_id));
}

/* ---- events ------------------------------------------------------------ */

/* A TEXT event and its text are one allocation: the text follows the event. */
typedef struct text_event {
    bc_event ev;
    char text[];
} text_event;

void bc_event_free(bc_event *ev) {
    if (!ev) return;
    if (ev->text != ((text_event *)ev)->text) free(ev->text);
    free(ev);
}

static void event_free_void(void *p) { bc_event_free(p); }

static bc_event *event_new(bc_event_type t, const request *r) {
    bc_event *ev = calloc(1, sizeof *ev);
    if (!ev) return NULL;
    ev->type = t;
    ev->request_id = r->id;
    ev->request_kind = r->kind;
    return ev;
}

/* Out of memory while posting a progress or text event: the event is
 * dropped (the caller notes a lost text in the DONE event), which is better
 * than the worker dying. Returns 0 when posted. */
static int post(bc_worker *w, bc_event *ev) {
    if (!ev) return -1;
    if (bc_queue_push(w->events, ev) == 0) return 0;
    bc_event_free(ev);
    return -1;
}

/* The request's next preallocated event, filled in by the caller and then
 * posted with post_final(); this cannot fail (the events and their queue
 * slots were reserved by submit()). */
static bc_event *final_event(request *r, bc_event_type t) {
    if (r->n_finals_used >= r->n_finals) return NULL; /* more than finals_needed(): a bug */
    bc_event *ev = r->finals[r->n_finals_used];
    memset(ev, 0, sizeof *ev);
    ev->type = t;
    ev->request_id = r->id;
    ev->request_kind = r->kind;
    return ev;
}

static void post_final(bc_worker *w, request *r, bc_event *ev) {
    if (!ev) return;
    r->finals[r->n_finals_used++] = NULL;  /* now the queue's */
    bc_queue_push_reserved(w->events, ev);
}

static void post_error(bc_worker *w, request *r, const char *msg) {
    bc_event *ev = final_event(r, BC_EV_ERROR);
    if (ev) snprintf(ev->message, sizeof ev->message, "%s", msg);
    post_final(w, r, ev);
}

int bc_worker_wake_fd(const bc_worker *w) { return bc_queue_wake_fd(w->events); }
void bc_worker_clear_wake(bc_worker *w) { bc_queue_clear_wake(w->events); }
bc_event *bc_worker_next_event(bc_worker *w) { return bc_queue_pop(w->events); }
bc_event *bc_worker_wait_event(bc_worker *w) { return bc_queue_pop_wait(w->events); }

/* ---- loading ----------------------------------------------------------- */

typedef struct load_ctx {
    bc_worker *w;
    const request *r;
    int last_permille; /* throttles progress events to one per 0.5 % */
} load_ctx;

static void on_progress(void *user, uint64_t done, uint64_t total) {
    load_ctx *c = user;
    int pm = total ? (int)((long double)done * 1000 / total) : 0;
    if (pm < c->last_permille + 5 && done != total) return;
    c->last_permille = pm;
    bc_event *ev = event_new(BC_EV_LOAD_PROGRESS, c->r);
    if (!ev) return;
    ev->bytes_done = done;
    ev->bytes_total = total;
    post(c->w, ev);
}

static void copy_info(bc_worker_info *dst, const bc_engine_info *src) {
    snprintf(dst->model_name, sizeof dst->model_name, "%s", src->model_name ? src->model_name : "?");
    snprintf(dst->backend, sizeof dst->backend, "%s", src->backend ? src->backend : "?");
    snprintf(dst->quant, sizeof dst->quant, "%s", src->quant ? src->quant : "?");
    dst->is_demo = src->is_demo;
    dst->context_max = src->context_max;
    dst->weight_bytes = src->weight_bytes;
}

static void copy_generation(bc_generation_config *dst, const bc_engine_ops *ops, const void *e) {
    const bc_generation_config *g = ops->generation_config ? ops->generation_config(e) : NULL;
    if (g) *dst = *g;
    else bc_generation_config_defaults(dst);
}

static void drop_engine(bc_worker *w) {
    if (!w->engine) return;
    w->ops->free(w->engine);
    w->engine = NULL;
    w->ops = NULL;
#ifdef __GLIBC__
    /* glibc keeps freed heap for reuse; an unloaded model must give its
     * memory back to the system (the next model may need all of it). */
    malloc_trim(0);
#endif
}

static int try_load(bc_worker *w, request *r, const char *model, const char *backend,
                    const char *quant, int threads, bc_error *err) {
    const bc_engine_ops *ops = bc_worker_ops_for_model(model);
    bc_load_params p = {.model = model, .backend = backend, .quant = quant, .threads = threads};
    load_ctx c = {.w = w, .r = r, .last_permille = -1000};
    void *e = NULL;
    if (ops->load(&p, on_progress, &c, &e, err) != 0) return -1;
    w->ops = ops;
    w->engine = e;
    bc_engine_info info;
    ops->get_info(e, &info);
    bc_event *ev = final_event(r, BC_EV_LOADED);
    if (ev) {
        copy_info(&ev->info, &info);
        copy_generation(&ev->info.generation, ops, e);
    }
    post_final(w, r, ev);
    return 0;
}

/* Frees the current engine first (a GPU may not hold two models), loads the
 * new one; when that fails, reloads the previous model so the user can go on. */
static void do_load(bc_worker *w, request *r) {
    drop_engine(w);
    bc_error err;
    bc_error_clear(&err);
    if (try_load(w, r, r->model, r->backend, r->quant, r->threads, &err) == 0) {
        free(w->loaded_model);
        free(w->loaded_backend);
        free(w->loaded_quant);
        w->loaded_model = strdup(r->model);
        w->loaded_backend = strdup(r->backend);
        w->loaded_quant = strdup(r->quant);
        w->loaded_threads = r->threads;
        return;
    }
    post_error(w, r, err.msg);
    if (w->loaded_model && w->loaded_backend && w->loaded_quant) {
        bc_error_clear(&err);
        if (try_load(w, r, w->loaded_model, w->loaded_backend, w->loaded_quant,
                     w->loaded_threads, &err) == 0)
            return;
        post_error(w, r, err.msg);
    }
    post_final(w, r, final_event(r, BC_EV_UNLOADED));
}

/* ---- generating -------------------------------------------------------- */

/* Input bytes handled per step of on_text: one step per call for any piece
 * a real tokenizer makes (Baichuan2's longest is 96 bytes); longer input is
 * taken in several steps, each posting its own TEXT event. */
#define TEXT_STEP 1024

typedef struct gen_ctx {
    bc_worker *w;
    const request *r;
    unsigned char pending[4];      /* bytes of an unfinished UTF-8 character (< 4) */
    size_t n_pending;
    bool text_dropped;             /* a TEXT event was lost (out of memory) */
    /* Scratch of on_text, here so that a token costs one allocation (its
     * event): pending + one step of input, and its whole characters (an
     * invalid byte may become the 3 bytes of U+FFFD). */
    unsigned char in[4 + TEXT_STEP];
    char out[3 * (4 + TEXT_STEP)];
} gen_ctx;

static bool cancelled(const gen_ctx *c) {
    return atomic_load(&c->w->stopping) || atomic_load(&c->w->cancel_upto) >= c->r->id;
}

/* Length of the UTF-8 sequence starting with byte b, 0 if b cannot start one. */
static size_t utf8_seq_len(unsigned char b) {
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/* Copies whole, valid characters of in[0..n) to out; invalid bytes become
 * U+FFFD. Returns bytes written; *used = bytes consumed (the rest is an
 * unfinished character at the end). out must hold 3*n bytes. */
static size_t utf8_whole(const unsigned char *in, size_t n, char *out, size_t *used) {
    size_t i = 0, o = 0;
    while (i < n) {
        size_t len = utf8_seq_len(in[i]);
        size_t ok = len ? 1 : 0;
        while (ok && ok < len && i + ok < n && (in[i + ok] & 0xC0) == 0x80) ok++;
        if (ok == len && len) {
            memcpy(out + o, in + i, len);
            o += len;
            i += len;
        } else if (len && i + ok == n) {
            break; /* unfinished at the end: keep for the next piece */
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += ok ? ok : 1;
        }
    }
    *used = i;
    return o;
}

/* Posts one TEXT event: the event and its text in one allocation. */
static void post_text(gen_ctx *c, const char *s, size_t len) {
    if (!len) return;
    text_event *te = malloc(sizeof *te + len + 1);
    if (!te) {
        c->text_dropped = true;
        return;
    }
    memset(&te->ev, 0, sizeof te->ev);
    te->ev.type = BC_EV_TEXT;
    te->ev.request_id = c->r->id;
    te->ev.request_kind = c->r->kind;
    memcpy(te->text, s, len);
    te->text[len] = 0;
    te->ev.text = te->text;
    te->ev.text_len = len;
    if (post(c->w, &te->ev) != 0) c->text_dropped = true;
}

/* The engine emits whole characters; the fake engine cuts them anywhere, so
 * an unfinished character waits in `pending` for the rest. */
static int on_text(void *user, const char *utf8, size_t len) {
    gen_ctx *c = user;
    do {
        size_t step = len < TEXT_STEP ? len : TEXT_STEP;
        size_t total = c->n_pending + step;
        memcpy(c->in, c->pending, c->n_pending);
        memcpy(c->in + c->n_pending, utf8, step);
        size_t used;
        size_t o = utf8_whole(c->in, total, c->out, &used);
        c->n_pending = total - used; /* < 4: only an unfinished character is kept */
        if (c->n_pending > sizeof c->pending) c->n_pending = 0;
        memcpy(c->pending, c->in + used, c->n_pending);
        post_text(c, c->out, o);
        utf8 += step;
        len -= step;
    } while (len > 0);
    return cancelled(c) ? 1 : 0;
}

static void do_generate(bc_worker *w, request *r) {
    gen_ctx ctx = {.w = w, .r = r}; /* 5 KB: fine on any thread's stack */
    gen_ctx *c = &ctx;
    bc_gen_stats stats;
    memset(&stats, 0, sizeof stats);
    if (cancelled(c)) {
        stats.stop = BC_STOP_CANCELLED;
    } else if (!w->engine) {
        post_error(w, r, "no model is loaded");
        return;
    } else {
        bc_error err;
        bc_error_clear(&err);
        int rc = w->ops->chat(w->engine, r->msgs, r->n_msgs, &r->sampling, on_text, c, &stats, &err);
        if (c->n_pending) post_text(c, "\xEF\xBF\xBD", 3); /* stream ended mid-character */
        if (rc != 0) {
            post_error(w, r, err.msg[0] ? err.msg : "generation failed");
            return;
        }
        if (cancelled(c)) stats.stop = BC_STOP_CANCELLED;
    }
    bc_event *ev = final_event(r, BC_EV_DONE);
    if (ev) {
        ev->stats = stats;
        ev->text_dropped = c->text_dropped;
    }
    post_final(w, r, ev);
}


/* ---- thread ------------------------------------------------------------ */

static void *worker_main(void *arg) {
    bc_worker *w = arg;
    for (;;) {
        request *r = bc_queue_pop_wait(w->requests);
        bc_request_kind kind = r->kind;
        switch (kind) {
        case BC_REQ_LOAD: do_load(w, r); break;
        case BC_REQ_GENERATE: do_generate(w, r); break;
        case BC_REQ_UNLOAD:
            drop_engine(w);
            post_final(w, r, final_event(r, BC_EV_UNLOADED));
            break;
        case BC_REQ_RESET:
            if (w->engine) w->ops->reset(w->engine);
            break;
        case BC_REQ_SHUTDOWN: break;
        }
        request_done(w, r);
        if (kind == BC_REQ_SHUTDOWN) break;
    }
    drop_engine(w);
    return NULL;
}

bc_worker *bc_worker_start(bc_error *err) {
#ifdef __GLIBC__
    /* glibc raises its mmap threshold (up to 32 MB) each time a large block
     * is freed, after which model-sized buffers come from a thread's heap,
     * whose top malloc_trim cannot hand back. A fixed threshold keeps every
     * buffer of 256 KB or more in its own mapping, returned at free: an
     * unloaded model then leaves nothing resident. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    bc_worker *w = calloc(1, sizeof *w);
    if (!w) {
        bc_errorf(err, "worker: out of memory");
        return NULL;
    }
    atomic_init(&w->next_id, 0);
    atomic_init(&w->cancel_upto, 0);
    atomic_init(&w->stopping, false);
    w->requests = bc_queue_new(false, err);
    w->events = w->requests ? bc_queue_new(true, err) : NULL;
    if (!w->events) {
        bc_queue_free(w->requests, NULL);
        free(w);
        return NULL;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        bc_errorf(err, "worker: cannot start the inference thread");
        bc_queue_free(w->requests, NULL);
        bc_queue_free(w->events, NULL);
        free(w);
        return NULL;
    }
    return w;
}

void bc_worker_stop(bc_worker *w) {
    if (!w) return;
    atomic_store(&w->stopping, true);
    /* The shutdown request must get through even when memory is short:
     * retry the push (it only fails on OOM while growing the ring). */
    for (;;) {
        request *r = calloc(1, sizeof *r);
        if (!r) continue;
        r->kind = BC_REQ_SHUTDOWN;
        if (submit(w, r) != 0) break;
    }
    pthread_join(w->thread, NULL);
    bc_queue_free(w->requests, request_free);
    bc_queue_free(w->events, event_free_void);
    free(w->loaded_model);
    free(w->loaded_backend);
    free(w->loaded_quant);
    free(w);
}
