/* The tensor index (name -> bc_tensor), its hash lookup, the in-memory builder,
 * file mapping, and the directory logic that picks single or sharded
 * safetensors / torch .bin files. The format parsers live in safetensors.c and
 * torch_zip.c; they feed this index through checkpoint_internal.h. */
#include "checkpoint_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "yaml_reader.h"

typedef struct bc_mapping {
    void *addr;
    size_t len;
} bc_mapping;

struct bc_checkpoint {
    bc_tensor *tensors;   /* count entries; names are owned (char *) */
    size_t count, cap;
    size_t *slots;        /* open-addressing hash: tensor index + 1, 0 = empty */
    size_t nslots;        /* power of two, always > 2 * count */
    bc_mapping *maps;
    size_t nmaps, capmaps;
    void **owned;         /* buffers owned by the index: copied data, strings */
    size_t nowned, capowned;
    uint64_t total_bytes;
};

static const struct {
    const char *name;
    size_t size;
} dtype_info[BC_DTYPE_COUNT] = {
    [BC_DTYPE_F32] = {"F32", 4},  [BC_DTYPE_F16] = {"F16", 2}, [BC_DTYPE_BF16] = {"BF16", 2},
    [BC_DTYPE_U8] = {"U8", 1},    [BC_DTYPE_I8] = {"I8", 1},   [BC_DTYPE_I32] = {"I32", 4},
    [BC_DTYPE_I64] = {"I64", 8},  [BC_DTYPE_F64] = {"F64", 8}, [BC_DTYPE_BOOL] = {"BOOL", 1},
};

size_t bc_dtype_size(bc_dtype dt) {
    return (unsigned)dt < BC_DTYPE_COUNT ? dtype_info[dt].size : 0;
}

const char *bc_dtype_name(bc_dtype dt) {
    return (unsigned)dt < BC_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

int64_t bc_tensor_numel(const bc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i]; /* validated when added */
    return n;
}

int bc_shape_nbytes(int ndim, const int64_t *shape, bc_dtype dt, uint64_t *nbytes) {
    if (ndim < 0 || ndim > BC_MAX_DIMS || (unsigned)dt >= BC_DTYPE_COUNT) return -1;
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || bc_mul_u64(n, (uint64_t)shape[i], &n)) return -1;
    }
    if (n > (uint64_t)INT64_MAX || bc_mul_u64(n, dtype_info[dt].size, &n)) return -1;
    *nbytes = n;
    return 0;
}

/* ---- owned memory and the hash ------------------------------------------ */

static int keep_owned(bc_checkpoint *ck, void *p) {
    if (ck->nowned == ck->capowned) {
        size_t cap = ck->capowned ? ck->capowned * 2 : 16;
        void **o = realloc(ck->owned, cap * sizeof *o);
        if (!o) return -1;
        ck->owned = o;
        ck->capowned = cap;
    }
    ck->owned[ck->nowned++] = p;
    return 0;
}

const char *bc_checkpoint_intern(bc_checkpoint *ck, const char *s) {
    char *c = strdup(s);
    if (!c || keep_owned(ck, c)) {
        free(c);
        return NULL;
    }
    return c;
}

