/* bc_saver: a FIFO of pending writes served by one thread (saver.h). */
#include "saver.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"   /* bc_write_file_atomic */

typedef struct pending {
    struct pending *next;
    char *path;
    char *data;
    size_t len;
} pending;

struct bc_saver {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;        /* signalled: a write was queued, or stop */
    pthread_cond_t idle;        /* signalled: a write finished */
    pending *head, *tail;       /* queued, not started; guarded by lock */
    bool busy;                  /* the thread is writing one (outside the lock) */
    bool stop;
    bool failed;                /* `error` holds an unreported write error */
    bc_error error;
};

static void pending_free(pending *p) {
    if (!p) return;
    free(p->path);
    free(p->data);
    free(p);
}

static void *saver_main(void *arg) {
    bc_saver *sv = arg;
    pthread_mutex_lock(&sv->lock);
    for (;;) {
        while (!sv->head && !sv->stop) pthread_cond_wait(&sv->work, &sv->lock);
        if (!sv->head) break;   /* stop, and nothing left to write */
        pending *p = sv->head;
        sv->head = p->next;
        if (!sv->head) sv->tail = NULL;
        sv->busy = true;
        pthread_mutex_unlock(&sv->lock);

        bc_error err;
        bc_error_clear(&err);
        int rc = bc_write_file_atomic(p->path, p->data, p->len, &err);
        pending_free(p);

        pthread_mutex_lock(&sv->lock);
        sv->busy = false;
        if (rc && !sv->failed) {
            sv->failed = true;
            sv->error = err;
        }
        pthread_cond_broadcast(&sv->idle);
    }
    pthread_mutex_unlock(&sv->lock);
    return NULL;
}

int bc_saver_new(bc_saver **out, bc_error *err) {
    *out = NULL;
    bc_saver *sv = calloc(1, sizeof *sv);
    if (!sv) return bc_errorf(err, "saver: out of memory");
    pthread_mutex_init(&sv->lock, NULL);
    pthread_cond_init(&sv->work, NULL);
    pthread_cond_init(&sv->idle, NULL);
    if (pthread_create(&sv->thread, NULL, saver_main, sv) != 0) {
        pthread_cond_destroy(&sv->idle);
        pthread_cond_destroy(&sv->work);
        pthread_mutex_destroy(&sv->lock);
        free(sv);
        return bc_errorf(err, "saver: cannot start a thread");
    }
    *out = sv;
    return 0;
}

int bc_saver_submit(bc_saver *sv, const char *path, char *data, size_t len, bc_error *err) {
    pending *p = calloc(1, sizeof *p);
    char *path_copy = strdup(path);
    if (!p || !path_copy) {
        free(p);
        free(path_copy);
        free(data);
        return bc_errorf(err, "%s: out of memory queueing the save", path);
    }
    p->path = path_copy;
    p->data = data;
    p->len = len;
    pthread_mutex_lock(&sv->lock);
    /* a queued, unstarted write to the same file is out of date: replace it */
    pending *q = sv->head;
    while (q && strcmp(q->path, path)) q = q->next;
    if (q) {
        free(q->data);
        q->data = p->data;
        q->len = p->len;
        p->data = NULL;
        pending_free(p);
    } else {
        if (sv->tail) sv->tail->next = p;
        else sv->head = p;
        sv->tail = p;
    }
    pthread_cond_signal(&sv->work);
    pthread_mutex_unlock(&sv->lock);
    return 0;
}

/* Hands over the kept error, if any (lock held). */
static int take_error_locked(bc_saver *sv, bc_error *err) {
    if (!sv->failed) return 0;
    sv->failed = false;
    if (err) *err = sv->error;
    return -1;
}

int bc_saver_flush(bc_saver *sv, bc_error *err) {
    pthread_mutex_lock(&sv->lock);
    while (sv->head || sv->busy) pthread_cond_wait(&sv->idle, &sv->lock);
    int rc = take_error_locked(sv, err);
    pthread_mutex_unlock(&sv->lock);
    return rc;
}

int bc_saver_take_error(bc_saver *sv, bc_error *err) {
    pthread_mutex_lock(&sv->lock);
    int rc = take_error_locked(sv, err);
    pthread_mutex_unlock(&sv->lock);
    return rc;
}

void bc_saver_free(bc_saver *sv) {
    if (!sv) return;
    pthread_mutex_lock(&sv->lock);
    sv->stop = true;
    pthread_cond_signal(&sv->work);
    pthread_mutex_unlock(&sv->lock);
    pthread_join(sv->thread, NULL);   /* it writes what is queued first */
    pthread_cond_destroy(&sv->idle);
    pthread_cond_destroy(&sv->work);
    pthread_mutex_destroy(&sv->lock);
    free(sv);
}
