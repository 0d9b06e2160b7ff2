/* TEMPORARY scalar stand-ins for the kern branch's cpu_kernels.c and
 * threadpool.c (same signatures, single-threaded, no SIMD), so the engine
 * builds and is testable before those land. Deleted when they are merged. */
#include <math.h>
#include <string.h>

#include "cpu_kernels.h"

/* ------------------------------------------------------------------------
 * TEMPORARY scalar kernels with the signatures of cpu_kernels.h and
 * threadpool.h (kern branch). Replaced by `#include "cpu_kernels.h"` once
 * that branch is merged.
 * ------------------------------------------------------------------------ */
bc_threadpool *bc_threadpool_new(int n, bc_error *err) {
    (void)n; (void)err;
    static char dummy;
    return (bc_threadpool *)(void *)&dummy;
}
void bc_threadpool_free(bc_threadpool *p) { (void)p; }
void bc_threadpool_run(bc_threadpool *p, bc_parallel_fn fn, void *ctx, int n) {
    (void)p;
    if (n > 0) fn(ctx, 0, n, 0);
}
float bc_bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16; float f; memcpy(&f, &u, 4); return f;
}
float bc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else { /* subnormal: renormalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) u = sign | 0x7f800000u | (man << 13);
    else u = sign | ((exp + 112) << 23) | (man << 13);
    float f; memcpy(&f, &u, 4); return f;
}
uint16_t bc_f32_to_bf16(float v) {
    uint32_t u; memcpy(&u, &v, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}
void bc_convert_bf16_to_f32(const uint16_t *s, float *d, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = bc_bf16_to_f32(s[i]);
}
float bc_dot(const float *a, const float *b, int n) {
    float s = 0; for (int i = 0; i < n; i++) s += a[i] * b[i]; return s;
}
void bc_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}
void bc_matmul_f32(bc_threadpool *pool, const float *W, const float *X, float *Y,
                          int T, int rows, int cols) {
    (void)pool;
    for (int o = 0; o < rows; o++)
        for (int t = 0; t < T; t++)
            Y[(size_t)t * rows + o] = bc_dot(W + (size_t)o * cols, X + (size_t)t * cols, cols);
}
void bc_matvec_f32(bc_threadpool *pool, const float *W, const float *x, float *y,
                          int rows, int cols) {
    bc_matmul_f32(pool, W, x, y, 1, rows, cols);
}
void bc_matmul_bf16(bc_threadpool *pool, const uint16_t *W, const float *X, float *Y,
                           int T, int rows, int cols) {
    (void)pool;
    for (int o = 0; o < rows; o++)
        for (int t = 0; t < T; t++) {
            float s = 0;
            for (int k = 0; k < cols; k++)
                s += bc_bf16_to_f32(W[(size_t)o * cols + k]) * X[(size_t)t * cols + k];
            Y[(size_t)t * rows + o] = s;
        }
}
void bc_matvec_bf16(bc_threadpool *pool, const uint16_t *W, const float *x, float *y,
                           int rows, int cols) {
    bc_matmul_bf16(pool, W, x, y, 1, rows, cols);
}
void bc_rmsnorm(bc_threadpool *pool, float *out, const float *x, const float *w,
                       int T, int n, float eps) {
    (void)pool;
    for (int t = 0; t < T; t++) {
        const float *r = x + (size_t)t * n;
        float ss = 0;
        for (int k = 0; k < n; k++) ss += r[k] * r[k];
        float inv = 1.0f / sqrtf(ss / (float)n + eps);
        for (int k = 0; k < n; k++) out[(size_t)t * n + k] = w[k] * (r[k] * inv);
    }
}
void bc_silu_mul(bc_threadpool *pool, float *out, const float *g, const float *u,
                        size_t n) {
    (void)pool;
    for (size_t i = 0; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
void bc_add(bc_threadpool *pool, float *out, const float *a, const float *b, size_t n) {
    (void)pool;
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
void bc_rope_apply(float *x, int n_heads, int head_dim, const float *c, const float *s) {
    int h = head_dim / 2;
    for (int hd = 0; hd < n_heads; hd++) {
        float *v = x + (size_t)hd * head_dim;
        for (int j = 0; j < h; j++) {
            float a = v[j], b = v[j + h];
            v[j] = a * c[j] - b * s[j];
            v[j + h] = b * c[j] + a * s[j];
        }
    }
}
/* ---- end of temporary kernels ---- */
int bc_threadpool_size(const bc_threadpool *p) { (void)p; return 1; }
void bc_rope_table(float *cos_tab, float *sin_tab, int n_pos, int head_dim, float base) {
    int h = head_dim / 2;
    for (int j = 0; j < h; j++) {
        float inv = 1.0f / powf(base, (float)(2 * j) / (float)head_dim);
        for (int p = 0; p < n_pos; p++) {
            float a = (float)p * inv;
            cos_tab[(size_t)p * h + j] = cosf(a);
            sin_tab[(size_t)p * h + j] = sinf(a);
        }
    }
}
