/* bc_quant: formats, reference quantizers and dequantizers (see quant.h for
 * what "bit-exact with bitsandbytes" means here and where it cannot be). */
#include "quant.h"

#include "threadpool.h"

#include <float.h>
#include <stdatomic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* bnb get_4bit_type('nf4') / dDequantizeNF4, as fp32 literals. */
const float bc_nf4_code[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

/* bitsandbytes is built with --use_fast_math, so every fp32 operation on the
 * GPU flushes subnormal operands and results to (signed) zero. */
static inline float ftz(float x) {
    return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x;
}

/* The decision tree of bnb's dQuantizeNF4, constants verbatim: each is the
 * midpoint of two neighbouring codes, and a value equal to a midpoint goes to
 * the lower code (strict '>'). A NaN fails every test and ends at 0. */
uint8_t bc_nf4_quantize_value(float x) {
    if (x > 0.03979014977812767f) {
        if (x > 0.3893125355243683f) {
            if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? 15 : 14;
            return x > 0.5016634166240692f ? 13 : 12;
        }
        if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? 11 : 10;
        return x > 0.1202552504837513f ? 9 : 8;
    }
    if (x > -0.33967943489551544f) {
        if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? 7 : 6;
        return x > -0.23460740596055984f ? 5 : 4;
    }
    if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? 3 : 2;
    return x > -0.8480964004993439f ? 1 : 0;
}

/* The same decision without branches, for the bulk quantizer: the tree
 * above returns the number of thresholds strictly below x (the thresholds
 * ascend), which is what this counts; a NaN compares false everywhere and
 * gives 0 as well. Random weights make the tree's branches unpredictable
 * (about half of the online-quantization time went to mispredictions);
 * this form has none and vectorizes. */
static const float nf4_thresholds[15] = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f,
    0.03979014977812767f, 0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f,
    0.3893125355243683f, 0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f,
};

static inline uint8_t nf4_code_branchless(float x) {
    int c = 0;
    for (int i = 0; i < 15; i++) c += x > nf4_thresholds[i];
    return (uint8_t)c;
}

/* torch.linspace(0.1, 1, n) in float32 as torch 1.13's CPU kernel computes it
 * (AVX2 build, 8-wide vectors): step = (end - start) / (n - 1) in fp32; a
 * chunk base is start + step*idx (or end - step*(n-1-idx) past the half),
 * contracted to one fma by the compiler; inside a vectorized chunk of 8,
 * element k is base + (k*step) with two roundings; whole pairs of chunks are
 * vectorized, the tail is scalar. */
static float linspace_base(float start, float end, float step, int n, int idx) {
    if (idx < n / 2) return (float)((double)start + (double)step * idx);
    return (float)((double)end - (double)step * (n - idx - 1));
}

