/* Suite cuda: int8 / NF4 weights on the CUDA backend.
 *
 *  1. Online quantization while loading (tensor_load into an INT8/NF4
 *     tensor) gives, byte for byte, what quant.c's reference quantizers give
 *     for the same checkpoint tensor (bc_quant_tensor_from_rows, double
 *     quantization, as the CPU backend): codes, absmax, qabsmax, absmax2,
 *     the offset's bits and the map. Real shapes (7B W_pack 12288 x 4096,
 *     13B gate 13696 x 5120, bf16 like the checkpoints), and edge cases: one
 *     element, odd element counts (a half-filled last byte), blocks across
 *     rows, columns that force uneven chunks, several absmax2 blocks,
 *     subnormals, zero blocks and rows, values on the NF4 decision
 *     thresholds and their float neighbours, int8 rounding ties, random
 *     bit patterns of f16 / bf16, and non-finite weights (refused, with the
 *     element named).
 *  2. A weight already quantized on the host (a -4bits / 8-bit checkpoint)
 *     is uploaded as it is (tensor_load_quant) and comes back unchanged.
 *  3. matmul with a quantized W (decode GEMV n = 1, prefill n > 1) against
 *     the same codes dequantized by quant.c and multiplied in double on the
 *     CPU: NMSE <= 1e-5.
 *  4. The whole model (tests/data/models and tests/data/quant_models) with
 *     --quant int8 / nf4 against the CPU backend with the same --quant:
 *     logits NMSE <= 1e-3.
 *
 * The device's arrays come back through the module's quant_download.
 * `--self-check` runs the same harness with a CPU backend (int8 / nf4) in
 * the GPU's place and small shapes; the CPU backend's arrays cannot be read
 * back, so there the reference quantizer's output stands in for the
 * download (parts 1-2 then compare the reference with itself, which still
 * runs the sources, the comparison and its own check that a flipped byte is
 * caught; parts 3-4 are real comparisons of the CPU kernels). Exit 77
 * without a usable device. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_loader.h"
#include "bc_compare.h"
#include "bc_test.h"
#include "checkpoint.h"
#include "cpu_kernels.h"
#include "model.h"
#include "model_config.h"
#include "quant.h"

typedef struct env {
    bc_backend *dev[2];   /* [0]: int8 storage, [1]: nf4 */
    bool self_check, small;
} env;

static const bc_store k_stores[2] = {BC_STORE_INT8, BC_STORE_NF4};
static const bc_quant_format k_formats[2] = {BC_QUANT_INT8, BC_QUANT_NF4};

/* ---- random sources --------------------------------------------------------- */

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t next32(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 32);
}

static float frand(void) { return (float)((double)next32() / 4294967296.0 * 2.0 - 1.0); }

/* roughly normal, sd ~0.02 (Irwin-Hall of 4 uniforms): weight-like values */
static float weightlike(void) {
    return 0.02f * 0.866f * (frand() + frand() + frand() + frand());
}

typedef enum kind {
    K_WEIGHTS,     /* weight-like values */
    K_UNIFORM,     /* uniform in [-1, 1) */
    K_BITS,        /* random finite bit patterns of the dtype (subnormals included) */
    K_SPECIAL,     /* zero blocks / rows, +-0, subnormals, tiny and huge neighbours */
    K_THRESHOLDS,  /* NF4 thresholds and neighbours; 1.0 in every block of 64 */
    K_TIES,        /* int8: 127 in every row, then k + 0.5 values (rint ties) */
} kind;

static const float nf4_thresholds[15] = {   /* quant.c's decision constants */
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f,
    0.03979014977812767f, 0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f,
    0.3893125355243683f, 0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
};

static float special_value(int64_t e, int64_t cols) {
    int64_t r = e / cols;
    if (r % 5 == 1) return 0.0f;                    /* whole zero rows */
    if ((e / 64) % 7 == 3) return (e & 1) ? -0.0f : 0.0f;   /* zero blocks */
    switch (next32() % 6) {
    case 0: return ldexpf(frand(), -130);           /* fp32 subnormal: flushed */
    case 1: return ldexpf(frand(), -120);
    case 2: return ldexpf(frand(), 100);
    case 3: return FLT_MIN * (next32() & 1 ? 1.0f : -1.0f);
    default: return frand();
    }
}

