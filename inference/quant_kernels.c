/* CPU kernels for the quantized formats: matvec (decode) and matmul
 * (prefill), with runtime SIMD dispatch (AVX-512, AVX2+FMA, portable C).
 *
 * matvec streams the weight once and must keep up with memory: the SIMD
 * kernels (quant_matvec_x86.c) turn codes into fp32 in registers, several
 * rows per pass, with software prefetch. This file holds the dispatch, the
 * per-call preparation they need (x rearranged once per matvec into the
 * layout the NF4 kernels read, tables of double-quantized scales), the
 * portable C kernels and the drivers (row ranges, thread pool, pthreads).
 *
 * matmul dequantizes a few rows of W into per-thread scratch (fp32, stays in
 * L1/L2) and reuses them for every token of the prompt. */
#include "quant.h"
#include "quant_kernels_impl.h"
#include "threadpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define BC_QUANT_X86 1
#include <immintrin.h>
#else
#define BC_QUANT_X86 0
#endif

/* ---- dispatch ------------------------------------------------------------ */

static bc_quant_simd best_supported(void) {
#if BC_QUANT_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        return BC_QUANT_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return BC_QUANT_SIMD_AVX2;
#endif
    return BC_QUANT_SIMD_SCALAR;
}

/* Written once before kernels run (or by tests between runs). */
static bc_quant_simd g_simd = BC_QUANT_SIMD_AUTO;

bc_quant_simd bc_quant_set_simd(bc_quant_simd want) {
    bc_quant_simd best = best_supported();
    if (want == BC_QUANT_SIMD_AUTO || want > best) want = best;
    g_simd = want;
    return g_simd;
}

bc_quant_simd bc_quant_get_simd(void) {
    if (g_simd == BC_QUANT_SIMD_AUTO) g_simd = best_supported();
    return g_simd;
}

const char *bc_quant_simd_name(bc_quant_simd s) {
    switch (s) {
    case BC_QUANT_SIMD_AUTO: return "auto";
    case BC_QUANT_SIMD_SCALAR: return "scalar";
    case BC_QUANT_SIMD_AVX2: return "avx2";
    case BC_QUANT_SIMD_AVX512: return "avx512";
    }
    return "?";
}

/* ---- portable kernels ----------------------------------------------------- */

static float int8_dot_scalar(const int8_t *q, const float *x, int64_t n) {
    float acc[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) acc[k] += (float)q[i + k] * x[i + k];
    for (; i < n; i++) acc[0] += (float)q[i] * x[i];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* Row of NF4 blocks (cols % 64 == 0): packed points at the row's first byte;
 * byte k holds elements 2k (high nibble) and 2k+1 (low). Block b's scale is
 * bc_nf4_scale_at(sc, i0 + b). Each block's products are summed unscaled,
 * then scaled. */
static float nf4_row_scalar(const uint8_t *packed, const float *x, const bc_nf4_scales *sc,
                            int64_t i0, int64_t nblk) {
    float acc = 0.0f;
    for (int64_t b = 0; b < nblk; b++) {
        const uint8_t *p = packed + b * 32;
        const float *xb = x + b * 64;
        float s0 = 0.0f, s1 = 0.0f;
        for (int k = 0; k < 32; k++) {
            s0 += bc_nf4_code[p[k] >> 4] * xb[2 * k];
            s1 += bc_nf4_code[p[k] & 15] * xb[2 * k + 1];
        }
        acc += (s0 + s1) * bc_nf4_scale_at(sc, i0 + b);
    }
    return acc;
}

static float f32_dot_scalar(const float *a, const float *b, int64_t n) {
    float acc[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) acc[k] += a[i + k] * b[i + k];
    for (; i < n; i++) acc[0] += a[i] * b[i];
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* ---- AVX2 + FMA ----------------------------------------------------------- */
#if BC_QUANT_X86
#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx2,fma")))

TARGET_AVX2 static float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

TARGET_AVX2 static float f32_dot_avx2(const float *a, const float *b, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
    }
    float acc = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++) acc += a[i] * b[i];
    return acc;
}

