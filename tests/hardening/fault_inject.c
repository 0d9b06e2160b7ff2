/* Fault injection through the linker's --wrap (see fault_inject.h). */
#include "fault_inject.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned armed_mask;
static unsigned long fail_at, calls;
static bool persist, fired;

void bc_fault_arm(unsigned mask, unsigned long n, bool keep_failing) {
    pthread_mutex_lock(&lock);
    armed_mask = mask;
    fail_at = n;
    calls = 0;
    persist = keep_failing;
    fired = false;
    pthread_mutex_unlock(&lock);
}

void bc_fault_disarm(void) {
    pthread_mutex_lock(&lock);
    armed_mask = 0;
    pthread_mutex_unlock(&lock);
}

unsigned long bc_fault_calls(void) {
    pthread_mutex_lock(&lock);
    unsigned long c = calls;
    pthread_mutex_unlock(&lock);
    return c;
}

bool bc_fault_fired(void) {
    pthread_mutex_lock(&lock);
    bool f = fired;
    pthread_mutex_unlock(&lock);
    return f;
}

/* True when this call must fail (and sets errno to e). */
static bool should_fail(unsigned cls, int e) {
    pthread_mutex_lock(&lock);
    bool fail = false;
    if (armed_mask & cls) {
        calls++;
        if (fail_at && (calls == fail_at || (persist && calls > fail_at))) fail = fired = true;
    }
    pthread_mutex_unlock(&lock);
    if (fail) errno = e;
    return fail;
}

/* ---- live-block table: open addressing, linear probing ------------------ */

enum { TABLE_BITS = 20, TABLE_SIZE = 1 << TABLE_BITS };
#define TOMBSTONE ((void *)1)
static void *table[TABLE_SIZE];
static size_t live, used; /* used counts tombstones too */
static bool overflowed;

static size_t slot_of(const void *p) {
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> (64 - TABLE_BITS));
}

static void track(void *p) {
    if (!p) return;
    pthread_mutex_lock(&lock);
    if (used >= TABLE_SIZE / 4 * 3) {
        overflowed = true; /* stop tracking; bc_fault_live_blocks says so */
    } else {
        size_t i = slot_of(p);
        while (table[i] && table[i] != TOMBSTONE) i = (i + 1) & (TABLE_SIZE - 1);
        if (!table[i]) used++;
        table[i] = p;
        live++;
    }
    pthread_mutex_unlock(&lock);
}

static void untrack(void *p) {
    if (!p) return;
    pthread_mutex_lock(&lock);
    for (size_t i = slot_of(p); table[i]; i = (i + 1) & (TABLE_SIZE - 1))
        if (table[i] == p) {
            table[i] = TOMBSTONE;
            live--;
            break;
        }
    pthread_mutex_unlock(&lock);
}

size_t bc_fault_live_blocks(void) {
    pthread_mutex_lock(&lock);
    size_t n = overflowed ? SIZE_MAX : live;
    pthread_mutex_unlock(&lock);
    return n;
}

/* ---- the wrappers --------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **out, size_t align, size_t n);
int __real_open(const char *path, int flags, ...);
FILE *__real_fopen(const char *path, const char *mode);
ssize_t __real_read(int fd, void *buf, size_t n);
size_t __real_fread(void *buf, size_t size, size_t n, FILE *f);
ssize_t __real_write(int fd, const void *buf, size_t n);
size_t __real_fwrite(const void *buf, size_t size, size_t n, FILE *f);
int __real_fsync(int fd);
int __real_fdatasync(int fd);
int __real_rename(const char *from, const char *to);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
/* With -D_FILE_OFFSET_BITS=64 (meson's default) glibc's headers turn open,
 * fopen and mmap into open64, fopen64 and mmap64: both names are wrapped. */
int __real_open64(const char *path, int flags, ...);
FILE *__real_fopen64(const char *path, const char *mode);
void *__real_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off);