static float threshold_value(int64_t e) {
    int j = (int)(e % 64);
    if (j == 0) return (e / 64) & 1 ? -1.0f : 1.0f;  /* absmax 1: x * inv == x */
    float t = nf4_thresholds[(e / 3) % 15];
    switch (j % 3) {
    case 0: return t;
    case 1: return nextafterf(t, 2.0f);
    default: return nextafterf(t, -2.0f);
    }
}

static float tie_value(int64_t e, int64_t cols) {
    int64_t c = e % cols;
    if (c == 0) return 127.0f;                      /* factor 127/127 = 1 */
    return (float)((int)(next32() % 254) - 127) + 0.5f;
}

static float value_of(kind k, int64_t e, int64_t cols) {
    switch (k) {
    case K_WEIGHTS: return weightlike();
    case K_UNIFORM: return frand();
    case K_SPECIAL: return special_value(e, cols);
    case K_THRESHOLDS: return threshold_value(e);
    case K_TIES: return tie_value(e, cols);
    default: return 0.0f;
    }
}

/* f32 -> f16 bits for values in f16's normal range (or zero) */
static uint16_t f16_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    float a = fabsf(f);
    if (a < 6.103515625e-05f) return sign;        /* below the f16 normals: 0 */
    if (a > 65504.0f) a = 65504.0f;
    int e;
    float m = frexpf(a, &e);                       /* a = m * 2^e, m in [0.5, 1) */
    uint32_t mant = (uint32_t)lrintf((m * 2.0f - 1.0f) * 1024.0f);
    int ex = e - 1 + 15;
    if (mant == 1024) { mant = 0; ex++; }
    if (ex >= 31) return (uint16_t)(sign | 0x7bffu);
    return (uint16_t)(sign | (uint32_t)ex << 10 | mant);
}

static uint16_t random_bits16(bc_dtype dt) {
    for (;;) {
        uint16_t h = (uint16_t)next32();
        if (dt == BC_DTYPE_BF16 && (h & 0x7f80u) != 0x7f80u) return h;
        if (dt == BC_DTYPE_F16 && (h & 0x7c00u) != 0x7c00u) return h;
    }
}

typedef struct source {
    bc_tensor t;
    void *data;
} source;