/* ---- AVX-512 -------------------------------------------------------------- */

TARGET_AVX512 static float f32_dot_avx512(const float *a, const float *b, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), a1);
    }
    float acc = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; i < n; i++) acc += a[i] * b[i];
    return acc;
}
#endif /* BC_QUANT_X86 */

static float f32_dot(const float *a, const float *b, int64_t n) {
#if BC_QUANT_X86
    switch (bc_quant_get_simd()) {
    case BC_QUANT_SIMD_AVX512: return f32_dot_avx512(a, b, n);
    case BC_QUANT_SIMD_AVX2: return f32_dot_avx2(a, b, n);
    default: break;
    }
#endif
    return f32_dot_scalar(a, b, n);
}

/* ---- matvec --------------------------------------------------------------- */

static void int8_rows(bc_quant_simd path, const bc_quant_int8 *w, const float *x, float *y,
                      int64_t row_begin, int64_t row_end) {
    const int8_t *q = w->q + row_begin * w->cols;
    int64_t n = row_end - row_begin;
#if BC_QUANT_X86
    if (path == BC_QUANT_SIMD_AVX512) {
        bc_int8_rows_avx512(q, w->cols, x, w->absmax + row_begin, n, y + row_begin);
        return;
    }
    if (path == BC_QUANT_SIMD_AVX2) {
        bc_int8_rows_avx2(q, w->cols, x, w->absmax + row_begin, n, y + row_begin);
        return;
    }
#endif
    (void)path;
    for (int64_t r = row_begin; r < row_end; r++) {
        float scale = w->absmax[r] * (1.0f / 127.0f);
        y[r] = int8_dot_scalar(w->q + r * w->cols, x, w->cols) * scale;
    }
}

void bc_matvec_int8_rows(const bc_quant_int8 *w, const float *x, float *y,
                         int64_t row_begin, int64_t row_end) {
    int8_rows(bc_quant_get_simd(), w, x, y, row_begin, row_end);
}

/* Any shape: blocks may straddle rows, so walk elements with their global
 * index (used when cols is not a multiple of 64; no real model needs it). */
static void nf4_rows_generic(const bc_quant_nf4 *w, const float *x, float *y,
                             int64_t row_begin, int64_t row_end) {
    for (int64_t r = row_begin; r < row_end; r++) {
        float acc = 0.0f;
        int64_t e = r * w->cols, end = e + w->cols;
        while (e < end) {
            int64_t b = e / BC_NF4_BLOCK;
            int64_t stop = (b + 1) * BC_NF4_BLOCK < end ? (b + 1) * BC_NF4_BLOCK : end;
            float s = 0.0f;
            for (; e < stop; e++) {
                uint8_t byte = w->packed[e / 2];
                s += bc_nf4_code[(e & 1) ? (byte & 15) : (byte >> 4)] * x[e - r * w->cols];
            }
            acc += s * bc_nf4_block_scale(w, b);
        }
        y[r] = acc;
    }
}

/* Scratch of the NF4 matvec: x in the SIMD kernels' lane-major layout
 * (quant_kernels_impl.h), padded to whole 128-element chunks, then for
 * double quantization a ring of scale tables, one per absmax2 group (256
 * blocks), big enough for every group that SCALE_ROWS rows touch. */
enum { SCALE_ROWS = 8, XL_CHUNK = 128 };

static size_t xl_floats(int64_t cols) {
    return (size_t)((cols + XL_CHUNK - 1) / XL_CHUNK * XL_CHUNK);
}

/* Tables in the ring: a power of two >= the groups SCALE_ROWS rows span. */
static int64_t scale_ring_tables(int64_t cols) {
    int64_t span = SCALE_ROWS * (cols / BC_NF4_BLOCK) / BC_NF4_BLOCK2 + 2, n = 1;
    while (n < span) n *= 2;
    return n;
}

size_t bc_quant_matvec_scratch_floats(int64_t cols) {
    return xl_floats(cols) + (size_t)scale_ring_tables(cols) * 256;
}

