/* bench --tokenizer -m DIR -f FILE: encode and decode throughput of the
 * tokenizer on one file (MB = 10^6 bytes of the file's text). Each direction
 * is timed over whole-file runs repeated for about a second; the best run is
 * reported, as a benchmark of steady-state speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "file_io.h"
#include "modes.h"
#include "tokenizer_open.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int bc_bench_tokenizer(const bc_options *o) {
    bc_error err = {{0}};
    bc_tokenizer *t = NULL;
    if (bc_tokenizer_open_model(o->model, &t, &err)) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        return 1;
    }
    size_t len = 0;
    char *text = NULL;
    if (!o->file || bc_read_file(o->file, BC_TEXT_MAX_BYTES, &text, &len, &err)) {
        fprintf(stderr, "baichuan-chat: %s\n", o->file ? err.msg : "bench --tokenizer needs -f FILE");
        bc_tokenizer_free(t);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    char *dec = NULL;
    size_t dlen = 0;
    double best_enc = 1e30, best_dec = 1e30, start = now_s();
    int runs = 0, rc = 0;
    while (rc == 0 && (runs < 3 || now_s() - start < 1.0) && runs < 1000) {
        double t0 = now_s();
        rc = bc_tokenizer_encode(t, text, len, &ids, &n, &err);
        double t1 = now_s();
        if (t1 - t0 < best_enc) best_enc = t1 - t0;
        runs++;
    }
    int druns = 0;
    start = now_s();
    while (rc == 0 && (druns < 3 || now_s() - start < 1.0) && druns < 1000) {
        free(dec);
        double t0 = now_s();
        rc = bc_tokenizer_decode(t, ids, n, &dec, &dlen, &err);
        double t1 = now_s();
        if (t1 - t0 < best_dec) best_dec = t1 - t0;
        druns++;
    }
    if (rc == 0) {
        printf("tokenizer: %s: %zu bytes -> %zu tokens (%.2f bytes/token)\n", o->file, len, n,
               n ? (double)len / (double)n : 0.0);
        printf("encode: %.2f MB/s, %.0f tokens/s (best of %d runs, %.1f ms)\n", (double)len / best_enc / 1e6,
               (double)n / best_enc, runs, best_enc * 1e3);
        printf("decode: %.2f MB/s, %.0f tokens/s (best of %d runs, %.1f ms)\n", (double)dlen / best_dec / 1e6,
               (double)n / best_dec, druns, best_dec * 1e3);
    } else {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
    }
    free(dec);
    free(ids);
    free(text);
    bc_tokenizer_free(t);
    return rc ? 1 : 0;
}