static uint64_t hash_name(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    /* FNV's low bits -- the ones the mask keeps -- barely change between
     * names that differ in their last digits ("a.0.0.1", "a.0.0.2", ...):
     * linear probing then walked long runs. Fold the high bits down. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* Slot holding `name`, or the empty slot where it would go. */
static size_t find_slot(const bc_checkpoint *ck, const char *name, size_t n) {
    size_t mask = ck->nslots - 1, i = (size_t)hash_name(name, n) & mask;
    while (ck->slots[i]) {
        const char *other = ck->tensors[ck->slots[i] - 1].name;
        if (strlen(other) == n && memcmp(other, name, n) == 0) return i;
        i = (i + 1) & mask;
    }
    return i;
}

static int grow_hash(bc_checkpoint *ck) {
    size_t n = ck->nslots ? ck->nslots * 2 : 64;
    size_t *s = calloc(n, sizeof *s);
    if (!s) return -1;
    free(ck->slots);
    ck->slots = s;
    ck->nslots = n;
    for (size_t t = 0; t < ck->count; t++) {
        const char *nm = ck->tensors[t].name;
        ck->slots[find_slot(ck, nm, strlen(nm))] = t + 1;
    }
    return 0;
}

bc_checkpoint *bc_checkpoint_new_memory(void) {
    return calloc(1, sizeof(bc_checkpoint));
}

int bc_checkpoint_add_view(bc_checkpoint *ck, const char *name, size_t name_len,
                           bc_dtype dtype, int ndim, const int64_t *shape,
                           const void *data, const char *file, bc_error *err) {
    if (name_len == 0 || memchr(name, '\0', name_len))
        return bc_errorf(err, "%s: tensor name is empty or contains a NUL byte", file);
    if (ndim < 0 || ndim > BC_MAX_DIMS)
        return bc_errorf(err, "%s: tensor %.*s: %d dimensions (at most %d supported)", file,
                         (int)name_len, name, ndim, BC_MAX_DIMS);
    uint64_t nbytes;
    if (bc_shape_nbytes(ndim, shape, dtype, &nbytes))
        return bc_errorf(err, "%s: tensor %.*s: invalid shape or size overflow", file,
                         (int)name_len, name);
    if (2 * (ck->count + 1) >= ck->nslots && grow_hash(ck))
        return bc_errorf(err, "%s: out of memory", file);
    size_t slot = find_slot(ck, name, name_len);
    if (ck->slots[slot])
        return bc_errorf(err, "%s: tensor %.*s: duplicate name (already in %s)", file,
                         (int)name_len, name, ck->tensors[ck->slots[slot] - 1].file);
    if (ck->count == ck->cap) {
        size_t cap = ck->cap ? ck->cap * 2 : 64;
        bc_tensor *t = realloc(ck->tensors, cap * sizeof *t);
        if (!t) return bc_errorf(err, "%s: out of memory", file);
        ck->tensors = t;
        ck->cap = cap;
    }
    char *nm = malloc(name_len + 1);
    if (!nm) return bc_errorf(err, "%s: out of memory", file);
    memcpy(nm, name, name_len);
    nm[name_len] = '\0';
    bc_tensor *t = &ck->tensors[ck->count];
    memset(t, 0, sizeof *t);
    t->name = nm;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = nbytes;
    t->file = file;
    ck->slots[slot] = ++ck->count;
    ck->total_bytes += nbytes; /* cannot wrap: views lie inside mapped files */
    return 0;
}

int bc_checkpoint_add_copy_from(bc_checkpoint *ck, const char *name, bc_dtype dtype,
                                int ndim, const int64_t *shape, const void *data,
                                const char *file, bc_error *err) {
    uint64_t nbytes;
    if (ndim < 0 || ndim > BC_MAX_DIMS || bc_shape_nbytes(ndim, shape, dtype, &nbytes) ||
        nbytes > SIZE_MAX)
        return bc_errorf(err, "%s: tensor %s: invalid shape or size overflow", file, name);
    void *copy = malloc(nbytes ? (size_t)nbytes : 1);
    if (!copy) return bc_errorf(err, "%s: tensor %s: out of memory", file, name);
    if (nbytes) memcpy(copy, data, (size_t)nbytes);
    if (keep_owned(ck, copy)) {
        free(copy);
        return bc_errorf(err, "%s: out of memory", file);
    }
    return bc_checkpoint_add_view(ck, name, strlen(name), dtype, ndim, shape, copy, file, err);
}

int bc_checkpoint_add_copy(bc_checkpoint *ck, const char *name, bc_dtype dtype, int ndim,
                           const int64_t *shape, const void *data, bc_error *err) {
    return bc_checkpoint_add_copy_from(ck, name, dtype, ndim, shape, data, "memory", err);
}

size_t bc_checkpoint_count(const bc_checkpoint *ck) { return ck->count; }

const bc_tensor *bc_checkpoint_at(const bc_checkpoint *ck, size_t i) {
    return i < ck->count ? &ck->tensors[i] : NULL;
}

const bc_tensor *bc_checkpoint_find(const bc_checkpoint *ck, const char *name) {
    if (!ck->count) return NULL;
    size_t slot = find_slot(ck, name, strlen(name));
    return ck->slots[slot] ? &ck->tensors[ck->slots[slot] - 1] : NULL;
}

uint64_t bc_checkpoint_total_bytes(const bc_checkpoint *ck) { return ck->total_bytes; }

void bc_checkpoint_close(bc_checkpoint *ck) {
    if (!ck) return;
    for (size_t i = 0; i < ck->count; i++) free((char *)ck->tensors[i].name);
    for (size_t i = 0; i < ck->nmaps; i++) munmap(ck->maps[i].addr, ck->maps[i].len);
    for (size_t i = 0; i < ck->nowned; i++) free(ck->owned[i]);
    free(ck->tensors);
    free(ck->slots);
    free(ck->maps);
    free(ck->owned);
    free(ck);
}

uint64_t bc_checkpoint_release(const bc_checkpoint *ck, const bc_tensor *t) {
    if (!ck || !t || !t->data || t->nbytes == 0) return 0;
    uintptr_t lo = (uintptr_t)t->data, hi;
    if (__builtin_add_overflow(lo, (uintptr_t)t->nbytes, &hi)) return 0;
    for (size_t i = 0; i < ck->nmaps; i++) {
        uintptr_t base = (uintptr_t)ck->maps[i].addr, end = base + ck->maps[i].len;
        if (lo < base || hi > end) continue;
        long ps = sysconf(_SC_PAGESIZE);
        uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096u;
        uintptr_t first = (lo + page - 1) / page * page, last = hi / page * page;
        if (last <= first) return 0;
        if (madvise((void *)first, last - first, MADV_DONTNEED) != 0) return 0;
        return (uint64_t)(last - first);
    }
    return 0;
}

/* ---- files ---------------------------------------------------------------- */

int bc_checkpoint_map_file(bc_checkpoint *ck, const char *path, const uint8_t **data,
                           uint64_t *len, const char **label, bc_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return bc_errorf(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return bc_errorf(err, "%s: not a regular file", path);
    }
    if (st.st_size <= 0) {
        close(fd);
        return bc_errorf(err, "%s: file is empty", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return bc_errorf(err, "%s: file too large to map", path);
    }
    if (ck->nmaps == ck->capmaps) {
        size_t cap = ck->capmaps ? ck->capmaps * 2 : 8;
        bc_mapping *m = realloc(ck->maps, cap * sizeof *m);
        if (!m) {
            close(fd);
            return bc_errorf(err, "%s: out of memory", path);
        }
        ck->maps = m;
        ck->capmaps = cap;
    }
    void *addr = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    if (addr == MAP_FAILED) return bc_errorf(err, "%s: mmap failed: %s", path, strerror(saved));
    ck->maps[ck->nmaps++] = (bc_mapping){addr, (size_t)st.st_size};
    *label = bc_checkpoint_intern(ck, path);
    if (!*label) return bc_errorf(err, "%s: out of memory", path);
    *data = addr;
    *len = (uint64_t)st.st_size;
    return 0;
}

/* Loads one weight file into ck, choosing the parser by its first bytes. */
static int load_file(bc_checkpoint *ck, const char *path, bc_error *err) {
    const uint8_t *buf;
    uint64_t len;
    const char *label;
    if (bc_checkpoint_map_file(ck, path, &buf, &len, &label, err)) return -1;
    if (len >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0)
        return bc_torch_parse(ck, buf, len, label, err);
    if (buf[0] == 0x80)
        return bc_errorf(err, "%s: legacy (pre-1.6, non-zip) torch.save format is not "
                              "supported; re-save it with a current torch", label);
    return bc_safetensors_parse(ck, buf, len, label, err);
}

int bc_checkpoint_open_file(const char *path, bc_checkpoint **out, bc_error *err) {
    *out = NULL;
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    if (!ck) return bc_errorf(err, "%s: out of memory", path);
    if (load_file(ck, path, err)) {
        bc_checkpoint_close(ck);
        return -1;
    }
    *out = ck;
    return 0;
}

/* ---- sharded checkpoints: *.index.json ------------------------------------ */

typedef struct shard_entry {
    char *name; /* tensor name */
    char *file; /* its shard file (plain basename) */
} shard_entry;

typedef struct shard_map {
    shard_entry *e; /* sorted by name once parsed */
    size_t count, cap;
} shard_map;

static void shard_map_free(shard_map *m) {
    for (size_t i = 0; i < m->count; i++) {
        free(m->e[i].name);
        free(m->e[i].file);
    }
    free(m->e);
}

static int shard_map_add(shard_map *m, const char *name, const char *file) {
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        shard_entry *e = realloc(m->e, cap * sizeof *e);
        if (!e) return -1;
        m->e = e;
        m->cap = cap;
    }
    shard_entry *e = &m->e[m->count];
    e->name = strdup(name);
    e->file = strdup(file);
    if (!e->name || !e->file) {
        free(e->name);
        free(e->file);
        return -1;
    }
    m->count++;
    return 0;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const shard_entry *)a)->name, ((const shard_entry *)b)->name);
}