/* x as the path's kernel reads it: lane-major in xl for SIMD, x itself for C. */
static const float *nf4_prepare_x(bc_quant_simd path, const float *x, int64_t cols,
                                  float *xl) {
    switch (path) {
    case BC_QUANT_SIMD_AVX512: bc_nf4_layout_x(x, cols, 16, xl); return xl;
    case BC_QUANT_SIMD_AVX2: bc_nf4_layout_x(x, cols, 8, xl); return xl;
    default: return x;
    }
}

static void nf4_kernel(bc_quant_simd path, const uint8_t *packed, int64_t row_bytes,
                       const float *xk, const bc_nf4_scales *sc, int64_t nblk, int64_t nrows,
                       float *y) {
#if BC_QUANT_X86
    if (path == BC_QUANT_SIMD_AVX512) {
        bc_nf4_rows_avx512(packed, row_bytes, xk, sc, nblk, nrows, y);
        return;
    }
    if (path == BC_QUANT_SIMD_AVX2) {
        bc_nf4_rows_avx2(packed, row_bytes, xk, sc, nblk, nrows, y);
        return;
    }
#endif
    (void)path;
    for (int64_t r = 0; r < nrows; r++)
        y[r] = nf4_row_scalar(packed + r * row_bytes, xk, sc, r * nblk, nblk);
}

/* Fills the ring slots of absmax2 groups (built, last] with code2[q] *
 * absmax2[g] + offset (two roundings, as bnb's dequantization). */
static void nf4_build_tables(bc_quant_simd path, const bc_quant_nf4 *w, int64_t built,
                             int64_t last, float *restrict ring, int64_t mask) {
    const float offset = w->offset;
    for (int64_t g = built + 1; g <= last; g++) {
        float *restrict tab = ring + (g & mask) * 256;
        const float a2 = w->absmax2[g];
#if BC_QUANT_X86
        if (path == BC_QUANT_SIMD_AVX512) {
            bc_nf4_scale_table_avx512(w->code2, a2, offset, tab);
            continue;
        }
#endif
        (void)path;
        for (int q = 0; q < 256; q++) {
            float decoded = w->code2[q] * a2;
            tab[q] = decoded + offset;
        }
    }
}

/* Rows [row_begin, row_end) of a whole-block shape (cols % 64 == 0) with x
 * already prepared (xk); ring: the scratch after x. */
static void nf4_rows_prepared(bc_quant_simd path, const bc_quant_nf4 *w, const float *xk,
                              float *y, int64_t row_begin, int64_t row_end, float *ring) {
    int64_t row_bytes = w->cols / 2, nblk = w->cols / BC_NF4_BLOCK;
    if (!w->double_quant) {
        bc_nf4_scales sc = {.direct = w->absmax + row_begin * nblk};
        nf4_kernel(path, w->packed + row_begin * row_bytes, row_bytes, xk, &sc, nblk,
                   row_end - row_begin, y + row_begin);
        return;
    }
    int64_t mask = scale_ring_tables(w->cols) - 1, built = -1;
    for (int64_t r0 = row_begin; r0 < row_end; r0 += SCALE_ROWS) {
        int64_t n = row_end - r0 < SCALE_ROWS ? row_end - r0 : SCALE_ROWS;
        int64_t g0 = r0 * nblk / BC_NF4_BLOCK2, g1 = ((r0 + n) * nblk - 1) / BC_NF4_BLOCK2;
        /* groups below g0 are done with; the ring holds g0..g1 after this */
        if (built < g0 - 1) built = g0 - 1;
        nf4_build_tables(path, w, built, g1, ring, mask);
        built = g1;
        bc_nf4_scales sc = {.code = w->qabsmax + r0 * nblk, .tables = ring,
                            .first_block = r0 * nblk, .table_mask = mask};
        nf4_kernel(path, w->packed + r0 * row_bytes, row_bytes, xk, &sc, nblk, n, y + r0);
    }
}

