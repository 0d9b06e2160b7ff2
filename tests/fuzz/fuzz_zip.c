/* Fuzz harness: a whole torch.save .bin (ZIP/ZIP64 directory, local headers,
 * then data.pkl through the unpickler with records looked up in the zip). */
#include "checkpoint_internal.h"
#include "fuzz.h"

volatile unsigned bc_fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    bc_error err;
    if (!ck) return 0;
    if (bc_torch_parse(ck, data, size, "fuzz.bin", &err) == 0)
        bc_fuzz_sink += bc_fuzz_touch_tensors(ck);
    bc_checkpoint_close(ck);
    return 0;
}
