/* A tiny TAP test harness shared by the C test programs. Each CHECK is one TAP
 * line; the program's exit status says whether all passed. BC_SKIP prints a
 * TAP skip plan and exits 0: with protocol 'tap' meson reads the plan (an exit
 * status of 77 would count as an error there, not as a skip). */
#ifndef BC_TEST_H
#define BC_TEST_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bc_test_count, bc_test_failed;

/* A TAP line must stay one line: messages quoted in a description may hold
 * newlines (multi-line error messages), which become " | ". */
__attribute__((format(printf, 3, 4)))
static inline void bc_test_describe(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    for (char *s = buf; *s; s++)
        if (*s == '\n' || *s == '\r') *s = '|';
}

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        int ok_ = (cond) ? 1 : 0;                                             \
        bc_test_count++;                                                      \
        if (!ok_) bc_test_failed++;                                           \
        char desc_[2048];                                                     \
        bc_test_describe(desc_, sizeof desc_, __VA_ARGS__);                   \
        printf("%s %d - %s\n", ok_ ? "ok" : "not ok", bc_test_count, desc_); \
        if (!ok_) printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        fflush(stdout);                                                       \
    } while (0)

#define BC_SKIP(...)                                                          \
    do {                                                                      \
        printf("1..0 # SKIP ");                                               \
        printf(__VA_ARGS__);                                                  \
        printf("\n");                                                         \
        exit(0);                                                             \
    } while (0)

static inline int bc_test_done(void) {
    printf("1..%d\n", bc_test_count);
    return bc_test_failed ? 1 : 0;
}

#endif
