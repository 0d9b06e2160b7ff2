/* bc_queue: mutex + condvar ring of pointers with an optional eventfd. */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct bc_queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    void **items;    /* ring of `cap` slots */
    size_t cap;
    size_t head;     /* index of the oldest item */
    size_t count;
    size_t reserved; /* free slots promised to bc_queue_push_reserved; count + reserved <= cap */
    int wake_fd;     /* eventfd or -1 */
};

bc_queue *bc_queue_new(bool with_wake_fd, bc_error *err) {
    bc_queue *q = calloc(1, sizeof *q);
    if (!q) {
        bc_errorf(err, "queue: out of memory");
        return NULL;
    }
    q->wake_fd = -1;
    if (with_wake_fd) {
        q->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (q->wake_fd < 0) {
            bc_errorf(err, "queue: eventfd: %s", strerror(errno));
            free(q);
            return NULL;
        }
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    return q;
}

void bc_queue_free(bc_queue *q, void (*free_item)(void *item)) {
    if (!q) return;
    void *it;
    while ((it = bc_queue_pop(q)))
        if (free_item) free_item(it);
    if (q->wake_fd >= 0) close(q->wake_fd);
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->lock);
    free(q->items);
    free(q);
}

/* Doubles the ring, unrolling it so that head becomes 0. Called locked. */
static int grow(bc_queue *q) {
    size_t ncap = q->cap ? q->cap * 2 : 16;
    if (ncap > SIZE_MAX / sizeof(void *)) return -1;
    void **n = malloc(ncap * sizeof *n);
    if (!n) return -1;
    for (size_t i = 0; i < q->count; i++) n[i] = q->items[(q->head + i) % q->cap];
    free(q->items);
    q->items = n;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

/* Stores item in a free slot, wakes the consumers and unlocks. */
static void append_unlock(bc_queue *q, void *item) {
    q->items[(q->head + q->count) % q->cap] = item;
    q->count++;
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
    if (q->wake_fd >= 0) {
        /* The counter only needs to become non-zero; EAGAIN (counter at its
         * maximum) still leaves the fd readable. */
        uint64_t one = 1;
        ssize_t w = write(q->wake_fd, &one, sizeof one);
        (void)w;
    }
}

int bc_queue_push(bc_queue *q, void *item) {
    pthread_mutex_lock(&q->lock);
    if (q->count + q->reserved == q->cap && grow(q) != 0) {
        pthread_mutex_unlock(&q->lock);
        return -1;
    }
    append_unlock(q, item);
    return 0;
}

int bc_queue_reserve(bc_queue *q, size_t n) {
    pthread_mutex_lock(&q->lock);
    int rc = 0;
    if (n > SIZE_MAX / 2 - q->count - q->reserved) rc = -1;
    while (!rc && q->count + q->reserved + n > q->cap) rc = grow(q);
    if (!rc) q->reserved += n;
    pthread_mutex_unlock(&q->lock);
    return rc;
}

void bc_queue_push_reserved(bc_queue *q, void *item) {
    pthread_mutex_lock(&q->lock);
    if (q->reserved) q->reserved--;   /* count + reserved <= cap: a slot is free */
    append_unlock(q, item);
}

void bc_queue_unreserve(bc_queue *q, size_t n) {
    pthread_mutex_lock(&q->lock);
    q->reserved -= n < q->reserved ? n : q->reserved;
    pthread_mutex_unlock(&q->lock);
}

static void *pop_locked(bc_queue *q) {
    if (q->count == 0) return NULL;
    void *it = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return it;
}

void *bc_queue_pop(bc_queue *q) {
    pthread_mutex_lock(&q->lock);
    void *it = pop_locked(q);
    pthread_mutex_unlock(&q->lock);
    return it;
}

void *bc_queue_pop_wait(bc_queue *q) {
    pthread_mutex_lock(&q->lock);
    while (q->count == 0) pthread_cond_wait(&q->nonempty, &q->lock);
    void *it = pop_locked(q);
    pthread_mutex_unlock(&q->lock);
    return it;
}

size_t bc_queue_length(bc_queue *q) {
    pthread_mutex_lock(&q->lock);
    size_t n = q->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}

int bc_queue_wake_fd(const bc_queue *q) { return q->wake_fd; }

void bc_queue_clear_wake(bc_queue *q) {
    if (q->wake_fd < 0) return;
    uint64_t v;
    ssize_t r = read(q->wake_fd, &v, sizeof v);
    (void)r;
}
