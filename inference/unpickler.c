/* Restricted unpickler for torch.save state dicts. See unpickler.h.
 *
 * The VM keeps every value it creates in one list (pk.values) and frees them
 * together, so shared references through the memo need no ownership rules.
 * Every count is capped before it grows (stack, marks, memo, values), every
 * length read from the stream is checked against the bytes left, and nothing
 * recurses on attacker-controlled depth except the flattening of the result,
 * which has its own small depth cap. */
#include "unpickler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint_internal.h"

#define PK_MAX_STACK BC_PICKLE_MAX_STACK
#define PK_MAX_MARKS BC_PICKLE_MAX_MARKS
#define PK_MAX_MEMO BC_PICKLE_MAX_MEMO
#define PK_MAX_VALUES BC_PICKLE_MAX_OBJECTS
#define PK_MAX_FLATTEN_DEPTH BC_PICKLE_MAX_DEPTH
#define PK_MAX_NAME BC_PICKLE_MAX_NAME

typedef enum pk_kind {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT,
    PK_GLOBAL, PK_STORAGE, PK_TENSOR, PK_SIZE, PK_DTYPE
} pk_kind;

typedef enum pk_global {
    G_ORDERED_DICT, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE, G_SIZE
} pk_global;

typedef struct pk_value pk_value;
struct pk_value {
    pk_kind kind;
    union {
        int64_t i;   /* PK_INT, PK_BOOL */
        double f;    /* PK_FLOAT */
        struct {
            const char *s; /* points into the pickle, not NUL-terminated */
            size_t n;
        } str;
        struct {
            pk_value **v; /* PK_TUPLE/LIST/SIZE items; PK_DICT: key, value, key, ... */
            size_t n, cap;
        } seq;
        struct {
            pk_global id;
            bc_dtype dtype; /* storage classes */
            const char *name;
        } global;
        struct {
            bc_dtype dtype;
            const uint8_t *data; /* the data/<key> record */
            uint64_t numel;      /* elements the pickle claims; checked against the record */
        } storage;
        struct {
            const pk_value *storage;
            uint64_t offset; /* in elements */
            int ndim;
            int64_t shape[BC_MAX_DIMS];
        } tensor;
        struct {
            bc_dtype dtype;
            const char *name; /* "float16", ... */
        } dt;
    } u;
};

typedef struct pk {
    const uint8_t *p;
    uint64_t len, pos;
    const char *file;
    bc_error *err;
    bc_pickle_record_fn record;
    void *record_ctx;
    pk_value **values;
    size_t nvalues, capvalues;
    pk_value **stack;
    size_t nstack, capstack;
    size_t *marks;
    size_t nmarks, capmarks;
    pk_value **memo;
    size_t capmemo, nmemo; /* nmemo: slots set, the index MEMOIZE uses next */
    size_t nflattened;     /* values visited by add_value, capped */
    pk_value none_value;
} pk;

static int fail(pk *k, const char *fmt, const char *detail) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    return bc_errorf(k->err, "%s: data.pkl: %s (at byte %llu)", k->file, msg,
                     (unsigned long long)k->pos);
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem, size_t max) {
    if (need <= *cap) return 0;
    if (need > max) return -1;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    if (n > max) n = max;
    void *a = realloc(*arr, n * elem);
    if (!a) return -1;
    *arr = a;
    *cap = n;
    return 0;
}

static pk_value *new_value(pk *k, pk_kind kind) {
    if (grow((void **)&k->values, &k->capvalues, k->nvalues + 1, sizeof *k->values,
             PK_MAX_VALUES)) {
        fail(k, "%s", "too many objects");
        return NULL;
    }
    pk_value *v = calloc(1, sizeof *v);
    if (!v) {
        fail(k, "%s", "out of memory");
        return NULL;
    }
    v->kind = kind;
    k->values[k->nvalues++] = v;
    return v;
}

static int push(pk *k, pk_value *v) {
    if (!v) return -1;
    if (grow((void **)&k->stack, &k->capstack, k->nstack + 1, sizeof *k->stack, PK_MAX_STACK))
        return fail(k, "%s", "stack too deep");
    k->stack[k->nstack++] = v;
    return 0;
}

