/* bc_checkpoint: one index of every tensor of a model, whatever file it came from.
 *
 * The readers (safetensors, torch .bin zip+pickle, their sharded forms) fill
 * the same index: name -> {dtype, shape, bytes in memory}. File data stays
 * mmapped; `data` points into the mapping, so nothing is copied whole. An index
 * can also be built in memory (the built-in demo model, tests): then the
 * index owns the bytes.
 *
 * Parameter names are exactly the Hugging Face ones (baichuan2.md §6.2). */
#ifndef BC_CHECKPOINT_H
#define BC_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "bc_error.h"

typedef enum bc_dtype {
    BC_DTYPE_F32 = 0,
    BC_DTYPE_F16,
    BC_DTYPE_BF16,
    BC_DTYPE_U8,
    BC_DTYPE_I8,
    BC_DTYPE_I32,
    BC_DTYPE_I64,
    BC_DTYPE_F64,
    BC_DTYPE_BOOL,
    BC_DTYPE_COUNT
} bc_dtype;

#define BC_MAX_DIMS 4

typedef struct bc_tensor {
    const char *name;          /* HF parameter name, NUL-terminated */
    bc_dtype dtype;
    int ndim;                  /* 0..BC_MAX_DIMS */
    int64_t shape[BC_MAX_DIMS];/* row-major, contiguous */
    const void *data;          /* little-endian elements, nbytes long */
    uint64_t nbytes;           /* == numel * bc_dtype_size(dtype) */
    const char *file;          /* file it came from (for messages); "memory" if built */
} bc_tensor;

typedef struct bc_checkpoint bc_checkpoint;

size_t bc_dtype_size(bc_dtype dt);          /* bytes per element */
const char *bc_dtype_name(bc_dtype dt);     /* "F32", "BF16", ... */
int64_t bc_tensor_numel(const bc_tensor *t);

/* Opens a model directory: model.safetensors, sharded safetensors with
 * model.safetensors.index.json, pytorch_model.bin, or sharded .bin with
 * pytorch_model.bin.index.json. Every file is mmapped and validated. */
int bc_checkpoint_open_dir(const char *dir, bc_checkpoint **out, bc_error *err);

/* Opens one weight file: a .safetensors file or a torch.save zip (.bin), told
 * apart by their first bytes. For tools and tests; models use open_dir. */
int bc_checkpoint_open_file(const char *path, bc_checkpoint **out, bc_error *err);

/* An empty in-memory index; tensors are added with bc_checkpoint_add_copy. */
bc_checkpoint *bc_checkpoint_new_memory(void);
/* Copies `data` (nbytes) into memory owned by the index. */
int bc_checkpoint_add_copy(bc_checkpoint *ck, const char *name, bc_dtype dtype,
                           int ndim, const int64_t *shape, const void *data,
                           bc_error *err);

size_t bc_checkpoint_count(const bc_checkpoint *ck);
const bc_tensor *bc_checkpoint_at(const bc_checkpoint *ck, size_t i);
const bc_tensor *bc_checkpoint_find(const bc_checkpoint *ck, const char *name);
/* Total bytes of tensor data (for load progress). */
uint64_t bc_checkpoint_total_bytes(const bc_checkpoint *ck);

void bc_checkpoint_close(bc_checkpoint *ck);

#endif