static source make_source(int64_t rows, int64_t cols, bc_dtype dt, kind k) {
    source s;
    size_t n = (size_t)(rows * cols), es = dt == BC_DTYPE_F32 ? 4 : 2;
    s.data = malloc(n * es);
    if (!s.data) { printf("Bail out! out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) {
        if (dt == BC_DTYPE_F32) {
            float v = k == K_BITS ? 0.0f : value_of(k, (int64_t)i, cols);
            if (k == K_BITS) {
                uint32_t b;
                do b = next32(); while ((b & 0x7f800000u) == 0x7f800000u);
                memcpy(&v, &b, 4);
            }
            memcpy((char *)s.data + i * 4, &v, 4);
        } else {
            uint16_t h = k == K_BITS ? random_bits16(dt)
                       : dt == BC_DTYPE_BF16 ? bc_f32_to_bf16(value_of(k, (int64_t)i, cols))
                                             : f16_bits(value_of(k, (int64_t)i, cols));
            memcpy((char *)s.data + i * 2, &h, 2);
        }
    }
    bc_tensor t = {"test.weight", dt, 2, {rows, cols, 0, 0}, s.data, (uint64_t)(n * es),
                   "memory"};
    s.t = t;
    return s;
}

static const char *dtype_str(bc_dtype d) {
    return d == BC_DTYPE_F32 ? "F32" : d == BC_DTYPE_F16 ? "F16" : "BF16";
}

static const char *kind_str(kind k) {
    static const char *names[] = {"weights", "uniform", "random bits", "zeros/subnormals",
                                  "NF4 thresholds", "int8 ties"};
    return names[k];
}

/* ---- quantized tensors: reference, download, comparison ------------------- */

static const bc_quant_options k_online = {.double_quant = 1, .via_f16 = 0};

static int reference(bc_quant_format f, const source *s, const bc_quant_options *opt,
                     bc_quant_tensor *out, bc_error *err) {
    return bc_quant_tensor_from_rows(f, s->t.data, s->t.dtype, s->t.shape[0], s->t.shape[1], opt,
                                     s->t.name, out, err);
}

/* The device's arrays; with --self-check the reference stands in (see top). */
static int fetch(env *e, int k, const bc_btensor *t, const source *s,
                 const bc_quant_options *opt, bc_quant_tensor *out, bc_error *err) {
    if (e->self_check) return reference(k_formats[k], s, opt, out, err);
    return bc_cuda_quant_download(e->dev[k], t, out, err);
}

/* Writes the first differing element of two arrays to why; true if any. */
static bool diff_array(const char *name, const void *a, const void *b, size_t count,
                       size_t esize, char *why, size_t size) {
    if (!a || !b) {
        if (a == b) return false;
        snprintf(why, size, "%s missing", name);
        return true;
    }
    for (size_t i = 0; i < count; i++)
        if (memcmp((const char *)a + i * esize, (const char *)b + i * esize, esize)) {
            snprintf(why, size, "%s[%zu] differs", name, i);
            return true;
        }
    return false;
}

/* First difference of a and b as text ("" when identical). */
static void quant_diff(const bc_quant_tensor *a, const bc_quant_tensor *b, char *why,
                       size_t size) {
    why[0] = '\0';
    if (a->format != b->format) { snprintf(why, size, "format differs"); return; }
    if (a->format == BC_QUANT_INT8) {
        const bc_quant_int8 *x = &a->int8, *y = &b->int8;
        if (x->rows != y->rows || x->cols != y->cols) { snprintf(why, size, "shape"); return; }
        if (diff_array("codes", x->q, y->q, (size_t)(x->rows * x->cols), 1, why, size)) return;
        diff_array("absmax", x->absmax, y->absmax, (size_t)x->rows, 4, why, size);
        return;
    }
    const bc_quant_nf4 *x = &a->nf4, *y = &b->nf4;
    if (x->rows != y->rows || x->cols != y->cols || x->nblocks != y->nblocks) {
        snprintf(why, size, "shape / block count");
        return;
    }
    if (x->double_quant != y->double_quant) { snprintf(why, size, "double_quant"); return; }
    size_t n = (size_t)(x->rows * x->cols), nb = (size_t)x->nblocks;
    if (diff_array("packed", x->packed, y->packed, (n + 1) / 2, 1, why, size)) return;
    if (!x->double_quant) {
        diff_array("absmax", x->absmax, y->absmax, nb, 4, why, size);
        return;
    }
    if (memcmp(&x->offset, &y->offset, 4)) {
        snprintf(why, size, "offset %.9g vs %.9g", (double)x->offset, (double)y->offset);
        return;
    }
    if (diff_array("code2", x->code2, y->code2, 256, 4, why, size) ||
        diff_array("qabsmax", x->qabsmax, y->qabsmax, nb, 1, why, size))
        return;
    diff_array("absmax2", x->absmax2, y->absmax2, (nb + 255) / 256, 4, why, size);
}

static bc_btensor *new_weight(env *e, int k, int64_t rows, int64_t cols) {
    bc_error err = {{0}};
    bc_btensor *t = e->dev[k]->iface->tensor_new(e->dev[k], rows, cols, k_stores[k], true, &err);
    if (!t) { printf("Bail out! tensor_new: %s\n", err.msg); exit(1); }
    return t;
}

/* ---- 1. online quantization == reference ------------------------------------ */

static void check_online(env *e, int k, int64_t rows, int64_t cols, bc_dtype dt, kind kd) {
    source s = make_source(rows, cols, dt, kd);
    bc_backend *be = e->dev[k];
    bc_btensor *t = new_weight(e, k, rows, cols);
    bc_error err = {{0}};
    bc_quant_tensor ref, got;
    char why[160] = "";
    int rc = be->iface->tensor_load(be, t, &s.t, NULL, NULL, NULL, &err);
    if (!rc) rc = reference(k_formats[k], &s, &k_online, &ref, &err);
    if (!rc && fetch(e, k, t, &s, &k_online, &got, &err)) {
        bc_quant_tensor_free(&ref);
        rc = -1;
    }
    if (!rc) {
        quant_diff(&got, &ref, why, sizeof why);
        bc_quant_tensor_free(&got);
        bc_quant_tensor_free(&ref);
    }
    CHECK(!rc && !why[0], "%s online [%lld, %lld] %s %s: bit-identical to quant.c %s%s",
          bc_store_name(k_stores[k]), (long long)rows, (long long)cols, dtype_str(dt),
          kind_str(kd), rc ? err.msg : "", why);
    be->iface->tensor_free(be, t);
    free(s.data);
}

/* The comparison itself must see a single flipped byte or bit. */
static void check_diff_catches(void) {
    source s = make_source(5, 70, BC_DTYPE_F32, K_UNIFORM);
    bc_error err = {{0}};
    for (int k = 0; k < 2; k++) {
        bc_quant_tensor a, b;
        char why[160];
        if (reference(k_formats[k], &s, &k_online, &a, &err) ||
            reference(k_formats[k], &s, &k_online, &b, &err)) {
            CHECK(0, "reference: %s", err.msg);
            return;
        }
        quant_diff(&a, &b, why, sizeof why);
        bool same = !why[0];
        if (k == 0) b.int8.q[341] ^= 1;
        else b.nf4.packed[174] ^= 0x10;
        quant_diff(&a, &b, why, sizeof why);
        bool code_seen = why[0] != 0;
        if (k == 0) { b.int8.q[341] ^= 1; b.int8.absmax[4] = nextafterf(b.int8.absmax[4], 9.0f); }
        else { b.nf4.packed[174] ^= 0x10; b.nf4.absmax2[0] = nextafterf(b.nf4.absmax2[0], 9.0f); }
        quant_diff(&a, &b, why, sizeof why);
        CHECK(same && code_seen && why[0], "%s comparison: equal when equal, a flipped code bit "
              "and a 1-ulp scale both caught", bc_store_name(k_stores[k]));
        bc_quant_tensor_free(&a);
        bc_quant_tensor_free(&b);
    }
    free(s.data);
}

/* A non-finite weight is refused, naming the element (as the CPU does). */
static void check_nonfinite(env *e, int k) {
    source s = make_source(4, 64, BC_DTYPE_F32, K_UNIFORM);
    float inf = INFINITY, nan = NAN;
    memcpy((char *)s.data + (2 * 64 + 5) * 4, &inf, 4);
    memcpy((char *)s.data + (3 * 64 + 1) * 4, &nan, 4);
    bc_btensor *t = new_weight(e, k, 4, 64);
    bc_error err = {{0}};
    int rc = e->dev[k]->iface->tensor_load(e->dev[k], t, &s.t, NULL, NULL, NULL, &err);
    CHECK(rc && strstr(err.msg, "[2, 5]") && strstr(err.msg, "infinite"),
          "%s: an infinite weight is refused with its element: %s", bc_store_name(k_stores[k]),
          err.msg);
    e->dev[k]->iface->tensor_free(e->dev[k], t);
    free(s.data);
}

static void test_online(env *e) {
    static const struct { int64_t rows, cols; bc_dtype dt; kind k; } full[] = {
        {12288, 4096, BC_DTYPE_BF16, K_WEIGHTS},   /* 7B W_pack */
        {13696, 5120, BC_DTYPE_BF16, K_WEIGHTS},   /* 13B gate_proj */
        {5000, 1000, BC_DTYPE_F32, K_UNIFORM},     /* several uneven staging chunks */
    };
    static const struct { int64_t rows, cols; bc_dtype dt; kind k; } edge[] = {
        {1, 1, BC_DTYPE_F32, K_UNIFORM},      {3, 5, BC_DTYPE_F32, K_UNIFORM},
        {7, 24, BC_DTYPE_F16, K_BITS},        {1, 129, BC_DTYPE_BF16, K_WEIGHTS},
        {517, 64, BC_DTYPE_BF16, K_BITS},     {300, 100, BC_DTYPE_F32, K_SPECIAL},
        {70, 1000, BC_DTYPE_F16, K_WEIGHTS},  {33, 96, BC_DTYPE_F32, K_BITS},
        {16, 4096, BC_DTYPE_F32, K_THRESHOLDS}, {8, 256, BC_DTYPE_F32, K_TIES},
        {40, 257, BC_DTYPE_BF16, K_SPECIAL},  {256, 512, BC_DTYPE_BF16, K_WEIGHTS},
    };
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
            check_online(e, k, edge[i].rows, edge[i].cols, edge[i].dt, edge[i].k);
        if (!e->small)
            for (size_t i = 0; i < sizeof full / sizeof full[0]; i++)
                check_online(e, k, full[i].rows, full[i].cols, full[i].dt, full[i].k);
        check_nonfinite(e, k);
    }
    check_diff_catches();
}

