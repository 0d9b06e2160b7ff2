/* Fuzz harness: a sharded checkpoint's *.index.json (JSON via libyaml events,
 * weight_map names and shard file names). */
#include "checkpoint_internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_error err;
    size_t n = 0;
    bc_index_json_validate(data, size, "fuzz.index.json", &n, &err);
    return 0;
}
