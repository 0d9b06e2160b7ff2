/* The safetensors reader: every check of formats-and-safety §1a.
 *
 * Layout: u64 little-endian N, then N bytes of JSON header, then the byte
 * buffer. The header maps names to {dtype, shape, data_offsets:[BEGIN,END]}
 * relative to the buffer, plus an optional "__metadata__" string map. The
 * buffer must be covered exactly: sorted by offset, the ranges start at 0,
 * touch without holes or overlaps, and end at the end of the file.
 *
 * The JSON is parsed with libyaml's event API (JSON is YAML flow syntax);
 * YAML-only constructs (aliases, anchors, tags, unquoted or single-quoted
 * strings) are refused, so what we accept is JSON. */
#include "checkpoint_internal.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yaml_reader.h"

typedef struct st_entry {
    char *name;
    size_t name_len;
    bc_dtype dtype;
    int ndim;
    int64_t shape[BC_MAX_DIMS];
    uint64_t begin, end; /* byte range within the data buffer, END exclusive */
} st_entry;

typedef struct st_parse {
    yaml_parser_t yp;
    const char *file;
    bc_error *err;
    st_entry *e;
    size_t count, cap;
} st_parse;

static int st_event(st_parse *sp, yaml_event_t *ev) {
    if (!yaml_parser_parse(&sp->yp, ev))
        return bc_errorf(sp->err, "%s: header JSON syntax error at column %zu: %s", sp->file,
                         sp->yp.problem_mark.column + 1,
                         sp->yp.problem ? sp->yp.problem : "?");
    if (!bc_json_event_is_plain(ev)) {
        yaml_event_delete(ev);
        return bc_errorf(sp->err, "%s: header is not JSON (YAML alias, anchor or tag)", sp->file);
    }
    return 0;
}

/* Next event must be of `type`; consumes it. */
static int st_expect(st_parse *sp, yaml_event_type_t type, const char *what) {
    yaml_event_t ev;
    if (st_event(sp, &ev)) return -1;
    int ok = ev.type == type;
    yaml_event_delete(&ev);
    return ok ? 0 : bc_errorf(sp->err, "%s: header: expected %s", sp->file, what);
}

static int is_string(const yaml_event_t *ev) {
    return ev->type == YAML_SCALAR_EVENT &&
           ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
}

/* A JSON non-negative integer: plain scalar of decimal digits. */
static int scalar_u64(const yaml_event_t *ev, uint64_t *out) {
    if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return -1;
    size_t n = ev->data.scalar.length;
    const unsigned char *s = ev->data.scalar.value;
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0')) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        if (bc_mul_u64(v, 10, &v) || bc_add_u64(v, s[i] - '0', &v)) return -1;
    }
    *out = v;
    return 0;
}

static const struct {
    const char *name;
    int dtype; /* -1: valid safetensors dtype that we do not support */
} st_dtypes[] = {
    {"F32", BC_DTYPE_F32}, {"F16", BC_DTYPE_F16}, {"BF16", BC_DTYPE_BF16},
    {"U8", BC_DTYPE_U8},   {"I8", BC_DTYPE_I8},   {"I32", BC_DTYPE_I32},
    {"I64", BC_DTYPE_I64}, {"F64", BC_DTYPE_F64}, {"BOOL", BC_DTYPE_BOOL},
    {"I16", -1},  {"U16", -1},  {"U32", -1},  {"U64", -1}, {"C64", -1},
    {"F8_E5M2", -1}, {"F8_E4M3", -1}, {"F8_E8M0", -1}, {"F6_E2M3", -1},
    {"F6_E3M2", -1}, {"F4", -1},
};

static int parse_dtype(st_parse *sp, const st_entry *e, const yaml_event_t *ev) {
    if (!is_string(ev))
        return bc_errorf(sp->err, "%s: tensor %s: dtype is not a string", sp->file, e->name);
    const char *s = (const char *)ev->data.scalar.value;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++) {
        if (strcmp(s, st_dtypes[i].name) != 0) continue;
        if (st_dtypes[i].dtype < 0)
            return bc_errorf(sp->err, "%s: tensor %s: dtype %s is not supported", sp->file,
                             e->name, s);
        return st_dtypes[i].dtype;
    }
    return bc_errorf(sp->err, "%s: tensor %s: unknown dtype \"%.40s\"", sp->file, e->name, s);
}