/* ---- 2 and 3. upload as is; matmul vs dequantize-then-fp64 ---------------- */

static double nmse(const float *dev, const double *ref, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(dev[i])) return INFINITY;
        double d = (double)dev[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return den > 0.0 ? num / den : num;
}

static bc_btensor *f32_tensor(bc_backend *be, int64_t rows, int64_t cols) {
    bc_error err = {{0}};
    bc_btensor *t = be->iface->tensor_new(be, rows, cols, BC_STORE_F32, false, &err);
    if (!t) { printf("Bail out! tensor_new: %s\n", err.msg); exit(1); }
    return t;
}

/* y = W x on the device for n rows of x, against quant.c's dequantization of
 * the device's own codes times x in double. */
static void check_matmul(env *e, int k, bc_btensor *W, const bc_quant_tensor *q, int n,
                         const char *how) {
    bc_backend *be = e->dev[k];
    int64_t R = q->format == BC_QUANT_INT8 ? q->int8.rows : q->nf4.rows;
    int64_t K = q->format == BC_QUANT_INT8 ? q->int8.cols : q->nf4.cols;
    float *w = malloc((size_t)(R * K) * sizeof(float));
    float *x = malloc((size_t)n * (size_t)K * sizeof(float));
    float *y = malloc((size_t)n * (size_t)R * sizeof(float));
    double *ref = malloc((size_t)n * (size_t)R * sizeof(double));
    if (!w || !x || !y || !ref) { printf("Bail out! out of memory\n"); exit(1); }
    if (q->format == BC_QUANT_INT8) bc_dequantize_int8(&q->int8, w);
    else bc_dequantize_nf4(&q->nf4, w);
    for (size_t i = 0; i < (size_t)n * (size_t)K; i++) x[i] = frand();
    for (int i = 0; i < n; i++)
        for (int64_t r = 0; r < R; r++) {
            double acc = 0.0;
            const float *wr = w + r * K, *xi = x + (int64_t)i * K;
            for (int64_t c = 0; c < K; c++) acc += (double)wr[c] * (double)xi[c];
            ref[(int64_t)i * R + r] = acc;
        }
    bc_btensor *xt = f32_tensor(be, n, K), *yt = f32_tensor(be, n, R);
    for (size_t i = 0; i < (size_t)n * (size_t)R; i++) y[i] = NAN;
    be->iface->tensor_set(be, yt, 0, n, y);   /* unwritten outputs stay NaN */
    be->iface->tensor_set(be, xt, 0, n, x);
    be->iface->matmul(be, W, xt, n, yt);
    be->iface->synchronize(be);
    be->iface->tensor_get(be, yt, 0, n, y);
    bc_error err = {{0}};
    int rc = be->iface->status ? be->iface->status(be, &err) : 0;
    double e2 = rc ? INFINITY : nmse(y, ref, (size_t)n * (size_t)R);
    CHECK(e2 <= 1e-5, "%s %s W[%lld, %lld] x %d row%s: NMSE %.3g vs dequantized fp64 (limit 1e-5)%s",
          bc_store_name(k_stores[k]), how, (long long)R, (long long)K, n, n == 1 ? "" : "s", e2,
          rc ? err.msg : "");
    be->iface->tensor_free(be, xt);
    be->iface->tensor_free(be, yt);
    free(w); free(x); free(y); free(ref);
}

