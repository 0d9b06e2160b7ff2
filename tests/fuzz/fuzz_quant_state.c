/* Fuzz harness: the quant_state reader (inference/quant_ckpt.c) on a
 * checkpoint index built by the restricted unpickler from fuzzed bytes.
 *
 * Unlike the pickle harness, the storage records come from the input too, so
 * the fuzzer can reach the checks on their contents (code tables, absmax,
 * block sizes, the bitsandbytes JSON blob). Input layout, little-endian:
 *   u16 rows, u16 cols         the linear's shape (each taken mod 1024, +1)
 *   u32 pkl_len, pkl_len bytes a torch data.pkl
 *   then records until the end: u8 key_len, key, u32 len, len bytes
 * Each record gets its own heap block of exactly its size so ASan catches a
 * view past its end. make_quant_seeds.py turns the quant fixtures
 * (torch.save files) into this layout. Every module whose name a tensor key
 * suggests (P.weight..., P.SCB) is read at the shape from the header. */
#include <stdlib.h>
#include <string.h>

#include "checkpoint_internal.h"
#include "fuzz.h"
#include "quant.h"
#include "quant_ckpt.h"
#include "unpickler.h"

volatile float bc_fuzz_quant_sink;

enum { MAX_RECORDS = 64, MAX_MODULES = 8, MAX_DIM = 1024 };

typedef struct record {
    const char *key;  /* into the input */
    size_t key_len;
    uint8_t *data;    /* exact-size copy */
    uint64_t len;
} record;

typedef struct records {
    record r[MAX_RECORDS];
    size_t n;
} records;

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int find_record(void *ctx, const char *key, size_t key_len, const uint8_t **data,
                       uint64_t *size, bc_error *err) {
    records *rs = ctx;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i].key_len == key_len && !memcmp(rs->r[i].key, key, key_len)) {
            *data = rs->r[i].data;
            *size = rs->r[i].len;
            return 0;
        }
    return bc_errorf(err, "fuzz.pkl: no record %.*s", (int)(key_len > 20 ? 20 : key_len), key);
}

/* Splits the tail of the input into records; stops at the first short one. */
static void read_records(const uint8_t *p, size_t n, records *rs) {
    while (rs->n < MAX_RECORDS && n >= 1) {
        size_t kl = p[0];
        if (n < 1 + kl + 4) break;
        uint32_t len = le32(p + 1 + kl);
        if (n - 1 - kl - 4 < len) break;
        record *r = &rs->r[rs->n];
        r->key = (const char *)p + 1;
        r->key_len = kl;
        r->len = len;
        r->data = malloc(len ? len : 1);
        if (!r->data) break;
        memcpy(r->data, p + 1 + kl + 4, len);
        rs->n++;
        p += 1 + kl + 4 + len;
        n -= 1 + kl + 4 + len;
    }
}

/* "P" of a key "P.weight..." or "P.SCB"; 0 when the key names no linear. */
static size_t module_of(const char *name, size_t cap, char *out) {
    const char *w = strstr(name, ".weight");
    const char *s = strstr(name, ".SCB");
    const char *end = w ? w : s;
    if (!end || end == name || (size_t)(end - name) >= cap) return 0;
    memcpy(out, name, (size_t)(end - name));
    out[end - name] = 0;
    return (size_t)(end - name);
}

static void read_modules(const bc_checkpoint *ck, int64_t rows, int64_t cols) {
    char seen[MAX_MODULES][256];
    size_t n_seen = 0;
    (void)bc_quant_ckpt_format(ck);
    for (size_t i = 0; i < bc_checkpoint_count(ck) && n_seen < MAX_MODULES; i++) {
        char m[256];
        if (!module_of(bc_checkpoint_at(ck, i)->name, sizeof m, m)) continue;
        int dup = 0;
        for (size_t j = 0; j < n_seen; j++) dup |= !strcmp(seen[j], m);
        if (dup) continue;
        strcpy(seen[n_seen++], m);
        (void)bc_quant_ckpt_source_bytes(ck, m);
        bc_quant_tensor q;
        uint64_t bytes;
        bc_error err;
        if (bc_quant_ckpt_read(ck, m, rows, cols, &q, &bytes, &err) != 1) continue;
        /* Every byte of the owned copy is read by the dequantizer. */
        float *w = malloc((size_t)(rows * cols) * sizeof *w);
        if (w) {
            if (q.format == BC_QUANT_NF4) bc_dequantize_nf4(&q.nf4, w);
            else bc_dequantize_int8(&q.int8, w);
            bc_fuzz_quant_sink += w[0] + w[rows * cols - 1];
            free(w);
        }
        bc_quant_tensor_free(&q);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 8) return 0;
    int64_t rows = 1 + (int64_t)((data[0] | data[1] << 8) % MAX_DIM);
    int64_t cols = 1 + (int64_t)((data[2] | data[3] << 8) % MAX_DIM);
    uint32_t pkl_len = le32(data + 4);
    if (pkl_len > size - 8) return 0;
    records rs = {.n = 0};
    read_records(data + 8 + pkl_len, size - 8 - pkl_len, &rs);
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    bc_error err;
    if (ck && bc_unpickle_state_dict(ck, data + 8, pkl_len, find_record, &rs, "fuzz.pkl", &err) == 0)
        read_modules(ck, rows, cols);
    bc_checkpoint_close(ck);
    for (size_t i = 0; i < rs.n; i++) free(rs.r[i].data);
    return 0;
}
