/* Fuzz harness: the restricted unpickler on a raw data.pkl stream.
 *
 * Storage records come from a fake archive so the fuzzer need not build a zip:
 * key "0".."9" names a record of 1024 + digit bytes (every torch fixture's
 * storages fit) in its own heap block of exactly that size, so ASan catches a
 * tensor view that runs past its record; any other key is a missing record. */
#include <stdlib.h>

#include "checkpoint_internal.h"
#include "fuzz.h"
#include "unpickler.h"

volatile unsigned bc_fuzz_sink;

static uint8_t *records[10];

static int fake_record(void *ctx, const char *key, size_t key_len, const uint8_t **data,
                       uint64_t *size, bc_error *err) {
    (void)ctx;
    if (key_len != 1 || key[0] < '0' || key[0] > '9')
        return bc_errorf(err, "fuzz.pkl: no record %.*s", (int)(key_len > 20 ? 20 : key_len), key);
    int d = key[0] - '0';
    *size = 1024 + (uint64_t)d;
    if (!records[d]) {
        records[d] = malloc((size_t)*size); /* kept for the whole run (still reachable) */
        if (!records[d]) return bc_errorf(err, "fuzz.pkl: out of memory");
        for (uint64_t i = 0; i < *size; i++) records[d][i] = (uint8_t)(i * 7 + d);
    }
    *data = records[d];
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    bc_error err;
    if (!ck) return 0;
    if (bc_unpickle_state_dict(ck, data, size, fake_record, NULL, "fuzz.pkl", &err) == 0)
        bc_fuzz_sink += bc_fuzz_touch_tensors(ck);
    bc_checkpoint_close(ck);
    return 0;
}