static pk_value *pop(pk *k) {
    size_t floor = k->nmarks ? k->marks[k->nmarks - 1] : 0;
    if (k->nstack <= floor) {
        fail(k, "%s", "stack underflow");
        return NULL;
    }
    return k->stack[--k->nstack];
}

static int seq_append(pk *k, pk_value *seq, pk_value *item) {
    if (grow((void **)&seq->u.seq.v, &seq->u.seq.cap, seq->u.seq.n + 1, sizeof(pk_value *),
             PK_MAX_VALUES))
        return fail(k, "%s", "container too large");
    seq->u.seq.v[seq->u.seq.n++] = item;
    return 0;
}

/* Pops everything above the top mark into a fresh value of `kind`. */
static pk_value *pop_mark_into(pk *k, pk_kind kind) {
    if (!k->nmarks) {
        fail(k, "%s", "no MARK on the stack");
        return NULL;
    }
    size_t m = k->marks[--k->nmarks];
    pk_value *v = new_value(k, kind);
    if (!v) return NULL;
    for (size_t i = m; i < k->nstack; i++)
        if (seq_append(k, v, k->stack[i])) return NULL;
    k->nstack = m;
    return v;
}

static int need(pk *k, uint64_t n) {
    return n <= k->len - k->pos ? 0 : fail(k, "%s", "truncated (an opcode argument runs "
                                                    "past the end)");
}

static uint64_t read_le(pk *k, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | k->p[k->pos + i];
    k->pos += n;
    return v;
}

static int valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t extra = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                     : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (extra == 9 || extra > n - i - 1) return 0;
        if (extra == 1 && c < 0xC2) return 0;
        for (size_t j = 1; j <= extra; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += extra + 1;
    }
    return 1;
}

static int push_str(pk *k, uint64_t n) {
    if (n > BC_PICKLE_MAX_STRING) {
        char d[96];
        snprintf(d, sizeof d, "string of %llu bytes is longer than the %u allowed",
                 (unsigned long long)n, BC_PICKLE_MAX_STRING);
        return fail(k, "%s", d);
    }
    if (need(k, n)) return -1;
    if (!valid_utf8(k->p + k->pos, (size_t)n)) return fail(k, "%s", "string is not UTF-8");
    pk_value *v = new_value(k, PK_STR);
    if (!v) return -1;
    v->u.str.s = (const char *)k->p + k->pos;
    v->u.str.n = (size_t)n;
    k->pos += n;
    return push(k, v);
}

static int push_int(pk *k, int64_t i, pk_kind kind) {
    pk_value *v = new_value(k, kind);
    if (!v) return -1;
    v->u.i = i;
    return push(k, v);
}

static int str_is(const pk_value *v, const char *s) {
    return v->kind == PK_STR && v->u.str.n == strlen(s) && !memcmp(v->u.str.s, s, v->u.str.n);
}

/* ---- globals: a fixed table, never an import ------------------------------- */

