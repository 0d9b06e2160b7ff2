/* bench_quant: effective bandwidth of the quantized matvec kernels on
 * 1B-model shapes, side by side with the engine's fp32 matvec and the
 * machine's read bandwidth, all on the same thread pool the engine uses.
 *
 *   build/tests/bench_quant [seconds_per_measurement=0.06] [max_threads=2] [rounds=8]
 *                           [path=auto|scalar|avx2|avx512]
 *
 * Effective bandwidth = bytes the kernel must read (codes + scales) per
 * matvec x matvecs per second. Each measurement rotates through enough copies
 * of the weight (>= 512 MiB) that it streams from DRAM, not from the last
 * level cache. The read probe is bc_read_pass (vectorized, several loads in
 * flight), the same probe `baichuan-chat --bench` uses.
 *
 * The machine may be shared: every round measures read bandwidth, f32, int8,
 * nf4 and nf4-dq back to back (a measurement streams the whole working set
 * at least once, ~50 ms), and the table shows the best round of each, so the
 * ratios compare figures taken within seconds of each other, each at its
 * least disturbed moment. "hot Gw/s"
 * is the kernel's compute rate with the weight resident in cache (one copy,
 * repeated): a kernel whose hot rate is not well above the cold one is
 * compute bound. /proc/loadavg is printed per shape. Prints a table; not a
 * test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_kernels.h"
#include "quant.h"
#include "threadpool.h"

#define WORKING_SET (512ull << 20)
#define MAX_COPIES 256
#define MAX_THREADS 16

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t rng = 1;
static float rnd(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static void print_loadavg(const char *when) {
    char line[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(line, sizeof line, f)) strcpy(line, "?\n");
        fclose(f);
    }
    printf("loadavg %s: %s", when, line);
}

/* ---- read bandwidth: every pool thread reads its slice of 512 MiB ---------- */

static float g_sink;

static double measure_read(bc_threadpool *pool, const float *buf, double seconds) {
    size_t n = WORKING_SET / sizeof(float);
    double t0 = now(), dt, bytes = 0;
    do {
        g_sink += bc_read_pass(pool, buf, n);
        bytes += (double)WORKING_SET;
        dt = now() - t0;
    } while (dt < seconds);
    return bytes / dt / 1e9;
}

/* ---- weights in copies ------------------------------------------------------ */

typedef enum { KIND_F32, KIND_INT8, KIND_NF4, KIND_NF4_DQ, KIND_COUNT } kind;
static const char *kind_name[] = {"f32", "int8", "nf4", "nf4-dq"};

typedef struct copyset {
    kind k;
    int count;
    uint64_t bytes;              /* bytes one matvec reads */
    float *f32[MAX_COPIES];
    bc_quant_tensor q[MAX_COPIES];
    void *mem[MAX_COPIES];
} copyset;

static void *dup_into(char **cursor, const void *src, size_t n) {
    void *at = *cursor;
    memcpy(at, src, n);
    *cursor += n;
    return at;
}

/* Copies of one weight so that a rotation streams WORKING_SET bytes; each
 * copy is one allocation holding codes and scales, as a loaded model does. */
static int make_copies(kind k, const float *w, const bc_quant_int8 *q8, const bc_quant_nf4 *q4,
                       int64_t rows, int64_t cols, copyset *cs) {
    cs->k = k;
    cs->bytes = k == KIND_F32 ? (uint64_t)(rows * cols) * 4
              : k == KIND_INT8 ? bc_quant_int8_bytes(q8) : bc_quant_nf4_bytes(q4);
    int n = (int)(WORKING_SET / cs->bytes) + 1;
    if (n > MAX_COPIES) n = MAX_COPIES;
    for (int c = 0; c < n; c++) {
        char *m = malloc(cs->bytes + 64), *at = m;
        if (!m) return -1;
        cs->mem[c] = m;
        cs->count = c + 1;
        if (k == KIND_F32) {
            cs->f32[c] = dup_into(&at, w, (size_t)(rows * cols) * 4);
        } else if (k == KIND_INT8) {
            bc_quant_tensor *t = &cs->q[c];
            t->format = BC_QUANT_INT8;
            t->int8 = *q8;
            t->int8.storage = NULL;
            t->int8.q = dup_into(&at, q8->q, (size_t)(rows * cols));
            t->int8.absmax = dup_into(&at, q8->absmax, (size_t)rows * 4);
        } else {
            bc_quant_tensor *t = &cs->q[c];
            size_t nb = (size_t)q4->nblocks, nb2 = (nb + BC_NF4_BLOCK2 - 1) / BC_NF4_BLOCK2;
            t->format = BC_QUANT_NF4;
            t->nf4 = *q4;
            t->nf4.storage = NULL;
            t->nf4.packed = dup_into(&at, q4->packed, (size_t)(rows * cols + 1) / 2);
            if (q4->double_quant) {
                t->nf4.qabsmax = dup_into(&at, q4->qabsmax, nb);
                t->nf4.absmax2 = dup_into(&at, q4->absmax2, nb2 * 4);
            } else {
                t->nf4.absmax = dup_into(&at, q4->absmax, nb * 4);
            }
        }
    }
    return 0;
}