static void test_matmul(env *e) {
    static const int full[][3] = {   /* rows, cols, n */
        {12288, 4096, 1}, {4096, 4096, 1}, {11008, 4096, 1}, {4096, 11008, 1}, {13696, 5120, 1},
        {5120, 13696, 1}, {40, 24, 1}, {33, 96, 1}, {4096, 4096, 17}, {5120, 5120, 64},
        {12288, 4096, 3}, {40, 24, 5}, {1000, 200, 3}};
    static const int tiny[][3] = {{96, 64, 1}, {64, 176, 1}, {40, 24, 1}, {33, 96, 1},
                                  {96, 64, 7}, {40, 24, 5}, {3, 5, 2}};
    int count = e->small ? 7 : 13;
    for (int k = 0; k < 2; k++)
        for (int s = 0; s < count; s++) {
            const int *sh = e->small ? tiny[s] : full[s];
            source src = make_source(sh[0], sh[1], BC_DTYPE_F32, K_UNIFORM);
            bc_btensor *W = new_weight(e, k, sh[0], sh[1]);
            bc_error err = {{0}};
            bc_quant_tensor q;
            if (e->dev[k]->iface->tensor_load(e->dev[k], W, &src.t, NULL, NULL, NULL, &err) ||
                fetch(e, k, W, &src, &k_online, &q, &err)) {
                CHECK(0, "%s [%d, %d]: %s", bc_store_name(k_stores[k]), sh[0], sh[1], err.msg);
            } else {
                check_matmul(e, k, W, &q, sh[2], "online");
                bc_quant_tensor_free(&q);
            }
            e->dev[k]->iface->tensor_free(e->dev[k], W);
            free(src.data);
        }
}

