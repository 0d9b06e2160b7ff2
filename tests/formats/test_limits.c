/* formats suite, part 2: every named cap of the checkpoint readers
 * (checkpoint_internal.h, unpickler.h) is enforced at its exact value: an input
 * just over the cap is refused with the cap's own message, and one at the cap
 * is not refused for that reason. Inputs are built in memory from the constants,
 * so changing a cap keeps its test honest. The YAML/JSON config caps
 * (yaml_reader.h, model_config.h, app/config.h) are here too. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "bc_test.h"
#include "checkpoint.h"
#include "checkpoint_internal.h"
#include "config.h"
#include "model_config.h"
#include "unpickler.h"
#include "yaml_reader.h"

/* ---- a growable byte buffer ---------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap) b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void putf(buf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(b, tmp, (size_t)n);
}

static void put_le(buf *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        put(b, &c, 1);
    }
}

static void put_repeat(buf *b, const char *s, size_t times) {
    size_t n = strlen(s);
    for (size_t i = 0; i < times; i++) put(b, s, n);
}

/* ---- safetensors ----------------------------------------------------------- */

static int st_parse(const buf *json, bc_checkpoint **ck_out, bc_error *err) {
    buf f = {0};
    put_le(&f, json->n, 8);
    put(&f, json->p, json->n);
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    int rc = bc_safetensors_parse(ck, f.p, f.n, "caps.safetensors", err);
    if (ck_out && rc == 0) *ck_out = ck;
    else bc_checkpoint_close(ck);
    free(f.p);
    return rc;
}

/* n zero-size tensors (all at offset 0, which the coverage rule allows). */
static buf st_tensors(size_t n, size_t n_meta) {
    buf j = {0};
    putf(&j, "{");
    if (n_meta) {
        putf(&j, "\"__metadata__\":{");
        for (size_t i = 0; i < n_meta; i++) putf(&j, "%s\"m%zu\":\"v\"", i ? "," : "", i);
        putf(&j, "}%s", n ? "," : "");
    }
    for (size_t i = 0; i < n; i++)
        putf(&j, "%s\"t%zu\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
             i ? "," : "", i);
    putf(&j, "}");
    return j;
}

static void check_safetensors_caps(void) {
    bc_error err = {{0}};
    uint8_t hdr[8];
    uint64_t over = (uint64_t)BC_ST_MAX_HEADER_BYTES + 1;
    for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)(over >> (8 * i));
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    CHECK(bc_safetensors_parse(ck, hdr, 8, "caps.safetensors", &err) == -1 &&
              strstr(err.msg, "exceeds the 100 MB limit"),
          "header length BC_ST_MAX_HEADER_BYTES + 1 refused: %s", err.msg);
    uint64_t at = BC_ST_MAX_HEADER_BYTES;
    for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)(at >> (8 * i));
    CHECK(bc_safetensors_parse(ck, hdr, 8, "caps.safetensors", &err) == -1 &&
              !strstr(err.msg, "limit") && strstr(err.msg, "larger than the file"),
          "header length at the cap passes the cap check: %s", err.msg);
    bc_checkpoint_close(ck);

    buf j = st_tensors(BC_MAX_TENSORS_PER_FILE + 1, 0);
    CHECK(st_parse(&j, NULL, &err) == -1 && strstr(err.msg, "more than 65536 tensors"),
          "BC_MAX_TENSORS_PER_FILE + 1 tensors refused: %s", err.msg);
    free(j.p);
    j = st_tensors(BC_MAX_TENSORS_PER_FILE, 0);
    ck = NULL;
    int rc = st_parse(&j, &ck, &err);
    CHECK(rc == 0 && bc_checkpoint_count(ck) == BC_MAX_TENSORS_PER_FILE,
          "exactly BC_MAX_TENSORS_PER_FILE tensors accepted (%s)", rc ? err.msg : "ok");
    bc_checkpoint_close(ck);
    free(j.p);

    j = st_tensors(1, BC_ST_MAX_METADATA_ENTRIES + 1);
    CHECK(st_parse(&j, NULL, &err) == -1 &&
              strstr(err.msg, "__metadata__ has more than 65536 entries"),
          "BC_ST_MAX_METADATA_ENTRIES + 1 metadata entries refused: %s", err.msg);
    free(j.p);
    j = st_tensors(1, BC_ST_MAX_METADATA_ENTRIES);
    rc = st_parse(&j, NULL, &err);
    CHECK(rc == 0, "exactly BC_ST_MAX_METADATA_ENTRIES metadata entries accepted (%s)",
          rc ? err.msg : "ok");
    free(j.p);

    j = (buf){0};
    putf(&j, "{\"t\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,1]}}");
    CHECK(st_parse(&j, NULL, &err) == -1 && strstr(err.msg, "shape has more than 4 entries"),
          "BC_MAX_DIMS + 1 dimensions refused: %s", err.msg);
    free(j.p);
}