static const shard_entry *shard_map_find(const shard_map *m, const char *name) {
    shard_entry key = {(char *)name, NULL};
    return bsearch(&key, m->e, m->count, sizeof key, cmp_entry);
}

/* A shard name must be a plain file name in the same directory: never a path
 * (formats-and-safety §1a, "never use names as paths"). */
static int plain_basename(const char *s, size_t n) {
    if (n == 0 || n > 255 || memchr(s, '\0', n)) return 0;
    if (memchr(s, '/', n) || memchr(s, '\\', n)) return 0;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    return 1;
}

static int is_json_string(const yaml_event_t *ev) {
    return ev->type == YAML_SCALAR_EVENT && !ev->data.scalar.tag &&
           ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
}

/* Reads the next event; refuses YAML-only features (aliases, anchors, tags). */
static int next_event(yaml_parser_t *p, yaml_event_t *ev, const char *file, bc_error *err) {
    if (!yaml_parser_parse(p, ev))
        return bc_errorf(err, "%s: JSON syntax error at line %zu: %s", file,
                         p->problem_mark.line + 1, p->problem ? p->problem : "?");
    if (!bc_json_event_is_plain(ev)) {
        yaml_event_delete(ev);
        return bc_errorf(err, "%s: not JSON (YAML alias, anchor or tag)", file);
    }
    return 0;
}

