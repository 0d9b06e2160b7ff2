/* bc_threadpool: see threadpool.h.
 *
 * Protocol. A job is published by writing its fields, then one 64-bit "claim"
 * word {generation:32, n_chunks:16, next_chunk:16}, then bumping the 32-bit
 * `generation` futex word that idle workers wait on. Any thread takes a chunk
 * with a CAS on the claim word, which succeeds only for the current
 * generation, so a worker that wakes up late can never run a chunk of a job
 * that is already finished. The caller waits for `completed == n_chunks`, not
 * for every worker to wake: a sleeping worker costs nothing, the caller just
 * does more of the chunks itself. Job fields are read only after a successful
 * claim, and the caller cannot publish the next job before that claimed chunk
 * completes, so they are stable while read.
 *
 * Waiting is spin-then-futex on both sides (Linux futex, private). */
#include "threadpool.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define bc_cpu_relax() _mm_pause()
#else
#define bc_cpu_relax() ((void)0)
#endif

/* How long an idle thread spins before sleeping. Decode issues a new job
 * every few µs, so a short spin keeps workers hot; the machine may be shared,
 * so we do not spin longer than that. */
#define BC_SPIN_NS 100000L
/* Chunks per thread: more gives better balance on a busy machine, fewer
 * costs less atomics. Chunk indices must fit the claim word's 16 bits. */
#define BC_CHUNKS_PER_THREAD 4
#define BC_MAX_THREADS 1024

struct bc_threadpool {
    int n_threads;       /* including the caller */
    pthread_t *workers;  /* [n_threads - 1] */
    pthread_mutex_t run_lock;

    /* The current job; written by the caller before publishing. */
    bc_parallel_fn fn;
    void *ctx;
    int n_items;
    int n_chunks;

    _Atomic uint64_t claim;        /* {generation, n_chunks, next_chunk} */
    _Atomic uint32_t generation;   /* futex word: bumped per job and at stop */
    _Atomic int sleepers;          /* workers inside futex_wait(generation) */
    _Atomic int completed;         /* chunks finished in this job */
    _Atomic uint32_t done_word;    /* futex word: bumped when a job completes */
    _Atomic int caller_waiting;    /* caller inside futex_wait(done_word) */
    _Atomic int stop;
};

typedef struct bc_worker_arg {
    bc_threadpool *pool;
    int index;
} bc_worker_arg;

/* The pool whose job this thread is running now (for nested calls). */
static _Thread_local bc_threadpool *tls_running_pool;

static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Spins until *word != value or the spin budget is used. Returns whether the
 * word changed. */
static int spin_until_changed(_Atomic uint32_t *word, uint32_t value) {
    long start = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != value) return 1;
        bc_cpu_relax();
        if ((i & 63) == 63) {
            long t = now_ns();
            if (start == 0) start = t;
            else if (t - start > BC_SPIN_NS) return 0;
        }
    }
}

/* The caller's spin: until all chunks of the job are done, or the budget. */
static int spin_until_complete(bc_threadpool *pool, int n_chunks) {
    long start = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&pool->completed, memory_order_acquire) == n_chunks) return 1;
        bc_cpu_relax();
        if ((i & 63) == 63) {
            long t = now_ns();
            if (start == 0) start = t;
            else if (t - start > BC_SPIN_NS) return 0;
        }
    }
}

/* Claims and runs chunks of generation `gen` until none are left. */
static void run_chunks(bc_threadpool *pool, uint32_t gen, int worker) {
    uint64_t c = atomic_load_explicit(&pool->claim, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(c >> 32) != gen) return;
        uint32_t next = (uint32_t)(c & 0xffff);
        uint32_t n_chunks = (uint32_t)((c >> 16) & 0xffff);
        if (next >= n_chunks) return;
        if (!atomic_compare_exchange_weak_explicit(&pool->claim, &c, c + 1,
                                                   memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* c was reloaded */
        int64_t n = pool->n_items;
        int begin = (int)(n * next / n_chunks);
        int end = (int)(n * (next + 1) / n_chunks);
        tls_running_pool = pool;
        pool->fn(pool->ctx, begin, end, worker);
        tls_running_pool = NULL;
        int done = atomic_fetch_add_explicit(&pool->completed, 1, memory_order_acq_rel) + 1;
        if (done == (int)n_chunks) {
            atomic_fetch_add(&pool->done_word, 1);
            if (atomic_load(&pool->caller_waiting)) futex_wake_all(&pool->done_word);
        }
        c = atomic_load_explicit(&pool->claim, memory_order_acquire);
    }
}

static void *worker_main(void *p) {
    bc_worker_arg arg = *(bc_worker_arg *)p;
    free(p);
    bc_threadpool *pool = arg.pool;
    uint32_t seen = atomic_load(&pool->generation);
    for (;;) {
        if (!spin_until_changed(&pool->generation, seen)) {
            atomic_fetch_add(&pool->sleepers, 1);
            /* Re-check after announcing ourselves: the caller bumps the
             * generation before it looks at `sleepers` (both seq_cst). */
            /* `stop` too: a pool freed before this worker first read the
             * generation has already bumped it (engine: fixes a hang). */
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                futex_wait(&pool->generation, seen);
            atomic_fetch_sub(&pool->sleepers, 1);
        }
        seen = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (atomic_load(&pool->stop)) break;
        run_chunks(pool, seen, arg.index);
    }
    return NULL;
}

int bc_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    if (n > BC_MAX_THREADS) return BC_MAX_THREADS;
    return (int)n;
}

