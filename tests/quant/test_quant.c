/* Quantizer and kernel tests.
 *
 * Part 1: bit-exact comparison with tests/quant/quant_cases.txt, written by
 * make_quant_cases.py (a numpy re-implementation of bitsandbytes 0.41's
 * kernels from its published NF4 table and kernel logic).
 * Part 2: matvec / matmul on every SIMD path against a float64 product of the
 * dequantized weights. */
#include "bc_test.h"
#include "quant.h"
#include "threadpool.h"

#include <float.h>
#include <stdint.h>

/* ---- fixture reading -------------------------------------------------------- */

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Contiguous hex digits -> bytes; returns the count. */
static size_t parse_bytes(const char *s, uint8_t **out) {
    size_t n = strlen(s) / 2;
    *out = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) (*out)[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
    return n;
}

/* Space-separated 8-digit words -> uint32 (float bits); returns the count. */
static size_t parse_words(const char *s, uint32_t **out) {
    size_t cap = strlen(s) / 9 + 2, n = 0;
    *out = malloc(cap * 4);
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        (*out)[n++] = (uint32_t)strtoul(s, (char **)&s, 16);
    }
    return n;
}

static float bits_f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Field lookup inside one case: lines[0..n) */
static const char *field(char **lines, int n, const char *key) {
    size_t k = strlen(key);
    for (int i = 0; i < n; i++)
        if (!strncmp(lines[i], key, k) && lines[i][k] == ' ') return lines[i] + k + 1;
    return NULL;
}

static int first_diff_bytes(const uint8_t *a, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return (int)i;
    return -1;
}

static int first_diff_floats(const float *got, const uint32_t *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (f_bits(got[i]) != want[i]) return (int)i;
    return -1;
}

static float f16_to_f32_test(uint16_t h) { /* independent of quant.c */
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v = e ? ldexpf((float)(m + 1024), e - 25) : ldexpf((float)m, -24);
    if (e == 31) v = m ? NAN : INFINITY;
    return sign ? -v : v;
}

static void lcg_f16(uint32_t seed, size_t n, uint16_t *out) {
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        out[i] = (uint16_t)(((x >> 16) & 0x8000u) | ((6u + ((x >> 8) & 7u)) << 10) |
                            ((x >> 16) & 0x3ffu));
    }
}

static void check_header(char **lines, int n) {
    uint32_t *w;
    const char *s = field(lines, n, "dynmap");
    CHECK(s != NULL, "fixture has the dynamic map");
    if (s) {
        size_t cnt = parse_words(s, &w);
        float map[256];
        bc_quant_dynamic_map(map);
        CHECK(cnt == 256 && first_diff_floats(map, w, 256) < 0,
              "create_dynamic_map(signed, 7, 8) matches bitsandbytes/torch bit for bit");
        free(w);
    }
    s = field(lines, n, "nf4code");
    if (s) {
        size_t cnt = parse_words(s, &w);
        CHECK(cnt == 16 && first_diff_floats(bc_nf4_code, w, 16) < 0,
              "NF4 code table matches the published one");
        free(w);
    }
    s = field(lines, n, "nf4thresh");
    if (s) {
        size_t cnt = parse_words(s, &w);
        int ok = cnt == 15;
        for (size_t i = 0; ok && i < cnt; i++) {
            float t = bits_f(w[i]);
            ok = bc_nf4_quantize_value(t) == i && bc_nf4_quantize_value(nextafterf(t, 2)) == i + 1 &&
                 bc_nf4_quantize_value(nextafterf(t, -2)) == i;
        }
        CHECK(ok, "dQuantizeNF4: a midpoint goes to the lower code, one ulp above to the upper");
        CHECK(bc_nf4_quantize_value(NAN) == 0, "dQuantizeNF4(NaN) = 0 as on the GPU");
        free(w);
    }
}

