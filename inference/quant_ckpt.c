/* Reading bitsandbytes-serialized linears (see quant_ckpt.h): finding the
 * layout by its keys, checking every piece against the config, and copying
 * the codes and scales into one owned allocation (checkpoint data is
 * mmapped and may be unaligned, so nothing is used in place). */
#include "quant_ckpt.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yaml_reader.h"

#define NAME_MAX_LEN 256

/* ---- small lookups --------------------------------------------------------- */

static const bc_tensor *findf(const bc_checkpoint *ck, char *name, const char *fmt, ...)
    BC_PRINTF(3, 4);
static const bc_tensor *findf(const bc_checkpoint *ck, char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, NAME_MAX_LEN, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= NAME_MAX_LEN) return NULL;
    return bc_checkpoint_find(ck, name);
}

static const char *file_of(const bc_tensor *t) { return t->file ? t->file : "checkpoint"; }

static int bad(const bc_tensor *t, const char *name, bc_error *err, const char *fmt, ...)
    BC_PRINTF(4, 5);
static int bad(const bc_tensor *t, const char *name, bc_error *err, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return bc_errorf(err, "%s: tensor %s: %s", t ? file_of(t) : "checkpoint", name, what);
}

static int missing(const bc_tensor *near, const char *name, bc_error *err) {
    return bc_errorf(err, "%s: tensor %s is missing (quantized weight without its quant_state)",
                     near ? file_of(near) : "checkpoint", name);
}

static bool is_string(const bc_tensor *t, const char *s) {
    size_t n = strlen(s);
    return t && t->dtype == BC_DTYPE_U8 && t->ndim == 1 && t->nbytes == n &&
           memcmp(t->data, s, n) == 0;
}

/* A Python int (0-d I64) or a 0-d/1-element integer tensor. */
static int int_value(const bc_tensor *t, int64_t *out) {
    if (!t || bc_tensor_numel(t) != 1 || t->ndim > 1) return -1;
    if (t->dtype == BC_DTYPE_I64) { memcpy(out, t->data, 8); return 0; }
    if (t->dtype == BC_DTYPE_I32) { int32_t v; memcpy(&v, t->data, 4); *out = v; return 0; }
    if (t->dtype == BC_DTYPE_U8) { *out = *(const uint8_t *)t->data; return 0; }
    return -1;
}

/* A 0-d float tensor or a Python float, finite. */
static int float_value(const bc_tensor *t, float *out) {
    if (!t || bc_tensor_numel(t) != 1 || t->ndim > 1) return -1;
    if (t->dtype == BC_DTYPE_F32) memcpy(out, t->data, 4);
    else if (t->dtype == BC_DTYPE_F64) { double d; memcpy(&d, t->data, 8); *out = (float)d; }
    else return -1;
    return isfinite(*out) ? 0 : -1;
}

/* A float32 vector of exactly n elements, all finite, copied to dst. */
static int f32_vector(const bc_tensor *t, const char *name, int64_t n, float *dst,
                      bc_error *err) {
    if (t->dtype != BC_DTYPE_F32 || bc_tensor_numel(t) != n)
        return bad(t, name, err, "%s with %lld elements, expected F32 with %lld", bc_dtype_name(t->dtype),
                   (long long)bc_tensor_numel(t), (long long)n);
    memcpy(dst, t->data, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(dst[i])) return bad(t, name, err, "element %lld is not finite", (long long)i);
    return 0;
}

static int u8_vector(const bc_tensor *t, const char *name, int64_t n, uint8_t *dst,
                     bc_error *err) {
    if (t->dtype != BC_DTYPE_U8 || bc_tensor_numel(t) != n)
        return bad(t, name, err, "%s with %lld elements, expected U8 with %lld", bc_dtype_name(t->dtype),
                   (long long)bc_tensor_numel(t), (long long)n);
    memcpy(dst, t->data, (size_t)n);
    return 0;
}

