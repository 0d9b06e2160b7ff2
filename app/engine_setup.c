#include "engine_setup.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "model_path.h"

double bc_app_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64's finalizer: spreads the few changing bits of a clock/pid
 * fallback over the whole seed. */
static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static bool read_urandom(uint64_t *out) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = read(fd, out, sizeof *out) == (ssize_t)sizeof *out;
    close(fd);
    return ok;
}

uint64_t bc_app_fresh_seed(void) {
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed) return seed;
    if (read_urandom(&seed)) return seed;
    /* No entropy source (an old kernel, a sandbox without /dev): the clock's
     * nanoseconds differ between calls, the pid between processes. A counter
     * keeps two calls in one clock tick apart. */
    static _Atomic uint64_t calls;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return mix64((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
           mix64(((uint64_t)getpid() << 32) ^ ++calls);
}

/* A one-line percentage on stderr, only when someone is watching it. */
static void show_progress(void *user, uint64_t done, uint64_t total) {
    int *last = user;
    int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
    if (pct == *last) return;
    *last = pct;
    fprintf(stderr, "\rloading weights: %3d%%", pct);
    if (done >= total) fprintf(stderr, "\r                      \r");
}

/* Prints each line of a multi-line message with the program's prefix. */
static void print_lines(const char *what, const char *text) {
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        if (n) fprintf(stderr, "baichuan-chat: %s: %.*s\n", what, n, p);
        p = nl ? nl + 1 : NULL;
    }
}

int bc_app_settings(const bc_options *o, bc_app_config *cfg) {
    bc_error err = {{0}};
    if (bc_app_config_load(cfg, o, &err)) print_lines("config", err.msg);
    print_lines("config warning", cfg->warnings);
    if (!cfg->config_file_failed) return 0;
    bc_app_config_free(cfg);   /* -c FILE was named on purpose: not a warning */
    return 2;
}

int bc_app_open_engine(const bc_app_config *cfg, bc_engine **e, double *seconds) {
    bc_error err = {{0}};
    char *dir = NULL;
    if (bc_model_resolve(cfg->model, &dir, &err)) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        return 1;
    }
    bc_load_params lp = {dir, cfg->backend, cfg->quant, cfg->threads};
    int last = -1;
    double t0 = bc_app_now();
    int rc = bc_engine_load(&lp, isatty(STDERR_FILENO) ? show_progress : NULL, &last, e, &err);
    *seconds = bc_app_now() - t0;
    free(dir);
    if (rc) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        return 1;
    }
    bc_engine_info info;
    bc_engine_get_info(*e, &info);
    if (info.is_demo)
        fprintf(stderr, "baichuan-chat: note: %s is a built-in DEMO model (random weights): its "
                        "replies are noise. Use -m DIR for a real model.\n", info.model_name);
    return 0;
}