/* ---- torch zip -------------------------------------------------------------- */

/* An archive whose ZIP64 end records claim `count` entries in a central
 * directory of 46 * count bytes (zeros: the entry count is judged first). */
static void check_zip_caps(void) {
    bc_error err = {{0}};
    for (int over = 1; over >= 0; over--) {
        uint64_t count = (uint64_t)BC_ZIP_MAX_ENTRIES + (uint64_t)over;
        buf z = {0};
        uint64_t cd_size = 46 * count;
        uint8_t *zeros = calloc(1, (size_t)cd_size);
        put(&z, zeros, (size_t)cd_size);
        free(zeros);
        uint64_t eocd64 = z.n;
        put_le(&z, 0x06064b50u, 4);  /* ZIP64 end of central directory */
        put_le(&z, 44, 8);
        put_le(&z, 45, 2);
        put_le(&z, 45, 2);
        put_le(&z, 0, 4);            /* this disk */
        put_le(&z, 0, 4);            /* directory's disk */
        put_le(&z, count, 8);        /* entries on this disk */
        put_le(&z, count, 8);        /* entries */
        put_le(&z, cd_size, 8);
        put_le(&z, 0, 8);            /* directory offset */
        put_le(&z, 0x07064b50u, 4);  /* ZIP64 locator */
        put_le(&z, 0, 4);
        put_le(&z, eocd64, 8);
        put_le(&z, 1, 4);
        put_le(&z, 0x06054b50u, 4);  /* classic EOCD, saturated */
        put_le(&z, 0, 2);
        put_le(&z, 0, 2);
        put_le(&z, 0xFFFF, 2);
        put_le(&z, 0xFFFF, 2);
        put_le(&z, 0xFFFFFFFF, 4);
        put_le(&z, 0xFFFFFFFF, 4);
        put_le(&z, 0, 2);
        bc_checkpoint *ck = bc_checkpoint_new_memory();
        int rc = bc_torch_parse(ck, z.p, z.n, "caps.bin", &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "entries, more than the 262144 allowed"),
                  "BC_ZIP_MAX_ENTRIES + 1 zip entries refused: %s", err.msg);
        else
            CHECK(rc == -1 && !strstr(err.msg, "allowed") &&
                      strstr(err.msg, "bad central directory entry at 0"),
                  "BC_ZIP_MAX_ENTRIES entries pass the cap (then the zeros fail): %s",
                  err.msg);
        bc_checkpoint_close(ck);
        free(z.p);
    }
}

/* ---- *.index.json ----------------------------------------------------------- */