void bc_matvec_nf4_rows_scratch(const bc_quant_nf4 *w, const float *x, float *y,
                                int64_t row_begin, int64_t row_end, float *scratch) {
    if (w->cols % BC_NF4_BLOCK != 0) {
        nf4_rows_generic(w, x, y, row_begin, row_end);
        return;
    }
    bc_quant_simd path = bc_quant_get_simd();
    const float *xk = nf4_prepare_x(path, x, w->cols, scratch);
    nf4_rows_prepared(path, w, xk, y, row_begin, row_end, scratch + xl_floats(w->cols));
}

void bc_matvec_nf4_rows(const bc_quant_nf4 *w, const float *x, float *y,
                        int64_t row_begin, int64_t row_end) {
    float *buf = malloc(bc_quant_matvec_scratch_floats(w->cols) * sizeof(float));
    if (!buf) { /* degrade gracefully rather than fail a matvec */
        nf4_rows_generic(w, x, y, row_begin, row_end);
        return;
    }
    bc_matvec_nf4_rows_scratch(w, x, y, row_begin, row_end, buf);
    free(buf);
}

/* ---- matvec on a thread pool ---------------------------------------------- */

/* One work item = `chunk` output rows. About 8 items per thread let the pool's
 * dynamic hand-out balance cores that are busy with other processes. x is
 * laid out for the NF4 kernel once per call, before the items run. */
enum { POOL_MIN_CHUNK_ROWS = 16, POOL_ITEMS_PER_THREAD = 8 };

typedef struct pool_matvec_job {
    bc_quant_simd path;
    const bc_quant_tensor *w;
    const float *x;              /* int8: x; nf4: x as the kernel reads it */
    float *y;
    int64_t rows, chunk;
    float *scratch;              /* per worker, `scratch_floats` each */
    size_t scratch_floats;
} pool_matvec_job;

static void pool_matvec_items(void *arg, int begin, int end, int worker) {
    const pool_matvec_job *j = arg;
    int64_t r0 = (int64_t)begin * j->chunk;
    int64_t r1 = (int64_t)end * j->chunk < j->rows ? (int64_t)end * j->chunk : j->rows;
    if (j->w->format == BC_QUANT_INT8) {
        int8_rows(j->path, &j->w->int8, j->x, j->y, r0, r1);
        return;
    }
    const bc_quant_nf4 *w = &j->w->nf4;
    if (w->cols % BC_NF4_BLOCK != 0) {
        nf4_rows_generic(w, j->x, j->y, r0, r1);
        return;
    }
    float *sc = j->scratch + (size_t)worker * j->scratch_floats + xl_floats(w->cols);
    nf4_rows_prepared(j->path, w, j->x, j->y, r0, r1, sc);
}

void bc_matvec_quant_pool(bc_threadpool *pool, const bc_quant_tensor *w, const float *x,
                          float *y, float *scratch, size_t scratch_floats) {
    int64_t rows = w->format == BC_QUANT_INT8 ? w->int8.rows : w->nf4.rows;
    int64_t want_items = (int64_t)bc_threadpool_size(pool) * POOL_ITEMS_PER_THREAD;
    int64_t chunk = (rows + want_items - 1) / want_items;
    if (chunk < POOL_MIN_CHUNK_ROWS) chunk = POOL_MIN_CHUNK_ROWS;
    pool_matvec_job job = {bc_quant_get_simd(), w, x, y, rows, chunk, scratch, scratch_floats};
    /* worker 0's x area holds the shared layout; every worker's scale area
     * lies after its own x area, so nothing overlaps */
    if (w->format == BC_QUANT_NF4 && w->nf4.cols % BC_NF4_BLOCK == 0)
        job.x = nf4_prepare_x(job.path, x, w->nf4.cols, scratch);
    bc_threadpool_run(pool, pool_matvec_items, &job, (int)((rows + chunk - 1) / chunk));
}

/* ---- matmul --------------------------------------------------------------- */

#define MATMUL_TILE_ROWS 4

size_t bc_quant_matmul_scratch_floats(int64_t cols) {
    return (size_t)MATMUL_TILE_ROWS * (size_t)cols;
}