/* A host-quantized weight (as read from a checkpoint) goes up as it is. */
static void test_upload(env *e) {
    int64_t R = e->small ? 96 : 4096, K = e->small ? 128 : 4096;
    struct { int k, dq; } cases[] = {{0, 0}, {1, 1}, {1, 0}};
    for (size_t i = 0; i < 3; i++) {
        int k = cases[i].k;
        bc_quant_options opt = {.double_quant = cases[i].dq, .via_f16 = 1};
        source src = make_source(R, K, BC_DTYPE_F16, K_WEIGHTS);
        bc_quant_tensor q, got;
        bc_error err = {{0}};
        char why[160] = "";
        if (reference(k_formats[k], &src, &opt, &q, &err)) {
            CHECK(0, "reference: %s", err.msg);
            free(src.data);
            continue;
        }
        bc_btensor *W = new_weight(e, k, R, K);
        int rc = e->dev[k]->iface->tensor_load_quant(e->dev[k], W, &q, &err);
        /* the CPU backend adopts q's memory: keep a reference copy first */
        if (e->self_check) rc = rc ? rc : reference(k_formats[k], &src, &opt, &got, &err);
        else if (!rc) rc = bc_cuda_quant_download(e->dev[k], W, &got, &err);
        if (!rc) {
            bc_quant_tensor again;
            if (!reference(k_formats[k], &src, &opt, &again, &err)) {
                quant_diff(&got, &again, why, sizeof why);
                bc_quant_tensor_free(&again);
            }
        }
        CHECK(!rc && !why[0], "%s%s [%lld, %lld] uploaded as is: identical after the round "
              "trip %s%s", bc_store_name(k_stores[k]), cases[i].dq ? " (double quant)" :
              k ? " (fp32 absmax)" : "", (long long)R, (long long)K, rc ? err.msg : "", why);
        if (!rc) {
            check_matmul(e, k, W, &got, 1, "uploaded");
            check_matmul(e, k, W, &got, 5, "uploaded");
            bc_quant_tensor_free(&got);
        }
        bc_quant_tensor_free(&q);
        e->dev[k]->iface->tensor_free(e->dev[k], W);
        free(src.data);
    }
}

/* ---- 4. the whole model ------------------------------------------------------- */