static void check_index_caps(void) {
    bc_error err = {{0}};
    size_t n = 0;
    /* zero pages, never touched: the size is judged before the bytes */
    uint8_t *big = calloc(1, (size_t)BC_INDEX_MAX_BYTES + 1);
    CHECK(big && bc_index_json_validate(big, (uint64_t)BC_INDEX_MAX_BYTES + 1, "caps.json", &n,
                                        &err) == -1 &&
              strstr(err.msg, "index file larger than 100000000 bytes"),
          "index of BC_INDEX_MAX_BYTES + 1 bytes refused: %s", err.msg);
    free(big);

    for (int over = 1; over >= 0; over--) {
        size_t count = (size_t)BC_INDEX_MAX_ENTRIES + (size_t)over;
        buf j = {0};
        putf(&j, "{\"weight_map\":{");
        for (size_t i = 0; i < count; i++) putf(&j, "%s\"t%zu\":\"f\"", i ? "," : "", i);
        putf(&j, "}}");
        int rc = bc_index_json_validate(j.p, j.n, "caps.json", &n, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "weight_map: more than 262144 tensors"),
                  "BC_INDEX_MAX_ENTRIES + 1 weight_map entries refused: %s", err.msg);
        else
            CHECK(rc == 0 && n == BC_INDEX_MAX_ENTRIES,
                  "exactly BC_INDEX_MAX_ENTRIES weight_map entries accepted (%s)",
                  rc ? err.msg : "ok");
        free(j.p);
    }

    for (int over = 1; over >= 0; over--) {
        int depth = BC_INDEX_MAX_DEPTH + over;
        buf j = {0};
        putf(&j, "{\"metadata\":");
        put_repeat(&j, "[", (size_t)depth);
        put_repeat(&j, "]", (size_t)depth);
        putf(&j, ",\"weight_map\":{\"a\":\"f\"}}");
        int rc = bc_index_json_validate(j.p, j.n, "caps.json", &n, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "JSON nested more than 32 levels deep"),
                  "a value nested BC_INDEX_MAX_DEPTH + 1 deep refused: %s", err.msg);
        else
            CHECK(rc == 0 && n == 1, "a value nested BC_INDEX_MAX_DEPTH deep accepted (%s)",
                  rc ? err.msg : "ok");
        free(j.p);
    }
}

/* ---- the unpickler ---------------------------------------------------------- */

static int no_record(void *ctx, const char *key, size_t key_len, const uint8_t **data,
                     uint64_t *size, bc_error *err) {
    (void)ctx, (void)data, (void)size;
    return bc_errorf(err, "caps.pkl: no record %.*s", (int)key_len, key);
}

static int unpickle(const buf *p, size_t *count, bc_error *err) {
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    int rc = bc_unpickle_state_dict(ck, p->p, p->n, no_record, NULL, "caps.pkl", err);
    if (count) *count = bc_checkpoint_count(ck);
    bc_checkpoint_close(ck);
    return rc;
}

static void put_unicode(buf *b, size_t n, char fill) {
    put(b, "X", 1);
    put_le(b, n, 4);
    for (size_t i = 0; i < n; i++) put(b, &fill, 1);
}

