#include "bc_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int bc_errorf(bc_error *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int bc_error_prefix(bc_error *err, const char *fmt, ...) {
    if (!err) return -1;
    char prefix[BC_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[BC_ERROR_MAX];
    memcpy(old, err->msg, sizeof old);
    /* Truncation is fine here: a long message keeps its head, which names the file. */
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3;
    size_t m = strlen(old);
    if (m > room) m = room;
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
    return -1;
}

void bc_error_clear(bc_error *err) {
    if (err) err->msg[0] = '\0';
}
