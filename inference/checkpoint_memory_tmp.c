/* TEMPORARY in-memory bc_checkpoint (the ckpt branch implements the real
 * one, with the file readers). Deleted when that branch is merged. */
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

struct bc_checkpoint {
    bc_tensor *t;
    size_t n, cap;
};

size_t bc_dtype_size(bc_dtype dt) {
    static const size_t sz[BC_DTYPE_COUNT] = {4, 2, 2, 1, 1, 4, 8, 8, 1};
    return dt < BC_DTYPE_COUNT ? sz[dt] : 0;
}

const char *bc_dtype_name(bc_dtype dt) {
    static const char *nm[BC_DTYPE_COUNT] = {"F32", "F16", "BF16", "U8", "I8",
                                             "I32", "I64", "F64", "BOOL"};
    return dt < BC_DTYPE_COUNT ? nm[dt] : "?";
}

int64_t bc_tensor_numel(const bc_tensor *t) {
    int64_t n = 1;
    for (int k = 0; k < t->ndim; k++) n *= t->shape[k];
    return n;
}

int bc_checkpoint_open_dir(const char *dir, bc_checkpoint **out, bc_error *err) {
    (void)out;
    return bc_errorf(err, "%s: checkpoint readers are not built yet", dir);
}

bc_checkpoint *bc_checkpoint_new_memory(void) { return calloc(1, sizeof(bc_checkpoint)); }

int bc_checkpoint_add_copy(bc_checkpoint *ck, const char *name, bc_dtype dtype, int ndim,
                           const int64_t *shape, const void *data, bc_error *err) {
    if (ck->n == ck->cap) {
        size_t cap = ck->cap ? ck->cap * 2 : 64;
        bc_tensor *t = realloc(ck->t, cap * sizeof *t);
        if (!t) return bc_errorf(err, "out of memory");
        ck->t = t; ck->cap = cap;
    }
    bc_tensor *t = &ck->t[ck->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    t->nbytes = (uint64_t)bc_tensor_numel(t) * bc_dtype_size(dtype);
    void *copy = malloc(t->nbytes ? t->nbytes : 1);
    if (!t->name || !copy) return bc_errorf(err, "out of memory");
    memcpy(copy, data, t->nbytes);
    t->data = copy;
    t->file = "memory";
    ck->n++;
    return 0;
}

size_t bc_checkpoint_count(const bc_checkpoint *ck) { return ck->n; }
const bc_tensor *bc_checkpoint_at(const bc_checkpoint *ck, size_t i) { return &ck->t[i]; }

const bc_tensor *bc_checkpoint_find(const bc_checkpoint *ck, const char *name) {
    for (size_t i = 0; i < ck->n; i++)
        if (!strcmp(ck->t[i].name, name)) return &ck->t[i];
    return NULL;
}

uint64_t bc_checkpoint_total_bytes(const bc_checkpoint *ck) {
    uint64_t s = 0;
    for (size_t i = 0; i < ck->n; i++) s += ck->t[i].nbytes;
    return s;
}

void bc_checkpoint_close(bc_checkpoint *ck) {
    if (!ck) return;
    for (size_t i = 0; i < ck->n; i++) {
        free((void *)ck->t[i].name);
        free((void *)ck->t[i].data);
    }
    free(ck->t);
    free(ck);
}
