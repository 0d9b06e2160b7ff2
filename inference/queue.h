/* bc_queue: a thread-safe FIFO of pointers between the UI thread and the
 * worker thread (DESIGN.md "Data flow").
 *
 * A mutex + condvar protects a growable ring. A consumer that sleeps in
 * poll() (the UI) asks for a wake fd: every push that makes the queue
 * non-empty writes the eventfd once, so the UI's poll() returns; the consumer
 * that blocks instead (the worker) uses bc_queue_pop_wait(). */
#ifndef BC_QUEUE_H
#define BC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "bc_error.h"

typedef struct bc_queue bc_queue;

/* with_wake_fd: also create an eventfd that becomes readable on push. */
bc_queue *bc_queue_new(bool with_wake_fd, bc_error *err);

/* Frees the queue; items still queued are passed to free_item (may be NULL). */
void bc_queue_free(bc_queue *q, void (*free_item)(void *item));

/* Appends item (not NULL). Returns 0, or -1 when memory runs out (the item
 * is then still the caller's). */
int bc_queue_push(bc_queue *q, void *item);

/* Reservations: room for items that must never be lost (the worker's final
 * event of each request). bc_queue_reserve(q, n) makes room for n more items
 * now, while a failure can still be reported; each later
 * bc_queue_push_reserved() uses one of those slots and cannot fail. Slots
 * that will not be used are given back with bc_queue_unreserve(). Plain
 * pushes never use reserved slots. */
int bc_queue_reserve(bc_queue *q, size_t n);
void bc_queue_push_reserved(bc_queue *q, void *item);
void bc_queue_unreserve(bc_queue *q, size_t n);

/* Removes the oldest item; NULL when empty. Never blocks. */
void *bc_queue_pop(bc_queue *q);

/* Removes the oldest item, sleeping until there is one. */
void *bc_queue_pop_wait(bc_queue *q);

size_t bc_queue_length(bc_queue *q);

/* The eventfd to poll for POLLIN, or -1 when created without one. */
int bc_queue_wake_fd(const bc_queue *q);

/* Clears the wake fd's readiness. Call before draining the queue with
 * bc_queue_pop so that a push racing with the drain wakes the next poll. */
void bc_queue_clear_wake(bc_queue *q);

#endif
