/* bench_kernels: speed of the CPU kernels against this machine's limits.
 *
 * Prints (1) the measured memory read bandwidth: all threads summing a
 * 512 MiB buffer; (2) matvec effective GB/s (weight bytes / time) for f32 and
 * bf16 on the linear shapes of a ~1B model and its lm_head, as a fraction of
 * (1); (3) matmul GFLOP/s at T = 512 for our f32/bf16 paths as the library
 * picks them, next to plain OpenBLAS sgemm (its own threads) on the same
 * shapes, plus each f32 path forced: via-blas and our own kernel.
 * Targets: matvec >= 75% of measured bandwidth; matmul >= 0.8x sgemm.
 *
 * Every figure is the best of a few repetitions. Matvec weights rotate through
 * a buffer larger than the last-level cache so they really come from memory.
 * Usage: bench_kernels [threads]   (default: all cores; BC_SIMD=... to force a path) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu_kernels.h"

#if BC_HAVE_OPENBLAS
#include <cblas.h>
#endif

#define MiB (1024.0 * 1024.0)
#define BUF_MIN_BYTES ((size_t)512 << 20)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- (1) streaming read bandwidth ---- */

typedef struct read_job {
    const uint64_t *data;
    size_t n_words;
    int n_items;
    uint64_t sink[64]; /* per worker, so the reads are not optimized away */
} read_job;

/* Sums 64 float lanes: vectorized by the compiler for the target, several
 * loads in flight, so the loop is limited by memory, not by the core. */
#define READ_LOOP_BODY                                                        \
    float acc[64] = {0};                                                      \
    for (size_t i = 0; i + 64 <= n; i += 64)                                  \
        for (int l = 0; l < 64; l++) acc[l] += p[i + l];                      \
    float s = 0;                                                              \
    for (int l = 0; l < 64; l++) s += acc[l];                                 \
    return s;

static float read_sum_c(const float *p, size_t n) { READ_LOOP_BODY }
#if defined(__x86_64__)
__attribute__((target("avx512f"))) static float read_sum_512(const float *p, size_t n) {
    READ_LOOP_BODY
}
__attribute__((target("avx2"))) static float read_sum_256(const float *p, size_t n) {
    READ_LOOP_BODY
}
#endif

static void read_range(void *ctx, int begin, int end, int worker) {
    read_job *j = ctx;
    size_t w0 = j->n_words * (size_t)begin / (size_t)j->n_items;
    size_t w1 = j->n_words * (size_t)end / (size_t)j->n_items;
    const float *p = (const float *)(j->data + w0);
    size_t n = (w1 - w0) * 2;
    float s;
#if defined(__x86_64__)
    if (bc_simd_active() == BC_SIMD_AVX512) s = read_sum_512(p, n);
    else if (bc_simd_active() == BC_SIMD_AVX2) s = read_sum_256(p, n);
    else
#endif
        s = read_sum_c(p, n);
    uint32_t u;
    memcpy(&u, &s, 4);
    j->sink[worker & 63] ^= u;
}

static double read_bandwidth(bc_threadpool *pool, const void *buf, size_t bytes, int reps) {
    read_job j = {buf, bytes / 8, 256, {0}};
    double best = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now_s();
        bc_threadpool_run(pool, read_range, &j, j.n_items);
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    uint64_t s = 0;
    for (int i = 0; i < 64; i++) s ^= j.sink[i];
    if (s == 42) printf("#\n"); /* keeps the reads observable */
    return bytes / best / 1e9;
}

/* ---- (2) matvec ---- */

/* Returns matvec GB/s; *bw_near gets the read bandwidth measured right
 * before each repetition (best of them), since on a shared machine the
 * available bandwidth drifts from second to second. */
static double bench_matvec(bc_threadpool *pool, const uint8_t *buf, size_t buf_bytes,
                           int bf16, int rows, int cols, const float *x, float *y,
                           double *bw_near) {
    size_t bytes = (size_t)rows * cols * (bf16 ? 2 : 4);
    size_t copies = buf_bytes / bytes;
    if (copies < 1) copies = 1;
    /* At least ~0.15 s and 3 calls per measurement, best of 3. */
    int calls = (int)(0.15 * 10e9 / (double)bytes);
    if (calls < 3) calls = 3;
    double best = 1e30;
    *bw_near = 0;
    for (int rep = 0; rep < 3; rep++) {
        double bw = read_bandwidth(pool, buf, BUF_MIN_BYTES, 1);
        if (bw > *bw_near) *bw_near = bw;
        double t0 = now_s();
        for (int c = 0; c < calls; c++) {
            const void *W = buf + (size_t)(c % copies) * bytes;
            if (bf16) bc_matvec_bf16(pool, W, x, y, rows, cols);
            else bc_matvec_f32(pool, W, x, y, rows, cols);
        }
        double t = (now_s() - t0) / calls;
        if (t < best) best = t;
    }
    return bytes / best / 1e9;
}

/* ---- (3) matmul ---- */

/* MM_AUTO: the path the library picks by default; MM_VIA_BLAS: our pool
 * splitting rows over single-threaded sgemm calls; MM_OWN_KERNEL: ours. */
typedef enum { MM_AUTO, MM_VIA_BLAS, MM_OWN_KERNEL, MM_OPENBLAS } mm_kind;
static int g_auto_blas;

