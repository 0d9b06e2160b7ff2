/* formats suite: the checkpoint readers against files written by the real
 * producers (torch.save, safetensors.save_file) via tests/formats/make_fixtures.py.
 *
 * - every good fixture loads with exactly the names/dtypes/shapes/bytes that
 *   torch reported (tests/data/formats/expected.txt);
 * - every hostile fixture is refused with its specific message;
 * - every good file cut short at each offset is refused cleanly, and single
 *   byte corruptions never crash (run under ASan/UBSan to see that). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_test.h"
#include "checkpoint.h"
#include "checkpoint_internal.h"

static char data_dir[4096];

static uint64_t fnv1a64(const void *p, uint64_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static double element(const bc_tensor *t, int64_t i) {
    const unsigned char *p = (const unsigned char *)t->data + (size_t)i * bc_dtype_size(t->dtype);
    switch (t->dtype) {
    case BC_DTYPE_F32: { float f; memcpy(&f, p, 4); return f; }
    case BC_DTYPE_F64: { double d; memcpy(&d, p, 8); return d; }
    case BC_DTYPE_BF16: {
        uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16;
        float f; memcpy(&f, &u, 4); return f;
    }
    case BC_DTYPE_F16: {
        unsigned h = p[0] | p[1] << 8, e = (h >> 10) & 31, m = h & 1023;
        double v = e == 0 ? ldexp(m, -24) : ldexp(m + 1024, (int)e - 25);
        return (h & 0x8000) ? -v : v; /* no inf/nan in the fixtures */
    }
    case BC_DTYPE_U8: return p[0];
    case BC_DTYPE_I8: return (int8_t)p[0];
    case BC_DTYPE_BOOL: return p[0];
    case BC_DTYPE_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case BC_DTYPE_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    default: return NAN;
    }
}

static int read_file(const char *path, unsigned char **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(*buf, 1, (size_t)n, f);
    fclose(f);
    return *len == (size_t)n ? 0 : -1;
}

/* ---- good fixtures against expected.txt ---------------------------------- */

typedef struct expected {
    char case_name[64], name[256], dtype[16];
    int ndim;
    int64_t shape[BC_MAX_DIMS];
    uint64_t hash;
    double first, last;
} expected;

static expected *load_expected(size_t *n) {
    char path[4200];
    snprintf(path, sizeof path, "%s/expected.txt", data_dir);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    expected *ex = NULL;
    size_t cap = 0;
    *n = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            ex = realloc(ex, cap * sizeof *ex);
        }
        expected *e = &ex[*n];
        memset(e, 0, sizeof *e);
        char *tok = strtok(line, " \n");
        snprintf(e->case_name, sizeof e->case_name, "%s", tok);
        snprintf(e->name, sizeof e->name, "%s", strtok(NULL, " \n"));
        snprintf(e->dtype, sizeof e->dtype, "%s", strtok(NULL, " \n"));
        e->ndim = atoi(strtok(NULL, " \n"));
        for (int i = 0; i < e->ndim && i < BC_MAX_DIMS; i++)
            e->shape[i] = strtoll(strtok(NULL, " \n"), NULL, 10);
        e->hash = strtoull(strtok(NULL, " \n"), NULL, 16);
        e->first = strtod(strtok(NULL, " \n"), NULL);
        e->last = strtod(strtok(NULL, " \n"), NULL);
        (*n)++;
    }
    fclose(f);
    return ex;
}

static void check_case(const char *case_name, const expected *ex, size_t nex) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", data_dir, case_name);
    bc_checkpoint *ck = NULL;
    bc_error err = {{0}};
    int rc = bc_checkpoint_open_dir(dir, &ck, &err);
    CHECK(rc == 0, "%s opens (%s)", case_name, err.msg);
    if (rc) return;
    size_t want = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < nex; i++) {
        if (strcmp(ex[i].case_name, case_name) != 0) continue;
        want++;
        const expected *e = &ex[i];
        const bc_tensor *t = bc_checkpoint_find(ck, e->name);
        CHECK(t != NULL, "%s: %s present", case_name, e->name);
        if (!t) continue;
        int shape_ok = t->ndim == e->ndim;
        for (int d = 0; shape_ok && d < e->ndim; d++) shape_ok = t->shape[d] == e->shape[d];
        int64_t numel = bc_tensor_numel(t);
        int values_ok = numel == 0 || (element(t, 0) == e->first && element(t, numel - 1) == e->last);
        bytes += t->nbytes;
        CHECK(strcmp(bc_dtype_name(t->dtype), e->dtype) == 0 && shape_ok &&
                  t->nbytes == (uint64_t)numel * bc_dtype_size(t->dtype) &&
                  fnv1a64(t->data, t->nbytes) == e->hash && values_ok,
              "%s: %s is %s ndim %d, bytes hash and first/last values match torch", case_name,
              e->name, e->dtype, e->ndim);
    }
    CHECK(bc_checkpoint_count(ck) == want, "%s: exactly %zu tensors (got %zu)", case_name, want,
          bc_checkpoint_count(ck));
    CHECK(bc_checkpoint_total_bytes(ck) == bytes, "%s: total bytes %llu", case_name,
          (unsigned long long)bytes);
    bc_checkpoint_close(ck);
}