static void dequant_int8_row(const bc_quant_int8 *w, int64_t r, float *out) {
    float scale = w->absmax[r] * (1.0f / 127.0f);
    const int8_t *q = w->q + r * w->cols;
    for (int64_t c = 0; c < w->cols; c++) out[c] = (float)q[c] * scale;
}

static void dequant_nf4_row(const bc_quant_nf4 *w, int64_t r, float *out) {
    int64_t e0 = r * w->cols;
    for (int64_t c = 0; c < w->cols;) {
        int64_t e = e0 + c, b = e / BC_NF4_BLOCK;
        float s = bc_nf4_block_scale(w, b);
        int64_t stop = (b + 1) * BC_NF4_BLOCK - e0;
        if (stop > w->cols) stop = w->cols;
        for (; c < stop; c++) {
            uint8_t byte = w->packed[(e0 + c) / 2];
            out[c] = bc_nf4_code[((e0 + c) & 1) ? (byte & 15) : (byte >> 4)] * s;
        }
    }
}

void bc_dequant_int8_rows(const bc_quant_int8 *w, int64_t row0, int64_t nrows, float *dst) {
    for (int64_t k = 0; k < nrows; k++) dequant_int8_row(w, row0 + k, dst + k * w->cols);
}

/* Whole blocks per row (cols % 64 == 0, every real model): one scale per 64
 * values, high nibble first; the same products code * scale in fp32 as
 * dequant_nf4_row. */
void bc_dequant_nf4_rows(const bc_quant_nf4 *w, int64_t row0, int64_t nrows, float *dst) {
    int64_t cols = w->cols;
    if (cols % BC_NF4_BLOCK != 0) {
        for (int64_t k = 0; k < nrows; k++) dequant_nf4_row(w, row0 + k, dst + k * cols);
        return;
    }
    int64_t nblk = cols / BC_NF4_BLOCK;
    for (int64_t k = 0; k < nrows; k++) {
        int64_t r = row0 + k;
        const uint8_t *p = w->packed + r * (cols / 2);
        float *out = dst + k * cols;
        for (int64_t b = 0; b < nblk; b++) {
            float s = bc_nf4_block_scale(w, r * nblk + b);
            const uint8_t *pb = p + b * (BC_NF4_BLOCK / 2);
            float *ob = out + b * BC_NF4_BLOCK;
            for (int i = 0; i < BC_NF4_BLOCK / 2; i++) {
                ob[2 * i] = bc_nf4_code[pb[i] >> 4] * s;
                ob[2 * i + 1] = bc_nf4_code[pb[i] & 15] * s;
            }
        }
    }
}

typedef void (*dequant_row_fn)(const void *w, int64_t r, float *out);

static void matmul_rows(const void *w, dequant_row_fn dequant, int64_t cols, const float *X,
                        int64_t m, float *Y, int64_t ldy, int64_t row_begin, int64_t row_end,
                        float *scratch) {
    for (int64_t r0 = row_begin; r0 < row_end; r0 += MATMUL_TILE_ROWS) {
        int64_t nr = row_end - r0 < MATMUL_TILE_ROWS ? row_end - r0 : MATMUL_TILE_ROWS;
        for (int64_t k = 0; k < nr; k++) dequant(w, r0 + k, scratch + k * cols);
        for (int64_t t = 0; t < m; t++)
            for (int64_t k = 0; k < nr; k++)
                Y[t * ldy + r0 + k] = f32_dot(X + t * cols, scratch + k * cols, cols);
    }
}

static void dequant_int8_row_cb(const void *w, int64_t r, float *out) {
    dequant_int8_row(w, r, out);
}
static void dequant_nf4_row_cb(const void *w, int64_t r, float *out) {
    dequant_nf4_row(w, r, out);
}

void bc_matmul_int8_rows(const bc_quant_int8 *w, const float *X, int64_t m, float *Y,
                         int64_t row_begin, int64_t row_end, float *scratch) {
    matmul_rows(w, dequant_int8_row_cb, w->cols, X, m, Y, w->rows, row_begin, row_end, scratch);
}