static const struct {
    const char *module, *name;
    pk_kind kind;   /* PK_GLOBAL or PK_DTYPE */
    pk_global id;
    bc_dtype dtype;
} globals[] = {
    {"collections", "OrderedDict", PK_GLOBAL, G_ORDERED_DICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", PK_GLOBAL, G_REBUILD_TENSOR_V2, 0},
    {"torch._utils", "_rebuild_parameter", PK_GLOBAL, G_REBUILD_PARAMETER, 0},
    {"torch", "Size", PK_GLOBAL, G_SIZE, 0},
    {"torch", "FloatStorage", PK_GLOBAL, G_STORAGE, BC_DTYPE_F32},
    {"torch", "HalfStorage", PK_GLOBAL, G_STORAGE, BC_DTYPE_F16},
    {"torch", "BFloat16Storage", PK_GLOBAL, G_STORAGE, BC_DTYPE_BF16},
    {"torch", "ByteStorage", PK_GLOBAL, G_STORAGE, BC_DTYPE_U8},
    {"torch", "CharStorage", PK_GLOBAL, G_STORAGE, BC_DTYPE_I8},
    {"torch", "IntStorage", PK_GLOBAL, G_STORAGE, BC_DTYPE_I32},
    {"torch", "LongStorage", PK_GLOBAL, G_STORAGE, BC_DTYPE_I64},
    {"torch", "DoubleStorage", PK_GLOBAL, G_STORAGE, BC_DTYPE_F64},
    {"torch", "BoolStorage", PK_GLOBAL, G_STORAGE, BC_DTYPE_BOOL},
    /* an untyped storage counts bytes: a tensor over it is uint8 */
    {"torch", "UntypedStorage", PK_GLOBAL, G_STORAGE, BC_DTYPE_U8},
    {"torch.storage", "UntypedStorage", PK_GLOBAL, G_STORAGE, BC_DTYPE_U8},
    {"torch", "float32", PK_DTYPE, 0, BC_DTYPE_F32},
    {"torch", "float16", PK_DTYPE, 0, BC_DTYPE_F16},
    {"torch", "bfloat16", PK_DTYPE, 0, BC_DTYPE_BF16},
    {"torch", "uint8", PK_DTYPE, 0, BC_DTYPE_U8},
    {"torch", "int8", PK_DTYPE, 0, BC_DTYPE_I8},
    {"torch", "int32", PK_DTYPE, 0, BC_DTYPE_I32},
    {"torch", "int64", PK_DTYPE, 0, BC_DTYPE_I64},
    {"torch", "float64", PK_DTYPE, 0, BC_DTYPE_F64},
    {"torch", "bool", PK_DTYPE, 0, BC_DTYPE_BOOL},
};

static int push_global(pk *k, const char *mod, size_t mod_n, const char *name, size_t name_n) {
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++) {
        if (strlen(globals[i].module) != mod_n || memcmp(globals[i].module, mod, mod_n) ||
            strlen(globals[i].name) != name_n || memcmp(globals[i].name, name, name_n))
            continue;
        pk_value *v = new_value(k, globals[i].kind);
        if (!v) return -1;
        if (globals[i].kind == PK_DTYPE) {
            v->u.dt.dtype = globals[i].dtype;
            v->u.dt.name = globals[i].name;
        } else {
            v->u.global.id = globals[i].id;
            v->u.global.dtype = globals[i].dtype;
            v->u.global.name = globals[i].name;
        }
        return push(k, v);
    }
    char what[200];
    snprintf(what, sizeof what, "%.*s.%.*s", (int)(mod_n > 80 ? 80 : mod_n), mod,
             (int)(name_n > 80 ? 80 : name_n), name);
    for (char *c = what; *c; c++)
        if ((unsigned char)*c < 0x20) *c = '?';
    return fail(k, "refused global %s (not part of a torch state dict; nothing was run)", what);
}

/* GLOBAL: "module\nname\n" */
static int op_global(pk *k) {
    const uint8_t *s = k->p + k->pos;
    uint64_t left = k->len - k->pos;
    const uint8_t *nl1 = memchr(s, '\n', (size_t)(left < 256 ? left : 256));
    if (!nl1) return fail(k, "%s", "GLOBAL without a newline-terminated module");
    uint64_t left2 = left - (uint64_t)(nl1 + 1 - s);
    const uint8_t *nl2 = memchr(nl1 + 1, '\n', (size_t)(left2 < 256 ? left2 : 256));
    if (!nl2) return fail(k, "%s", "GLOBAL without a newline-terminated name");
    k->pos += (uint64_t)(nl2 + 1 - s);
    return push_global(k, (const char *)s, (size_t)(nl1 - s), (const char *)nl1 + 1,
                       (size_t)(nl2 - nl1 - 1));
}

static int op_stack_global(pk *k) {
    pk_value *name = pop(k), *mod = name ? pop(k) : NULL;
    if (!mod) return -1;
    if (name->kind != PK_STR || mod->kind != PK_STR)
        return fail(k, "%s", "STACK_GLOBAL needs two strings");
    return push_global(k, mod->u.str.s, mod->u.str.n, name->u.str.s, name->u.str.n);
}

/* ---- persistent ids: ('storage', StorageClass, key, location, numel) -------- */

