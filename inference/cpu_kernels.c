/* bc_cpu_kernels: run-time SIMD dispatch, the threaded drivers for matvec and
 * matmul, and the small fp32 ops. Inner loops live in cpu_kernels_generic.c
 * and cpu_kernels_x86.c. */
#include "cpu_kernels.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu_kernels_impl.h"

#if BC_HAVE_OPENBLAS
#include <cblas.h>
#endif

/* ---------------- SIMD dispatch ---------------- */

static const bc_kernel_table *g_kernels;
static bc_simd_level g_level;
static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;
static int g_use_blas = BC_HAVE_OPENBLAS;
static int g_blas_own_threads; /* OpenBLAS's own thread count, before we set 1 */

static const bc_kernel_table *table_for(bc_simd_level level) {
#ifdef BC_HAVE_X86_KERNELS
    if (level == BC_SIMD_AVX512) return &bc_kernels_avx512;
    if (level == BC_SIMD_AVX2) return &bc_kernels_avx2;
#endif
    (void)level;
    return &bc_kernels_generic;
}

bc_simd_level bc_simd_detect(void) {
#ifdef BC_HAVE_X86_KERNELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return BC_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return BC_SIMD_AVX2;
#endif
    return BC_SIMD_GENERIC;
}

/* OpenBLAS picks its kernel from the CPU model; one that does not know the
 * CPU falls back to an old core (0.3.21 calls recent Xeons "Prescott", SSE3)
 * and is then ~4x slower than our AVX-512 kernel. Measured on a 2-core
 * AVX-512 Xeon: OpenBLAS SkylakeX 130-145 GFLOP/s per core, ours 95-110,
 * OpenBLAS Prescott ~15-25. So BLAS is used only when its core is current. */
static int blas_is_faster(bc_simd_level best) {
#if BC_HAVE_OPENBLAS && BC_HAVE_OPENBLAS_GET_CORENAME
    static const char *const avx512_cores[] = {"skylakex", "cooperlake", "sapphirerapids"};
    static const char *const avx2_cores[] = {"haswell", "zen", "skylakex", "cooperlake",
                                             "sapphirerapids"};
    const char *core = openblas_get_corename();
    const char *const *list = best >= BC_SIMD_AVX512 ? avx512_cores : avx2_cores;
    size_t n = best >= BC_SIMD_AVX512 ? 3 : 5;
    if (best == BC_SIMD_GENERIC) return 1; /* any BLAS beats portable C */
    for (size_t i = 0; core && i < n; i++)
        if (!strcasecmp(core, list[i])) return 1;
    return 0;
#else
    (void)best;
    return BC_HAVE_OPENBLAS;
#endif
}

static void init_kernels(void) {
    bc_simd_level best = bc_simd_detect(), level = best;
    const char *env = getenv("BC_SIMD");
    if (env) {
        if (!strcmp(env, "generic")) level = BC_SIMD_GENERIC;
        else if (!strcmp(env, "avx2") && best >= BC_SIMD_AVX2) level = BC_SIMD_AVX2;
        else if (!strcmp(env, "avx512") && best >= BC_SIMD_AVX512) level = BC_SIMD_AVX512;
    }
    g_level = level;
    g_kernels = table_for(level);
    g_use_blas = blas_is_faster(best);
#if BC_HAVE_OPENBLAS && BC_HAVE_OPENBLAS_SET_NUM_THREADS
    /* Our pool splits the GEMM across cores; OpenBLAS threads on top of it
     * would oversubscribe them (and keep spinning after each call). */
    g_blas_own_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#endif
}

static const bc_kernel_table *kernels(void) {
    pthread_once(&g_init_once, init_kernels);
    return g_kernels;
}

bc_simd_level bc_simd_active(void) {
    kernels();
    return g_level;
}

int bc_simd_force(bc_simd_level level) {
    kernels();
    if (level < BC_SIMD_GENERIC || level > bc_simd_detect()) return -1;
    g_level = level;
    g_kernels = table_for(level);
    return 0;
}

const char *bc_simd_name(bc_simd_level level) {
    switch (level) {
    case BC_SIMD_GENERIC: return "generic";
    case BC_SIMD_AVX2: return "avx2";
    case BC_SIMD_AVX512: return "avx512";
    }
    return "unknown";
}

int bc_kernels_have_blas(void) {
    kernels();
    return g_use_blas;
}