/* Reads a JSON array of at most `max` integers (its start event consumed). */
static int parse_int_array(st_parse *sp, const st_entry *e, const char *field,
                           uint64_t *vals, int max, int *n) {
    *n = 0;
    for (;;) {
        yaml_event_t ev;
        if (st_event(sp, &ev)) return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        uint64_t v = 0;
        int bad = scalar_u64(&ev, &v);
        yaml_event_delete(&ev);
        if (bad)
            return bc_errorf(sp->err, "%s: tensor %s: %s holds a value that is not a "
                                      "non-negative 64-bit integer", sp->file, e->name, field);
        if (*n >= max)
            return bc_errorf(sp->err, "%s: tensor %s: %s has more than %d entries", sp->file,
                             e->name, field, max);
        vals[(*n)++] = v;
    }
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]}, the '{' consumed. */
static int parse_info(st_parse *sp, st_entry *e) {
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    for (;;) {
        yaml_event_t k, v;
        if (st_event(sp, &k)) return -1;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            break;
        }
        int key = -1;
        if (is_string(&k)) {
            const char *s = (const char *)k.data.scalar.value;
            key = !strcmp(s, "dtype") ? 0 : !strcmp(s, "shape") ? 1
                : !strcmp(s, "data_offsets") ? 2 : -1;
        }
        yaml_event_delete(&k);
        if (key < 0)
            return bc_errorf(sp->err, "%s: tensor %s: unexpected key in tensor info", sp->file,
                             e->name);
        int *have = key == 0 ? &have_dtype : key == 1 ? &have_shape : &have_offsets;
        if (*have)
            return bc_errorf(sp->err, "%s: tensor %s: duplicate key in tensor info", sp->file,
                             e->name);
        *have = 1;
        if (st_event(sp, &v)) return -1;
        if (key == 0) {
            int dt = parse_dtype(sp, e, &v);
            yaml_event_delete(&v);
            if (dt < 0) return -1;
            e->dtype = (bc_dtype)dt;
            continue;
        }
        int is_seq = v.type == YAML_SEQUENCE_START_EVENT;
        yaml_event_delete(&v);
        if (!is_seq)
            return bc_errorf(sp->err, "%s: tensor %s: %s is not an array", sp->file, e->name,
                             key == 1 ? "shape" : "data_offsets");
        uint64_t vals[BC_MAX_DIMS];
        int n;
        if (key == 1) {
            if (parse_int_array(sp, e, "shape", vals, BC_MAX_DIMS, &n)) return -1;
            for (int i = 0; i < n; i++) {
                if (vals[i] > (uint64_t)INT64_MAX)
                    return bc_errorf(sp->err, "%s: tensor %s: shape dimension too large",
                                     sp->file, e->name);
                e->shape[i] = (int64_t)vals[i];
            }
            e->ndim = n;
        } else {
            if (parse_int_array(sp, e, "data_offsets", vals, 2, &n)) return -1;
            if (n != 2)
                return bc_errorf(sp->err, "%s: tensor %s: data_offsets must have 2 entries",
                                 sp->file, e->name);
            e->begin = vals[0];
            e->end = vals[1];
        }
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return bc_errorf(sp->err, "%s: tensor %s: tensor info lacks %s", sp->file, e->name,
                         !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return 0;
}

/* "__metadata__": a map of strings to strings (nothing else is allowed). */
static int parse_metadata(st_parse *sp) {
    if (st_expect(sp, YAML_MAPPING_START_EVENT, "__metadata__ to be an object")) return -1;
    for (size_t n = 0;; n++) {
        yaml_event_t ev;
        if (st_event(sp, &ev)) return -1;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        int ok = is_string(&ev);
        yaml_event_delete(&ev);
        if (!ok)
            return bc_errorf(sp->err, "%s: __metadata__ must map strings to strings", sp->file);
        if (n >= 2 * (size_t)BC_ST_MAX_METADATA_ENTRIES) /* n counts keys and values */
            return bc_errorf(sp->err, "%s: __metadata__ has more than %d entries", sp->file,
                             BC_ST_MAX_METADATA_ENTRIES);
    }
}

static int parse_header(st_parse *sp) {
    if (st_expect(sp, YAML_STREAM_START_EVENT, "stream") ||
        st_expect(sp, YAML_DOCUMENT_START_EVENT, "a JSON object") ||
        st_expect(sp, YAML_MAPPING_START_EVENT, "a JSON object"))
        return -1;
    int have_meta = 0;
    for (;;) {
        yaml_event_t k;
        if (st_event(sp, &k)) return -1;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            break;
        }
        if (!is_string(&k)) {
            yaml_event_delete(&k);
            return bc_errorf(sp->err, "%s: header: key is not a string", sp->file);
        }
        if (strcmp((const char *)k.data.scalar.value, "__metadata__") == 0) {
            yaml_event_delete(&k);
            if (have_meta) return bc_errorf(sp->err, "%s: duplicate __metadata__", sp->file);
            have_meta = 1;
            if (parse_metadata(sp)) return -1;
            continue;
        }
        if (sp->count >= BC_MAX_TENSORS_PER_FILE) {
            yaml_event_delete(&k);
            return bc_errorf(sp->err, "%s: more than %d tensors", sp->file,
                             BC_MAX_TENSORS_PER_FILE);
        }
        if (sp->count == sp->cap) {
            size_t cap = sp->cap ? sp->cap * 2 : 64;
            st_entry *e = realloc(sp->e, cap * sizeof *e);
            if (!e) {
                yaml_event_delete(&k);
                return bc_errorf(sp->err, "%s: out of memory", sp->file);
            }
            sp->e = e;
            sp->cap = cap;
        }
        st_entry *e = &sp->e[sp->count];
        memset(e, 0, sizeof *e);
        e->name_len = k.data.scalar.length;
        e->name = malloc(e->name_len + 1);
        if (e->name) memcpy(e->name, k.data.scalar.value, e->name_len + 1);
        yaml_event_delete(&k);
        if (!e->name) return bc_errorf(sp->err, "%s: out of memory", sp->file);
        sp->count++;
        if (e->name_len == 0 || memchr(e->name, '\0', e->name_len))
            return bc_errorf(sp->err, "%s: tensor name is empty or contains a NUL", sp->file);
        if (st_expect(sp, YAML_MAPPING_START_EVENT, "tensor info object")) {
            return bc_error_prefix(sp->err, "tensor %s", e->name);
        }
        if (parse_info(sp, e)) return -1;
    }
    if (st_expect(sp, YAML_DOCUMENT_END_EVENT, "end of header after the object") ||
        st_expect(sp, YAML_STREAM_END_EVENT, "a single JSON object"))
        return -1;
    return 0;
}