static void test_model(env *e, int k, bc_backend *cpu, const char *set, const char *fixture) {
    const char *src = getenv("BC_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/%s/%s", src ? src : ".", set, fixture);
    bc_model_config cfg;
    bc_generation_config gen;
    bc_checkpoint *ck = NULL;
    bc_error err = {{0}};
    if (bc_model_config_load(dir, &cfg, &gen, &err) || bc_checkpoint_open_dir(dir, &ck, &err)) {
        CHECK(0, "%s: %s", fixture, err.msg);
        return;
    }
    bc_model *mr = NULL, *md = NULL;
    bc_model_params small_batch = {.max_batch = 4};
    if (bc_model_load(&cfg, ck, cpu, NULL, NULL, NULL, &mr, &err) ||
        bc_model_load(&cfg, ck, e->dev[k], &small_batch, NULL, NULL, &md, &err)) {
        CHECK(0, "%s --quant %s: load: %s", fixture, bc_store_name(k_stores[k]), err.msg);
        bc_model_free(mr);
        bc_checkpoint_close(ck);
        return;
    }
    bc_checkpoint_close(ck);
    int V = bc_model_vocab(mr), n = 11, steps = 6;
    int32_t ids[16];
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(3 + (i * 7919) % (V - 3));
    float *lr = malloc((size_t)n * V * 4), *ld = malloc((size_t)n * V * 4);
    for (size_t i = 0; i < (size_t)n * V; i++) ld[i] = NAN;
    int rc = bc_model_forward(mr, ids, n, 0, true, lr, &err);
    if (!rc) rc = bc_model_forward(md, ids, n, 0, true, ld, &err);
    double worst = rc ? INFINITY : bc_nmse(ld, lr, (size_t)n * V);
    for (int s = 0; s < steps && !rc; s++) {
        int32_t next = bc_argmax(lr + (s ? 0 : (size_t)(n - 1) * V), V);
        rc = bc_model_forward(mr, &next, 1, n + s, false, lr, &err);
        if (!rc) rc = bc_model_forward(md, &next, 1, n + s, false, ld, &err);
        double es = rc ? INFINITY : bc_nmse(ld, lr, (size_t)V);
        if (es > worst || !isfinite(es)) worst = es;
    }
    CHECK(!rc && worst <= 1e-3, "%s/%s --quant %s: prompt (batches of 4) and %d decode steps vs "
          "the CPU backend, worst logits NMSE %.3g (limit 1e-3) %s", set, fixture,
          bc_store_name(k_stores[k]), steps, worst, rc ? err.msg : "");
    free(lr);
    free(ld);
    bc_model_free(mr);
    bc_model_free(md);
}

static void test_models(env *e) {
    static const char *plain[] = {"rope-safetensors-bf16", "alibi6-bin-f16", "rope-shards-f32"};
    for (int k = 0; k < 2; k++) {
        bc_backend_params cp = {0, k_stores[k]};
        bc_backend *cpu = NULL;
        bc_error err = {{0}};
        if (bc_backend_cpu_new(&cp, &cpu, &err)) { printf("Bail out! %s\n", err.msg); exit(1); }
        for (int i = 0; i < 3; i++) test_model(e, k, cpu, "models", plain[i]);
        test_model(e, k, cpu, "quant_models", "trained-f16");   /* online */
        if (k == 0) test_model(e, k, cpu, "quant_models", "int8-scb");   /* as is */
        if (k == 1) {
            test_model(e, k, cpu, "quant_models", "nf4-list");
            test_model(e, k, cpu, "quant_models", "nf4-packed");
        }
        cpu->iface->free(cpu);
    }
}

/* ---- main -------------------------------------------------------------------- */

int main(int argc, char **argv) {
    env e = {{NULL, NULL}, false, false};
    e.self_check = argc > 1 && !strcmp(argv[1], "--self-check");
    e.small = e.self_check || (argc > 1 && !strcmp(argv[1], "--small"));
    bc_error err = {{0}};
    if (!e.self_check) {
        bc_cuda_probe_info info;
        if (bc_cuda_probe(&info, &err)) BC_SKIP("no usable CUDA device: %s", err.msg);
        printf("# device: %s, compute capability %d.%d; module %s\n", info.name, info.cc_major,
               info.cc_minor, bc_cuda_module_path());
    }
    for (int k = 0; k < 2; k++) {
        bc_backend_params p = {0, k_stores[k]};
        int rc = e.self_check ? bc_backend_cpu_new(&p, &e.dev[k], &err)
                              : bc_backend_cuda_new(&p, &e.dev[k], &err);
        if (rc) { printf("Bail out! %s backend: %s\n", bc_store_name(k_stores[k]), err.msg); return 1; }
    }
    test_online(&e);
    test_upload(&e);
    test_matmul(&e);
    test_models(&e);
    for (int k = 0; k < 2; k++) e.dev[k]->iface->free(e.dev[k]);
    return bc_test_done();
}