static int op_binpersid(pk *k) {
    pk_value *pid = pop(k);
    if (!pid) return -1;
    if (pid->kind != PK_TUPLE || pid->u.seq.n != 5 || !str_is(pid->u.seq.v[0], "storage"))
        return fail(k, "%s", "persistent id is not a ('storage', ...) 5-tuple");
    pk_value *cls = pid->u.seq.v[1], *key = pid->u.seq.v[2], *loc = pid->u.seq.v[3],
             *numel = pid->u.seq.v[4];
    if (cls->kind != PK_GLOBAL || cls->u.global.id != G_STORAGE)
        return fail(k, "%s", "persistent id: second item is not a storage class");
    if (key->kind != PK_STR || loc->kind != PK_STR || numel->kind != PK_INT || numel->u.i < 0)
        return fail(k, "%s", "persistent id: malformed key, location or numel");
    const uint8_t *data;
    uint64_t size, nbytes;
    if (k->record(k->record_ctx, key->u.str.s, key->u.str.n, &data, &size, k->err)) return -1;
    if (bc_mul_u64((uint64_t)numel->u.i, bc_dtype_size(cls->u.global.dtype), &nbytes) ||
        nbytes > size) {
        char d[160];
        snprintf(d, sizeof d, "storage data/%.*s: numel %lld of %s needs more than its %llu-byte "
                 "record", (int)(key->u.str.n > 40 ? 40 : key->u.str.n), key->u.str.s,
                 (long long)numel->u.i, cls->u.global.name, (unsigned long long)size);
        return fail(k, "%s", d);
    }
    pk_value *v = new_value(k, PK_STORAGE);
    if (!v) return -1;
    v->u.storage.dtype = cls->u.global.dtype;
    v->u.storage.data = data;
    v->u.storage.numel = (uint64_t)numel->u.i;
    return push(k, v);
}

/* ---- REDUCE: only the allowlisted callables -------------------------------- */

static int int_tuple(const pk_value *t, int64_t *out, int *n) {
    if (t->kind != PK_TUPLE || t->u.seq.n > BC_MAX_DIMS) return -1;
    for (size_t i = 0; i < t->u.seq.n; i++) {
        if (t->u.seq.v[i]->kind != PK_INT) return -1;
        out[i] = t->u.seq.v[i]->u.i;
    }
    *n = (int)t->u.seq.n;
    return 0;
}