static int cmp_range(const void *a, const void *b) {
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    return strcmp(x->name, y->name);
}

/* The coverage rules of §1a on parsed entries; data_len = bytes after header. */
static int check_layout(st_parse *sp, uint64_t data_len) {
    const char *f = sp->file;
    st_entry **order = malloc((sp->count ? sp->count : 1) * sizeof *order);
    if (!order) return bc_errorf(sp->err, "%s: out of memory", f);
    for (size_t i = 0; i < sp->count; i++) order[i] = &sp->e[i];
    int rc = -1;
    qsort(order, sp->count, sizeof *order, cmp_name);
    for (size_t i = 1; i < sp->count; i++) {
        if (strcmp(order[i - 1]->name, order[i]->name) == 0) {
            bc_errorf(sp->err, "%s: tensor %s: duplicate name in header", f, order[i]->name);
            goto done;
        }
    }
    qsort(order, sp->count, sizeof *order, cmp_range);
    uint64_t expect = 0;
    for (size_t i = 0; i < sp->count; i++) {
        const st_entry *e = order[i];
        uint64_t nbytes;
        if (e->end < e->begin) {
            bc_errorf(sp->err, "%s: tensor %s: data_offsets end %llu before begin %llu", f,
                      e->name, (unsigned long long)e->end, (unsigned long long)e->begin);
            goto done;
        }
        if (bc_shape_nbytes(e->ndim, e->shape, e->dtype, &nbytes)) {
            bc_errorf(sp->err, "%s: tensor %s: shape product overflows 64 bits", f, e->name);
            goto done;
        }
        if (e->end - e->begin != nbytes) {
            bc_errorf(sp->err, "%s: tensor %s: data_offsets span %llu bytes but shape and "
                               "dtype need %llu", f, e->name,
                      (unsigned long long)(e->end - e->begin), (unsigned long long)nbytes);
            goto done;
        }
        if (e->begin != expect) {
            bc_errorf(sp->err, "%s: tensor %s: data_offsets begin %llu, expected %llu (%s)", f,
                      e->name, (unsigned long long)e->begin, (unsigned long long)expect,
                      e->begin < expect ? "overlaps the previous tensor" : "leaves a hole");
            goto done;
        }
        if (e->end > data_len) {
            bc_errorf(sp->err, "%s: tensor %s: data_offsets end %llu is past the end of the "
                               "data (%llu bytes)", f, e->name, (unsigned long long)e->end,
                      (unsigned long long)data_len);
            goto done;
        }
        expect = e->end;
    }
    if (expect != data_len) {
        bc_errorf(sp->err, "%s: %llu bytes after the last tensor (tensors cover %llu of %llu "
                           "data bytes)", f, (unsigned long long)(data_len - expect),
                  (unsigned long long)expect, (unsigned long long)data_len);
        goto done;
    }
    rc = 0;
done:
    free(order);
    return rc;
}