void bc_matmul_nf4_rows(const bc_quant_nf4 *w, const float *X, int64_t m, float *Y,
                        int64_t row_begin, int64_t row_end, float *scratch) {
    matmul_rows(w, dequant_nf4_row_cb, w->cols, X, m, Y, w->rows, row_begin, row_end, scratch);
}

/* ---- simple pthread split (until the engine drives the *_rows forms from
 * its thread pool) ----------------------------------------------------------- */

typedef enum { JOB_MATVEC_INT8, JOB_MATVEC_NF4, JOB_MATMUL_INT8, JOB_MATMUL_NF4 } job_kind;

typedef struct split_job {
    job_kind kind;
    const void *w;
    const float *x;
    float *y;
    int64_t m;
    int64_t begin, end;
    float *scratch;
} split_job;

static void run_job(split_job *j) {
    switch (j->kind) {
    case JOB_MATVEC_INT8: bc_matvec_int8_rows(j->w, j->x, j->y, j->begin, j->end); break;
    case JOB_MATVEC_NF4: bc_matvec_nf4_rows(j->w, j->x, j->y, j->begin, j->end); break;
    case JOB_MATMUL_INT8:
        bc_matmul_int8_rows(j->w, j->x, j->m, j->y, j->begin, j->end, j->scratch);
        break;
    case JOB_MATMUL_NF4:
        bc_matmul_nf4_rows(j->w, j->x, j->m, j->y, j->begin, j->end, j->scratch);
        break;
    }
}

static void *job_thread(void *arg) {
    run_job(arg);
    return NULL;
}

#define MAX_SPLIT 64

static int run_split(job_kind kind, const void *w, int64_t rows, int64_t cols, const float *x,
                     int64_t m, float *y, int n_threads, bc_error *err) {
    int matmul = kind == JOB_MATMUL_INT8 || kind == JOB_MATMUL_NF4;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > MAX_SPLIT) n_threads = MAX_SPLIT;
    if (n_threads > rows) n_threads = (int)rows;
    split_job jobs[MAX_SPLIT];
    pthread_t tids[MAX_SPLIT];
    float *scratch = NULL;
    size_t per = bc_quant_matmul_scratch_floats(cols);
    if (matmul) {
        scratch = malloc((size_t)n_threads * per * sizeof(float));
        if (!scratch) return bc_errorf(err, "quantized matmul: out of memory for scratch");
    }
    int started = 0;
    for (int t = 0; t < n_threads; t++) {
        jobs[t] = (split_job){kind, w, x, y, m, rows * t / n_threads, rows * (t + 1) / n_threads,
                              matmul ? scratch + (size_t)t * per : NULL};
    }
    for (int t = 1; t < n_threads; t++) {
        if (pthread_create(&tids[t], NULL, job_thread, &jobs[t]) != 0) break;
        started = t;
    }
    /* ranges whose thread could not start run here */
    for (int t = started + 1; t < n_threads; t++) run_job(&jobs[t]);
    run_job(&jobs[0]);
    for (int t = 1; t <= started; t++) pthread_join(tids[t], NULL);
    free(scratch);
    return 0;
}

int bc_matvec_int8(const bc_quant_int8 *w, const float *x, float *y, int n_threads,
                   bc_error *err) {
    return run_split(JOB_MATVEC_INT8, w, w->rows, w->cols, x, 1, y, n_threads, err);
}

int bc_matvec_nf4(const bc_quant_nf4 *w, const float *x, float *y, int n_threads,
                  bc_error *err) {
    return run_split(JOB_MATVEC_NF4, w, w->rows, w->cols, x, 1, y, n_threads, err);
}

int bc_matmul_int8(const bc_quant_int8 *w, const float *X, int64_t m, float *Y,
                   int n_threads, bc_error *err) {
    return run_split(JOB_MATMUL_INT8, w, w->rows, w->cols, X, m, Y, n_threads, err);
}

int bc_matmul_nf4(const bc_quant_nf4 *w, const float *X, int64_t m, float *Y,
                  int n_threads, bc_error *err) {
    return run_split(JOB_MATMUL_NF4, w, w->rows, w->cols, X, m, Y, n_threads, err);
}
