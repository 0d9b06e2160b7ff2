/* The worker when memory runs out: the UI must always get each request's
 * final event (DONE, ERROR, LOADED, UNLOADED), since a lost DONE leaves the
 * chat screen "generating" forever. Allocations are failed through the
 * linker's --wrap, on the worker thread only (the submitting thread's own
 * failures are reported by bc_worker_* returning 0, also checked here). */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../bc_test.h"
#include "worker.h"

enum { FAIL_NONE = 0, FAIL_WORKER_BIG, FAIL_WORKER_ALL, FAIL_MAIN_NTH };

static atomic_int fail_mode;
static atomic_long main_countdown; /* FAIL_MAIN_NTH: the main thread's n-th allocation fails */
static pthread_t main_thread;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static int should_fail(size_t bytes) {
    int mode = atomic_load(&fail_mode);
    if (mode == FAIL_NONE) return 0;
    int on_main = pthread_equal(pthread_self(), main_thread);
    if (mode == FAIL_MAIN_NTH) return on_main && atomic_fetch_sub(&main_countdown, 1) == 1;
    if (on_main) return 0;
    /* "Big": every event (over 1 KB each) but not the fake engine's small
     * reply buffer, so the reply is made and only its TEXT events are lost. */
    return mode == FAIL_WORKER_ALL || bytes >= 512;
}

void *__wrap_malloc(size_t n) { return should_fail(n) ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) {
    return should_fail(n * size) ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) { return should_fail(n) ? NULL : __real_realloc(p, n); }

/* The next event of request id (progress skipped), or NULL after 10 s. */
static bc_event *next_of(bc_worker *w, uint64_t id, int *texts) {
    for (;;) {
        bc_event *ev = bc_worker_next_event(w);
        if (!ev) {
            struct pollfd p = {.fd = bc_worker_wake_fd(w), .events = POLLIN};
            if (poll(&p, 1, 10000) != 1) return NULL;
            bc_worker_clear_wake(w);
            continue;
        }
        if (ev->request_id == id && ev->type == BC_EV_TEXT && texts) ++*texts;
        if (ev->request_id == id && ev->type != BC_EV_TEXT && ev->type != BC_EV_LOAD_PROGRESS)
            return ev;
        bc_event_free(ev);
    }
}

static uint64_t ask(bc_worker *w) {
    bc_message m = {BC_ROLE_USER, "hi"};
    bc_sampling s = {.temperature = 0, .top_p = 1, .repetition_penalty = 1, .seed = 1};
    return bc_worker_generate(w, &m, 1, &s);
}

static void test_generate(bc_worker *w) {
    atomic_store(&fail_mode, FAIL_WORKER_BIG);
    uint64_t id = ask(w);
    int texts = 0;
    bc_event *ev = next_of(w, id, &texts);
    atomic_store(&fail_mode, FAIL_NONE);
    CHECK(ev && ev->type == BC_EV_DONE && ev->stats.stop == BC_STOP_EOS && ev->text_dropped &&
              texts == 0,
          "no memory for TEXT events: DONE still arrives and says text was dropped (%s, %d texts)",
          ev ? "got an event" : "timed out", texts);
    bc_event_free(ev);

    atomic_store(&fail_mode, FAIL_WORKER_ALL);
    id = ask(w);
    ev = next_of(w, id, NULL);
    atomic_store(&fail_mode, FAIL_NONE);
    CHECK(ev && ev->type == BC_EV_ERROR && strstr(ev->message, "out of memory"),
          "no memory at all on the worker: the engine's ERROR arrives (%s)", ev ? ev->message : "timed out");
    bc_event_free(ev);

    id = ask(w);
    texts = 0;
    ev = next_of(w, id, &texts);
    CHECK(ev && ev->type == BC_EV_DONE && !ev->text_dropped && texts > 0,
          "with memory back, a reply streams whole (%d texts)", texts);
    bc_event_free(ev);
}

static void test_load(bc_worker *w) {
    atomic_store(&fail_mode, FAIL_WORKER_ALL);
    uint64_t id = bc_worker_load(w, "fake", "auto", "auto", 0);
    bc_event *e1 = next_of(w, id, NULL), *e2 = e1 ? next_of(w, id, NULL) : NULL,
             *e3 = e2 ? next_of(w, id, NULL) : NULL;
    atomic_store(&fail_mode, FAIL_NONE);
    CHECK(e1 && e2 && e3 && e1->type == BC_EV_ERROR && e2->type == BC_EV_ERROR &&
              e3->type == BC_EV_UNLOADED,
          "a load without memory: ERROR, ERROR of the reload, then UNLOADED (%d %d %d)",
          e1 ? (int)e1->type : -1, e2 ? (int)e2->type : -1, e3 ? (int)e3->type : -1);
    bc_event_free(e1);
    bc_event_free(e2);
    bc_event_free(e3);
    id = bc_worker_load(w, "fake", "auto", "auto", 0);
    bc_event *ev = next_of(w, id, NULL);
    CHECK(ev && ev->type == BC_EV_LOADED, "loads again with memory back");
    bc_event_free(ev);
}

/* Each allocation of bc_worker_generate failing in turn: it returns 0 and
 * the worker goes on as if nothing was asked (no event, nothing reserved). */
static void test_submit(bc_worker *w) {
    int failed = 0, n;
    for (n = 1; n < 50; n++) {
        atomic_store(&main_countdown, n);
        atomic_store(&fail_mode, FAIL_MAIN_NTH);
        uint64_t id = ask(w);
        atomic_store(&fail_mode, FAIL_NONE);
        if (id) {
            bc_event *ev = next_of(w, id, NULL);
            int ok = ev && ev->type == BC_EV_DONE;
            bc_event_free(ev);
            if (!ok) failed = -1000;
            break;
        }
        failed++;
    }
    uint64_t id = ask(w);
    bc_event *ev = next_of(w, id, NULL);
    CHECK(failed > 0 && ev && ev->type == BC_EV_DONE,
          "bc_worker_generate reports each of its %d allocations failing by returning 0", failed);
    bc_event_free(ev);
}

int main(void) {
    main_thread = pthread_self();
    setenv("BC_FAKE_REPLY", "你好 😀 ok — 中文 end", 1);
    setenv("BC_FAKE_DELAY_MS", "0", 1);
    setenv("BC_FAKE_LOAD_MS", "0", 1);
    unsetenv("BC_FAKE_ENGINE");
    bc_error err;
    bc_worker *w = bc_worker_start(&err);
    uint64_t id = bc_worker_load(w, "fake", "auto", "auto", 0);
    bc_event *ev = next_of(w, id, NULL);
    CHECK(ev && ev->type == BC_EV_LOADED, "fake engine loaded");
    bc_event_free(ev);
    test_generate(w);
    test_load(w);
    test_submit(w);
    bc_worker_stop(w);
    return bc_test_done();
}