int bc_kernels_use_blas(int enabled) {
    kernels();
    if (enabled && !BC_HAVE_OPENBLAS) return -1;
    g_use_blas = enabled ? 1 : 0;
    return 0;
}

const char *bc_blas_core(void) {
#if BC_HAVE_OPENBLAS && BC_HAVE_OPENBLAS_GET_CORENAME
    return openblas_get_corename();
#elif BC_HAVE_OPENBLAS
    return "unknown";
#else
    return NULL;
#endif
}

int bc_blas_own_threads(void) {
    kernels();
    return BC_HAVE_OPENBLAS ? (g_blas_own_threads > 0 ? g_blas_own_threads : 1) : 0;
}

int bc_blas_sgemm(int threads, const float *W, const float *X, float *Y, int T, int rows,
                  int cols) {
    kernels();
#if BC_HAVE_OPENBLAS
#if BC_HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads(threads > 0 ? threads : bc_blas_own_threads());
#else
    (void)threads;
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, rows, cols, 1.0f, X, cols, W, cols,
                0.0f, Y, rows);
#if BC_HAVE_OPENBLAS_SET_NUM_THREADS
    openblas_set_num_threads(1); /* back to one thread under our pool */
#endif
    return 0;
#else
    (void)threads; (void)W; (void)X; (void)Y; (void)T; (void)rows; (void)cols;
    return -1;
#endif
}

typedef struct read_job {
    const float *p;
    size_t n;
    int items;
    float sums[64]; /* per worker: keeps the reads observable */
} read_job;

static void read_items(void *ctx, int begin, int end, int worker) {
    read_job *j = ctx;
    size_t i0 = j->n * (size_t)begin / (size_t)j->items;
    size_t i1 = j->n * (size_t)end / (size_t)j->items;
    j->sums[worker & 63] += kernels()->read_sum(j->p + i0, i1 - i0);
}

float bc_read_pass(bc_threadpool *pool, const float *buf, size_t n) {
    read_job j = {buf, n, 256, {0}};
    bc_threadpool_run(pool, read_items, &j, j.items);
    float s = 0.0f;
    for (int i = 0; i < 64; i++) s += j.sums[i];
    return s;
}

/* ---------------- conversions ---------------- */

float bc_bf16_to_f32(uint16_t bits) { return bc_bf16_bits_to_f32(bits); }
float bc_f16_to_f32(uint16_t bits) { return bc_f16_bits_to_f32(bits); }
uint16_t bc_f32_to_bf16(float value) { return bc_f32_to_bf16_bits(value); }

void bc_convert_bf16_to_f32(const uint16_t *src, float *dst, size_t n) {
    kernels()->bf16_to_f32(src, dst, n);
}
void bc_convert_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
    kernels()->f16_to_f32(src, dst, n);
}
void bc_convert_f32_to_bf16(const float *src, uint16_t *dst, size_t n) {
    kernels()->f32_to_bf16(src, dst, n);
}
void bc_convert_f16_to_bf16(const uint16_t *src, uint16_t *dst, size_t n) {
    const bc_kernel_table *k = kernels();
    float buf[1024]; /* in cache-sized pieces: no allocation, no error path */
    while (n > 0) {
        size_t m = n < 1024 ? n : 1024;
        k->f16_to_f32(src, buf, m);
        k->f32_to_bf16(buf, dst, m);
        src += m;
        dst += m;
        n -= m;
    }
}

/* ---------------- matvec ---------------- */

/* Below this many weights a matvec is done before the workers wake up. */
#define BC_MATVEC_SERIAL_MAX 32768
/* Rows per work item: the inner loops take rows four at a time. */
#define BC_MATVEC_ROWS_PER_ITEM 4

typedef struct matvec_job {
    const bc_kernel_table *k;
    const void *W;
    const float *x;
    float *y;
    int rows, cols, bf16;
} matvec_job;

static void matvec_range(void *ctx, int begin, int end, int worker) {
    (void)worker;
    const matvec_job *j = ctx;
    int r0 = begin * BC_MATVEC_ROWS_PER_ITEM;
    int r1 = end * BC_MATVEC_ROWS_PER_ITEM;
    if (r1 > j->rows) r1 = j->rows;
    if (j->bf16) j->k->matvec_bf16(j->W, j->x, j->y, r0, r1, j->cols);
    else j->k->matvec_f32(j->W, j->x, j->y, r0, r1, j->cols);
}

