/* Unit tests of inference/cpu_kernels: every kernel against a plain float64
 * reference on odd shapes, under every SIMD path this CPU has, with and
 * without OpenBLAS and the thread pool; the 16-bit conversions and RoPE tables
 * against numpy/torch values from tests/unit/gen_kernel_fixtures.py.
 *
 * Error bound for sums: |got - ref| <= 1e-5 * sum(|terms|) (+ tiny), i.e. a
 * relative error of 1e-5 measured against the magnitude that fp32 rounding
 * acts on, which stays meaningful when terms cancel. */
#include <stdint.h>

#include "bc_test.h"
#include "cpu_kernels.h"

#include "kernel_fixtures.inc"

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define REL_TOL 1e-5

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / (double)(1ULL << 53) * 2.0 - 1.0);
}

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void fill(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = frand();
}

/* W as f32 and as bf16 (the bf16 reference uses the rounded weights). */
typedef struct weights {
    float *f32, *bf16_as_f32;
    uint16_t *bf16;
} weights;

static weights make_weights(int rows, int cols) {
    size_t n = (size_t)rows * cols;
    weights w = {malloc(n * 4 + 4), malloc(n * 4 + 4), malloc(n * 2 + 2)};
    fill(w.f32, n);
    for (size_t i = 0; i < n; i++) {
        w.bf16[i] = bc_f32_to_bf16(w.f32[i]);
        w.bf16_as_f32[i] = bc_bf16_to_f32(w.bf16[i]);
    }
    return w;
}
static void free_weights(weights *w) {
    free(w->f32);
    free(w->bf16_as_f32);
    free(w->bf16);
}

/* Max over outputs of |got-ref| / (sum|terms| + 1e-30), for Y[T, rows] = X W^T. */
static double matmul_err(const float *W, const float *X, const float *Y, int T, int rows,
                         int cols) {
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < rows; r++) {
            double s = 0, mag = 0;
            for (int k = 0; k < cols; k++) {
                double p = (double)W[(size_t)r * cols + k] * X[(size_t)t * cols + k];
                s += p;
                mag += fabs(p);
            }
            double e = fabs(Y[(size_t)t * rows + r] - s) / (mag + 1e-30);
            if (e > worst || e != e) worst = e;
        }
    return worst;
}

static const int shapes[][2] = {{1, 1}, {1, 17}, {7, 1}, {5, 33}, {13, 100},
                                {37, 257}, {64, 2048}, {130, 1031}};

static void test_matvec(bc_threadpool *pool, const char *what) {
    for (size_t s = 0; s < NELEMS(shapes); s++) {
        int rows = shapes[s][0], cols = shapes[s][1];
        weights w = make_weights(rows, cols);
        float *x = malloc((size_t)cols * 4), *y = malloc((size_t)rows * 4);
        fill(x, (size_t)cols);
        bc_matvec_f32(pool, w.f32, x, y, rows, cols);
        double e = matmul_err(w.f32, x, y, 1, rows, cols);
        CHECK(e <= REL_TOL, "%s matvec_f32 %dx%d: rel err %.2e", what, rows, cols, e);
        bc_matvec_bf16(pool, w.bf16, x, y, rows, cols);
        e = matmul_err(w.bf16_as_f32, x, y, 1, rows, cols);
        CHECK(e <= REL_TOL, "%s matvec_bf16 %dx%d: rel err %.2e", what, rows, cols, e);
        free(x);
        free(y);
        free_weights(&w);
    }
}

static void test_matmul(bc_threadpool *pool, const char *what) {
    static const int Ts[] = {2, 3, 5, 9};
    static const int mshapes[][2] = {{1, 1}, {5, 7}, {67, 33}, {130, 600}, {3, 1025}};
    for (size_t ti = 0; ti < NELEMS(Ts); ti++)
        for (size_t s = 0; s < NELEMS(mshapes); s++) {
            int T = Ts[ti], rows = mshapes[s][0], cols = mshapes[s][1];
            weights w = make_weights(rows, cols);
            float *X = malloc((size_t)T * cols * 4), *Y = malloc((size_t)T * rows * 4);
            fill(X, (size_t)T * cols);
            bc_matmul_f32(pool, w.f32, X, Y, T, rows, cols);
            double e = matmul_err(w.f32, X, Y, T, rows, cols);
            CHECK(e <= REL_TOL, "%s matmul_f32 T=%d %dx%d: rel err %.2e", what, T, rows, cols, e);
            bc_matmul_bf16(pool, w.bf16, X, Y, T, rows, cols);
            e = matmul_err(w.bf16_as_f32, X, Y, T, rows, cols);
            CHECK(e <= REL_TOL, "%s matmul_bf16 T=%d %dx%d: rel err %.2e", what, T, rows, cols, e);
            free(X);
            free(Y);
            free_weights(&w);
        }
}

