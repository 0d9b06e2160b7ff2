/* Fuzz harness: a whole .safetensors file (header JSON and layout checks). */
#include "checkpoint_internal.h"
#include "fuzz.h"

volatile unsigned bc_fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    bc_error err;
    if (!ck) return 0;
    if (bc_safetensors_parse(ck, data, size, "fuzz.safetensors", &err) == 0)
        bc_fuzz_sink += bc_fuzz_touch_tensors(ck);
    bc_checkpoint_close(ck);
    return 0;
}