/* Skips one value whose first event is `ev` (already consumed and deleted). */
static int skip_value(yaml_parser_t *p, yaml_event_type_t first, const char *file,
                      bc_error *err) {
    if (first != YAML_MAPPING_START_EVENT && first != YAML_SEQUENCE_START_EVENT) return 0;
    int depth = 1;
    while (depth > 0) {
        yaml_event_t ev;
        if (next_event(p, &ev, file, err)) return -1;
        if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT) depth++;
        if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) depth--;
        int end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (end) return bc_errorf(err, "%s: unterminated JSON value", file);
        if (depth > BC_INDEX_MAX_DEPTH) return bc_errorf(err, "%s: JSON nested more than %d levels deep", file,
                             BC_INDEX_MAX_DEPTH);
    }
    return 0;
}

static int parse_weight_map(yaml_parser_t *p, shard_map *m, const char *file, bc_error *err) {
    yaml_event_t ev;
    if (next_event(p, &ev, file, err)) return -1;
    int ok = ev.type == YAML_MAPPING_START_EVENT;
    yaml_event_delete(&ev);
    if (!ok) return bc_errorf(err, "%s: weight_map is not an object", file);
    for (;;) {
        yaml_event_t k, v;
        if (next_event(p, &k, file, err)) return -1;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            return 0;
        }
        if (!is_json_string(&k)) {
            yaml_event_delete(&k);
            return bc_errorf(err, "%s: weight_map key is not a string", file);
        }
        if (next_event(p, &v, file, err)) {
            yaml_event_delete(&k);
            return -1;
        }
        const char *name = (const char *)k.data.scalar.value;
        int rc = 0;
        if (!is_json_string(&v)) {
            rc = bc_errorf(err, "%s: weight_map: tensor %s: shard is not a string", file, name);
        } else if (!plain_basename((const char *)v.data.scalar.value, v.data.scalar.length)) {
            rc = bc_errorf(err, "%s: weight_map: tensor %s: shard file name \"%s\" is not a "
                                "plain file name in the model directory", file, name,
                           (const char *)v.data.scalar.value);
        } else if (strlen(name) != k.data.scalar.length) {
            rc = bc_errorf(err, "%s: weight_map: tensor name contains a NUL byte", file);
        } else if (m->count >= BC_INDEX_MAX_ENTRIES) {
            rc = bc_errorf(err, "%s: weight_map: more than %d tensors", file,
                           BC_INDEX_MAX_ENTRIES);
        } else if (shard_map_add(m, name, (const char *)v.data.scalar.value)) {
            rc = bc_errorf(err, "%s: out of memory", file);
        }
        yaml_event_delete(&k);
        yaml_event_delete(&v);
        if (rc) return rc;
    }
}