static void check_pickle_caps(void) {
    bc_error err = {{0}};
    size_t count = 0;
    for (int over = 1; over >= 0; over--) { /* stack: N pushes no object */
        buf p = {0};
        put(&p, "\x80\x02", 2);
        put_repeat(&p, "N", BC_PICKLE_MAX_STACK + (size_t)over);
        put(&p, ".", 1);
        int rc = unpickle(&p, NULL, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "stack too deep"),
                  "BC_PICKLE_MAX_STACK + 1 stack items refused: %s", err.msg);
        else
            CHECK(rc == -1 && strstr(err.msg, "STOP with other than one object"),
                  "BC_PICKLE_MAX_STACK stack items pass the cap: %s", err.msg);
        free(p.p);
    }
    for (int over = 1; over >= 0; over--) {
        buf p = {0};
        put_repeat(&p, "(", BC_PICKLE_MAX_MARKS + (size_t)over);
        put(&p, ".", 1);
        int rc = unpickle(&p, NULL, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "MARKs nested too deeply"),
                  "BC_PICKLE_MAX_MARKS + 1 MARKs refused: %s", err.msg);
        else
            CHECK(rc == -1 && strstr(err.msg, "STOP with other than one object"),
                  "BC_PICKLE_MAX_MARKS MARKs pass the cap: %s", err.msg);
        free(p.p);
    }
    for (int over = 1; over >= 0; over--) { /* LONG_BINPUT at the last index */
        buf p = {0};
        put(&p, "}r", 2);
        put_le(&p, BC_PICKLE_MAX_MEMO - 1 + (uint64_t)over, 4);
        put(&p, ".", 1);
        int rc = unpickle(&p, NULL, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "memo index too large"),
                  "memo index BC_PICKLE_MAX_MEMO refused: %s", err.msg);
        else
            CHECK(rc == 0, "memo index BC_PICKLE_MAX_MEMO - 1 accepted (%s)",
                  rc ? err.msg : "ok");
        free(p.p);
    }
    for (int over = 1; over >= 0; over--) {
        /* {} BUILT with the state {"k": [(), (), ...]}, which is ignored, so the
         * objects are never flattened: 2 dicts, a key and a list, then tuples */
        buf p = {0};
        put(&p, "}}", 2);
        put_unicode(&p, 1, 'k');
        put(&p, "]", 1);
        put_repeat(&p, ")a", BC_PICKLE_MAX_OBJECTS - 4 + (size_t)over);
        put(&p, "sb.", 3);
        int rc = unpickle(&p, NULL, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "too many objects"),
                  "BC_PICKLE_MAX_OBJECTS + 1 objects refused: %s", err.msg);
        else
            CHECK(rc == 0, "BC_PICKLE_MAX_OBJECTS objects accepted (%s)", rc ? err.msg : "ok");
        free(p.p);
    }
    for (int over = 1; over >= 0; over--) {
        buf p = {0};
        put(&p, "}", 1);
        put_unicode(&p, 1, 'k');
        put_unicode(&p, BC_PICKLE_MAX_STRING + (size_t)over, 's');
        put(&p, "s.", 2);
        int rc = unpickle(&p, &count, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "string of 1048577 bytes is longer than the "
                                              "1048576 allowed"),
                  "a string of BC_PICKLE_MAX_STRING + 1 bytes refused: %s", err.msg);
        else
            CHECK(rc == 0 && count == 1, "a string of BC_PICKLE_MAX_STRING bytes accepted (%s)",
                  rc ? err.msg : "ok");
        free(p.p);
    }
    for (int over = 1; over >= 0; over--) { /* {"k": [[...[5]...]]}, the int at depth N */
        size_t depth = BC_PICKLE_MAX_DEPTH + (size_t)over;
        buf p = {0};
        put(&p, "}", 1);
        put_unicode(&p, 1, 'k');
        put_repeat(&p, "]", depth);
        put(&p, "K\x05", 2);
        put_repeat(&p, "a", depth);
        put(&p, "s.", 2);
        int rc = unpickle(&p, &count, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "nested too deeply"),
                  "a value nested BC_PICKLE_MAX_DEPTH + 1 deep refused: %s", err.msg);
        else
            CHECK(rc == 0 && count == 1, "a value nested BC_PICKLE_MAX_DEPTH deep accepted (%s)",
                  rc ? err.msg : "ok");
        free(p.p);
    }
    for (int over = 1; over >= 0; over--) { /* {"k": [None, ...]}: the list + n values */
        buf p = {0};
        put(&p, "}", 1);
        put_unicode(&p, 1, 'k');
        put(&p, "]", 1);
        put_repeat(&p, "Na", BC_PICKLE_MAX_FLATTENED - 1 + (size_t)over);
        put(&p, "s.", 2);
        int rc = unpickle(&p, &count, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "holds more than 65536 values"),
                  "BC_PICKLE_MAX_FLATTENED + 1 values refused: %s", err.msg);
        else
            CHECK(rc == 0, "BC_PICKLE_MAX_FLATTENED values accepted (%s)", rc ? err.msg : "ok");
        free(p.p);
    }
    for (int over = 1; over >= 0; over--) { /* a key of BC_PICKLE_MAX_NAME - 1 bytes fits */
        buf p = {0};
        put(&p, "}", 1);
        put_unicode(&p, BC_PICKLE_MAX_NAME - 1 + (size_t)over, 'n');
        put(&p, "K\x05s.", 4);
        int rc = unpickle(&p, &count, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "too long"),
                  "a key of BC_PICKLE_MAX_NAME bytes refused: %s", err.msg);
        else
            CHECK(rc == 0 && count == 1, "a key of BC_PICKLE_MAX_NAME - 1 bytes accepted (%s)",
                  rc ? err.msg : "ok");
        free(p.p);
    }
}