static void compare_floats(const char *name, const char *what, const float *got,
                           const char *want_hex, size_t n) {
    uint32_t *w;
    size_t cnt = parse_words(want_hex, &w);
    int d = cnt == n ? first_diff_floats(got, w, n) : -2;
    CHECK(d == -1, "%s: %s bit-exact (%zu values)%s", name, what, n, d >= 0 ? "" : "");
    if (d >= 0) printf("#   first difference at %d: got %08x want %08x\n", d, f_bits(got[d]), w[d]);
    if (d == -2) printf("#   count %zu, expected %zu\n", cnt, n);
    free(w);
}

static void compare_bytes(const char *name, const char *what, const uint8_t *got,
                          const char *want_hex, size_t n) {
    uint8_t *w;
    size_t cnt = parse_bytes(want_hex, &w);
    int d = cnt == n ? first_diff_bytes(got, w, n) : -2;
    CHECK(d == -1, "%s: %s bit-exact (%zu bytes)", name, what, n);
    if (d >= 0) printf("#   first difference at byte %d: got %02x want %02x\n", d, got[d], w[d]);
    if (d == -2) printf("#   count %zu, expected %zu\n", cnt, n);
    free(w);
}

static void check_nf4_result(const char *name, char **lines, int n, const bc_quant_nf4 *t) {
    int64_t elems = t->rows * t->cols;
    compare_bytes(name, "packed nibbles", t->packed, field(lines, n, "packed"), (size_t)((elems + 1) / 2));
    if (t->double_quant) {
        compare_bytes(name, "qabsmax", t->qabsmax, field(lines, n, "qabsmax"), (size_t)t->nblocks);
        compare_floats(name, "absmax2", t->absmax2, field(lines, n, "absmax2"),
                       (size_t)((t->nblocks + 255) / 256));
        compare_floats(name, "offset", &t->offset, field(lines, n, "offset"), 1);
    } else {
        compare_floats(name, "absmax", t->absmax, field(lines, n, "absmax"), (size_t)t->nblocks);
    }
    const char *dq = field(lines, n, "dequant");
    if (dq) {
        float *out = malloc((size_t)elems * sizeof(float));
        bc_dequantize_nf4(t, out);
        compare_floats(name, "dequantized", out, dq, (size_t)elems);
        free(out);
    }
}

static void check_int8_result(const char *name, char **lines, int n, const bc_quant_int8 *t) {
    int64_t elems = t->rows * t->cols;
    compare_bytes(name, "int8 codes", (const uint8_t *)t->q, field(lines, n, "q"), (size_t)elems);
    compare_floats(name, "row absmax", t->absmax, field(lines, n, "scale"), (size_t)t->rows);
    const char *dq = field(lines, n, "dequant");
    if (dq) {
        float *out = malloc((size_t)elems * sizeof(float));
        bc_dequantize_int8(t, out);
        compare_floats(name, "dequantized", out, dq, (size_t)elems);
        free(out);
    }
}