static int parse_index_json(const uint8_t *buf, uint64_t len, shard_map *m, const char *file,
                            bc_error *err) {
    if (len > BC_INDEX_MAX_BYTES)
        return bc_errorf(err, "%s: index file larger than %d bytes", file, BC_INDEX_MAX_BYTES);
    if (memchr(buf, '\0', (size_t)len)) return bc_errorf(err, "%s: NUL byte in JSON", file);
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return bc_errorf(err, "%s: out of memory", file);
    yaml_parser_set_input_string(&p, buf, (size_t)len);
    int rc = -1, have_map = 0;
    yaml_event_t ev;
    /* stream start, document start, then the top-level object */
    for (int i = 0; i < 3; i++) {
        if (next_event(&p, &ev, file, err)) goto done;
        yaml_event_type_t t = ev.type;
        yaml_event_delete(&ev);
        if ((i == 2 && t != YAML_MAPPING_START_EVENT) ||
            (i == 1 && t != YAML_DOCUMENT_START_EVENT)) {
            bc_errorf(err, "%s: top level is not a JSON object", file);
            goto done;
        }
    }
    for (;;) {
        if (next_event(&p, &ev, file, err)) goto done;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (!is_json_string(&ev)) {
            yaml_event_delete(&ev);
            bc_errorf(err, "%s: object key is not a string", file);
            goto done;
        }
        int is_wm = strcmp((const char *)ev.data.scalar.value, "weight_map") == 0;
        yaml_event_delete(&ev);
        if (is_wm) {
            if (have_map) {
                bc_errorf(err, "%s: duplicate key weight_map", file);
                goto done;
            }
            have_map = 1;
            if (parse_weight_map(&p, m, file, err)) goto done;
        } else {
            if (next_event(&p, &ev, file, err)) goto done;
            yaml_event_type_t t = ev.type;
            yaml_event_delete(&ev);
            if (skip_value(&p, t, file, err)) goto done;
        }
    }
    if (next_event(&p, &ev, file, err)) goto done;
    yaml_event_type_t t = ev.type;
    yaml_event_delete(&ev);
    if (t != YAML_DOCUMENT_END_EVENT) {
        bc_errorf(err, "%s: trailing data after the JSON object", file);
        goto done;
    }
    if (!have_map || m->count == 0) {
        bc_errorf(err, "%s: no weight_map (or it is empty)", file);
        goto done;
    }
    rc = 0;
done:
    yaml_parser_delete(&p);
    return rc;
}

/* Parses the index and checks that no tensor is listed twice; m sorted by name. */
static int read_index(const uint8_t *buf, uint64_t len, shard_map *m, const char *file,
                      bc_error *err) {
    if (parse_index_json(buf, len, m, file, err)) return -1;
    qsort(m->e, m->count, sizeof *m->e, cmp_entry);
    for (size_t i = 1; i < m->count; i++) {
        if (strcmp(m->e[i - 1].name, m->e[i].name) == 0)
            return bc_errorf(err, "%s: weight_map: tensor %s listed twice", file, m->e[i].name);
    }
    return 0;
}