static void check_good(void) {
    size_t nex = 0;
    expected *ex = load_expected(&nex);
    CHECK(ex && nex > 0, "expected.txt read (%zu tensors)", nex);
    if (!ex) return;
    /* every distinct case, in file order */
    for (size_t i = 0; i < nex; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = !strcmp(ex[j].case_name, ex[i].case_name);
        if (!seen) check_case(ex[i].case_name, ex, nex);
    }
    free(ex);
}

/* ---- hostile fixtures ------------------------------------------------------ */

typedef struct hostile {
    const char *path; /* relative to data_dir; a directory when is_dir */
    int is_dir;
    const char *message; /* distinctive substring of the error */
} hostile;

static const hostile hostiles[] = {
    {"hostile_st/overlap.safetensors", 0, "overlaps the previous tensor"},
    {"hostile_st/out_of_range.safetensors", 0, "past the end of the data"},
    {"hostile_st/header_too_big.safetensors", 0, "is larger than the file"},
    {"hostile_st/header_cap.safetensors", 0, "exceeds the 100 MB limit"},
    {"hostile_st/shape_overflow.safetensors", 0, "shape product overflows 64 bits"},
    {"hostile_st/duplicate_name.safetensors", 0, "duplicate name in header"},
    {"hostile_st/trailing.safetensors", 0, "16 bytes after the last tensor"},
    {"hostile_st/unknown_dtype.safetensors", 0, "unknown dtype \"Q7\""},
    {"hostile_st/metadata_not_string.safetensors", 0, "__metadata__ must map strings to strings"},
    {"hostile_st/not_object.safetensors", 0, "header does not start with '{'"},
    {"hostile_st/yaml_anchor.safetensors", 0, "YAML alias, anchor or tag"},
    {"hostile_idx/dotdot", 1, "\"../model-00001-of-00002.safetensors\" is not a plain file name"},
    {"hostile_idx/absolute", 1, "\"/etc/passwd\" is not a plain file name"},
    {"hostile_idx/wrong_shard", 1, "says it is in model-00002-of-00002.safetensors"},
    {"hostile_idx/missing_tensor", 1, "tensor a.not.there: not found in"},
    {"hostile_idx/unlisted", 1, "is not listed in"},
    {"hostile_idx/missing_shard", 1, "model-00002-of-00002.safetensors: cannot open"},
    {"hostile_idx/duplicate_across_shards", 1, "duplicate name (already in"},
    {"hostile_bin/truncated.bin", 0, "no zip end-of-central-directory record"},
    {"hostile_bin/deflated.bin", 0, "archive/data/0 is compressed (method 8)"},
    {"hostile_bin/os_system.bin", 0, "refused global posix.system"},
    {"hostile_bin/eval.bin", 0, "refused global __builtin__.eval"},
    {"hostile_bin/unknown_global.bin", 0, "refused global collections.Counter"},
    {"hostile_bin/stack_underflow.bin", 0, "stack underflow"},
    {"hostile_bin/deep_nesting.bin", 0, "MARKs nested too deeply"},
    {"hostile_bin/unterminated.bin", 0, "truncated: no STOP opcode"},
    {"hostile_bin/huge_memo.bin", 0, "memo index too large"},
    {"hostile_bin/storage_numel.bin", 0, "numel 10000 of FloatStorage needs more than its 80-byte record"},
    {"hostile_bin/offset_past_end.bin", 0, "offset 1000 + 20 elements is past the end of its 20-element storage"},
    {"hostile_bin/noncontig.bin", 0, "tensor is not contiguous"},
    {"hostile_bin/legacy.bin", 0, "legacy (pre-1.6, non-zip) torch.save format"},
    {"hostile_bin/byteorder_big.bin", 0, "byteorder record is not \"little\""},
    {"hostile_bin/missing_record.bin", 0, "storage record archive/data/1 not in the archive"},
    {"hostile_bin/not_dict.bin", 0, "the pickled object is not a dict"},
};

