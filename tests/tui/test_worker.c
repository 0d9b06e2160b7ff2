/* The queue and the worker thread with the fake engine: ordering, UTF-8
 * joining, cancel within one token, load failure fallback, and many random
 * generate/cancel/load/reset interleavings. Meant to be run under
 * ThreadSanitizer too (meson setup -Db_sanitize=thread). */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bc_test.h"
#include "fake_engine.h"
#include "queue.h"
#include "worker.h"

/* ---- queue ------------------------------------------------------------- */

enum { PRODUCERS = 4, PER_PRODUCER = 5000 };

typedef struct producer_arg {
    bc_queue *q;
    int index;
} producer_arg;

static void *producer(void *p) {
    producer_arg *a = p;
    for (int i = 0; i < PER_PRODUCER; i++) {
        uintptr_t v = ((uintptr_t)a->index << 20) | (uintptr_t)(i + 1);
        while (bc_queue_push(a->q, (void *)v) != 0) {
        }
    }
    return NULL;
}

static int readable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void test_queue(void) {
    bc_error err;
    bc_queue *q = bc_queue_new(true, &err);
    CHECK(q != NULL, "queue created");
    CHECK(!readable(bc_queue_wake_fd(q)), "wake fd idle when empty");
    for (uintptr_t i = 1; i <= 100; i++) bc_queue_push(q, (void *)i);
    CHECK(readable(bc_queue_wake_fd(q)), "wake fd readable after a push");
    bc_queue_clear_wake(q);
    CHECK(!readable(bc_queue_wake_fd(q)), "wake fd cleared");
    int fifo = 1;
    for (uintptr_t i = 1; i <= 100; i++) fifo &= (uintptr_t)bc_queue_pop(q) == i;
    CHECK(fifo && bc_queue_pop(q) == NULL, "FIFO order over a ring that grew");

    pthread_t t[PRODUCERS];
    producer_arg a[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        a[i] = (producer_arg){q, i};
        pthread_create(&t[i], NULL, producer, &a[i]);
    }
    int last[PRODUCERS] = {0}, in_order = 1, got = 0;
    while (got < PRODUCERS * PER_PRODUCER) {
        uintptr_t v = (uintptr_t)bc_queue_pop_wait(q);
        int who = (int)(v >> 20), seq = (int)(v & 0xFFFFF);
        if (who >= PRODUCERS || seq != last[who] + 1) in_order = 0;
        else last[who] = seq;
        got++;
    }
    for (int i = 0; i < PRODUCERS; i++) pthread_join(t[i], NULL);
    CHECK(in_order && bc_queue_length(q) == 0, "4 producers x %d items: each in order, none lost",
          PER_PRODUCER);
    bc_queue_free(q, NULL);
}

/* ---- worker helpers ---------------------------------------------------- */

typedef struct reply {
    char text[16384];
    size_t len;
    int n_text_events;
    int bad_utf8;  /* a TEXT event that was not whole valid UTF-8 */
} reply;

static int whole_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        size_t len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
        if (!len || i + len > n) return 0;
        for (size_t k = 1; k < len; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80) return 0;
        i += len;
    }
    return 1;
}

/* Waits for the event that ends request id (DONE, ERROR, LOADED, UNLOADED),
 * collecting TEXT into r. Returns that event. */
static bc_event *wait_end(bc_worker *w, uint64_t id, reply *r) {
    for (;;) {
        bc_event *ev = bc_worker_wait_event(w);
        if (ev->request_id != id) {
            bc_event_free(ev);
            continue;
        }
        if (ev->type == BC_EV_TEXT) {
            if (r) {
                if (!whole_utf8(ev->text, ev->text_len)) r->bad_utf8++;
                if (r->len + ev->text_len < sizeof r->text) {
                    memcpy(r->text + r->len, ev->text, ev->text_len);
                    r->len += ev->text_len;
                    r->text[r->len] = 0;
                }
                r->n_text_events++;
            }
            bc_event_free(ev);
            continue;
        }
        if (ev->type == BC_EV_LOAD_PROGRESS) {
            bc_event_free(ev);
            continue;
        }
        return ev;
    }
}

static const bc_sampling SAMPLING = {.temperature = 0, .top_k = 0, .top_p = 1,
                                     .repetition_penalty = 1, .max_new_tokens = 0, .seed = 1};

static uint64_t ask(bc_worker *w, const char *text) {
    bc_message m = {BC_ROLE_USER, text};
    return bc_worker_generate(w, &m, 1, &SAMPLING);
}

static const char *REPLY = "你好 😀 e\xCC\x81 ok — 中文 ❤️ 🧑‍🌾 end";

