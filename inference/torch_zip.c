/* torch.save zip reader (placeholder until the zip + unpickler land). */
#include "checkpoint_internal.h"

int bc_torch_parse(bc_checkpoint *ck, const uint8_t *buf, uint64_t len, const char *file,
                   bc_error *err) {
    (void)ck;
    (void)buf;
    (void)len;
    return bc_errorf(err, "%s: torch .bin files are not supported yet", file);
}