/* The NF4 table a file carries must be bitsandbytes' own: our kernels decode
 * with bc_nf4_code, so any other table (fp4, a custom map) would silently
 * give other weights. */
static int check_nf4_code(const bc_tensor *t, const char *name, bc_error *err) {
    float code[16];
    if (f32_vector(t, name, 16, code, err)) return -1;
    for (int i = 0; i < 16; i++)
        if (code[i] != bc_nf4_code[i])
            return bad(t, name, err, "code %d is %.9g, not the NF4 value %.9g", i, (double)code[i],
                       (double)bc_nf4_code[i]);
    return 0;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

/* ---- nf4 ------------------------------------------------------------------- */

/* What a 4-bit layout says about one weight, before the arrays are copied. */
typedef struct nf4_parts {
    const bc_tensor *packed, *absmax, *code, *absmax2, *code2;  /* absmax2/code2: nested */
    float offset;
    bool nested;
} nf4_parts;

static int nf4_alloc_copy(const nf4_parts *p, const char *module, int64_t rows, int64_t cols,
                          bc_quant_nf4 *out, bc_error *err) {
    int64_t n = rows * cols, nblocks = ceil_div(n, BC_NF4_BLOCK);
    int64_t nb2 = ceil_div(nblocks, BC_NF4_BLOCK2);
    size_t packed_bytes = align64((size_t)((n + 1) / 2));
    size_t total = packed_bytes + (p->nested ? align64((size_t)nblocks) + (size_t)nb2 * 4
                                             : (size_t)nblocks * 4);
    memset(out, 0, sizeof *out);
    char *mem = malloc(total);
    if (!mem) return bc_errorf(err, "%s.weight: out of memory", module);
    out->rows = rows;
    out->cols = cols;
    out->nblocks = nblocks;
    out->storage = mem;
    out->packed = (uint8_t *)mem;
    memcpy(out->packed, p->packed->data, (size_t)((n + 1) / 2));
    int rc;
    if (p->nested) {
        out->double_quant = 1;
        out->offset = p->offset;
        out->qabsmax = (uint8_t *)(mem + packed_bytes);
        out->absmax2 = (float *)(mem + packed_bytes + align64((size_t)nblocks));
        rc = u8_vector(p->absmax, p->absmax->name, nblocks, out->qabsmax, err) ||
             f32_vector(p->absmax2, p->absmax2->name, nb2, out->absmax2, err) ||
             f32_vector(p->code2, p->code2->name, 256, out->code2, err);
    } else {
        out->absmax = (float *)(mem + packed_bytes);
        rc = f32_vector(p->absmax, p->absmax->name, nblocks, out->absmax, err);
        if (!rc)
            for (int64_t b = 0; b < nblocks; b++)
                if (out->absmax[b] < 0)
                    rc = bad(p->absmax, p->absmax->name, err, "block %lld has a negative absmax",
                             (long long)b);
    }
    if (rc) bc_quant_nf4_free(out);
    return rc ? -1 : 0;
}

static int check_packed(const bc_tensor *t, int64_t rows, int64_t cols, bc_error *err) {
    int64_t n = rows * cols;
    if (t->dtype != BC_DTYPE_U8 || bc_tensor_numel(t) != (n + 1) / 2 || t->ndim > 2 ||
        (t->ndim == 2 && t->shape[1] != 1))
        return bad(t, t->name, err,
                   "%s with %lld elements, expected U8 [%lld, 1] (NF4 codes of a [%lld, %lld] "
                   "weight from config.json)",
                   bc_dtype_name(t->dtype), (long long)bc_tensor_numel(t), (long long)((n + 1) / 2),
                   (long long)rows, (long long)cols);
    return 0;
}

static int check_shape_pair(const bc_tensor *where, const char *name, int64_t got_rows,
                            int64_t got_cols, int64_t rows, int64_t cols, bc_error *err) {
    if (got_rows != rows || got_cols != cols)
        return bad(where, name, err, "weight shape [%lld, %lld] does not match [%lld, %lld] from "
                   "config.json", (long long)got_rows, (long long)got_cols, (long long)rows,
                   (long long)cols);
    return 0;
}

/* quant_state list of bitsandbytes 0.41 (see the header). */
static int read_nf4_list(const bc_checkpoint *ck, const char *module, const bc_tensor *packed,
                         int64_t rows, int64_t cols, nf4_parts *p, bc_error *err) {
    char name[NAME_MAX_LEN];
    const char *qs = "quant_state";
    p->packed = packed;
    const bc_tensor *t;
    /* [1] torch.Size([out, in]) */
    if (!(t = findf(ck, name, "%s.weight.%s.1", module, qs))) return missing(packed, name, err);
    int64_t shape[2];
    if (t->dtype != BC_DTYPE_I64 || t->ndim != 1 || t->shape[0] != 2)
        return bad(t, name, err, "expected torch.Size([out, in]) (2 ints), got %s with %lld "
                   "elements", bc_dtype_name(t->dtype), (long long)bc_tensor_numel(t));
    memcpy(shape, t->data, sizeof shape);
    if (check_shape_pair(t, name, shape[0], shape[1], rows, cols, err)) return -1;
    if (check_packed(packed, rows, cols, err)) return -1;
    /* [2] dtype of the dequantized weight: informational, but must be a float type */
    t = findf(ck, name, "%s.weight.%s.2", module, qs);
    if (!is_string(t, "float16") && !is_string(t, "bfloat16") && !is_string(t, "float32"))
        return t ? bad(t, name, err, "expected torch.float16, bfloat16 or float32")
                 : missing(packed, name, err);
    /* [3] blocksize */
    int64_t v;
    t = findf(ck, name, "%s.weight.%s.3", module, qs);
    if (!t) return missing(packed, name, err);
    if (int_value(t, &v) || v != BC_NF4_BLOCK)
        return bad(t, name, err, "blocksize must be %d", BC_NF4_BLOCK);
    /* [5] quant type */
    t = findf(ck, name, "%s.weight.%s.5", module, qs);
    if (!t) return missing(packed, name, err);
    if (!is_string(t, "nf4"))
        return bad(t, name, err, "quant type must be 'nf4'%s",
                   is_string(t, "fp4") ? " (fp4 is not supported)" : "");
    /* [6] the code table */
    if (!(p->code = findf(ck, name, "%s.weight.%s.6", module, qs))) return missing(packed, name, err);
    if (check_nf4_code(p->code, name, err)) return -1;
    /* [0] qabsmax (nested) or absmax; [4] [offset, state2] or None */
    if (!(p->absmax = findf(ck, name, "%s.weight.%s.0", module, qs))) return missing(packed, name, err);
    const bc_tensor *off = findf(ck, name, "%s.weight.%s.4.0", module, qs);
    p->nested = off != NULL;
    if (!p->nested) {
        if (findf(ck, name, "%s.weight.%s.4", module, qs))
            return bad(packed, name, err, "expected [offset, state2] or None");
        return 0;
    }
    if (float_value(off, &p->offset)) return bad(off, name, err, "offset must be a finite float");
    if (!(p->absmax2 = findf(ck, name, "%s.weight.%s.4.1.0", module, qs)))
        return missing(packed, name, err);
    if (!(p->code2 = findf(ck, name, "%s.weight.%s.4.1.1", module, qs)))
        return missing(packed, name, err);
    if (!(t = findf(ck, name, "%s.weight.%s.4.1.2", module, qs))) return missing(packed, name, err);
    if (int_value(t, &v) || v != BC_NF4_BLOCK2)
        return bad(t, name, err, "nested blocksize must be %d", BC_NF4_BLOCK2);
    if ((t = findf(ck, name, "%s.weight.%s.4.1.3", module, qs)) &&
        (t->dtype != BC_DTYPE_BOOL || *(const uint8_t *)t->data != 0))
        return bad(t, name, err, "the nested state must not be nested again");
    t = findf(ck, name, "%s.weight.%s.4.1.4", module, qs);
    if (t && !is_string(t, "float32")) return bad(t, name, err, "nested dtype must be torch.float32");
    return 0;
}

/* ---- the JSON of the newer layout ---------------------------------------- */

static yaml_node_t *json_get(bc_yaml *y, yaml_node_t *map, const char *key) {
    for (size_t i = 0; i < bc_yaml_map_size(map); i++) {
        yaml_node_t *kn, *val;
        const char *k = bc_yaml_map_key(y, map, i, &kn, &val);
        if (k && !strcmp(k, key)) return val;
    }
    return NULL;
}

static int json_string_is(bc_yaml *y, yaml_node_t *map, const char *key, const char *want,
                          bc_error *err) {
    yaml_node_t *n = json_get(y, map, key);
    const char *s;
    if (!n) return bc_errorf(err, "%s: '%s' is missing", y->name, key);
    if (bc_yaml_get_string(y, n, key, &s, err)) return -1;
    if (strcmp(s, want)) return bc_yaml_errorf(y, n, key, err, "'%s', expected '%s'", s, want);
    return 0;
}

static int json_int_is(bc_yaml *y, yaml_node_t *map, const char *key, int want, bc_error *err) {
    yaml_node_t *n = json_get(y, map, key);
    int v;
    if (!n) return bc_errorf(err, "%s: '%s' is missing", y->name, key);
    if (bc_yaml_get_int(y, n, key, 0, 1 << 30, &v, err)) return -1;
    if (v != want) return bc_yaml_errorf(y, n, key, err, "%d, expected %d", v, want);
    return 0;
}

static int read_quant_json(const bc_tensor *t, const char *name, int64_t rows, int64_t cols,
                           nf4_parts *p, bc_error *err) {
    if (t->dtype != BC_DTYPE_U8 || t->ndim != 1 || t->nbytes > 65536)
        return bad(t, name, err, "expected the UTF-8 bytes of a JSON object (U8 vector)");
    char *text = malloc((size_t)t->nbytes + 1);
    if (!text) return bc_errorf(err, "%s: out of memory", name);
    memcpy(text, t->data, (size_t)t->nbytes);
    text[t->nbytes] = '\0';
    bc_yaml y = {0};
    int rc = bc_yaml_load(&y, name, text, (size_t)t->nbytes, false, err);
    yaml_node_t *root = rc ? NULL : bc_yaml_root(&y);
    if (!rc) rc = json_string_is(&y, root, "quant_type", "nf4", err);
    if (!rc) rc = json_int_is(&y, root, "blocksize", BC_NF4_BLOCK, err);
    yaml_node_t *shape = rc ? NULL : json_get(&y, root, "shape");
    if (!rc && (!shape || shape->type != YAML_SEQUENCE_NODE ||
                shape->data.sequence.items.top - shape->data.sequence.items.start != 2))
        rc = bc_errorf(err, "%s: 'shape' must be [out, in]", name);
    int dims[2] = {0, 0};
    for (int k = 0; !rc && k < 2; k++) {
        yaml_node_t *d = yaml_document_get_node(&y.doc, shape->data.sequence.items.start[k]);
        rc = d ? bc_yaml_get_int(&y, d, "shape", 0, 1 << 30, &dims[k], err)
               : bc_errorf(err, "%s: bad 'shape'", name);
    }
    yaml_node_t *off = rc ? NULL : json_get(&y, root, "nested_offset");
    p->nested = off != NULL;
    if (!rc && p->nested) {
        rc = json_int_is(&y, root, "nested_blocksize", BC_NF4_BLOCK2, err);
        if (!rc && json_get(&y, root, "nested_dtype"))
            rc = json_string_is(&y, root, "nested_dtype", "float32", err);
        if (!rc) rc = bc_yaml_get_float(&y, off, "nested_offset", -1e30, 1e30, &p->offset, err);
    }
    bc_yaml_free(&y);
    free(text);
    if (rc) return bc_error_prefix(err, "%s: tensor %s", file_of(t), name);
    return check_shape_pair(t, name, dims[0], dims[1], rows, cols, err);
}

/* bitsandbytes >= 0.41.3 save_pretrained layout (see the header). */
static int read_nf4_packed(const bc_checkpoint *ck, const char *module, const bc_tensor *json,
                           int64_t rows, int64_t cols, nf4_parts *p, bc_error *err) {
    char name[NAME_MAX_LEN];
    if (!(p->packed = findf(ck, name, "%s.weight", module))) return missing(json, name, err);
    if (read_quant_json(json, json->name, rows, cols, p, err)) return -1;
    if (check_packed(p->packed, rows, cols, err)) return -1;
    if (!(p->code = findf(ck, name, "%s.weight.quant_map", module))) return missing(json, name, err);
    if (check_nf4_code(p->code, name, err)) return -1;
    if (!(p->absmax = findf(ck, name, "%s.weight.absmax", module))) return missing(json, name, err);
    if (!p->nested) return 0;
    if (!(p->absmax2 = findf(ck, name, "%s.weight.nested_absmax", module)))
        return missing(json, name, err);
    if (!(p->code2 = findf(ck, name, "%s.weight.nested_quant_map", module)))
        return missing(json, name, err);
    return 0;
}

/* ---- int8 ------------------------------------------------------------------ */

static int read_int8(const bc_checkpoint *ck, const char *module, const bc_tensor *scb,
                     int64_t rows, int64_t cols, bc_quant_int8 *out, bc_error *err) {
    char name[NAME_MAX_LEN];
    const bc_tensor *w = findf(ck, name, "%s.weight", module);
    if (!w) return missing(scb, name, err);
    if (w->dtype != BC_DTYPE_I8 || w->ndim != 2 || w->shape[0] != rows || w->shape[1] != cols)
        return bad(w, name, err, "%s %dd tensor, expected I8 [%lld, %lld] from config.json",
                   bc_dtype_name(w->dtype), w->ndim, (long long)rows, (long long)cols);
    const bc_tensor *fmt = findf(ck, name, "%s.weight_format", module);
    int64_t v;
    if (fmt && (int_value(fmt, &v) || v != 0))
        return bad(fmt, name, err, "only the row-major int8 layout (weight_format 0) is "
                   "supported, not the GPU tile layouts");
    size_t qbytes = align64((size_t)(rows * cols));
    char *mem = malloc(qbytes + (size_t)rows * sizeof(float));
    if (!mem) return bc_errorf(err, "%s.weight: out of memory", module);
    memset(out, 0, sizeof *out);
    out->rows = rows;
    out->cols = cols;
    out->storage = mem;
    out->q = (int8_t *)mem;
    out->absmax = (float *)(mem + qbytes);
    memcpy(out->q, w->data, (size_t)(rows * cols));
    int rc = f32_vector(scb, scb->name, rows, out->absmax, err);
    for (int64_t r = 0; !rc && r < rows; r++)
        if (out->absmax[r] < 0)
            rc = bad(scb, scb->name, err, "row %lld has a negative scale", (long long)r);
    if (rc) bc_quant_int8_free(out);
    return rc;
}

/* ---- entry points ------------------------------------------------------------ */

typedef enum layout { LAYOUT_DENSE = 0, LAYOUT_NF4_LIST, LAYOUT_NF4_PACKED, LAYOUT_INT8 } layout;

/* Which layout `module` uses; *key is the tensor that showed it. */
static layout find_layout(const bc_checkpoint *ck, const char *module, const bc_tensor **key,
                          const bc_tensor **packed) {
    char name[NAME_MAX_LEN];
    *packed = NULL;
    if ((*key = findf(ck, name, "%s.weight.quant_state.bitsandbytes__nf4", module)) ||
        (*key = findf(ck, name, "%s.weight.quant_state.bitsandbytes__fp4", module))) {
        *packed = findf(ck, name, "%s.weight", module);
        return LAYOUT_NF4_PACKED;
    }
    if ((*key = findf(ck, name, "%s.weight.quant_state.0", module))) {
        *packed = findf(ck, name, "%s.weight.data", module);
        if (!*packed) *packed = findf(ck, name, "%s.weight", module);
        return LAYOUT_NF4_LIST;
    }
    if ((*key = findf(ck, name, "%s.weight.data", module)) && (*key)->dtype == BC_DTYPE_U8) {
        *packed = *key;
        return LAYOUT_NF4_LIST;   /* packed codes without their state: reported as missing */
    }
    if ((*key = findf(ck, name, "%s.SCB", module))) {
        *packed = findf(ck, name, "%s.weight", module);
        return LAYOUT_INT8;
    }
    return LAYOUT_DENSE;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int bc_quant_ckpt_format(const bc_checkpoint *ck) {
    int found = 0;
    for (size_t i = 0; i < bc_checkpoint_count(ck); i++) {
        const char *n = bc_checkpoint_at(ck, i)->name;
        if (has_suffix(n, ".weight.quant_state.0") || has_suffix(n, ".weight.data") ||
            strstr(n, ".weight.quant_state.bitsandbytes__"))
            return BC_QUANT_NF4;
        if (has_suffix(n, ".SCB")) found = BC_QUANT_INT8;
    }
    return found;
}

uint64_t bc_quant_ckpt_source_bytes(const bc_checkpoint *ck, const char *module) {
    const bc_tensor *key, *packed;
    if (find_layout(ck, module, &key, &packed) == LAYOUT_DENSE || !packed) return 0;
    return packed->nbytes;
}

static void release_module(const bc_checkpoint *ck, const char *module) {
    size_t n = strlen(module);
    for (size_t i = 0; i < bc_checkpoint_count(ck); i++) {
        const bc_tensor *t = bc_checkpoint_at(ck, i);
        if (!strncmp(t->name, module, n) && t->name[n] == '.') bc_checkpoint_release(ck, t);
    }
}

int bc_quant_ckpt_read(const bc_checkpoint *ck, const char *module, int64_t rows,
                       int64_t cols, bc_quant_tensor *out, uint64_t *source_bytes,
                       bc_error *err) {
    memset(out, 0, sizeof *out);
    *source_bytes = 0;
    const bc_tensor *key, *packed;
    layout l = find_layout(ck, module, &key, &packed);
    if (l == LAYOUT_DENSE) return 0;
    if (rows <= 0 || cols <= 0 || rows > INT64_MAX / 2 / cols)
        return bc_errorf(err, "%s: bad shape [%lld, %lld]", module, (long long)rows,
                         (long long)cols);
    char name[NAME_MAX_LEN];
    if (!packed) {
        snprintf(name, sizeof name, "%s.weight%s", module, l == LAYOUT_NF4_LIST ? ".data" : "");
        return missing(key, name, err);
    }
    int rc;
    if (l == LAYOUT_INT8) {
        out->format = BC_QUANT_INT8;
        rc = read_int8(ck, module, key, rows, cols, &out->int8, err);
    } else {
        nf4_parts p = {0};
        if (l == LAYOUT_NF4_PACKED && strstr(key->name, "__fp4"))
            return bad(key, key->name, err, "fp4 weights are not supported (only nf4)");
        rc = l == LAYOUT_NF4_LIST ? read_nf4_list(ck, module, packed, rows, cols, &p, err)
                                  : read_nf4_packed(ck, module, key, rows, cols, &p, err);
        out->format = BC_QUANT_NF4;
        if (!rc) rc = nf4_alloc_copy(&p, module, rows, cols, &out->nf4, err);
    }
    if (rc) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    *source_bytes = packed->nbytes;
    release_module(ck, module);
    return 1;
}