static void test_worker_basics(void) {
    bc_error err;
    bc_worker *w = bc_worker_start(&err);
    CHECK(w != NULL, "worker started");

    uint64_t id = ask(w, "hi");
    bc_event *ev = wait_end(w, id, NULL);
    CHECK(ev->type == BC_EV_ERROR && strstr(ev->message, "no model"), "generate before load: %s",
          ev->message);
    bc_event_free(ev);

    id = bc_worker_load(w, "fake", "auto", "auto", 0);
    int progress = 0;
    for (;;) {
        ev = bc_worker_wait_event(w);
        if (ev->type == BC_EV_LOAD_PROGRESS) {
            progress++;
            bc_event_free(ev);
            continue;
        }
        break;
    }
    CHECK(ev->type == BC_EV_LOADED && ev->request_id == id && !strcmp(ev->info.model_name, "fake")
              && ev->info.context_max > 0,
          "load: LOADED fake after %d progress events", progress);
    CHECK(progress >= 10, "load progress reported");
    bc_event_free(ev);

    reply r = {0};
    id = ask(w, "hello");
    ev = wait_end(w, id, &r);
    CHECK(ev->type == BC_EV_DONE && ev->stats.stop == BC_STOP_EOS, "generate: DONE (eos)");
    CHECK(r.len == strlen(REPLY) && !memcmp(r.text, REPLY, r.len), "pieces join to the reply: '%s'",
          r.text);
    CHECK(r.bad_utf8 == 0 && r.n_text_events > 5,
          "every TEXT event holds whole UTF-8 characters (%d events)", r.n_text_events);
    CHECK(ev->stats.new_tokens > 0 && ev->stats.context_used > 0, "stats filled");
    bc_event_free(ev);

    /* A failed load brings the previous model back. */
    id = bc_worker_load(w, "fake:fail", "auto", "auto", 0);
    ev = wait_end(w, id, NULL);
    CHECK(ev->type == BC_EV_ERROR && strstr(ev->message, "fake:fail"), "bad load: %s", ev->message);
    bc_event_free(ev);
    ev = wait_end(w, id, NULL);
    CHECK(ev->type == BC_EV_LOADED && !strcmp(ev->info.model_name, "fake"),
          "previous model reloaded after the failure");
    bc_event_free(ev);
    memset(&r, 0, sizeof r);
    id = ask(w, "again");
    ev = wait_end(w, id, &r);
    CHECK(ev->type == BC_EV_DONE && r.len == strlen(REPLY), "still answers after the failed load");
    bc_event_free(ev);

    /* Unload then generate: an error, not a crash. */
    id = bc_worker_unload(w);
    ev = wait_end(w, id, NULL);
    CHECK(ev->type == BC_EV_UNLOADED, "unloaded");
    bc_event_free(ev);
    id = ask(w, "x");
    ev = wait_end(w, id, NULL);
    CHECK(ev->type == BC_EV_ERROR, "generate after unload: error");
    bc_event_free(ev);
    bc_worker_stop(w);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Cancel is honoured within one token: after cancel() returns, at most one
 * more piece arrives (the one being produced when the flag was set). */
static void test_cancel(void) {
    setenv("BC_FAKE_DELAY_MS", "2", 1);
    unsetenv("BC_FAKE_REPLY");
    bc_error err;
    bc_worker *w = bc_worker_start(&err);
    uint64_t id = bc_worker_load(w, "fake", "cpu", "f32", 0);
    bc_event_free(wait_end(w, id, NULL));
    id = ask(w, "FAKE_LONG please");
    int before = 0, after = 0;
    bc_event *ev;
    for (;;) {
        ev = bc_worker_wait_event(w);
        if (ev->type != BC_EV_TEXT) break;
        if (++before == 5) bc_worker_cancel(w);
        else if (before > 5) after++;
        bc_event_free(ev);
    }
    CHECK(ev->type == BC_EV_DONE && ev->stats.stop == BC_STOP_CANCELLED,
          "cancelled reply ends with DONE(cancelled)");
    CHECK(after <= 1, "%d pieces arrived after cancel (limit 1)", after);
    bc_event_free(ev);

    /* Queued generates cancelled before they start end at once. */
    uint64_t a = ask(w, "FAKE_LONG one"), b = ask(w, "FAKE_LONG two");
    bc_worker_cancel(w);
    reply ra = {0}, rb = {0};
    bc_event *ea = wait_end(w, a, &ra), *eb = wait_end(w, b, &rb);
    CHECK(ea->stats.stop == BC_STOP_CANCELLED && eb->stats.stop == BC_STOP_CANCELLED
              && rb.n_text_events == 0,
          "cancel covers queued requests (texts: %d, %d)", ra.n_text_events, rb.n_text_events);
    bc_event_free(ea);
    bc_event_free(eb);
    /* A request submitted after the cancel is not affected. */
    reply rc = {0};
    id = ask(w, "fresh");
    ev = wait_end(w, id, &rc);
    CHECK(ev->type == BC_EV_DONE && ev->stats.stop == BC_STOP_EOS && rc.len > 0,
          "a later request runs normally");
    bc_event_free(ev);
    /* Stopping while a reply streams: the reply (about 1000 pieces, 2 ms
     * each) is cut short, so stop returns long before it would end. */
    id = ask(w, "FAKE_LONG stop me");
    for (;;) {
        ev = bc_worker_wait_event(w);
        int first_text = ev->request_id == id && ev->type == BC_EV_TEXT;
        bc_event_free(ev);
        if (first_text) break;
    }
    double t0 = now_seconds();
    bc_worker_stop(w);
    double took = now_seconds() - t0;
    CHECK(took < 1.0, "stopping mid-reply cancels it: stop took %.3f s (the reply takes > 2 s)", took);
}

/* Final events seen per request of an interleaving run; kinds[i]: 1 generate,
 * 0 load. A generate ends with DONE or ERROR, a load with LOADED or UNLOADED. */
typedef struct finals_log {
    uint64_t *ids;
    int *kinds, *finals;
    int n, finished, late_text;
} finals_log;

static void log_event(finals_log *f, const bc_event *ev) {
    int k = -1;
    for (int i = 0; i < f->n; i++)
        if (f->ids[i] == ev->request_id) k = i;
    if (k < 0) return;
    if (ev->type == BC_EV_TEXT && f->finals[k]) f->late_text++;
    int is_final = f->kinds[k] ? (ev->type == BC_EV_DONE || ev->type == BC_EV_ERROR)
                               : (ev->type == BC_EV_LOADED || ev->type == BC_EV_UNLOADED);
    if (is_final && f->finals[k]++ == 0) f->finished++;
}

/* Waits for the final event of every logged request, then for one more
 * generate's: whatever the worker still had queued for the logged requests
 * has then arrived, so a second final event would have been counted. */
static void wait_all_finals(bc_worker *w, finals_log *f) {
    while (f->finished < f->n) {
        bc_event *ev = bc_worker_wait_event(w);
        log_event(f, ev);
        bc_event_free(ev);
    }
    bc_message m = {BC_ROLE_USER, "last"};
    bc_sampling s = {.temperature = 0, .top_p = 1, .repetition_penalty = 1, .seed = 1};
    uint64_t last = bc_worker_generate(w, &m, 1, &s);
    for (;;) {
        bc_event *ev = bc_worker_wait_event(w);
        int end = ev->request_id == last && (ev->type == BC_EV_DONE || ev->type == BC_EV_ERROR);
        log_event(f, ev);
        bc_event_free(ev);
        if (end) break;
    }
}

static int count_duplicates(const finals_log *f) {
    int dup = 0;
    for (int i = 0; i < f->n; i++) dup += f->finals[i] > 1;
    return dup;
}

/* Random interleavings: every generate gets exactly one final event, nothing
 * of a request arrives after its final event, loads always end. */
static void test_interleavings(void) {
    setenv("BC_FAKE_DELAY_MS", "0", 1);
    setenv("BC_FAKE_LOAD_MS", "0", 1);
    bc_error err;
    bc_worker *w = bc_worker_start(&err);
    enum { N = 600 };
    static uint64_t ids[N];
    static int kinds[N];
    static int finals[N];
    int n = 0;
    unsigned seed = 12345;
    memset(finals, 0, sizeof finals);
    finals_log log = {ids, kinds, finals, 0, 0, 0};
    ids[n] = bc_worker_load(w, "fake", "auto", "auto", 0);
    kinds[n++] = 0;
    while (n < N) {
        seed = seed * 1103515245u + 12345u;
        int op = (int)((seed >> 16) % 10);
        if (op < 5) {
            ids[n] = ask(w, (seed & 0x100) ? "FAKE_LONG x" : "short");
            kinds[n++] = 1;
        } else if (op < 8) {
            bc_worker_cancel(w);
        } else if (op < 9) {
            ids[n] = bc_worker_load(w, (seed & 0x200) ? "fake:fail" : "fake", "auto", "auto", 0);
            kinds[n++] = 0;
        } else {
            bc_worker_reset(w);
        }
        /* Drain what is there without waiting, like the UI does. */
        log.n = n;
        bc_event *ev;
        while ((ev = bc_worker_next_event(w))) {
            log_event(&log, ev);
            bc_event_free(ev);
        }
    }
    log.n = n;
    wait_all_finals(w, &log);
    bc_worker_stop(w);
    CHECK(log.finished == N && count_duplicates(&log) == 0 && log.late_text == 0,
          "%d requests with random cancels, loads and resets: %d ended, one final event each, "
          "no text after it", N, log.finished);

    /* Same again, this time waiting for every request's final event. */
    w = bc_worker_start(&err);
    n = 0;
    ids[n] = bc_worker_load(w, "fake", "auto", "auto", 0);
    kinds[n++] = 0;
    for (int i = 0; i < 200; i++) {
        seed = seed * 1103515245u + 12345u;
        ids[n] = ask(w, (seed & 0x100) ? "FAKE_LONG y" : "short");
        kinds[n++] = 1;
        if (seed & 0x40) bc_worker_cancel(w);
        if ((seed & 0x3000) == 0x3000) {
            ids[n] = bc_worker_load(w, "fake", "auto", "auto", 0);
            kinds[n++] = 0;
        }
    }
    memset(finals, 0, sizeof finals);
    log = (finals_log){ids, kinds, finals, n, 0, 0};
    wait_all_finals(w, &log);
    CHECK(count_duplicates(&log) == 0 && log.late_text == 0,
          "%d requests: one final event each, no text after it", n);
    bc_worker_stop(w);
}

/* The real engine with the built-in demo model behind the same worker. */
static void test_demo_engine(void) {
    bc_error err;
    bc_worker *w = bc_worker_start(&err);
    uint64_t id = bc_worker_load(w, "demo", "cpu", "auto", 2);
    bc_event *ev = wait_end(w, id, NULL);
    if (ev->type != BC_EV_LOADED) {
        CHECK(0, "demo model loads: %s", ev->message);
        bc_event_free(ev);
        bc_worker_stop(w);
        return;
    }
    CHECK(!strcmp(ev->info.model_name, "demo") && ev->info.is_demo, "demo model loaded through the worker");
    bc_event_free(ev);
    bc_sampling s = SAMPLING;
    s.max_new_tokens = 12;
    bc_message m = {BC_ROLE_USER, "你好"};
    reply r = {0};
    id = bc_worker_generate(w, &m, 1, &s);
    ev = wait_end(w, id, &r);
    CHECK(ev->type == BC_EV_DONE && ev->stats.new_tokens > 0 && r.bad_utf8 == 0,
          "demo reply: %d tokens, whole UTF-8 in every event", ev->stats.new_tokens);
    bc_event_free(ev);
    /* Cancel after the second piece of text. The demo model is fast, so more
     * pieces may be queued already: take those first, then cancel; at most
     * the piece being made at that moment may follow (limit 2 for a worker
     * thread that runs on while this one is descheduled). Without cancel the
     * reply runs to its 200-token limit (this seed samples no EOS). */
    s.max_new_tokens = 200;
    id = bc_worker_generate(w, &m, 1, &s);
    int texts = 0, after = -1;
    for (;;) {
        ev = bc_worker_wait_event(w);
        if (ev->request_id == id && ev->type == BC_EV_TEXT) {
            if (after >= 0) after++;
            else if (++texts == 2) {
                bc_event *queued;
                while ((queued = bc_worker_next_event(w))) {
                    if (queued->request_id == id && queued->type != BC_EV_TEXT) break;
                    texts += queued->type == BC_EV_TEXT;
                    bc_event_free(queued);
                }
                if (queued) { /* the reply ended before the cancel */
                    bc_event_free(ev);
                    ev = queued;
                    break;
                }
                bc_worker_cancel(w);
                after = 0;
            }
        }
        if (ev->request_id == id && (ev->type == BC_EV_DONE || ev->type == BC_EV_ERROR)) break;
        bc_event_free(ev);
    }
    CHECK(ev->type == BC_EV_DONE && ev->stats.stop == BC_STOP_CANCELLED && after >= 0 && after <= 2,
          "demo reply cancelled after %d tokens: %d text events before the cancel, %d after "
          "(limit 2)", ev->stats.new_tokens, texts, after);
    bc_event_free(ev);
    s.max_new_tokens = 200;
    reply full = {0};
    id = bc_worker_generate(w, &m, 1, &s);
    ev = wait_end(w, id, &full);
    CHECK(ev->type == BC_EV_DONE && ev->stats.stop == BC_STOP_LENGTH && ev->stats.new_tokens == 200,
          "uncancelled, the same reply runs to its limit (%d tokens, stop %d)", ev->stats.new_tokens,
          (int)ev->stats.stop);
    bc_event_free(ev);
    bc_worker_stop(w);
}

int main(void) {
    setenv("BC_FAKE_REPLY", REPLY, 1);
    setenv("BC_FAKE_DELAY_MS", "0", 1);
    setenv("BC_FAKE_LOAD_MS", "20", 1);
    unsetenv("BC_FAKE_ENGINE");
    test_queue();
    test_worker_basics();
    test_cancel();
    test_interleavings();
    test_demo_engine();
    return bc_test_done();
}