static double bench_matmul(bc_threadpool *pool, mm_kind kind, int bf16, const void *W,
                           const float *X, float *Y, int T, int rows, int cols) {
    double best = 1e30;
    for (int rep = 0; rep < 2; rep++) {
        double t0 = now_s();
        if (kind == MM_OPENBLAS) {
#if BC_HAVE_OPENBLAS
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, rows, cols, 1.0f, X, cols,
                        W, cols, 0.0f, Y, rows);
#endif
        } else {
            bc_kernels_use_blas(kind == MM_AUTO ? g_auto_blas : kind == MM_VIA_BLAS);
            if (bf16) bc_matmul_bf16(pool, W, X, Y, T, rows, cols);
            else bc_matmul_f32(pool, W, X, Y, T, rows, cols);
        }
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    bc_kernels_use_blas(g_auto_blas);
    return 2.0 * T * rows * cols / best / 1e9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    bc_error err = {{0}};
    bc_threadpool *pool = bc_threadpool_new(threads, &err);
    if (!pool) {
        fprintf(stderr, "bench_kernels: %s\n", err.msg);
        return 1;
    }
    threads = bc_threadpool_size(pool);
    g_auto_blas = bc_kernels_have_blas();
    const char *blas_core = "none";
#if BC_HAVE_OPENBLAS
    blas_core = openblas_get_corename();
#endif
    printf("bench_kernels: %d threads, SIMD %s, OpenBLAS core %s, prefill uses %s\n", threads,
           bc_simd_name(bc_simd_active()), blas_core, g_auto_blas ? "OpenBLAS" : "own kernel");

    static const int shapes[][2] = {{2048, 2048}, {5632, 2048}, {2048, 5632}, {125696, 2048}};
    size_t lm_head_bytes = (size_t)125696 * 2048 * 4;
    size_t buf_bytes = lm_head_bytes > BUF_MIN_BYTES ? lm_head_bytes : BUF_MIN_BYTES;
    uint16_t *buf = malloc(buf_bytes);
    if (!buf) {
        fprintf(stderr, "bench_kernels: cannot allocate %.0f MiB\n", buf_bytes / MiB);
        return 1;
    }
    /* Halves 0x3f80..0x3fff: normal numbers read as bf16 and as f32 pairs. */
    uint32_t seed = 12345;
    for (size_t i = 0; i < buf_bytes / 2; i++) {
        seed = seed * 1664525u + 1013904223u;
        buf[i] = (uint16_t)(0x3f80 | (seed >> 25));
    }

    double bw = read_bandwidth(pool, buf, BUF_MIN_BYTES, 4);
    printf("memory read bandwidth (512 MiB, %d threads): %.1f GB/s\n\n", threads, bw);

    float *x = malloc(5632 * 4), *y = malloc(125696 * 4);
    for (int i = 0; i < 5632; i++) x[i] = (float)(i % 7) * 0.25f - 0.75f;
    printf("matvec (weights streamed from memory)   GB/s  of-above  bw-measured-alongside  of-that\n");
    for (int s = 0; s < 4; s++)
        for (int bf16 = 0; bf16 <= 1; bf16++) {
            double near;
            double g = bench_matvec(pool, (const uint8_t *)buf, buf_bytes, bf16, shapes[s][0],
                                    shapes[s][1], x, y, &near);
            printf("  %-5s %6d x %-5d                  %6.1f   %5.1f%%   %6.1f                %5.1f%%\n",
                   bf16 ? "bf16" : "f32", shapes[s][0], shapes[s][1], g, 100.0 * g / bw, near,
                   100.0 * g / near);
        }

    enum { T = 512 };
    float *X = malloc((size_t)T * 5632 * 4), *Y = malloc((size_t)T * 5632 * 4);
    for (size_t i = 0; i < (size_t)T * 5632; i++) X[i] = (float)(i % 13) * 0.1f - 0.6f;
    printf("\nmatmul T=%d, GFLOP/s   sgemm   ours-f32 ratio  ours-bf16 ratio   via-blas own-f32\n", T);
    for (int s = 0; s < 3; s++) {
        int rows = shapes[s][0], cols = shapes[s][1];
        const float *Wf = (const float *)buf;
        const uint16_t *Wb = buf;
        double ref = 0, vb = 0;
#if BC_HAVE_OPENBLAS
        openblas_set_num_threads(threads); /* the baseline: OpenBLAS's own threading */
        ref = bench_matmul(pool, MM_OPENBLAS, 0, Wf, X, Y, T, rows, cols);
        openblas_set_num_threads(1);
        vb = bench_matmul(pool, MM_VIA_BLAS, 0, Wf, X, Y, T, rows, cols);
#endif
        double f = bench_matmul(pool, MM_AUTO, 0, Wf, X, Y, T, rows, cols);
        double b = bench_matmul(pool, MM_AUTO, 1, Wb, X, Y, T, rows, cols);
        double of = bench_matmul(pool, MM_OWN_KERNEL, 0, Wf, X, Y, T, rows, cols);
        printf("  %5d x %-5d     %7.1f  %7.1f  %5.2f  %7.1f   %5.2f  %7.1f  %7.1f\n", rows, cols,
               ref, f, ref > 0 ? f / ref : 0, b, ref > 0 ? b / ref : 0, vb, of);
    }
    printf("\nnote: figures are best-of-N; on a shared machine other processes lower them.\n");
    free(X);
    free(Y);
    free(x);
    free(y);
    free(buf);
    bc_threadpool_free(pool);
    return 0;
}