static void matvec(bc_threadpool *pool, const void *W, int bf16, const float *x, float *y,
                   int rows, int cols) {
    if (rows <= 0 || cols <= 0) {
        if (rows > 0) memset(y, 0, (size_t)rows * sizeof *y);
        return;
    }
    matvec_job j = {kernels(), W, x, y, rows, cols, bf16};
    int items = (rows + BC_MATVEC_ROWS_PER_ITEM - 1) / BC_MATVEC_ROWS_PER_ITEM;
    if ((size_t)rows * (size_t)cols <= BC_MATVEC_SERIAL_MAX) pool = NULL;
    bc_threadpool_run(pool, matvec_range, &j, items);
}

void bc_matvec_f32(bc_threadpool *pool, const float *W, const float *x, float *y, int rows,
                   int cols) {
    matvec(pool, W, 0, x, y, rows, cols);
}

void bc_matvec_bf16(bc_threadpool *pool, const uint16_t *W, const float *x, float *y,
                    int rows, int cols) {
    matvec(pool, W, 1, x, y, rows, cols);
}

/* ---------------- matmul ---------------- */

/* Weight rows per work item, and per fp32 panel on the panel path (64 x 5632
 * fp32 is 1.4 MiB: it stays in L2 while the GEMM uses it). */
#define BC_MATMUL_ROWS_PER_ITEM 64
/* Our own kernel walks cols in blocks so the block of X stays in L2. */
#define BC_MATMUL_KC 512

typedef struct matmul_job {
    const bc_kernel_table *k;
    const void *W;
    bc_panel_fn expand; /* non-NULL: W's rows come in fp32 panels from expand */
    const float *X;
    float *Y;
    int T, rows, cols, bf16;
    float *scratch;       /* expand / BLAS bf16: [threads][ROWS_PER_ITEM * cols] */
} matmul_job;

/* Y[:, r0:r0+n] = X . Wf[0:n]^T for an fp32 block of n weight rows that are
 * `ldw` floats apart (Y rows are j->rows apart), on the calling thread. */
static void gemm_block_f32(const matmul_job *j, const float *Wf, int ldw, int r0, int n) {
#if BC_HAVE_OPENBLAS
    if (g_use_blas) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->T, n, j->cols, 1.0f, j->X,
                    j->cols, Wf, ldw, 0.0f, j->Y + r0, j->rows);
        return;
    }
#endif
    for (int k0 = 0; k0 < j->cols; k0 += BC_MATMUL_KC) {
        int k1 = j->cols - k0 < BC_MATMUL_KC ? j->cols : k0 + BC_MATMUL_KC;
        j->k->gemm_f32(j->X, Wf, j->Y + r0, j->T, 0, n, k0, k1, j->cols, ldw, j->rows,
                       k0 > 0);
    }
}

static void matmul_items(void *ctx, int begin, int end, int worker) {
    const matmul_job *j = ctx;
    size_t cols = (size_t)j->cols;
    float *panel = j->scratch ? j->scratch + (size_t)worker * BC_MATMUL_ROWS_PER_ITEM * cols
                              : NULL;
    for (int item = begin; item < end; item++) {
        int r0 = item * BC_MATMUL_ROWS_PER_ITEM;
        int n = j->rows - r0 < BC_MATMUL_ROWS_PER_ITEM ? j->rows - r0 : BC_MATMUL_ROWS_PER_ITEM;
        if (j->expand) {
            j->expand(j->W, r0, n, panel);
            gemm_block_f32(j, panel, j->cols, r0, n);
        } else if (!j->bf16) {
            gemm_block_f32(j, (const float *)j->W + (size_t)r0 * cols, j->cols, r0, n);
        } else if (panel) { /* bf16 for BLAS: widened into an fp32 panel first */
            j->k->bf16_to_f32((const uint16_t *)j->W + (size_t)r0 * cols, panel,
                              (size_t)n * cols);
            gemm_block_f32(j, panel, j->cols, r0, n);
        } else { /* our kernel widens bf16 while it packs W: no panel needed */
            for (int k0 = 0; k0 < j->cols; k0 += BC_MATMUL_KC) {
                int k1 = j->cols - k0 < BC_MATMUL_KC ? j->cols : k0 + BC_MATMUL_KC;
                j->k->gemm_bf16(j->X, j->W, j->Y, j->T, r0, r0 + n, k0, k1, j->cols, j->cols,
                                j->rows, k0 > 0);
            }
        }
    }
}