int bc_safetensors_parse(bc_checkpoint *ck, const uint8_t *buf, uint64_t len, const char *file,
                         bc_error *err) {
    if (len < 8) return bc_errorf(err, "%s: too short for a safetensors header (%llu bytes)",
                                  file, (unsigned long long)len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > BC_ST_MAX_HEADER_BYTES)
        return bc_errorf(err, "%s: header length %llu exceeds the 100 MB limit (%d bytes)",
                         file, (unsigned long long)hlen, BC_ST_MAX_HEADER_BYTES);
    if (hlen > len - 8)
        return bc_errorf(err, "%s: header length %llu is larger than the file (%llu bytes)",
                         file, (unsigned long long)hlen, (unsigned long long)len);
    if (hlen < 2 || buf[8] != '{')
        return bc_errorf(err, "%s: header does not start with '{' (not a safetensors file?)",
                         file);
    const uint8_t *hdr = buf + 8;
    if (memchr(hdr, '\0', (size_t)hlen)) return bc_errorf(err, "%s: NUL byte in header", file);

    st_parse sp = {.file = file, .err = err};
    if (!yaml_parser_initialize(&sp.yp)) return bc_errorf(err, "%s: out of memory", file);
    yaml_parser_set_encoding(&sp.yp, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&sp.yp, hdr, (size_t)hlen);
    int rc = parse_header(&sp);
    yaml_parser_delete(&sp.yp);
    uint64_t data_off = 8 + hlen;
    if (rc == 0) rc = check_layout(&sp, len - data_off);
    for (size_t i = 0; rc == 0 && i < sp.count; i++) {
        const st_entry *e = &sp.e[i];
        rc = bc_checkpoint_add_view(ck, e->name, e->name_len, e->dtype, e->ndim, e->shape,
                                    buf + data_off + e->begin, file, err);
    }
    for (size_t i = 0; i < sp.count; i++) free(sp.e[i].name);
    free(sp.e);
    return rc;
}