static void run_case(char **lines, int n) {
    const char *name = lines[0] + 5;
    const char *fmt = field(lines, n, "format"), *dt = field(lines, n, "dtype");
    long long rows = 0, cols = 0;
    sscanf(field(lines, n, "shape"), "%lld %lld", &rows, &cols);
    bc_quant_options opt = {.double_quant = atoi(field(lines, n, "double_quant")),
                            .via_f16 = atoi(field(lines, n, "via_f16"))};
    int expect_error = atoi(field(lines, n, "expect_error"));
    bc_dtype dtype = !strcmp(dt, "f32") ? BC_DTYPE_F32 : !strcmp(dt, "f16") ? BC_DTYPE_F16 : BC_DTYPE_BF16;
    size_t elems = (size_t)(rows * cols), esz = dtype == BC_DTYPE_F32 ? 4 : 2;
    uint8_t *raw = malloc(elems * esz);
    const char *hex = field(lines, n, "input");
    if (hex) {
        for (size_t i = 0; i < elems; i++) {
            uint32_t v = 0;
            for (size_t k = 0; k < esz * 2; k++) v = v << 4 | (uint32_t)hexval(hex[i * esz * 2 + k]);
            if (esz == 4) memcpy(raw + 4 * i, &v, 4);
            else {
                uint16_t h = (uint16_t)v;
                memcpy(raw + 2 * i, &h, 2);
            }
        }
    } else {
        lcg_f16((uint32_t)atol(field(lines, n, "input_lcg")), elems, (uint16_t *)raw);
    }
    bc_quant_format format = !strcmp(fmt, "nf4") ? BC_QUANT_NF4 : BC_QUANT_INT8;
    bc_quant_tensor t;
    bc_error err = {{0}};
    int rc = bc_quant_tensor_from_rows(format, raw, dtype, rows, cols, &opt, name, &t, &err);
    if (expect_error) {
        CHECK(rc == -1 && strstr(err.msg, name) != NULL, "%s: rejected (%s)", name, err.msg);
        free(raw);
        return;
    }
    CHECK(rc == 0, "%s: quantized (%s)", name, err.msg);
    if (rc == 0) {
        if (format == BC_QUANT_NF4) check_nf4_result(name, lines, n, &t.nf4);
        else check_int8_result(name, lines, n, &t.int8);
        bc_quant_tensor_free(&t);
    }
    /* the fp32 entry points give the same result on the decoded input */
    if (!opt.via_f16) {
        float *w = malloc(elems * sizeof(float));
        for (size_t i = 0; i < elems; i++) {
            if (dtype == BC_DTYPE_F32) memcpy(&w[i], raw + 4 * i, 4);
            else {
                uint16_t h;
                memcpy(&h, raw + 2 * i, 2);
                w[i] = dtype == BC_DTYPE_F16 ? f16_to_f32_test(h) : bits_f((uint32_t)h << 16);
            }
        }
        char sub[200];
        snprintf(sub, sizeof sub, "%s (fp32 API)", name);
        if (format == BC_QUANT_NF4) {
            bc_quant_nf4 q;
            if (bc_quantize_nf4(w, rows, cols, opt.double_quant, name, &q, &err) == 0) {
                compare_bytes(sub, "packed nibbles", q.packed, field(lines, n, "packed"), (elems + 1) / 2);
                bc_quant_nf4_free(&q);
            } else {
                CHECK(0, "%s: %s", sub, err.msg);
            }
        } else {
            bc_quant_int8 q;
            if (bc_quantize_int8_rows(w, rows, cols, name, &q, &err) == 0) {
                compare_bytes(sub, "int8 codes", (const uint8_t *)q.q, field(lines, n, "q"), elems);
                bc_quant_int8_free(&q);
            } else {
                CHECK(0, "%s: %s", sub, err.msg);
            }
        }
        free(w);
    }
    free(raw);
}

static void run_fixture(const char *path) {
    char *text = read_file(path);
    CHECK(text != NULL, "read %s", path);
    if (!text) return;
    int cap = 1024, n = 0;
    char **lines = malloc((size_t)cap * sizeof *lines);
    for (char *p = strtok(text, "\n"); p; p = strtok(NULL, "\n")) {
        if (n == cap) lines = realloc(lines, (size_t)(cap *= 2) * sizeof *lines);
        lines[n++] = p;
    }
    check_header(lines, n);
    int cases = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(lines[i], "case ", 5)) continue;
        int j = i;
        while (j < n && strcmp(lines[j], "end")) j++;
        run_case(lines + i, j - i);
        cases++;
        i = j;
    }
    CHECK(cases >= 10, "ran %d fixture cases", cases);
    free(lines);
    free(text);
}

/* ---- kernels ------------------------------------------------------------------ */

