/* bench_quant: effective bandwidth of the quantized matvec kernels on
 * 1B-model shapes, next to an fp32 matvec and the machine's read bandwidth.
 *
 *   build/tests/bench_quant [seconds_per_measurement=0.25] [max_threads=2]
 *
 * Effective bandwidth = bytes the kernel must read (codes + scales) per
 * matvec x matvecs per second. Each measurement rotates through enough copies
 * of the weight (>= 512 MiB) that it streams from DRAM, not from the last
 * level cache. Prints a table; not a test. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant.h"

#define WORKING_SET (512ull << 20)

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

/* ---- read bandwidth -------------------------------------------------------- */

typedef struct read_job {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} read_job;

static void *read_worker(void *arg) {
    read_job *j = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= j->n; i += 4) {
        s0 += j->p[i];
        s1 += j->p[i + 1];
        s2 += j->p[i + 2];
        s3 += j->p[i + 3];
    }
    j->sum = s0 + s1 + s2 + s3;
    return NULL;
}

static double read_bandwidth(int threads, double seconds) {
    size_t words = WORKING_SET / 8;
    uint64_t *buf = malloc(WORKING_SET);
    if (!buf) return 0;
    for (size_t i = 0; i < words; i++) buf[i] = i;
    double t0 = now(), bytes = 0;
    uint64_t keep = 0;
    while (now() - t0 < seconds) {
        read_job jobs[16];
        pthread_t tid[16];
        for (int t = 0; t < threads; t++) {
            jobs[t] = (read_job){buf + words / threads * t, words / threads, 0};
            if (t) pthread_create(&tid[t], NULL, read_worker, &jobs[t]);
        }
        read_worker(&jobs[0]);
        for (int t = 1; t < threads; t++) pthread_join(tid[t], NULL);
        for (int t = 0; t < threads; t++) keep += jobs[t].sum;
        bytes += (double)WORKING_SET;
    }
    double dt = now() - t0;
    free(buf);
    if (keep == 42) printf(" ");
    return bytes / dt / 1e9;
}

/* ---- fp32 matvec baseline (AVX2+FMA when present) ---------------------------- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static float dot_f32_avx2(const float *a, const float *b,
                                                              int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float tmp[8];
    _mm256_storeu_ps(tmp, _mm256_add_ps(s0, s1));
    float s = 0;
    for (int k = 0; k < 8; k++) s += tmp[k];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
#define HAVE_AVX2_DOT 1
#endif

static float dot_f32(const float *a, const float *b, int64_t n) {
#ifdef HAVE_AVX2_DOT
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot_f32_avx2(a, b, n);
#endif
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

typedef struct f32_job {
    const float *w, *x;
    float *y;
    int64_t cols, r0, r1;
} f32_job;

static void *f32_worker(void *arg) {
    f32_job *j = arg;
    for (int64_t r = j->r0; r < j->r1; r++) j->y[r] = dot_f32(j->w + r * j->cols, j->x, j->cols);
    return NULL;
}

static void matvec_f32(const float *w, const float *x, float *y, int64_t rows, int64_t cols,
                       int threads) {
    f32_job jobs[16];
    pthread_t tid[16];
    for (int t = 0; t < threads; t++) {
        jobs[t] = (f32_job){w, x, y, cols, rows * t / threads, rows * (t + 1) / threads};
        if (t) pthread_create(&tid[t], NULL, f32_worker, &jobs[t]);
    }
    f32_worker(&jobs[0]);
    for (int t = 1; t < threads; t++) pthread_join(tid[t], NULL);
}

/* ---- measurements ------------------------------------------------------------- */

typedef enum { KIND_F32, KIND_INT8, KIND_NF4, KIND_NF4_DQ } kind;
static const char *kind_name[] = {"f32", "int8", "nf4", "nf4-dq"};

typedef struct copyset {
    int count;
    float *f32[256];
    bc_quant_int8 i8[256];
    bc_quant_nf4 n4[256];
    void *mem[256];
} copyset;

/* Copies of one weight so that a rotation streams WORKING_SET bytes. */
static int make_copies(kind k, const float *w, const bc_quant_int8 *q8, const bc_quant_nf4 *q4,
                       int64_t rows, int64_t cols, uint64_t bytes, copyset *cs) {
    int n = (int)(WORKING_SET / bytes) + 1;
    if (n > 256) n = 256;
    cs->count = n;
    for (int c = 0; c < n; c++) {
        if (k == KIND_F32) {
            cs->f32[c] = malloc(bytes);
            if (!cs->f32[c]) return -1;
            memcpy(cs->f32[c], w, bytes);
            cs->mem[c] = cs->f32[c];
        } else if (k == KIND_INT8) {
            size_t qb = (size_t)(rows * cols), sb = (size_t)rows * 4;
            char *m = malloc(qb + sb);
            if (!m) return -1;
            memcpy(m, q8->q, qb);
            memcpy(m + qb, q8->absmax, sb);
            cs->i8[c] = *q8;
            cs->i8[c].q = (int8_t *)m;
            cs->i8[c].absmax = (float *)(m + qb);
            cs->i8[c].storage = NULL;
            cs->mem[c] = m;
        } else {
            size_t pb = (size_t)(rows * cols / 2), nb = (size_t)q4->nblocks;
            size_t nb2 = (nb + 255) / 256;
            char *m = malloc(pb + nb * 4 + nb + nb2 * 4);
            if (!m) return -1;
            cs->n4[c] = *q4;
            cs->n4[c].storage = NULL;
            memcpy(m, q4->packed, pb);
            cs->n4[c].packed = (uint8_t *)m;
            if (q4->double_quant) {
                memcpy(m + pb, q4->qabsmax, nb);
                memcpy(m + pb + nb, q4->absmax2, nb2 * 4);
                cs->n4[c].qabsmax = (uint8_t *)(m + pb);
                cs->n4[c].absmax2 = (float *)(m + pb + nb);
            } else {
                memcpy(m + pb, q4->absmax, nb * 4);
                cs->n4[c].absmax = (float *)(m + pb);
            }
            cs->mem[c] = m;
        }
    }
    return 0;
}

