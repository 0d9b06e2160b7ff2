/* Unit tests of inference/threadpool: every index of a parallel-for is run
 * exactly once, by a valid worker, over many back-to-back jobs (the dispatch
 * protocol), with nested calls, a NULL pool, one thread, and more threads
 * than cores; jobs after the workers fell asleep still complete. */
#include <stdatomic.h>
#include <time.h>

#include "bc_test.h"
#include "threadpool.h"

typedef struct count_job {
    _Atomic int *hits; /* [n] */
    int n_threads;
    _Atomic int bad_worker;
    _Atomic int bad_range;
    int n;
} count_job;

static void count_range(void *ctx, int begin, int end, int worker) {
    count_job *j = ctx;
    if (worker < 0 || worker >= j->n_threads) atomic_store(&j->bad_worker, 1);
    if (begin < 0 || end > j->n || begin >= end) atomic_store(&j->bad_range, 1);
    for (int i = begin; i < end; i++) atomic_fetch_add(&j->hits[i], 1);
}

/* Runs `rounds` jobs of sizes 1..max_n; returns the number of wrong counts. */
static int run_rounds(bc_threadpool *pool, int rounds, int max_n, count_job *j) {
    int wrong = 0;
    for (int r = 0; r < rounds; r++) {
        int n = 1 + (r * 7919) % max_n;
        j->n = n;
        for (int i = 0; i < n; i++) atomic_store(&j->hits[i], 0);
        bc_threadpool_run(pool, count_range, j, n);
        for (int i = 0; i < n; i++) wrong += atomic_load(&j->hits[i]) != 1;
    }
    return wrong;
}

typedef struct nested_job {
    bc_threadpool *pool;
    _Atomic long total;
} nested_job;

static void inner(void *ctx, int begin, int end, int worker) {
    (void)worker;
    nested_job *j = ctx;
    for (int i = begin; i < end; i++) atomic_fetch_add(&j->total, i);
}

static void outer(void *ctx, int begin, int end, int worker) {
    (void)worker;
    nested_job *j = ctx;
    for (int i = begin; i < end; i++) bc_threadpool_run(j->pool, inner, j, 100);
}

int main(void) {
    enum { MAX_N = 5000 };
    static _Atomic int hits[MAX_N];
    bc_error err = {{0}};
    const int sizes[] = {1, 2, 4};
    for (size_t s = 0; s < 3; s++) {
        bc_threadpool *pool = bc_threadpool_new(sizes[s], &err);
        CHECK(pool != NULL, "pool of %d threads created %s", sizes[s], err.msg);
        if (!pool) continue;
        CHECK(bc_threadpool_size(pool) == sizes[s], "size() is %d", sizes[s]);
        count_job j = {hits, sizes[s], 0, 0, 0};
        int wrong = run_rounds(pool, 3000, MAX_N, &j);
        CHECK(wrong == 0 && !j.bad_worker && !j.bad_range,
              "%d threads: 3000 jobs, every index run exactly once (%d wrong)", sizes[s], wrong);

        /* Let the workers give up spinning and sleep, then dispatch again. */
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        wrong = run_rounds(pool, 5, MAX_N, &j);
        CHECK(wrong == 0, "%d threads: jobs after the workers slept complete", sizes[s]);

        nested_job nj = {pool, 0};
        bc_threadpool_run(pool, outer, &nj, 10);
        CHECK(nj.total == 10L * (99 * 100 / 2), "%d threads: nested runs execute inline", sizes[s]);
        bc_threadpool_free(pool);
    }

    count_job j = {hits, 1, 0, 0, 0};
    CHECK(run_rounds(NULL, 50, 100, &j) == 0, "NULL pool runs everything on the caller");
    bc_threadpool_run(NULL, count_range, &j, 0);
    CHECK(1, "zero items is a no-op");
    bc_threadpool *dflt = bc_threadpool_new(0, &err);
    CHECK(dflt && bc_threadpool_size(dflt) == bc_cpu_count(), "default size = %d cores",
          bc_cpu_count());
    bc_threadpool_free(dflt);
    bc_threadpool_free(NULL);
    return bc_test_done();
}