static void test_conversions(const char *what) {
    /* All 65,536 f16 patterns: scalar and bulk, hashed like the generator. */
    uint16_t *h = malloc(65536 * 2);
    float *f = malloc(65536 * 4);
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    bc_convert_f16_to_f32(h, f, 65536);
    uint64_t hash_bulk = 0xcbf29ce484222325ULL, hash_scalar = hash_bulk;
    for (int i = 0; i < 65536; i++) {
        uint32_t ub = f2u(f[i]), us = f2u(bc_f16_to_f32((uint16_t)i));
        for (int b = 0; b < 4; b++) {
            hash_bulk = (hash_bulk ^ ((ub >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
            hash_scalar = (hash_scalar ^ ((us >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
        }
    }
    CHECK(hash_scalar == fx_f16_all_fnv1a, "%s f16->f32 scalar: all 65536 patterns match numpy", what);
    CHECK(hash_bulk == fx_f16_all_fnv1a, "%s f16->f32 bulk: all 65536 patterns match numpy", what);
    int bad = 0;
    for (size_t i = 0; i < NELEMS(fx_f16_cases); i++) {
        uint32_t got = f2u(bc_f16_to_f32((uint16_t)fx_f16_cases[i][0]));
        if (got != fx_f16_cases[i][1] && bad++ < 5)
            printf("# f16 0x%04x: got 0x%08x, numpy 0x%08x\n", fx_f16_cases[i][0], got,
                   fx_f16_cases[i][1]);
    }
    CHECK(bad == 0, "%s f16->f32: %zu selected patterns (subnormal, inf, nan) match numpy", what,
          NELEMS(fx_f16_cases));

    /* f32 -> bf16 against torch, scalar and bulk. */
    size_t n = NELEMS(fx_bf16_cases);
    float *src = malloc(n * 4);
    uint16_t *dst = malloc(n * 2);
    for (size_t i = 0; i < n; i++) src[i] = u2f(fx_bf16_cases[i][0]);
    bc_convert_f32_to_bf16(src, dst, n);
    int bad_s = 0, bad_b = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t want = (uint16_t)fx_bf16_cases[i][1];
        uint16_t got_s = bc_f32_to_bf16(src[i]);
        int want_nan = (want & 0x7f80) == 0x7f80 && (want & 0x7f);
        int ok_s, ok_b;
        if (want_nan) { /* torch's NaN bits vary by code path: check NaN-ness */
            ok_s = isnan(bc_bf16_to_f32(got_s));
            ok_b = isnan(bc_bf16_to_f32(dst[i]));
        } else {
            ok_s = got_s == want;
            ok_b = dst[i] == want;
        }
        if (!ok_s && bad_s++ < 5)
            printf("# f32 0x%08x: got 0x%04x, torch 0x%04x\n", fx_bf16_cases[i][0], got_s, want);
        if (!ok_b) bad_b++;
    }
    CHECK(bad_s == 0, "%s f32->bf16 scalar: %zu values rounded like torch", what, n);
    CHECK(bad_b == 0, "%s f32->bf16 bulk: %zu values rounded like torch", what, n);
    free(src);
    free(dst);

    bad = 0;
    for (size_t i = 0; i < NELEMS(fx_bf16_widen_cases); i++) {
        uint16_t b = (uint16_t)fx_bf16_widen_cases[i][0];
        float bulk;
        bc_convert_bf16_to_f32(&b, &bulk, 1);
        if (f2u(bc_bf16_to_f32(b)) != fx_bf16_widen_cases[i][1] ||
            f2u(bulk) != fx_bf16_widen_cases[i][1])
            bad++;
    }
    CHECK(bad == 0, "%s bf16->f32 matches torch", what);

    /* f16 -> bf16 = round(f16 -> f32), checked on every pattern. */
    uint16_t *hb = malloc(65536 * 2);
    bc_convert_f16_to_bf16(h, hb, 65536);
    bad = 0;
    for (int i = 0; i < 65536; i++) {
        float v = bc_f16_to_f32((uint16_t)i);
        if (isnan(v) ? !isnan(bc_bf16_to_f32(hb[i])) : hb[i] != bc_f32_to_bf16(v)) bad++;
    }
    CHECK(bad == 0, "%s f16->bf16 bulk equals f32 rounding for all patterns", what);
    free(hb);
    free(h);
    free(f);
}

static void test_small_ops(bc_threadpool *pool, const char *what) {
    /* rmsnorm: 3 rows of 4099 (serial) and 40 rows of 2053 (threaded). */
    static const int rshapes[][2] = {{3, 4099}, {40, 2053}, {1, 1}};
    for (size_t s = 0; s < NELEMS(rshapes); s++) {
        int T = rshapes[s][0], n = rshapes[s][1];
        float *x = malloc((size_t)T * n * 4), *wt = malloc((size_t)n * 4),
              *out = malloc((size_t)T * n * 4);
        fill(x, (size_t)T * n);
        fill(wt, (size_t)n);
        bc_rmsnorm(pool, out, x, wt, T, n, 1e-6f);
        double worst = 0;
        for (int t = 0; t < T; t++) {
            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double)x[(size_t)t * n + i] * x[(size_t)t * n + i];
            double scale = 1.0 / sqrt(ss / n + 1e-6);
            for (int i = 0; i < n; i++) {
                double ref = wt[i] * x[(size_t)t * n + i] * scale;
                double e = fabs(out[(size_t)t * n + i] - ref) / (fabs(ref) + 1e-30);
                if (e > worst) worst = e;
            }
        }
        CHECK(worst <= REL_TOL, "%s rmsnorm T=%d n=%d: rel err %.2e", what, T, n, worst);
        bc_rmsnorm(pool, x, x, wt, T, n, 1e-6f); /* in place gives the same */
        CHECK(!memcmp(x, out, (size_t)T * n * 4), "%s rmsnorm in place T=%d n=%d", what, T, n);
        free(x);
        free(wt);
        free(out);
    }

    size_t n = 300007; /* above the threading threshold, odd */
    float *g = malloc(n * 4), *u = malloc(n * 4), *o = malloc(n * 4);
    fill(g, n);
    fill(u, n);
    for (size_t i = 0; i < 100; i++) g[i] = (float)i - 50.0f; /* saturating range */
    g[100] = -100.0f;
    bc_silu_mul(pool, o, g, u, n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double ref = (double)g[i] / (1.0 + exp(-(double)g[i])) * u[i];
        double e = fabs(o[i] - ref) / (fabs(ref) + 1e-30);
        if (e > worst && fabs(ref) > 1e-30) worst = e;
    }
    CHECK(worst <= REL_TOL, "%s silu_mul n=%zu: rel err %.2e", what, n, worst);
    bc_add(pool, o, g, u, n);
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad += o[i] != g[i] + u[i];
    CHECK(bad == 0, "%s add n=%zu exact", what, n);
    bc_add(pool, g, g, u, 5);
    CHECK(g[0] == -50.0f + u[0], "%s add in place", what);
    free(g);
    free(u);
    free(o);
}

static void test_vector_ops(const char *what) {
    static const int ns[] = {1, 3, 15, 16, 17, 33, 128, 1000};
    for (size_t s = 0; s < NELEMS(ns); s++) {
        int n = ns[s];
        float a[1000], b[1000], y[1000];
        fill(a, (size_t)n);
        fill(b, (size_t)n);
        double ref = 0, mag = 0;
        for (int i = 0; i < n; i++) {
            ref += (double)a[i] * b[i];
            mag += fabs((double)a[i] * b[i]);
        }
        double e = fabs(bc_dot(a, b, n) - ref) / (mag + 1e-30);
        CHECK(e <= REL_TOL, "%s dot n=%d: rel err %.2e", what, n, e);

        for (int i = 0; i < n; i++) a[i] *= 30.0f; /* large logits */
        double mx = a[0], sum = 0;
        for (int i = 1; i < n; i++) mx = a[i] > mx ? a[i] : mx;
        for (int i = 0; i < n; i++) sum += exp(a[i] - mx);
        memcpy(y, a, (size_t)n * 4);
        bc_softmax(y, n);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double r = exp(a[i] - mx) / sum;
            double err = fabs(y[i] - r) / (r + 1e-30);
            if (r > 1e-30 && err > worst) worst = err;
        }
        CHECK(worst <= REL_TOL, "%s softmax n=%d: rel err %.2e", what, n, worst);

        memcpy(y, b, (size_t)n * 4);
        bc_axpy(y, 0.37f, a, n);
        worst = 0;
        for (int i = 0; i < n; i++) {
            double r = (double)b[i] + 0.37 * (double)a[i];
            double err = fabs(y[i] - r) / (fabs(0.37 * a[i]) + fabs(b[i]) + 1e-30);
            if (err > worst) worst = err;
        }
        CHECK(worst <= REL_TOL, "%s axpy n=%d: rel err %.2e", what, n, worst);
    }
}

static void test_rope(void) {
    enum { HD = 128, HALF = 64, NPOS = 4096 };
    float *ct = malloc((size_t)NPOS * HALF * 4), *st = malloc((size_t)NPOS * HALF * 4);
    bc_rope_table(ct, st, NPOS, HD, 10000.0f);
    double worst = 0;
    for (size_t p = 0; p < NELEMS(fx_rope_positions); p++)
        for (int j = 0; j < HALF; j++) {
            size_t at = (size_t)fx_rope_positions[p] * HALF + j;
            double e1 = fabs(ct[at] - fx_rope_cos[p][j]), e2 = fabs(st[at] - fx_rope_sin[p][j]);
            if (e1 > worst) worst = e1;
            if (e2 > worst) worst = e2;
        }
    CHECK(worst <= 2e-6, "rope table matches HF/torch fp32 tables: max abs diff %.2e", worst);

    /* rotate_half on 3 heads at position 1000 against float64. */
    float x[3 * HD], r[3 * HD];
    fill(x, 3 * HD);
    memcpy(r, x, sizeof x);
    const float *c = ct + (size_t)1000 * HALF, *s = st + (size_t)1000 * HALF;
    bc_rope_apply(r, 3, HD, c, s);
    worst = 0;
    for (int h = 0; h < 3; h++)
        for (int j = 0; j < HD; j++) {
            const float *v = x + h * HD;
            double rot = j < HALF ? -(double)v[j + HALF] : (double)v[j - HALF];
            double ref = v[j] * (double)c[j % HALF] + rot * (double)s[j % HALF];
            double mag = fabs(v[j] * (double)c[j % HALF]) + fabs(rot * (double)s[j % HALF]);
            double e = fabs(r[h * HD + j] - ref) / (mag + 1e-30);
            if (e > worst) worst = e;
        }
    CHECK(worst <= REL_TOL, "rope apply (NeoX pairs j, j+64): rel err %.2e", worst);
    free(ct);
    free(st);
}

int main(void) {
    bc_error err = {{0}};
    bc_threadpool *pool2 = bc_threadpool_new(2, &err);
    bc_threadpool *pool3 = bc_threadpool_new(3, &err);
    CHECK(pool2 && pool3, "thread pools created: %s", err.msg);
    if (!pool2 || !pool3) return bc_test_done();
    printf("# best SIMD level: %s, OpenBLAS: %s\n", bc_simd_name(bc_simd_detect()),
           bc_kernels_have_blas() ? "yes" : "no");

    int have_blas = bc_kernels_have_blas();
    for (int level = BC_SIMD_GENERIC; level <= BC_SIMD_AVX512; level++) {
        if (bc_simd_force((bc_simd_level)level) != 0) {
            printf("# SKIP %s: this CPU lacks it\n", bc_simd_name((bc_simd_level)level));
            continue;
        }
        char what[64];
        snprintf(what, sizeof what, "[%s]", bc_simd_name((bc_simd_level)level));
        test_conversions(what);
        test_vector_ops(what);
        snprintf(what, sizeof what, "[%s, serial]", bc_simd_name((bc_simd_level)level));
        test_matvec(NULL, what);
        snprintf(what, sizeof what, "[%s, 3 threads]", bc_simd_name((bc_simd_level)level));
        test_matvec(pool3, what);
        bc_kernels_use_blas(0);
        snprintf(what, sizeof what, "[%s, own gemm, 2 threads]", bc_simd_name((bc_simd_level)level));
        test_matmul(pool2, what);
        if (have_blas) {
            bc_kernels_use_blas(1);
            snprintf(what, sizeof what, "[%s, openblas, 3 threads]",
                     bc_simd_name((bc_simd_level)level));
            test_matmul(pool3, what);
        }
    }
    bc_simd_force(bc_simd_detect());
    test_small_ops(NULL, "[serial]");
    test_small_ops(pool2, "[2 threads]");
    test_rope();
    bc_threadpool_free(pool2);
    bc_threadpool_free(pool3);
    return bc_test_done();
}