void *__wrap_malloc(size_t n) {
    if (should_fail(BC_FAULT_ALLOC, ENOMEM)) return NULL;
    void *p = __real_malloc(n);
    track(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size) {
    if (should_fail(BC_FAULT_ALLOC, ENOMEM)) return NULL;
    void *p = __real_calloc(n, size);
    track(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n) {
    if (should_fail(BC_FAULT_ALLOC, ENOMEM)) return NULL; /* p stays valid */
    void *q = __real_realloc(p, n);
    if (q || n == 0) untrack(p);
    track(q);
    return q;
}

void __wrap_free(void *p) {
    untrack(p);
    __real_free(p);
}

char *__wrap_strdup(const char *s) {
    if (should_fail(BC_FAULT_ALLOC, ENOMEM)) return NULL;
    char *p = __real_strdup(s);
    track(p);
    return p;
}

char *__wrap_strndup(const char *s, size_t n) {
    if (should_fail(BC_FAULT_ALLOC, ENOMEM)) return NULL;
    char *p = __real_strndup(s, n);
    track(p);
    return p;
}

void *__wrap_aligned_alloc(size_t align, size_t n) {
    if (should_fail(BC_FAULT_ALLOC, ENOMEM)) return NULL;
    void *p = __real_aligned_alloc(align, n);
    track(p);
    return p;
}

int __wrap_posix_memalign(void **out, size_t align, size_t n) {
    if (should_fail(BC_FAULT_ALLOC, ENOMEM)) return ENOMEM;
    int rc = __real_posix_memalign(out, align, n);
    if (rc == 0) track(*out);
    return rc;
}

int __wrap_open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (should_fail(BC_FAULT_OPEN, EIO)) return -1;
    return __real_open(path, flags, mode);
}

int __wrap_open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (should_fail(BC_FAULT_OPEN, EIO)) return -1;
    return __real_open64(path, flags, mode);
}

FILE *__wrap_fopen64(const char *path, const char *mode) {
    if (should_fail(BC_FAULT_OPEN, EIO)) return NULL;
    return __real_fopen64(path, mode);
}

void *__wrap_mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (should_fail(BC_FAULT_MMAP, ENOMEM)) return MAP_FAILED;
    return __real_mmap64(addr, len, prot, flags, fd, off);
}

FILE *__wrap_fopen(const char *path, const char *mode) {
    if (should_fail(BC_FAULT_OPEN, EIO)) return NULL;
    return __real_fopen(path, mode);
}

ssize_t __wrap_read(int fd, void *buf, size_t n) {
    if (should_fail(BC_FAULT_READ, EIO)) return -1;
    return __real_read(fd, buf, n);
}

size_t __wrap_fread(void *buf, size_t size, size_t n, FILE *f) {
    if (should_fail(BC_FAULT_READ, EIO)) return 0; /* ferror() is not set: a short read */
    return __real_fread(buf, size, n, f);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n) {
    if (should_fail(BC_FAULT_WRITE, ENOSPC)) return -1;
    return __real_write(fd, buf, n);
}

size_t __wrap_fwrite(const void *buf, size_t size, size_t n, FILE *f) {
    if (should_fail(BC_FAULT_WRITE, ENOSPC)) return 0;
    return __real_fwrite(buf, size, n, f);
}

int __wrap_fsync(int fd) {
    if (should_fail(BC_FAULT_FSYNC, EIO)) return -1;
    return __real_fsync(fd);
}

int __wrap_fdatasync(int fd) {
    if (should_fail(BC_FAULT_FSYNC, EIO)) return -1;
    return __real_fdatasync(fd);
}

int __wrap_rename(const char *from, const char *to) {
    if (should_fail(BC_FAULT_RENAME, EIO)) return -1;
    return __real_rename(from, to);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (should_fail(BC_FAULT_MMAP, ENOMEM)) return MAP_FAILED;
    return __real_mmap(addr, len, prot, flags, fd, off);
}