static void torch_linspace_f32(float start, float end, int n, float *out) {
    const int vec = 8;
    float step = (end - start) / (float)(n - 1);
    int i = 0;
    while (i <= n - 2 * vec) {
        for (int chunk = 0; chunk < 2; chunk++, i += vec) {
            float base = linspace_base(start, end, step, n, i);
            for (int k = 0; k < vec; k++) {
                float ks = (float)k * step;
                out[i + k] = base + ks;
            }
        }
    }
    for (; i < n; i++) out[i] = linspace_base(start, end, step, n, i);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* bnb create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
 * for exponent i = 0..6, 2^i means of neighbouring points of
 * linspace(0.1, 1, 2^i + 1), times +-10^(i-6) (a Python float multiplied
 * into a float32 tensor: cast to fp32, then an fp32 product); plus 0 and 1. */
void bc_quant_dynamic_map(float map[256]) {
    float bounds[65];
    int count = 0;
    for (int i = 0; i < 7; i++) {
        int items = (1 << i) + 1;
        torch_linspace_f32(0.1f, 1.0f, items, bounds);
        float scale = (float)pow(10.0, (double)(i - 6));
        for (int j = 0; j + 1 < items; j++) {
            float sum = bounds[j] + bounds[j + 1];
            float mean = sum / 2.0f;
            map[count++] = scale * mean;
            map[count++] = -scale * mean;
        }
    }
    map[count++] = 0.0f;
    map[count++] = 1.0f;
    qsort(map, 256, sizeof(float), cmp_float);
}

/* bnb dQuantize<0>: a 7-step binary search from the middle, then the nearer
 * of the two neighbours by comparison with their fp32 midpoint; the initial
 * bounds are -1 and 1 unless the search ran off an end. */
uint8_t bc_quant_map_index(const float map[256], float x) {
    int pivot = 127, upper_pivot = 255, lower_pivot = 0;
    float lower = -1.0f, upper = 1.0f;
    float val = map[pivot];
    for (int i = 64; i > 0; i >>= 1) {
        if (x > val) {
            lower_pivot = pivot;
            lower = val;
            pivot += i;
        } else {
            upper_pivot = pivot;
            upper = val;
            pivot -= i;
        }
        val = map[pivot];
    }
    if (upper_pivot == 255) upper = map[upper_pivot];
    if (lower_pivot == 0) lower = map[lower_pivot];
    if (x > val) {
        float midpoint = (upper + val) * 0.5f;
        return (uint8_t)(x > midpoint ? upper_pivot : pivot);
    }
    float midpoint = (lower + val) * 0.5f;
    return (uint8_t)(x < midpoint ? lower_pivot : pivot);
}

/* ---- element conversion ------------------------------------------------- */

static float f16_bits_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal half: normalize */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* fp32 -> fp16 -> fp32, round to nearest even (torch's .half()). */
static float round_through_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    uint16_t h;
    if (absx >= 0x7f800000u) { /* inf / NaN */
        h = (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
    } else if (absx >= 0x477ff000u) { /* rounds past 65504 */
        h = (uint16_t)(sign | 0x7c00u);
    } else if (absx >= 0x38800000u) { /* normal half */
        uint32_t mant = absx & 0x7fffffu;
        uint32_t e = (absx >> 23) - 112u;
        uint32_t r = (e << 10) | (mant >> 13);
        uint32_t rest = mant & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (r & 1u))) r++;
        h = (uint16_t)(sign | r);
    } else { /* subnormal half or zero: value / 2^-24, rounded to even */
        float scaled = fabsf(f) * 16777216.0f; /* exact: power of two */
        h = (uint16_t)(sign | (uint32_t)nearbyintf(scaled));
    }
    return f16_bits_to_f32(h);
}

