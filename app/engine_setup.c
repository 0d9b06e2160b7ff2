#include "engine_setup.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "model_path.h"

double bc_app_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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

int bc_app_load_engine(const bc_options *o, bc_engine **e, double *seconds) {
    bc_error err = {{0}};
    char *dir = NULL;
    if (bc_model_resolve(o->model ? o->model : "demo", &dir, &err)) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        return 1;
    }
    bc_load_params lp = {dir, o->backend ? o->backend : "auto", o->quant ? o->quant : "auto",
                         o->threads};
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
        fprintf(stderr, "baichuan-chat: note: this is the built-in DEMO model (tiny, random "
                        "weights): its replies are noise. Use -m DIR for a real model.\n");
    return 0;
}
