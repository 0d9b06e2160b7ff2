/* bc_threadpool: a fixed set of worker threads that run one parallel-for at a
 * time, for the CPU kernels (matvec, matmul, elementwise ops).
 *
 * Decode calls a parallel-for a few hundred times per token, so dispatch must
 * be cheap: no allocation per call, workers spin briefly (tens of µs) for the
 * next job before sleeping on a futex, and the caller takes part in the work
 * instead of waiting idle.
 *
 * One thread at a time drives a pool (calls are serialized by a mutex). A
 * callback that calls bc_threadpool_run on the same pool gets the nested
 * range run inline on its own thread (no deadlock, no extra parallelism). */
#ifndef BC_THREADPOOL_H
#define BC_THREADPOOL_H

#include "bc_error.h"

typedef struct bc_threadpool bc_threadpool;

/* Processes items [begin, end) of a parallel-for. worker is the index of the
 * thread running it, 0 .. bc_threadpool_size()-1 (0 = the calling thread), so
 * a callback may use per-worker scratch indexed by it. A worker may receive
 * several ranges during one call. */
typedef void (*bc_parallel_fn)(void *ctx, int begin, int end, int worker);

/* n_threads counts the calling thread: 1 means no worker threads at all.
 * n_threads <= 0 means one per online CPU core. Returns NULL (err set) if
 * threads cannot be created. */
bc_threadpool *bc_threadpool_new(int n_threads, bc_error *err);

/* Stops and joins the workers. NULL is allowed. */
void bc_threadpool_free(bc_threadpool *pool);

/* Number of threads that run work, including the caller; 1 for a NULL pool. */
int bc_threadpool_size(const bc_threadpool *pool);

/* Runs fn over [0, n_items) split into contiguous ranges, and returns when all
 * are done. Ranges are handed out dynamically (a few per thread) so a core
 * that is busy with another process does not hold everybody up. pool may be
 * NULL: fn(ctx, 0, n_items, 0) runs on the caller. n_items <= 0 does nothing. */
void bc_threadpool_run(bc_threadpool *pool, bc_parallel_fn fn, void *ctx, int n_items);

/* Number of online CPU cores (at least 1). */
int bc_cpu_count(void);

#endif
