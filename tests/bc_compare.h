/* Comparing computed floats with a reference, shared by the model, quant and
 * CUDA suites. Header-only (static inline) like bc_test.h. */
#ifndef BC_COMPARE_H
#define BC_COMPARE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* count floats from a raw little-endian f32 file written by a generator;
 * NULL when it is missing or short. */
static inline float *bc_read_f32_file(const char *path, size_t count) {
    FILE *f = fopen(path, "rb");
    float *v = malloc(count * sizeof(float));
    size_t got = f && v ? fread(v, sizeof(float), count, f) : 0;
    if (f) fclose(f);
    if (got != count) {
        free(v);
        return NULL;
    }
    return v;
}

/* Worst row of max|a-b| / max|b| over rows x cols; infinite when a has a
 * NaN / Inf. */
static inline double bc_worst_row_error(const float *a, const float *b, int rows, int cols) {
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double scale = 0, d = 0;
        for (int i = 0; i < cols; i++) {
            double x = a[(size_t)r * cols + i], y = b[(size_t)r * cols + i];
            if (!isfinite(x)) return INFINITY;
            if (fabs(y) > scale) scale = fabs(y);
            if (fabs(x - y) > d) d = fabs(x - y);
        }
        if (d / scale > worst) worst = d / scale;
    }
    return worst;
}

/* Normalised mean squared error of got against ref; infinite when got has a
 * NaN / Inf. */
static inline double bc_nmse(const float *got, const float *ref, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        double d = (double)got[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    return den > 0.0 ? num / den : num;
}

static inline int bc_argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

#endif
