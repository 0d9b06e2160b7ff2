/* Internals shared by the checkpoint readers (checkpoint.c, safetensors.c,
 * torch_zip.c, unpickler.c) and their tests. Not for the rest of the program.
 *
 * Every parser works on a (buffer, length) pair that the caller already has in
 * memory (an mmapped file, or a test's buffer), so it can be exercised on
 * truncated or hostile bytes without touching the file system. */
#ifndef BC_CHECKPOINT_INTERNAL_H
#define BC_CHECKPOINT_INTERNAL_H

#include <stdint.h>

#include "checkpoint.h"

/* Upper bound on tensors in one file: a header within the size cap but with
 * hundreds of thousands of entries is a CPU/memory DoS (formats-and-safety §1a).
 * Baichuan2-13B has 283 tensors, the -4bits files about 1,000 values. */
#define BC_MAX_TENSORS_PER_FILE 65536

/* Overflow-checked helpers: return 0 on success, -1 on overflow. */
static inline int bc_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_add_overflow(a, b, out) ? -1 : 0;
}
static inline int bc_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}
/* True when [off, off+n) lies within [0, len). */
static inline int bc_range_ok(uint64_t off, uint64_t n, uint64_t len) {
    return off <= len && n <= len - off;
}

/* Product of the dims times the element size, with every step checked.
 * Dims must be >= 0 and the element count must fit in int64. */
int bc_shape_nbytes(int ndim, const int64_t *shape, bc_dtype dt, uint64_t *nbytes);

/* Maps `path` read-only; the mapping lives until bc_checkpoint_close. `*label`
 * is a copy of path owned by the index (for bc_tensor.file and messages). */
int bc_checkpoint_map_file(bc_checkpoint *ck, const char *path, const uint8_t **data,
                           uint64_t *len, const char **label, bc_error *err);

/* Registers a tensor whose bytes live elsewhere (a mapping the index owns, or a
 * test buffer that outlives the index). Rejects duplicate names. `name` need
 * not be NUL-terminated: its length is name_len. `file` must outlive ck. */
int bc_checkpoint_add_view(bc_checkpoint *ck, const char *name, size_t name_len,
                           bc_dtype dtype, int ndim, const int64_t *shape,
                           const void *data, const char *file, bc_error *err);

/* Same as bc_checkpoint_add_copy, with a file label (unpickled scalars). */
int bc_checkpoint_add_copy_from(bc_checkpoint *ck, const char *name, bc_dtype dtype,
                                int ndim, const int64_t *shape, const void *data,
                                const char *file, bc_error *err);

/* Keeps a string alive as long as ck (file labels). NULL on out of memory. */
const char *bc_checkpoint_intern(bc_checkpoint *ck, const char *s);

/* safetensors.c: validates the whole file (formats-and-safety §1a) and adds
 * each tensor as a view into buf. `file` names the file in messages. */
int bc_safetensors_parse(bc_checkpoint *ck, const uint8_t *buf, uint64_t len,
                         const char *file, bc_error *err);

/* torch_zip.c: a torch.save zip archive (ZIP64, stored entries) holding a
 * pickled state dict; adds each tensor as a view into buf. */
int bc_torch_parse(bc_checkpoint *ck, const uint8_t *buf, uint64_t len,
                   const char *file, bc_error *err);

#endif