/* ---- YAML / JSON configs ----------------------------------------------------- */

static void write_file(const char *path, const char *text, size_t pad_to) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    size_t n = strlen(text);
    fwrite(text, 1, n, f);
    for (; n < pad_to; n++) fputc(n % 80 == 79 ? '\n' : ' ', f);
    fclose(f);
}

static void check_yaml_caps(void) {
    bc_error err = {{0}};
    for (int over = 1; over >= 0; over--) { /* the root mapping is level 1 */
        size_t seqs = BC_YAML_MAX_DEPTH - 1 + (size_t)over;
        buf t = {0};
        putf(&t, "a: ");
        put_repeat(&t, "[", seqs);
        put_repeat(&t, "]", seqs);
        putf(&t, "\n");
        bc_yaml y;
        int rc = bc_yaml_load(&y, "caps.yaml", (const char *)t.p, t.n, false, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "nested more than 64 levels deep"),
                  "YAML nested BC_YAML_MAX_DEPTH + 1 deep refused: %s", err.msg);
        else
            CHECK(rc == 0, "YAML nested BC_YAML_MAX_DEPTH deep accepted (%s)",
                  rc ? err.msg : "ok");
        if (rc == 0) bc_yaml_free(&y);
        free(t.p);
    }

    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bc_limits_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(0, "temporary directory for the config size caps");
        return;
    }
    char cfg_path[600], app_path[600];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    snprintf(app_path, sizeof app_path, "%s/config.yaml", dir);
    static const char cfg_json[] =
        "{\"hidden_size\": 64, \"intermediate_size\": 160, \"num_hidden_layers\": 2,"
        " \"num_attention_heads\": 4, \"vocab_size\": 300, \"model_max_length\": 256,"
        " \"rms_norm_eps\": 1e-06}";
    for (int over = 1; over >= 0; over--) {
        write_file(cfg_path, cfg_json, BC_MODEL_CONFIG_MAX_BYTES + (size_t)over);
        bc_model_config cfg;
        bc_generation_config gen;
        int rc = bc_model_config_load(dir, &cfg, &gen, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "1048577 bytes, more than the 1048576 a config "
                                              "file may have"),
                  "config.json of BC_MODEL_CONFIG_MAX_BYTES + 1 bytes refused: %s", err.msg);
        else
            CHECK(rc == 0 && cfg.hidden_size == 64,
                  "config.json of BC_MODEL_CONFIG_MAX_BYTES bytes accepted (%s)",
                  rc ? err.msg : "ok");
    }
    for (int over = 1; over >= 0; over--) {
        write_file(app_path, "threads: 3\n", BC_APP_CONFIG_MAX_BYTES + (size_t)over);
        bc_app_config c;
        if (bc_app_config_defaults(&c) != 0) {
            CHECK(0, "app config defaults");
            break;
        }
        int rc = bc_app_config_apply_file(&c, app_path, false, &err);
        if (over)
            CHECK(rc == -1 && strstr(err.msg, "more than the 1048576 a config file may have"),
                  "config.yaml of BC_APP_CONFIG_MAX_BYTES + 1 bytes refused: %s", err.msg);
        else
            CHECK(rc == 0 && c.threads == 3,
                  "config.yaml of BC_APP_CONFIG_MAX_BYTES bytes accepted (%s)",
                  rc ? err.msg : "ok");
        bc_app_config_free(&c);
    }
    unlink(cfg_path);
    unlink(app_path);
    rmdir(dir);
}

int main(void) {
    check_yaml_caps();
    check_safetensors_caps();
    check_zip_caps();
    check_index_caps();
    check_pickle_caps();
    return bc_test_done();
}