static void matmul(bc_threadpool *pool, const void *W, int bf16, bc_panel_fn expand,
                   const float *X, float *Y, int T, int rows, int cols, float *scratch) {
    if (T <= 0 || rows <= 0) return;
    if (cols <= 0) {
        memset(Y, 0, (size_t)T * (size_t)rows * sizeof *Y);
        return;
    }
    matmul_job j = {kernels(), W, expand, X, Y, T, rows, cols, bf16, scratch};
    if (g_use_blas && !bf16 && !expand) {
        /* fp32 weights as they are: one sgemm on OpenBLAS's own threads beats
         * row blocks of single-threaded calls spread over our pool (measured
         * with its AVX-512 core: 0.55x -> see bench's "prefill GEMM refs"). */
        bc_blas_sgemm(bc_threadpool_size(pool), W, X, Y, T, rows, cols);
        return;
    }
    int items = (rows + BC_MATMUL_ROWS_PER_ITEM - 1) / BC_MATMUL_ROWS_PER_ITEM;
    float *owned = NULL;
    if (bf16 && g_use_blas && !scratch) {
        size_t per = bc_matmul_panel_floats(cols);
        /* no memory (NULL): our kernel, which needs no panel */
        j.scratch = owned = malloc((size_t)bc_threadpool_size(pool) * per * sizeof(float));
    }
    bc_threadpool_run(pool, matmul_items, &j, items);
    free(owned);
}

size_t bc_matmul_panel_floats(int cols) {
    return cols > 0 ? (size_t)BC_MATMUL_ROWS_PER_ITEM * (size_t)cols : 0;
}

void bc_matmul_f32(bc_threadpool *pool, const float *W, const float *X, float *Y, int T,
                   int rows, int cols) {
    if (T == 1) matvec(pool, W, 0, X, Y, rows, cols);
    else matmul(pool, W, 0, NULL, X, Y, T, rows, cols, NULL);
}

void bc_matmul_bf16(bc_threadpool *pool, const uint16_t *W, const float *X, float *Y, int T,
                    int rows, int cols) {
    if (T == 1) matvec(pool, W, 1, X, Y, rows, cols);
    else matmul(pool, W, 1, NULL, X, Y, T, rows, cols, NULL);
}

void bc_matmul_bf16_scratch(bc_threadpool *pool, const uint16_t *W, const float *X, float *Y,
                            int T, int rows, int cols, float *scratch) {
    if (T == 1) matvec(pool, W, 1, X, Y, rows, cols);
    else matmul(pool, W, 1, NULL, X, Y, T, rows, cols, g_use_blas ? scratch : NULL);
}

void bc_matmul_panels(bc_threadpool *pool, bc_panel_fn expand, const void *W, const float *X,
                      float *Y, int T, int rows, int cols, float *scratch) {
    matmul(pool, W, 0, expand, X, Y, T, rows, cols, scratch);
}

void bc_gemm_nt_f32(const float *X, int ldx, const float *W, int ldw, float *Y, int ldy, int M,
                    int N, int K) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int m = 0; m < M; m++) memset(Y + (size_t)m * ldy, 0, (size_t)N * sizeof *Y);
        return;
    }
    const bc_kernel_table *k = kernels();
    for (int k0 = 0; k0 < K; k0 += BC_MATMUL_KC) {
        int k1 = K - k0 < BC_MATMUL_KC ? K : k0 + BC_MATMUL_KC;
        k->gemm_f32(X, W, Y, M, 0, N, k0, k1, ldx, ldw, ldy, k0 > 0);
    }
}

void bc_gemm_tn_f32(const float *P, int ldp, const float *V, int ldv, float *O, int ldo, int M,
                    int N, int K) {
    if (M > 0 && N > 0) kernels()->gemm_tn_f32(P, ldp, V, ldv, O, ldo, M, N, K < 0 ? 0 : K);
}

/* ---------------- small ops ---------------- */

/* Elementwise work smaller than this is not worth waking the workers. */
#define BC_ELEMENTWISE_SERIAL_MAX 65536
#define BC_ELEMENTWISE_BLOCK 8192

typedef struct rmsnorm_job {
    float *out;
    const float *x, *weight;
    int n;
    float eps;
} rmsnorm_job;