int bc_index_json_validate(const uint8_t *buf, uint64_t len, const char *file,
                           size_t *n_entries, bc_error *err) {
    shard_map m = {0};
    int rc = read_index(buf, len, &m, file, err);
    *n_entries = rc ? 0 : m.count;
    shard_map_free(&m);
    return rc;
}

static char *join_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    s[a] = '/';
    memcpy(s + a + 1, name, b + 1);
    return s;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every shard the map names, then checks the map against what loaded:
 * each named tensor must come from the shard the map says, and a shard must
 * not hold tensors the map does not list. */
static int load_sharded(bc_checkpoint *ck, const char *dir, const char *index_name,
                        bc_error *err) {
    char *index_path = join_path(dir, index_name);
    if (!index_path) return bc_errorf(err, "out of memory");
    shard_map m = {0};
    char **files = NULL;
    int rc = -1;
    const uint8_t *buf;
    uint64_t len;
    const char *label;
    if (bc_checkpoint_map_file(ck, index_path, &buf, &len, &label, err)) goto done;
    if (read_index(buf, len, &m, label, err)) goto done;
    /* unique shard files, sorted */
    files = malloc(m.count * sizeof *files);
    if (!files) {
        bc_errorf(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m.count; i++) files[i] = m.e[i].file;
    qsort(files, m.count, sizeof *files, cmp_str);
    size_t nfiles = 0;
    for (size_t i = 0; i < m.count; i++)
        if (nfiles == 0 || strcmp(files[nfiles - 1], files[i]) != 0) files[nfiles++] = files[i];
    for (size_t i = 0; i < nfiles; i++) {
        char *path = join_path(dir, files[i]);
        if (!path) {
            bc_errorf(err, "out of memory");
            goto done;
        }
        size_t before = ck->count;
        int lrc = load_file(ck, path, err);
        free(path);
        if (lrc) goto done;
        for (size_t t = before; t < ck->count; t++) {
            const bc_tensor *tt = &ck->tensors[t];
            const shard_entry *e = shard_map_find(&m, tt->name);
            if (!e) {
                bc_errorf(err, "%s: tensor %s is not listed in %s", tt->file, tt->name, label);
                goto done;
            }
            if (strcmp(e->file, files[i]) != 0) {
                bc_errorf(err, "%s: tensor %s: %s says it is in %s", tt->file, tt->name, label,
                          e->file);
                goto done;
            }
        }
    }
    for (size_t j = 0; j < m.count; j++) {
        if (!bc_checkpoint_find(ck, m.e[j].name)) {
            bc_errorf(err, "%s: tensor %s: not found in %s/%s", label, m.e[j].name, dir,
                      m.e[j].file);
            goto done;
        }
    }
    rc = 0;
done:
    free(files);
    shard_map_free(&m);
    free(index_path);
    return rc;
}

static int file_exists(const char *dir, const char *name) {
    char *p = join_path(dir, name);
    if (!p) return 0;
    struct stat st;
    int ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

int bc_checkpoint_open_dir(const char *dir, bc_checkpoint **out, bc_error *err) {
    *out = NULL;
    /* Same preference order as transformers: safetensors before pickle,
     * a single file before an index. */
    static const struct {
        const char *name;
        int sharded;
    } candidates[] = {
        {"model.safetensors", 0},
        {"model.safetensors.index.json", 1},
        {"pytorch_model.bin", 0},
        {"pytorch_model.bin.index.json", 1},
    };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (!file_exists(dir, candidates[i].name)) continue;
        bc_checkpoint *ck = bc_checkpoint_new_memory();
        if (!ck) return bc_errorf(err, "%s: out of memory", dir);
        int rc;
        if (candidates[i].sharded) {
            rc = load_sharded(ck, dir, candidates[i].name, err);
        } else {
            char *path = join_path(dir, candidates[i].name);
            rc = path ? load_file(ck, path, err) : bc_errorf(err, "out of memory");
            free(path);
        }
        if (rc) {
            bc_checkpoint_close(ck);
            return -1;
        }
        *out = ck;
        return 0;
    }
    return bc_errorf(err, "%s: no model.safetensors, model.safetensors.index.json, "
                          "pytorch_model.bin or pytorch_model.bin.index.json", dir);
}