static uint32_t rng_state = 12345;
static float rnd(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

/* |y - ref| <= 1e-5 * sum_j |w_rj x_j| for every output: fp32 accumulation
 * against the float64 product of the same dequantized weights. */
static int check_product(const float *W, const float *X, int64_t m, int64_t rows, int64_t cols,
                         const float *Y, double *worst) {
    int ok = 1;
    *worst = 0;
    for (int64_t t = 0; t < m; t++)
        for (int64_t r = 0; r < rows; r++) {
            double ref = 0, mag = 0;
            for (int64_t c = 0; c < cols; c++) {
                ref += (double)W[r * cols + c] * X[t * cols + c];
                mag += fabs((double)W[r * cols + c] * X[t * cols + c]);
            }
            double rel = mag > 0 ? fabs(Y[t * rows + r] - ref) / mag : fabs(Y[t * rows + r]);
            if (rel > *worst) *worst = rel;
            if (!(rel <= 1e-5)) ok = 0;
        }
    return ok;
}

static void test_kernels_shape(int64_t rows, int64_t cols, int double_quant) {
    int64_t m = 3;
    float *w = malloc((size_t)(rows * cols) * sizeof(float));
    float *x = malloc((size_t)(m * cols) * sizeof(float));
    for (int64_t i = 0; i < rows * cols; i++) w[i] = rnd() * (1.0f + (float)(i / 64 % 5));
    for (int64_t i = 0; i < m * cols; i++) x[i] = rnd();
    bc_error err = {{0}};
    bc_quant_nf4 q4;
    bc_quant_int8 q8;
    if (bc_quantize_nf4(w, rows, cols, double_quant, "k", &q4, &err) ||
        bc_quantize_int8_rows(w, rows, cols, "k", &q8, &err)) {
        CHECK(0, "quantize for kernel test: %s", err.msg);
        return;
    }
    float *d4 = malloc((size_t)(rows * cols) * sizeof(float));
    float *d8 = malloc((size_t)(rows * cols) * sizeof(float));
    bc_dequantize_nf4(&q4, d4);
    bc_dequantize_int8(&q8, d8);
    float *y = malloc((size_t)(m * rows) * sizeof(float));
    float *scratch = malloc(bc_quant_matmul_scratch_floats(cols) * sizeof(float));
    const bc_quant_simd paths[] = {BC_QUANT_SIMD_SCALAR, BC_QUANT_SIMD_AVX2, BC_QUANT_SIMD_AVX512};
    for (int p = 0; p < 3; p++) {
        bc_quant_simd got = bc_quant_set_simd(paths[p]);
        const char *pn = bc_quant_simd_name(paths[p]);
        if (got != paths[p]) {
            printf("# %s not supported by this CPU: path not run\n", pn);
            continue;
        }
        double worst;
        char tag[128];
        snprintf(tag, sizeof tag, "[%s] %lldx%lld%s", pn, (long long)rows, (long long)cols,
                 double_quant ? " dq" : "");
        for (int threads = 1; threads <= 2; threads++) {
            memset(y, 0xff, (size_t)rows * sizeof(float));
            bc_matvec_nf4(&q4, x, y, threads, &err);
            CHECK(check_product(d4, x, 1, rows, cols, y, &worst), "%s matvec_nf4 %d thr: rel err %.2g",
                  tag, threads, worst);
            memset(y, 0xff, (size_t)rows * sizeof(float));
            bc_matvec_int8(&q8, x, y, threads, &err);
            CHECK(check_product(d8, x, 1, rows, cols, y, &worst), "%s matvec_int8 %d thr: rel err %.2g",
                  tag, threads, worst);
        }
        /* x = unit vector e_j: every output is one weight, code * block
         * scale, rounded once, so the kernels' scales (tables, double
         * quantization) must match bc_nf4_block_scale bit for bit */
        if (cols % 64 == 0) {
            float *e = calloc((size_t)cols, sizeof(float));
            int exact = 1;
            for (int64_t j = 0; j < cols; j += cols / 4 + 1) {
                e[j] = 1.0f;
                bc_matvec_nf4(&q4, e, y, 1, &err);
                for (int64_t r = 0; r < rows; r++) {
                    int64_t el = r * cols + j;
                    uint8_t byte = q4.packed[el / 2];
                    float want = bc_nf4_code[(el & 1) ? (byte & 15) : (byte >> 4)] *
                                 bc_nf4_block_scale(&q4, el / BC_NF4_BLOCK);
                    if (memcmp(&want, &y[r], sizeof want) != 0) exact = 0;
                }
                e[j] = 0.0f;
            }
            CHECK(exact, "%s matvec_nf4 on unit vectors: code * block scale bit for bit", tag);
            free(e);
        }
        /* the engine's pooled driver (x laid out once per call, shared) */
        for (int threads = 1; threads <= 2; threads++) {
            bc_threadpool *pool = bc_threadpool_new(threads, &err);
            size_t per = bc_quant_matvec_scratch_floats(cols);
            float *pscratch = malloc(per * (size_t)threads * sizeof(float));
            bc_quant_tensor t4 = {.format = BC_QUANT_NF4, .nf4 = q4};
            bc_quant_tensor t8 = {.format = BC_QUANT_INT8, .int8 = q8};
            memset(y, 0xff, (size_t)rows * sizeof(float));
            bc_matvec_quant_pool(pool, &t4, x, y, pscratch, per);
            CHECK(check_product(d4, x, 1, rows, cols, y, &worst),
                  "%s matvec_quant_pool nf4 %d thr: rel err %.2g", tag, threads, worst);
            memset(y, 0xff, (size_t)rows * sizeof(float));
            bc_matvec_quant_pool(pool, &t8, x, y, pscratch, per);
            CHECK(check_product(d8, x, 1, rows, cols, y, &worst),
                  "%s matvec_quant_pool int8 %d thr: rel err %.2g", tag, threads, worst);
            free(pscratch);
            bc_threadpool_free(pool);
        }
        memset(y, 0xff, (size_t)(m * rows) * sizeof(float));
        bc_matmul_nf4(&q4, x, m, y, 2, &err);
        CHECK(check_product(d4, x, m, rows, cols, y, &worst), "%s matmul_nf4 m=%lld: rel err %.2g",
              tag, (long long)m, worst);
        memset(y, 0xff, (size_t)(m * rows) * sizeof(float));
        bc_matmul_int8(&q8, x, m, y, 2, &err);
        CHECK(check_product(d8, x, m, rows, cols, y, &worst), "%s matmul_int8 m=%lld: rel err %.2g",
              tag, (long long)m, worst);
        /* the *_rows forms used piecewise, as a thread pool would */
        memset(y, 0xff, (size_t)(m * rows) * sizeof(float));
        for (int64_t r = 0; r < rows; r += 5) {
            int64_t e = r + 5 < rows ? r + 5 : rows;
            bc_matmul_nf4_rows(&q4, x, m, y, r, e, scratch);
        }
        CHECK(check_product(d4, x, m, rows, cols, y, &worst), "%s matmul_nf4_rows in chunks: rel err %.2g",
              tag, worst);
    }
    bc_quant_set_simd(BC_QUANT_SIMD_AUTO);
    free(scratch);
    free(y);
    free(d4);
    free(d8);
    free(w);
    free(x);
    bc_quant_nf4_free(&q4);
    bc_quant_int8_free(&q8);
}

int main(void) {
    const char *src = getenv("BC_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/quant/quant_cases.txt", src ? src : ".");
    run_fixture(path);

    printf("# best SIMD path here: %s\n", bc_quant_simd_name(bc_quant_set_simd(BC_QUANT_SIMD_AUTO)));
    test_kernels_shape(37, 256, 0);   /* fast path, absmax fp32 */
    test_kernels_shape(37, 512, 1);   /* fast path, double-quantized absmax */
    test_kernels_shape(13, 192, 1);   /* odd block count per row (half chunk), 4-row groups + 1 */
    test_kernels_shape(70, 320, 0);   /* several pool items, odd block count, int8 tail of 0 */
    test_kernels_shape(21, 5632, 1);  /* dq: 88 blocks a row, rows straddle absmax2 groups */
    test_kernels_shape(6, 100, 1);    /* blocks straddle rows: generic path, int8 tails */
    test_kernels_shape(3, 33, 0);     /* odd element count */
    return bc_test_done();
}