static void rmsnorm_rows(void *ctx, int begin, int end, int worker) {
    (void)worker;
    const rmsnorm_job *j = ctx;
    for (int t = begin; t < end; t++) {
        const float *x = j->x + (size_t)t * j->n;
        float *out = j->out + (size_t)t * j->n;
        float acc[16] = {0}; /* fp32 lanes, vectorizable without fast-math */
        int i = 0;
        for (; i + 16 <= j->n; i += 16)
            for (int l = 0; l < 16; l++) acc[l] += x[i + l] * x[i + l];
        float ss = 0.0f;
        for (int l = 0; l < 16; l++) ss += acc[l];
        for (; i < j->n; i++) ss += x[i] * x[i];
        float scale = 1.0f / sqrtf(ss / (float)j->n + j->eps);
        for (i = 0; i < j->n; i++) out[i] = j->weight[i] * (x[i] * scale);
    }
}

void bc_rmsnorm(bc_threadpool *pool, float *out, const float *x, const float *weight, int T,
                int n, float eps) {
    if (T <= 0 || n <= 0) return;
    rmsnorm_job j = {out, x, weight, n, eps};
    if ((size_t)T * (size_t)n <= BC_ELEMENTWISE_SERIAL_MAX) pool = NULL;
    bc_threadpool_run(pool, rmsnorm_rows, &j, T);
}

typedef struct binary_job {
    float *out;
    const float *a, *b;
    size_t n;
} binary_job;

static void silu_mul_blocks(void *ctx, int begin, int end, int worker) {
    (void)worker;
    const binary_job *j = ctx;
    size_t i0 = (size_t)begin * BC_ELEMENTWISE_BLOCK;
    size_t i1 = (size_t)end * BC_ELEMENTWISE_BLOCK;
    if (i1 > j->n) i1 = j->n;
    for (size_t i = i0; i < i1; i++) {
        float g = j->a[i];
        j->out[i] = g / (1.0f + expf(-g)) * j->b[i];
    }
}

static void add_blocks(void *ctx, int begin, int end, int worker) {
    (void)worker;
    const binary_job *j = ctx;
    size_t i0 = (size_t)begin * BC_ELEMENTWISE_BLOCK;
    size_t i1 = (size_t)end * BC_ELEMENTWISE_BLOCK;
    if (i1 > j->n) i1 = j->n;
    for (size_t i = i0; i < i1; i++) j->out[i] = j->a[i] + j->b[i];
}

static void elementwise(bc_threadpool *pool, bc_parallel_fn fn, binary_job *j) {
    if (j->n == 0) return;
    if (j->n <= BC_ELEMENTWISE_SERIAL_MAX) pool = NULL;
    size_t blocks = (j->n + BC_ELEMENTWISE_BLOCK - 1) / BC_ELEMENTWISE_BLOCK;
    /* More than INT_MAX blocks (1.7e13 floats) cannot be in memory. */
    bc_threadpool_run(pool, fn, j, (int)blocks);
}

void bc_silu_mul(bc_threadpool *pool, float *out, const float *gate, const float *up,
                 size_t n) {
    binary_job j = {out, gate, up, n};
    elementwise(pool, silu_mul_blocks, &j);
}

void bc_add(bc_threadpool *pool, float *out, const float *a, const float *b, size_t n) {
    binary_job j = {out, a, b, n};
    elementwise(pool, add_blocks, &j);
}

void bc_softmax(float *x, int n) {
    if (n <= 0) return;
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

float bc_dot(const float *a, const float *b, int n) {
    return n > 0 ? kernels()->dot(a, b, n) : 0.0f;
}

void bc_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

void bc_rope_table(float *cos_tab, float *sin_tab, int n_pos, int head_dim, float base) {
    int half = head_dim / 2;
    for (int j = 0; j < half; j++) {
        /* fp32 throughout, as torch computes inv_freq and the outer product. */
        float inv_freq = 1.0f / powf(base, (float)(2 * j) / (float)head_dim);
        for (int p = 0; p < n_pos; p++) {
            float angle = (float)p * inv_freq;
            cos_tab[(size_t)p * half + j] = (float)cos((double)angle);
            sin_tab[(size_t)p * half + j] = (float)sin((double)angle);
        }
    }
}

void bc_rope_apply(float *x, int n_heads, int head_dim, const float *cos_row,
                   const float *sin_row) {
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int j = 0; j < half; j++) {
            float a = v[j], b = v[j + half];
            v[j] = a * cos_row[j] - b * sin_row[j];
            v[j + half] = b * cos_row[j] + a * sin_row[j];
        }
    }
}