static float load_element(const void *src, bc_dtype dt, int64_t i) {
    if (dt == BC_DTYPE_F32) {
        float f;
        memcpy(&f, (const char *)src + i * 4, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const char *)src + i * 2, 2);
    if (dt == BC_DTYPE_F16) return f16_bits_to_f32(h);
    uint32_t bits = (uint32_t)h << 16; /* bf16 */
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

typedef struct quant_source {
    const void *data;
    bc_dtype dtype;
    int via_f16;
    int64_t cols;
    const char *name;
} quant_source;

/* Reads elements [e0, e0 + count) as fp32, rejecting non-finite values. */
static int read_elements(const quant_source *s, int64_t e0, int64_t count, float *dst,
                         bc_error *err) {
    for (int64_t k = 0; k < count; k++) {
        int64_t e = e0 + k;
        float v = load_element(s->data, s->dtype, e);
        if (!isfinite(v))
            return bc_errorf(err, "tensor %s: element [%lld, %lld] is %s; quantization needs "
                             "finite weights", s->name, (long long)(e / s->cols),
                             (long long)(e % s->cols), isnan(v) ? "NaN" : "infinite");
        if (s->via_f16) {
            float r = round_through_f16(v);
            if (isinf(r))
                return bc_errorf(err, "tensor %s: element [%lld, %lld] = %g does not fit in "
                                 "fp16 (bitsandbytes converts to fp16 before quantizing)",
                                 s->name, (long long)(e / s->cols), (long long)(e % s->cols),
                                 (double)v);
            v = r;
        }
        dst[k] = v;
    }
    return 0;
}

static int check_shape(int64_t rows, int64_t cols, const char *name, bc_error *err) {
    if (rows <= 0 || cols <= 0)
        return bc_errorf(err, "tensor %s: cannot quantize shape [%lld, %lld]", name,
                         (long long)rows, (long long)cols);
    if (rows > INT64_MAX / 4 / cols)
        return bc_errorf(err, "tensor %s: shape [%lld, %lld] is too large", name,
                         (long long)rows, (long long)cols);
    return 0;
}

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

/* ---- int8 --------------------------------------------------------------- */

/* bnb kDoubleRowColQuant: factor = 127 / absmax (fp32), q = rint(w * factor);
 * the GPU's float->int8 conversion saturates and turns NaN (a zero row:
 * 0 * inf) into 0. */
static int8_t int8_code(float w, float factor) {
    float p = ftz(ftz(w) * factor);
    if (isnan(p)) return 0;
    float r = rintf(p);
    if (r > 127.0f) return 127;
    if (r < -128.0f) return -128;
    return (int8_t)r;
}

/* Work items of a threaded quantization: rows (int8) or blocks (nf4) in
 * [begin, end) * per. A failed item only raises `failed`: the caller then
 * runs the whole loop again on its own thread, which stops at the first bad
 * element with its message (a file with a NaN is rare, a clear error is
 * worth the second pass). */
typedef struct quant_job {
    const quant_source *s;
    void *out;
    int64_t count, per;     /* units (rows or blocks), units per item */
    int64_t n;              /* nf4: elements */
    atomic_int failed;
} quant_job;

static void int8_rows_range(const quant_source *s, bc_quant_int8 *out, int64_t r0, int64_t r1,
                            float *row, bc_error *err, int *failed) {
    int64_t cols = s->cols;
    for (int64_t r = r0; r < r1; r++) {
        if (read_elements(s, r * cols, cols, row, err)) { *failed = 1; return; }
        float absmax = 0.0f;
        for (int64_t c = 0; c < cols; c++) absmax = fmaxf(absmax, fabsf(ftz(row[c])));
        float factor = 127.0f / absmax;
        int8_t *q = out->q + r * cols;
        for (int64_t c = 0; c < cols; c++) q[c] = int8_code(row[c], factor);
        out->absmax[r] = absmax;
    }
}

static void int8_items(void *ctx, int begin, int end, int worker) {
    (void)worker;
    quant_job *j = ctx;
    float *row = malloc((size_t)j->s->cols * sizeof(float));
    int failed = !row;
    int64_t r0 = begin * j->per, r1 = end * j->per < j->count ? end * j->per : j->count;
    if (row) int8_rows_range(j->s, j->out, r0, r1, row, NULL, &failed);
    free(row);
    if (failed) atomic_store(&j->failed, 1);
}

/* Items of about 1 MiB of weights: enough to hand out dynamically. */
static int quant_items(int64_t count, int64_t unit_elems, int64_t *per) {
    int64_t p = ((int64_t)1 << 18) / (unit_elems > 0 ? unit_elems : 1);
    if (p < 1) p = 1;
    *per = p;
    return (int)((count + p - 1) / p);
}

static int quantize_int8_source(const quant_source *s, int64_t rows, bc_quant_int8 *out,
                                bc_threadpool *pool, bc_error *err) {
    int64_t cols = s->cols;
    memset(out, 0, sizeof *out);
    if (check_shape(rows, cols, s->name, err)) return -1;
    size_t qbytes = align64((size_t)(rows * cols));
    char *mem = malloc(qbytes + (size_t)rows * sizeof(float));
    float *row = malloc((size_t)cols * sizeof(float));
    if (!mem || !row) {
        free(mem);
        free(row);
        return bc_errorf(err, "tensor %s: out of memory quantizing to int8", s->name);
    }
    out->rows = rows;
    out->cols = cols;
    out->storage = mem;
    out->q = (int8_t *)mem;
    out->absmax = (float *)(mem + qbytes);
    int failed = 0;
    if (pool && bc_threadpool_size(pool) > 1) {
        quant_job j = {.s = s, .out = out, .count = rows};
        atomic_init(&j.failed, 0);
        int items = quant_items(rows, cols, &j.per);
        bc_threadpool_run(pool, int8_items, &j, items);
        failed = atomic_load(&j.failed);
    }
    if (failed || !pool || bc_threadpool_size(pool) <= 1) {
        failed = 0;
        int8_rows_range(s, out, 0, rows, row, err, &failed);
    }
    free(row);
    if (failed) {
        bc_quant_int8_free(out);
        return -1;
    }
    return 0;
}

int bc_quantize_int8_rows(const float *w, int64_t rows, int64_t cols, const char *name,
                          bc_quant_int8 *out, bc_error *err) {
    quant_source s = {w, BC_DTYPE_F32, 0, cols, name ? name : "?"};
    return quantize_int8_source(&s, rows, out, NULL, err);
}

void bc_dequantize_int8(const bc_quant_int8 *t, float *out) {
    for (int64_t r = 0; r < t->rows; r++) {
        float scale = t->absmax[r] * (1.0f / 127.0f);
        for (int64_t c = 0; c < t->cols; c++)
            out[r * t->cols + c] = (float)t->q[r * t->cols + c] * scale;
    }
}

uint64_t bc_quant_int8_bytes(const bc_quant_int8 *t) {
    return (uint64_t)t->rows * (uint64_t)t->cols + (uint64_t)t->rows * 4u;
}

void bc_quant_int8_free(bc_quant_int8 *t) {
    if (!t) return;
    free(t->storage);
    memset(t, 0, sizeof *t);
}

/* ---- nf4 ---------------------------------------------------------------- */

/* One block as bnb's kQuantizeBlockwise<T, 64, 2, 0, NF4> does it: absmax over
 * the valid items, inv = 1/absmax, code of v*inv; a padded item (odd n) is
 * 0 * inv. An all-zero block has inv = inf, 0*inf = NaN, code 0. */
static float nf4_quantize_block(const float *v, int count, uint8_t *packed) {
    float absmax = 0.0f;
    for (int j = 0; j < count; j++) absmax = fmaxf(absmax, fabsf(ftz(v[j])));
    float inv = ftz(1.0f / absmax);
    for (int j = 0; j < count; j += 2) {
        float a = ftz(ftz(v[j]) * inv);
        float b = ftz((j + 1 < count ? ftz(v[j + 1]) : 0.0f) * inv);
        packed[j / 2] = (uint8_t)(nf4_code_branchless(a) << 4 | nf4_code_branchless(b));
    }
    return absmax;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* compress_statistics: offset = mean(absmax), then bnb quantize_blockwise
 * (blocksize 256, dynamic map) of absmax - offset. The mean is the correctly
 * rounded one (torch reduces in fp32 in its own order; see quant.h). */
static void nf4_double_quant(bc_quant_nf4 *t, const float *absmax) {
    double sum = 0.0;
    for (int64_t b = 0; b < t->nblocks; b++) sum += absmax[b];
    t->offset = (float)(sum / (double)t->nblocks);
    bc_quant_dynamic_map(t->code2);
    int64_t nb2 = ceil_div(t->nblocks, BC_NF4_BLOCK2);
    for (int64_t b2 = 0; b2 < nb2; b2++) {
        int64_t b0 = b2 * BC_NF4_BLOCK2;
        int64_t count = t->nblocks - b0 < BC_NF4_BLOCK2 ? t->nblocks - b0 : BC_NF4_BLOCK2;
        float centred[BC_NF4_BLOCK2];
        float amax2 = 0.0f;
        for (int64_t k = 0; k < count; k++) {
            centred[k] = ftz(absmax[b0 + k] - t->offset);
            amax2 = fmaxf(amax2, fabsf(centred[k]));
        }
        float inv = ftz(1.0f / amax2);
        for (int64_t k = 0; k < count; k++)
            t->qabsmax[b0 + k] = bc_quant_map_index(t->code2, ftz(centred[k] * inv));
        t->absmax2[b2] = amax2;
    }
}

static void nf4_blocks_range(const quant_source *s, bc_quant_nf4 *out, int64_t n, int64_t b0,
                             int64_t b1, bc_error *err, int *failed) {
    for (int64_t b = b0; b < b1; b++) {
        float v[BC_NF4_BLOCK];
        int64_t e0 = b * BC_NF4_BLOCK;
        int count = (int)(n - e0 < BC_NF4_BLOCK ? n - e0 : BC_NF4_BLOCK);
        if (read_elements(s, e0, count, v, err)) { *failed = 1; return; }
        out->absmax[b] = nf4_quantize_block(v, count, out->packed + e0 / 2);
    }
}

static void nf4_items(void *ctx, int begin, int end, int worker) {
    (void)worker;
    quant_job *j = ctx;
    int failed = 0;
    int64_t b0 = begin * j->per, b1 = end * j->per < j->count ? end * j->per : j->count;
    nf4_blocks_range(j->s, j->out, j->n, b0, b1, NULL, &failed);
    if (failed) atomic_store(&j->failed, 1);
}

static int quantize_nf4_source(const quant_source *s, int64_t rows, int double_quant,
                               bc_threadpool *pool, bc_quant_nf4 *out, bc_error *err) {
    int64_t cols = s->cols;
    memset(out, 0, sizeof *out);
    if (check_shape(rows, cols, s->name, err)) return -1;
    int64_t n = rows * cols;
    int64_t nblocks = ceil_div(n, BC_NF4_BLOCK);
    int64_t nb2 = ceil_div(nblocks, BC_NF4_BLOCK2);
    size_t packed_bytes = align64((size_t)((n + 1) / 2));
    size_t absmax_bytes = align64((size_t)nblocks * sizeof(float));
    /* With double quantization the fp32 block absmax is only an intermediate
     * (1/8 of the packed size): it gets its own buffer, freed at the end, so
     * the kept allocation is packed | qabsmax | absmax2. */
    size_t total = packed_bytes + (double_quant ? align64((size_t)nblocks) +
                                                  (size_t)nb2 * sizeof(float)
                                                : absmax_bytes);
    char *mem = malloc(total);
    float *tmp_absmax = double_quant ? malloc(absmax_bytes) : NULL;
    if (!mem || (double_quant && !tmp_absmax)) {
        free(mem);
        free(tmp_absmax);
        return bc_errorf(err, "tensor %s: out of memory quantizing to nf4", s->name);
    }
    out->rows = rows;
    out->cols = cols;
    out->nblocks = nblocks;
    out->storage = mem;
    out->packed = (uint8_t *)mem;
    out->absmax = double_quant ? tmp_absmax : (float *)(mem + packed_bytes);
    int failed = 0;
    if (pool && bc_threadpool_size(pool) > 1) {
        quant_job j = {.s = s, .out = out, .count = nblocks, .n = n};
        atomic_init(&j.failed, 0);
        int items = quant_items(nblocks, BC_NF4_BLOCK, &j.per);
        bc_threadpool_run(pool, nf4_items, &j, items);
        failed = atomic_load(&j.failed);
    }
    if (failed || !pool || bc_threadpool_size(pool) <= 1) {
        failed = 0;
        nf4_blocks_range(s, out, n, 0, nblocks, err, &failed);
    }
    if (failed) {
        free(tmp_absmax);
        bc_quant_nf4_free(out);
        return -1;
    }
    if (double_quant) {
        out->double_quant = 1;
        out->qabsmax = (uint8_t *)(mem + packed_bytes);
        out->absmax2 = (float *)(mem + packed_bytes + align64((size_t)nblocks));
        nf4_double_quant(out, tmp_absmax);
        out->absmax = NULL;
        free(tmp_absmax);
    }
    return 0;
}

int bc_quantize_nf4(const float *w, int64_t rows, int64_t cols, int double_quant,
                    const char *name, bc_quant_nf4 *out, bc_error *err) {
    quant_source s = {w, BC_DTYPE_F32, 0, cols, name ? name : "?"};
    return quantize_nf4_source(&s, rows, double_quant, NULL, out, err);
}

float bc_nf4_block_scale(const bc_quant_nf4 *t, int64_t b) {
    if (!t->double_quant) return t->absmax[b];
    /* dequantize_blockwise (code * absmax2) then "+ offset": two roundings */
    float decoded = t->code2[t->qabsmax[b]] * t->absmax2[b / BC_NF4_BLOCK2];
    float scale = decoded + t->offset;
    return scale;
}

void bc_dequantize_nf4(const bc_quant_nf4 *t, float *out) {
    int64_t n = t->rows * t->cols;
    for (int64_t e = 0; e < n; e++) {
        float scale = bc_nf4_block_scale(t, e / BC_NF4_BLOCK);
        uint8_t byte = t->packed[e / 2];
        int code = (e & 1) ? (byte & 0x0f) : (byte >> 4);
        out[e] = bc_nf4_code[code] * scale;
    }
}

uint64_t bc_quant_nf4_bytes(const bc_quant_nf4 *t) {
    uint64_t n = (uint64_t)t->rows * (uint64_t)t->cols;
    uint64_t bytes = (n + 1) / 2;
    if (t->double_quant)
        bytes += (uint64_t)t->nblocks + (uint64_t)ceil_div(t->nblocks, BC_NF4_BLOCK2) * 4u;
    else
        bytes += (uint64_t)t->nblocks * 4u;
    return bytes;
}

void bc_quant_nf4_free(bc_quant_nf4 *t) {
    if (!t) return;
    free(t->storage);
    memset(t, 0, sizeof *t);
}

/* ---- loader entry point -------------------------------------------------- */

int bc_quant_tensor_from_rows(bc_quant_format format, const void *src, bc_dtype src_dtype,
                              int64_t rows, int64_t cols, const bc_quant_options *opt,
                              const char *name, bc_quant_tensor *dst, bc_error *err) {
    memset(dst, 0, sizeof *dst);
    name = name ? name : "?";
    if (src_dtype != BC_DTYPE_F32 && src_dtype != BC_DTYPE_F16 && src_dtype != BC_DTYPE_BF16)
        return bc_errorf(err, "tensor %s: cannot quantize dtype %d (need F32, F16 or BF16)",
                         name, (int)src_dtype);
    bc_quant_options none = {0, 0, NULL};
    if (!opt) opt = &none;
    quant_source s = {src, src_dtype, opt->via_f16, cols, name};
    dst->format = format;
    switch (format) {
    case BC_QUANT_INT8:
        return quantize_int8_source(&s, rows, &dst->int8, opt->pool, err);
    case BC_QUANT_NF4:
        return quantize_nf4_source(&s, rows, opt->double_quant, opt->pool, &dst->nf4, err);
    }
    return bc_errorf(err, "tensor %s: unknown quantization format %d", name, (int)format);
}

void bc_quant_tensor_free(bc_quant_tensor *t) {
    if (!t) return;
    bc_quant_int8_free(&t->int8);
    bc_quant_nf4_free(&t->nf4);
}