static void free_copies(copyset *cs) {
    for (int c = 0; c < cs->count; c++) free(cs->mem[c]);
    cs->count = 0;
}

typedef struct bench_ctx {
    bc_threadpool *pool;
    const float *x;
    float *y;
    int64_t rows, cols;
    float *scratch;
    size_t scratch_floats;
} bench_ctx;

static void one_matvec(const bench_ctx *b, const copyset *cs, int c) {
    if (cs->k == KIND_F32)
        bc_matvec_f32(b->pool, cs->f32[c], b->x, b->y, (int)b->rows, (int)b->cols);
    else
        bc_matvec_quant_pool(b->pool, &cs->q[c], b->x, b->y, b->scratch, b->scratch_floats);
}

/* Matvecs per second over the copies (`copies` = 1: the weight stays hot). */
static double measure(const bench_ctx *b, const copyset *cs, int copies, double seconds) {
    long calls = 0;
    double t0 = now(), dt;
    do {
        for (int c = 0; c < copies; c++, calls++) one_matvec(b, cs, c);
        dt = now() - t0;
    } while (dt < seconds);
    return (double)calls / dt;
}

/* ---- one shape ------------------------------------------------------------------ */

static int bench_shape(int64_t rows, int64_t cols, bc_threadpool **pools, int max_threads,
                       const float *readbuf, double seconds, int rounds) {
    float *w = malloc((size_t)(rows * cols) * sizeof(float));
    float *x = malloc((size_t)cols * sizeof(float));
    float *y = malloc((size_t)rows * sizeof(float));
    size_t scratch_floats = bc_quant_matvec_scratch_floats(cols);
    float *scratch = malloc(scratch_floats * MAX_THREADS * sizeof(float));
    copyset *cs = calloc(KIND_COUNT, sizeof *cs);
    if (!w || !x || !y || !scratch || !cs) return -1;
    for (int64_t i = 0; i < rows * cols; i++) w[i] = rnd() * 0.05f;
    for (int64_t i = 0; i < cols; i++) x[i] = rnd();
    bc_quant_int8 q8;
    bc_quant_nf4 q4, q4dq;
    bc_error err;
    if (bc_quantize_int8_rows(w, rows, cols, "bench", &q8, &err) ||
        bc_quantize_nf4(w, rows, cols, 0, "bench", &q4, &err) ||
        bc_quantize_nf4(w, rows, cols, 1, "bench", &q4dq, &err)) {
        fprintf(stderr, "bench_quant: %s\n", err.msg);
        return -1;
    }
    for (int k = 0; k < KIND_COUNT; k++)
        if (make_copies((kind)k, w, &q8, k == KIND_NF4_DQ ? &q4dq : &q4, rows, cols, &cs[k]))
            return -1;
    char shape[32];
    snprintf(shape, sizeof shape, "%lldx%lld", (long long)rows, (long long)cols);
    print_loadavg(shape);
    for (int t = 1; t <= max_threads; t++) {
        bench_ctx b = {pools[t], x, y, rows, cols, scratch, scratch_floats};
        double read_best = 0, best[KIND_COUNT] = {0}, hot[KIND_COUNT] = {0};
        for (int r = 0; r < rounds; r++) {
            double bw = measure_read(b.pool, readbuf, seconds);
            if (bw > read_best) read_best = bw;
            for (int k = 0; k < KIND_COUNT; k++) {
                double gbs = measure(&b, &cs[k], cs[k].count, seconds) * cs[k].bytes / 1e9;
                if (gbs > best[k]) best[k] = gbs;
                double gws = measure(&b, &cs[k], 1, seconds / 4) * (double)(rows * cols) / 1e9;
                if (gws > hot[k]) hot[k] = gws;
            }
        }
        printf("%-10s thr %d  read %6.2f GB/s\n", shape, t, read_best);
        for (int k = 0; k < KIND_COUNT; k++)
            printf("%-10s thr %d  %-7s %9llu B %7.2f GB/s %5.0f%% read %5.2fx f32-time "
                   "%6.2f Gw/s cold %6.2f Gw/s hot\n",
                   shape, t, kind_name[k], (unsigned long long)cs[k].bytes, best[k],
                   100.0 * best[k] / read_best,
                   (best[k] / cs[k].bytes) / (best[KIND_F32] / cs[KIND_F32].bytes),
                   best[k] / cs[k].bytes * (double)(rows * cols), hot[k]);
    }
    for (int k = 0; k < KIND_COUNT; k++) free_copies(&cs[k]);
    free(cs);
    bc_quant_int8_free(&q8);
    bc_quant_nf4_free(&q4);
    bc_quant_nf4_free(&q4dq);
    free(scratch);
    free(w);
    free(x);
    free(y);
    return 0;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.06;
    int max_threads = argc > 2 ? atoi(argv[2]) : 2;
    int rounds = argc > 3 ? atoi(argv[3]) : 8;
    if (max_threads < 1) max_threads = 1;
    if (max_threads > MAX_THREADS) max_threads = MAX_THREADS;
    if (rounds < 1) rounds = 1;
    if (argc > 4) {
        static const bc_quant_simd paths[] = {BC_QUANT_SIMD_AUTO, BC_QUANT_SIMD_SCALAR,
                                              BC_QUANT_SIMD_AVX2, BC_QUANT_SIMD_AVX512};
        int found = 0;
        for (int i = 0; i < 4; i++)
            if (!strcmp(argv[4], bc_quant_simd_name(paths[i]))) {
                found = 1;
                if (bc_quant_set_simd(paths[i]) != paths[i] && paths[i] != BC_QUANT_SIMD_AUTO)
                    printf("path %s not supported here: running %s\n", argv[4],
                           bc_quant_simd_name(bc_quant_get_simd()));
            }
        if (!found) {
            fprintf(stderr, "bench_quant: path must be auto, scalar, avx2 or avx512\n");
            return 2;
        }
    }
    static const int64_t shapes[][2] = {{2048, 2048}, {5632, 2048}, {2048, 5632}};

    bc_threadpool *pools[MAX_THREADS + 1] = {0};
    bc_error err;
    for (int t = 1; t <= max_threads; t++)
        if (!(pools[t] = bc_threadpool_new(t, &err))) {
            fprintf(stderr, "bench_quant: %s\n", err.msg);
            return 1;
        }
    float *readbuf = malloc(WORKING_SET);
    if (!readbuf) return 1;
    for (size_t i = 0; i < WORKING_SET / sizeof(float); i++) readbuf[i] = (float)(i & 1023);

    printf("quantized matvec bandwidth (SIMD path: %s, %llu MiB streamed per measurement, "
           "best of %d rounds of %.2f s)\n", bc_quant_simd_name(bc_quant_get_simd()),
           (unsigned long long)(WORKING_SET >> 20), rounds, seconds);
    printf("GB/s = (codes + scales) bytes per matvec x matvecs/s; %% read = of the read "
           "probe in the same rounds; f32-time = f32 matvec time / this matvec time\n");
    int rc = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && !rc; s++)
        if (bench_shape(shapes[s][0], shapes[s][1], pools, max_threads, readbuf, seconds,
                        rounds)) {
            fprintf(stderr, "bench_quant: out of memory\n");
            rc = 1;
        }
    print_loadavg("end");
    free(readbuf);
    for (int t = 1; t <= max_threads; t++) bc_threadpool_free(pools[t]);
    return rc || g_sink == -1.0f;
}