bc_threadpool *bc_threadpool_new(int n_threads, bc_error *err) {
    if (n_threads <= 0) n_threads = bc_cpu_count();
    if (n_threads > BC_MAX_THREADS) {
        bc_errorf(err, "thread pool: %d threads requested, at most %d supported",
                  n_threads, BC_MAX_THREADS);
        return NULL;
    }
    bc_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool) {
        bc_errorf(err, "thread pool: out of memory");
        return NULL;
    }
    pool->n_threads = 1;
    pthread_mutex_init(&pool->run_lock, NULL);
    if (n_threads > 1) {
        pool->workers = calloc((size_t)n_threads - 1, sizeof *pool->workers);
        if (!pool->workers) {
            bc_threadpool_free(pool);
            bc_errorf(err, "thread pool: out of memory");
            return NULL;
        }
    }
    for (int i = 1; i < n_threads; i++) {
        bc_worker_arg *arg = malloc(sizeof *arg);
        int rc = arg ? 0 : ENOMEM;
        if (arg) {
            arg->pool = pool;
            arg->index = i;
            rc = pthread_create(&pool->workers[i - 1], NULL, worker_main, arg);
            if (rc) free(arg);
        }
        if (rc) {
            bc_threadpool_free(pool);
            bc_errorf(err, "thread pool: cannot start thread %d of %d: %s", i + 1,
                      n_threads, strerror(rc));
            return NULL;
        }
        pool->n_threads = i + 1; /* threads started so far, for free() */
    }
    return pool;
}

void bc_threadpool_free(bc_threadpool *pool) {
    if (!pool) return;
    atomic_store(&pool->stop, 1);
    atomic_fetch_add(&pool->generation, 1);
    futex_wake_all(&pool->generation);
    for (int i = 0; i < pool->n_threads - 1; i++) pthread_join(pool->workers[i], NULL);
    pthread_mutex_destroy(&pool->run_lock);
    free(pool->workers);
    free(pool);
}

int bc_threadpool_size(const bc_threadpool *pool) {
    return pool ? pool->n_threads : 1;
}

void bc_threadpool_run(bc_threadpool *pool, bc_parallel_fn fn, void *ctx, int n_items) {
    if (n_items <= 0) return;
    if (!pool || pool->n_threads == 1 || n_items == 1 || tls_running_pool == pool) {
        fn(ctx, 0, n_items, 0);
        return;
    }
    pthread_mutex_lock(&pool->run_lock);
    int n_chunks = pool->n_threads * BC_CHUNKS_PER_THREAD;
    if (n_chunks > n_items) n_chunks = n_items;
    if (n_chunks > 0xffff) n_chunks = 0xffff;
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n_items = n_items;
    pool->n_chunks = n_chunks;
    atomic_store_explicit(&pool->completed, 0, memory_order_relaxed);
    uint32_t gen = atomic_load_explicit(&pool->generation, memory_order_relaxed) + 1;
    atomic_store(&pool->claim, ((uint64_t)gen << 32) | ((uint64_t)n_chunks << 16));
    atomic_store(&pool->generation, gen);
    if (atomic_load(&pool->sleepers) > 0) futex_wake_all(&pool->generation);

    run_chunks(pool, gen, 0);

    /* Other threads may still be finishing chunks they claimed. Completion is
     * judged by `completed` alone; done_word only exists to sleep on (a late
     * bump from an earlier job merely causes a spurious wake-up). */
    while (atomic_load(&pool->completed) != n_chunks) {
        if (spin_until_complete(pool, n_chunks)) break;
        uint32_t d = atomic_load(&pool->done_word);
        atomic_store(&pool->caller_waiting, 1);
        if (atomic_load(&pool->completed) != n_chunks) futex_wait(&pool->done_word, d);
        atomic_store(&pool->caller_waiting, 0);
    }
    atomic_thread_fence(memory_order_acquire);
    pthread_mutex_unlock(&pool->run_lock);
}