static void check_hostile(void) {
    for (size_t i = 0; i < sizeof hostiles / sizeof hostiles[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", data_dir, hostiles[i].path);
        bc_checkpoint *ck = NULL;
        bc_error err = {{0}};
        int rc = hostiles[i].is_dir ? bc_checkpoint_open_dir(path, &ck, &err)
                                    : bc_checkpoint_open_file(path, &ck, &err);
        CHECK(rc == -1 && ck == NULL && strstr(err.msg, hostiles[i].message) != NULL,
              "%s refused: %s", hostiles[i].path, err.msg);
        if (rc == 0) bc_checkpoint_close(ck);
    }
}

/* ---- truncation and corruption of good files ------------------------------ */

typedef int (*parse_fn)(bc_checkpoint *, const uint8_t *, uint64_t, const char *, bc_error *);

static void check_damage(const char *rel, parse_fn parse) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", data_dir, rel);
    unsigned char *buf;
    size_t len;
    if (read_file(path, &buf, &len)) {
        CHECK(0, "read %s", rel);
        return;
    }
    bc_error err;
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    CHECK(parse(ck, buf, len, rel, &err) == 0, "%s parses from memory", rel);
    bc_checkpoint_close(ck);
    /* every prefix: an exact-size heap copy, so ASan sees any over-read */
    size_t bad = 0, unnamed = 0;
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        ck = bc_checkpoint_new_memory();
        err.msg[0] = '\0';
        if (parse(ck, copy, cut, rel, &err) == 0) bad++;
        else if (!strstr(err.msg, rel)) unnamed++;
        bc_checkpoint_close(ck);
        free(copy);
    }
    CHECK(bad == 0 && unnamed == 0, "%s: all %zu truncations refused, each naming the file "
          "(%zu accepted, %zu unnamed)", rel, len, bad, unnamed);
    /* every single-byte corruption: must not crash; if accepted, stays in bounds */
    size_t accepted = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, buf, len);
        copy[i] ^= 0x5a;
        ck = bc_checkpoint_new_memory();
        if (parse(ck, copy, len, rel, &err) == 0) {
            accepted++;
            for (size_t t = 0; t < bc_checkpoint_count(ck); t++) {
                const bc_tensor *tt = bc_checkpoint_at(ck, t);
                fnv1a64(tt->data, tt->nbytes); /* touches every byte: ASan checks range */
            }
        }
        bc_checkpoint_close(ck);
        free(copy);
    }
    CHECK(1, "%s: %zu single-byte corruptions survived without a crash (%zu accepted)", rel,
          len, accepted);
    free(buf);
}

/* ---- the in-memory index --------------------------------------------------- */

static void check_memory_index(void) {
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    bc_error err;
    char name[64];
    int ok = 1;
    for (int i = 0; i < 500 && ok; i++) {
        float v[3] = {(float)i, (float)i + 0.5f, -1};
        int64_t shape[1] = {3};
        snprintf(name, sizeof name, "layer.%d.weight", i);
        ok = bc_checkpoint_add_copy(ck, name, BC_DTYPE_F32, 1, shape, v, &err) == 0;
    }
    CHECK(ok && bc_checkpoint_count(ck) == 500, "500 tensors added to a memory index");
    const bc_tensor *t = bc_checkpoint_find(ck, "layer.321.weight");
    CHECK(t && ((const float *)t->data)[1] == 321.5f && !strcmp(t->file, "memory"),
          "find returns the copied data");
    CHECK(bc_checkpoint_find(ck, "layer.500.weight") == NULL, "find of a missing name is NULL");
    float v[3] = {0};
    int64_t shape[1] = {3};
    CHECK(bc_checkpoint_add_copy(ck, "layer.7.weight", BC_DTYPE_F32, 1, shape, v, &err) == -1 &&
              strstr(err.msg, "duplicate name"), "duplicate name refused: %s", err.msg);
    int64_t neg[1] = {-1};
    CHECK(bc_checkpoint_add_copy(ck, "neg", BC_DTYPE_F32, 1, neg, v, &err) == -1,
          "negative dimension refused: %s", err.msg);
    CHECK(bc_checkpoint_total_bytes(ck) == 500 * 12, "total bytes counts every tensor");
    bc_checkpoint_close(ck);
    bc_checkpoint *none = NULL;
    CHECK(bc_checkpoint_open_dir(data_dir, &none, &err) == -1 && strstr(err.msg, "no model."),
          "a directory without weights is refused: %s", err.msg);
}

int main(void) {
    const char *src = getenv("BC_SOURCE_DIR");
    if (!src) BC_SKIP("BC_SOURCE_DIR not set");
    snprintf(data_dir, sizeof data_dir, "%s/tests/data/formats", src);
    check_memory_index();
    check_good();
    check_hostile();
    check_damage("st_single/model.safetensors", bc_safetensors_parse);
    check_damage("st_sharded/model-00002-of-00002.safetensors", bc_safetensors_parse);
    check_damage("bin_single/pytorch_model.bin", bc_torch_parse);
    check_damage("bin_zipfile/pytorch_model.bin", bc_torch_parse);
    check_damage("bin_quant/pytorch_model.bin", bc_torch_parse);
    return bc_test_done();
}
