/* bc_error: how every fallible function in baichuan-chat reports failure.
 *
 * Library code never prints and never exits: it fills a bc_error and returns
 * -1 (or NULL). Only app/main.c decides what to do with the message. Messages
 * name what failed and where: "model.safetensors: tensor lm_head.weight: ...". */
#ifndef BC_ERROR_H
#define BC_ERROR_H

#include <stddef.h>

#define BC_ERROR_MAX 1024

typedef struct bc_error {
    char msg[BC_ERROR_MAX]; /* NUL-terminated, empty when no error was set */
} bc_error;

#if defined(__GNUC__)
#define BC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BC_PRINTF(a, b)
#endif

/* Formats the message into err (err may be NULL) and returns -1, so callers can
 * write `return bc_errorf(err, "...")`. */
int bc_errorf(bc_error *err, const char *fmt, ...) BC_PRINTF(2, 3);

/* Prepends "prefix: " to an existing message (e.g. a file name), returns -1. */
int bc_error_prefix(bc_error *err, const char *fmt, ...) BC_PRINTF(2, 3);

void bc_error_clear(bc_error *err);

#endif