static int empty_or_none(const pk_value *v) {
    return v->kind == PK_NONE || (v->kind == PK_DICT && v->u.seq.n == 0);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static pk_value *rebuild_tensor(pk *k, const pk_value *args) {
    size_t n = args->u.seq.n;
    pk_value **a = args->u.seq.v;
    if (n != 6 && n != 7) {
        fail(k, "%s", "_rebuild_tensor_v2 needs 6 or 7 arguments");
        return NULL;
    }
    int64_t size[BC_MAX_DIMS], stride[BC_MAX_DIMS];
    int nd, ns;
    if (a[0]->kind != PK_STORAGE || a[1]->kind != PK_INT || a[1]->u.i < 0 ||
        int_tuple(a[2], size, &nd) || int_tuple(a[3], stride, &ns) || nd != ns ||
        a[4]->kind != PK_BOOL || !empty_or_none(a[5]) || (n == 7 && !empty_or_none(a[6]))) {
        fail(k, "%s", "_rebuild_tensor_v2: malformed arguments (or more than 4 dimensions)");
        return NULL;
    }
    /* contiguous row-major; dims of size 1 may carry any stride (as in torch) */
    uint64_t numel = 1, expect = 1;
    for (int d = 0; d < nd; d++) {
        if (size[d] < 0 || bc_mul_u64(numel, (uint64_t)size[d], &numel) ||
            numel > (uint64_t)INT64_MAX) {
            fail(k, "%s", "_rebuild_tensor_v2: negative size or element count overflow");
            return NULL;
        }
    }
    for (int d = nd - 1; d >= 0 && numel != 0; d--) {
        if (size[d] != 1 && stride[d] != (int64_t)expect) {
            fail(k, "%s", "tensor is not contiguous (its strides are not row-major); "
                          "save it after .contiguous()");
            return NULL;
        }
        expect *= (uint64_t)size[d];
    }
    uint64_t end;
    if (bc_add_u64((uint64_t)a[1]->u.i, numel, &end) || end > a[0]->u.storage.numel) {
        char d[160];
        snprintf(d, sizeof d, "tensor offset %lld + %llu elements is past the end of its "
                 "%llu-element storage", (long long)a[1]->u.i, (unsigned long long)numel,
                 (unsigned long long)a[0]->u.storage.numel);
        fail(k, "%s", d);
        return NULL;
    }
    pk_value *t = new_value(k, PK_TENSOR);
    if (!t) return NULL;
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = (uint64_t)a[1]->u.i;
    t->u.tensor.ndim = nd;
    for (int d = 0; d < nd; d++) t->u.tensor.shape[d] = size[d];
    return t;
}

static int op_reduce(pk *k) {
    pk_value *args = pop(k), *fn = args ? pop(k) : NULL;
    if (!fn) return -1;
    if (args->kind != PK_TUPLE) return fail(k, "%s", "REDUCE arguments are not a tuple");
    if (fn->kind != PK_GLOBAL) return fail(k, "%s", "REDUCE of something that is not a global");
    pk_value *r = NULL;
    switch (fn->u.global.id) {
    case G_ORDERED_DICT:
        if (args->u.seq.n != 0) return fail(k, "%s", "OrderedDict() with arguments");
        r = new_value(k, PK_DICT);
        break;
    case G_REBUILD_TENSOR_V2:
        r = rebuild_tensor(k, args);
        break;
    case G_REBUILD_PARAMETER: /* (tensor, requires_grad, hooks) -> the tensor */
        if (args->u.seq.n != 3 || args->u.seq.v[0]->kind != PK_TENSOR)
            return fail(k, "%s", "_rebuild_parameter: malformed arguments");
        r = args->u.seq.v[0];
        break;
    case G_SIZE: {
        int64_t dims[BC_MAX_DIMS];
        int nd;
        if (args->u.seq.n != 1 || int_tuple(args->u.seq.v[0], dims, &nd))
            return fail(k, "%s", "torch.Size: malformed arguments (or more than 4 dimensions)");
        r = new_value(k, PK_SIZE);
        for (int d = 0; r && d < nd; d++)
            if (seq_append(k, r, args->u.seq.v[0]->u.seq.v[d])) return -1;
        break;
    }
    case G_STORAGE:
        return fail(k, "calling %s is not allowed", fn->u.global.name);
    }
    return r ? push(k, r) : -1;
}

/* ---- the VM ------------------------------------------------------------------ */

static int memo_put(pk *k, uint64_t idx) {
    if (!k->nstack) return fail(k, "%s", "memo store from an empty stack");
    if (idx >= PK_MAX_MEMO) return fail(k, "%s", "memo index too large");
    size_t old = k->capmemo;
    if (grow((void **)&k->memo, &k->capmemo, (size_t)idx + 1, sizeof *k->memo, PK_MAX_MEMO))
        return fail(k, "%s", "out of memory for the memo");
    if (k->capmemo > old) memset(k->memo + old, 0, (k->capmemo - old) * sizeof *k->memo);
    if (!k->memo[idx]) k->nmemo++;
    k->memo[idx] = k->stack[k->nstack - 1];
    return 0;
}

static int memo_get(pk *k, uint64_t idx) {
    if (idx >= k->capmemo || !k->memo[idx])
        return fail(k, "%s", idx >= PK_MAX_MEMO ? "memo index too large" : "memo index not set");
    return push(k, k->memo[idx]);
}

static int set_items(pk *k, size_t from) {
    if (from == 0 || (k->nstack - from) % 2) return fail(k, "%s", "SETITEMS: odd item count");
    pk_value *d = k->stack[from - 1];
    if (d->kind != PK_DICT) return fail(k, "%s", "SETITEM(S) on something that is not a dict");
    for (size_t i = from; i < k->nstack; i++)
        if (seq_append(k, d, k->stack[i])) return -1;
    k->nstack = from;
    return 0;
}

static int append_items(pk *k, size_t from) {
    if (from == 0) return fail(k, "%s", "stack underflow");
    pk_value *l = k->stack[from - 1];
    if (l->kind != PK_LIST) return fail(k, "%s", "APPEND(S) on something that is not a list");
    for (size_t i = from; i < k->nstack; i++)
        if (seq_append(k, l, k->stack[i])) return -1;
    k->nstack = from;
    return 0;
}

static size_t mark_floor(pk *k) { return k->nmarks ? k->marks[k->nmarks - 1] : 0; }

static int pop_mark(pk *k, size_t *m) {
    if (!k->nmarks) return fail(k, "%s", "no MARK on the stack");
    *m = k->marks[--k->nmarks];
    return 0;
}

static int step(pk *k, int *done) {
    uint64_t at = k->pos;
    uint8_t op = k->p[k->pos++];
    size_t m = 0;
    pk_value *v, *w;
    switch (op) {
    case 0x80: /* PROTO */
        if (need(k, 1)) return -1;
        if (k->p[k->pos++] > 5) return fail(k, "%s", "unknown pickle protocol");
        return 0;
    case 0x95: /* FRAME: a length hint only */
        if (need(k, 8)) return -1;
        k->pos += 8;
        return 0;
    case '.': *done = 1; return 0;
    case '(':
        if (grow((void **)&k->marks, &k->capmarks, k->nmarks + 1, sizeof *k->marks, PK_MAX_MARKS))
            return fail(k, "%s", "MARKs nested too deeply");
        k->marks[k->nmarks++] = k->nstack;
        return 0;
    case '}': return push(k, new_value(k, PK_DICT));
    case ']': return push(k, new_value(k, PK_LIST));
    case ')': return push(k, new_value(k, PK_TUPLE));
    case 't': return push(k, pop_mark_into(k, PK_TUPLE));
    case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
        int n = op - 0x84;
        if (k->nstack < mark_floor(k) + (size_t)n) return fail(k, "%s", "stack underflow");
        v = new_value(k, PK_TUPLE);
        if (!v) return -1;
        for (size_t i = k->nstack - n; i < k->nstack; i++)
            if (seq_append(k, v, k->stack[i])) return -1;
        k->nstack -= n;
        return push(k, v);
    }
    case 'X': if (need(k, 4)) return -1; return push_str(k, read_le(k, 4));
    case 0x8c: if (need(k, 1)) return -1; return push_str(k, read_le(k, 1));
    case 'J': if (need(k, 4)) return -1; return push_int(k, (int32_t)read_le(k, 4), PK_INT);
    case 'K': if (need(k, 1)) return -1; return push_int(k, (int64_t)read_le(k, 1), PK_INT);
    case 'M': if (need(k, 2)) return -1; return push_int(k, (int64_t)read_le(k, 2), PK_INT);
    case 0x8a: { /* LONG1: n-byte little-endian two's complement */
        if (need(k, 1)) return -1;
        int n = k->p[k->pos++];
        if (n > 8) return fail(k, "%s", "integer wider than 64 bits");
        if (need(k, (uint64_t)n)) return -1;
        uint64_t u = n ? read_le(k, n) : 0;
        if (n && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~0ull << (8 * n); /* sign-extend */
        return push_int(k, (int64_t)u, PK_INT);
    }
    case 0x88: return push_int(k, 1, PK_BOOL);
    case 0x89: return push_int(k, 0, PK_BOOL);
    case 'N': return push(k, &k->none_value);
    case 'G': { /* BINFLOAT: big-endian double */
        if (need(k, 8)) return -1;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = (u << 8) | k->p[k->pos++];
        v = new_value(k, PK_FLOAT);
        if (!v) return -1;
        memcpy(&v->u.f, &u, 8);
        return push(k, v);
    }
    case 'c': return op_global(k);
    case 0x93: return op_stack_global(k);
    case 'R': return op_reduce(k);
    case 'Q': return op_binpersid(k);
    case 'q': if (need(k, 1)) return -1; return memo_put(k, read_le(k, 1));
    case 'r': if (need(k, 4)) return -1; return memo_put(k, read_le(k, 4));
    case 0x94: return memo_put(k, k->nmemo); /* MEMOIZE: index len(memo), as Python */
    case 'h': if (need(k, 1)) return -1; return memo_get(k, read_le(k, 1));
    case 'j': if (need(k, 4)) return -1; return memo_get(k, read_le(k, 4));
    case 's':
        if (k->nstack < mark_floor(k) + 3) return fail(k, "%s", "stack underflow");
        return set_items(k, k->nstack - 2);
    case 'u': if (pop_mark(k, &m)) return -1; return set_items(k, m);
    case 'a':
        if (k->nstack < mark_floor(k) + 2) return fail(k, "%s", "stack underflow");
        return append_items(k, k->nstack - 1);
    case 'e': if (pop_mark(k, &m)) return -1; return append_items(k, m);
    case 'b': /* BUILD: torch only sets OrderedDict attributes (_metadata); ignored */
        w = pop(k);
        if (!w) return -1;
        if (k->nstack <= mark_floor(k)) return fail(k, "%s", "stack underflow");
        v = k->stack[k->nstack - 1];
        if (v->kind != PK_DICT || (w->kind != PK_DICT && w->kind != PK_NONE))
            return fail(k, "%s", "BUILD is only allowed on an OrderedDict");
        return 0;
    default: {
        char d[64];
        k->pos = at;
        snprintf(d, sizeof d, "unsupported pickle opcode 0x%02x", op);
        return fail(k, "%s", d);
    }
    }
}

/* ---- result: the state dict, flattened into the index ------------------------ */

/* Writes i in decimal to buf (room for 20 digits), returns the digit count.
 * Not snprintf: a hostile pickle may flatten to BC_PICKLE_MAX_FLATTENED list
 * items, and formatting their names dominated the time spent on it. */
static size_t format_index(char *buf, size_t i) {
    char rev[20];
    size_t n = 0;
    do rev[n++] = (char)('0' + i % 10); while ((i /= 10) != 0);
    for (size_t j = 0; j < n; j++) buf[j] = rev[n - 1 - j];
    return n;
}

static int add_value(pk *k, bc_checkpoint *ck, char *name, size_t n, const pk_value *v,
                     int depth) {
    if (depth > PK_MAX_FLATTEN_DEPTH)
        return bc_errorf(k->err, "%s: value %s: nested too deeply", k->file, name);
    if (++k->nflattened > BC_PICKLE_MAX_FLATTENED)
        return bc_errorf(k->err, "%s: data.pkl: the state dict holds more than %u values "
                                 "(shared references?)", k->file, BC_PICKLE_MAX_FLATTENED);
    int64_t shape[1];
    char tmp[32];
    switch (v->kind) {
    case PK_NONE: return 0;
    case PK_TENSOR: {
        const pk_value *s = v->u.tensor.storage;
        const uint8_t *data = s->u.storage.data + v->u.tensor.offset * bc_dtype_size(s->u.storage.dtype);
        return bc_checkpoint_add_view(ck, name, n, s->u.storage.dtype, v->u.tensor.ndim,
                                      v->u.tensor.shape, data, k->file, k->err);
    }
    case PK_INT: return bc_checkpoint_add_copy_from(ck, name, BC_DTYPE_I64, 0, NULL, &v->u.i, k->file, k->err);
    case PK_BOOL: {
        uint8_t b = v->u.i != 0;
        return bc_checkpoint_add_copy_from(ck, name, BC_DTYPE_BOOL, 0, NULL, &b, k->file, k->err);
    }
    case PK_FLOAT: return bc_checkpoint_add_copy_from(ck, name, BC_DTYPE_F64, 0, NULL, &v->u.f, k->file, k->err);
    case PK_STR:
        shape[0] = (int64_t)v->u.str.n;
        return bc_checkpoint_add_copy_from(ck, name, BC_DTYPE_U8, 1, shape, v->u.str.s, k->file, k->err);
    case PK_DTYPE:
        shape[0] = (int64_t)strlen(v->u.dt.name);
        return bc_checkpoint_add_copy_from(ck, name, BC_DTYPE_U8, 1, shape, v->u.dt.name, k->file, k->err);
    case PK_SIZE: {
        int64_t dims[BC_MAX_DIMS];
        for (size_t i = 0; i < v->u.seq.n; i++) dims[i] = v->u.seq.v[i]->u.i;
        shape[0] = (int64_t)v->u.seq.n;
        return bc_checkpoint_add_copy_from(ck, name, BC_DTYPE_I64, 1, shape, dims, k->file, k->err);
    }
    case PK_LIST: case PK_TUPLE: case PK_DICT: {
        int dict = v->kind == PK_DICT;
        for (size_t i = 0; i < v->u.seq.n; i += dict ? 2 : 1) {
            const char *part = tmp;
            size_t pn;
            if (dict) {
                if (v->u.seq.v[i]->kind != PK_STR)
                    return bc_errorf(k->err, "%s: value %s: dict key is not a string", k->file, name);
                part = v->u.seq.v[i]->u.str.s;
                pn = v->u.seq.v[i]->u.str.n;
            } else {
                pn = format_index(tmp, i);
            }
            if (n + 1 + pn >= PK_MAX_NAME)
                return bc_errorf(k->err, "%s: value %s: name too long", k->file, name);
            name[n] = '.';
            memcpy(name + n + 1, part, pn);
            name[n + 1 + pn] = '\0';
            if (add_value(k, ck, name, n + 1 + pn, v->u.seq.v[i + dict], depth + 1)) return -1;
            name[n] = '\0';
        }
        return 0;
    }
    default:
        return bc_errorf(k->err, "%s: value %s: not a tensor or plain value", k->file, name);
    }
}

static int add_state_dict(pk *k, bc_checkpoint *ck, const pk_value *top) {
    if (top->kind != PK_DICT)
        return bc_errorf(k->err, "%s: data.pkl: the pickled object is not a dict (not a state "
                                 "dict)", k->file);
    if (top->u.seq.n / 2 > BC_MAX_TENSORS_PER_FILE)
        return bc_errorf(k->err, "%s: more than %d entries", k->file, BC_MAX_TENSORS_PER_FILE);
    char name[PK_MAX_NAME];
    for (size_t i = 0; i < top->u.seq.n; i += 2) {
        const pk_value *key = top->u.seq.v[i];
        if (key->kind != PK_STR || key->u.str.n == 0 || key->u.str.n >= PK_MAX_NAME)
            return bc_errorf(k->err, "%s: data.pkl: a state dict key is not a string (or is "
                                     "empty or too long)", k->file);
        memcpy(name, key->u.str.s, key->u.str.n);
        name[key->u.str.n] = '\0';
        if (add_value(k, ck, name, key->u.str.n, top->u.seq.v[i + 1], 0)) return -1;
    }
    return 0;
}

int bc_unpickle_state_dict(bc_checkpoint *ck, const uint8_t *pkl, uint64_t len,
                           bc_pickle_record_fn record, void *record_ctx, const char *file,
                           bc_error *err) {
    pk k = {.p = pkl, .len = len, .file = file, .err = err, .record = record,
            .record_ctx = record_ctx};
    k.none_value.kind = PK_NONE;
    int done = 0, rc = 0;
    while (!done && rc == 0) {
        if (k.pos >= k.len) {
            rc = fail(&k, "%s", "truncated: no STOP opcode");
            break;
        }
        rc = step(&k, &done);
    }
    if (rc == 0 && (k.nstack != 1 || k.nmarks))
        rc = fail(&k, "%s", "STOP with other than one object on the stack");
    if (rc == 0) rc = add_state_dict(&k, ck, k.stack[0]);
    for (size_t i = 0; i < k.nvalues; i++) {
        pk_kind kd = k.values[i]->kind;
        if (kd == PK_TUPLE || kd == PK_LIST || kd == PK_DICT || kd == PK_SIZE)
            free(k.values[i]->u.seq.v);
        free(k.values[i]);
    }
    free(k.values);
    free(k.stack);
    free(k.marks);
    free(k.memo);
    return rc;
}
