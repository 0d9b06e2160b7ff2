/* A restricted unpickler for torch.save's data.pkl (formats-and-safety §1c).
 *
 * It runs only the opcodes a state dict needs and resolves only a fixed table
 * of globals (OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter,
 * the typed storage classes, torch.Size and the torch dtypes). Any other global
 * is refused by name when it is read, so nothing is ever called or imported.
 * Internal to the checkpoint readers. */
#ifndef BC_UNPICKLER_H
#define BC_UNPICKLER_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"

/* Finds the archive record data/<key>; returns 0 and its bytes, or -1 with a
 * message. */
typedef int (*bc_pickle_record_fn)(void *ctx, const char *key, size_t key_len,
                                   const uint8_t **data, uint64_t *size, bc_error *err);

/* Unpickles `pkl` (the top-level object must be a dict of name -> value) and
 * adds each value to ck. Tensors become views into their storage record.
 * Non-tensor values (the -4bits checkpoints' quant_state lists) are flattened:
 * item i of a list/tuple `N` becomes `N.i`, a dict entry `N.key`; ints become
 * 0-d I64, bools 0-d BOOL, floats 0-d F64, strings 1-d U8 (their UTF-8 bytes),
 * torch dtypes 1-d U8 holding the dtype's name ("float16"), torch.Size 1-d
 * I64; None is skipped. `file` names the file in messages. */
int bc_unpickle_state_dict(bc_checkpoint *ck, const uint8_t *pkl, uint64_t len,
                           bc_pickle_record_fn record, void *record_ctx, const char *file,
                           bc_error *err);

#endif
