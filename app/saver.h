/* bc_saver: atomic file writes on a thread of their own.
 *
 * Why: the TUI saves the conversation while a reply streams (once a second)
 * and every write ends in fsync, which on a busy disk takes tens or hundreds
 * of milliseconds. On the UI thread that is a frozen screen and lost
 * keystroke timing; here the UI thread only formats the bytes and hands them
 * over.
 *
 * Order and coalescing: writes happen one at a time in submission order. A
 * submitted write to a path that has not started yet is replaced by a newer
 * one to the same path (only the latest snapshot of a conversation matters).
 * bc_saver_flush waits until everything submitted is on disk, so a caller
 * that must know a message is saved (a completed reply) submits and flushes.
 * Errors (disk full, permissions) are kept and handed to the next
 * bc_saver_take_error / bc_saver_flush; the data stays with the caller, whose
 * next save tries again. */
#ifndef BC_SAVER_H
#define BC_SAVER_H

#include <stddef.h>

#include "bc_error.h"

typedef struct bc_saver bc_saver;

int bc_saver_new(bc_saver **out, bc_error *err);
/* Queues an atomic rewrite of path with data[0..len) (bc_write_file_atomic).
 * Takes over data (malloc'd) in every case, also on error. */
int bc_saver_submit(bc_saver *sv, const char *path, char *data, size_t len, bc_error *err);
/* Waits until every queued write is done; returns the first write error
 * since the last report, or 0. */
int bc_saver_flush(bc_saver *sv, bc_error *err);
/* Does not wait: the first write error since the last report, or 0. */
int bc_saver_take_error(bc_saver *sv, bc_error *err);
/* Writes what is queued, then stops the thread. NULL is fine. */
void bc_saver_free(bc_saver *sv);

#endif