static void free_copies(copyset *cs) {
    for (int c = 0; c < cs->count; c++) free(cs->mem[c]);
    cs->count = 0;
}

static double measure(kind k, copyset *cs, const float *x, float *y, int64_t rows, int64_t cols,
                      uint64_t bytes, int threads, double seconds) {
    bc_error err;
    long calls = 0;
    double t0 = now(), dt;
    do {
        for (int c = 0; c < cs->count; c++, calls++) {
            switch (k) {
            case KIND_F32: matvec_f32(cs->f32[c], x, y, rows, cols, threads); break;
            case KIND_INT8: bc_matvec_int8(&cs->i8[c], x, y, threads, &err); break;
            default: bc_matvec_nf4(&cs->n4[c], x, y, threads, &err); break;
            }
        }
        dt = now() - t0;
    } while (dt < seconds);
    return (double)bytes * (double)calls / dt / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.25;
    int max_threads = argc > 2 ? atoi(argv[2]) : 2;
    if (max_threads < 1) max_threads = 1;
    if (max_threads > 16) max_threads = 16;
    static const int64_t shapes[][2] = {{2048, 2048}, {5632, 2048}, {2048, 5632}};

    printf("quantized matvec bandwidth (SIMD path: %s, working set %llu MiB per measurement)\n",
           bc_quant_simd_name(bc_quant_get_simd()), (unsigned long long)(WORKING_SET >> 20));
    double bw[17] = {0};
    for (int t = 1; t <= max_threads; t++) {
        bw[t] = read_bandwidth(t, seconds);
        printf("read bandwidth, %d thread%s: %.1f GB/s\n", t, t > 1 ? "s" : "", bw[t]);
    }
    printf("\n%-11s %-7s %3s %10s %9s %8s %10s\n", "shape", "format", "thr", "bytes", "GB/s",
           "% read", "calls/s");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1];
        float *w = malloc((size_t)(rows * cols) * sizeof(float));
        float *x = malloc((size_t)cols * sizeof(float));
        float *y = malloc((size_t)rows * sizeof(float));
        for (int64_t i = 0; i < rows * cols; i++) w[i] = rnd() * 0.05f;
        for (int64_t i = 0; i < cols; i++) x[i] = rnd();
        bc_quant_int8 q8;
        bc_quant_nf4 q4, q4dq;
        bc_error err;
        double tq = now();
        if (bc_quantize_int8_rows(w, rows, cols, "bench", &q8, &err)) return 1;
        double tq8 = now() - tq;
        tq = now();
        if (bc_quantize_nf4(w, rows, cols, 0, "bench", &q4, &err)) return 1;
        double tq4 = now() - tq;
        if (bc_quantize_nf4(w, rows, cols, 1, "bench", &q4dq, &err)) return 1;
        char shape[32];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)rows, (long long)cols);
        for (int k = KIND_F32; k <= KIND_NF4_DQ; k++) {
            uint64_t bytes = k == KIND_F32    ? (uint64_t)(rows * cols) * 4
                             : k == KIND_INT8 ? bc_quant_int8_bytes(&q8)
                             : k == KIND_NF4  ? bc_quant_nf4_bytes(&q4)
                                              : bc_quant_nf4_bytes(&q4dq);
            copyset *cs = calloc(1, sizeof *cs);
            if (!cs || make_copies((kind)k, w, &q8, k == KIND_NF4_DQ ? &q4dq : &q4, rows, cols,
                                   bytes, cs)) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
            for (int t = 1; t <= max_threads; t++) {
                double gbs = measure((kind)k, cs, x, y, rows, cols, bytes, t, seconds);
                printf("%-11s %-7s %3d %10llu %9.2f %7.0f%% %10.0f\n", shape, kind_name[k], t,
                       (unsigned long long)bytes, gbs, 100.0 * gbs / bw[t], gbs * 1e9 / bytes);
            }
            free_copies(cs);
            free(cs);
        }
        printf("%-11s quantize (1 thread, scalar reference): int8 %.0f Mweights/s, nf4 %.0f "
               "Mweights/s\n", shape, rows * cols / tq8 / 1e6, rows * cols / tq4 / 1e6);
        bc_quant_int8_free(&q8);
        bc_quant_nf4_free(&q4);
        bc_quant_nf4_free(&q4dq);
        free(w);
        free(x);
        free(y);
    }
    return 0;
}
