/* Debug tool: lists a checkpoint's tensor index.
 * Usage: ckpt_list <model-dir | weight-file>
 * Prints one line per tensor: name, dtype, shape, bytes, file. */
#include <stdio.h>
#include <sys/stat.h>

#include "checkpoint.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <model-dir | .safetensors | .bin>\n", argv[0]);
        return 2;
    }
    struct stat st;
    bc_checkpoint *ck = NULL;
    bc_error err = {{0}};
    int rc = stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode)
                 ? bc_checkpoint_open_dir(argv[1], &ck, &err)
                 : bc_checkpoint_open_file(argv[1], &ck, &err);
    if (rc) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < bc_checkpoint_count(ck); i++) {
        const bc_tensor *t = bc_checkpoint_at(ck, i);
        printf("%s %s [", t->name, bc_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
        printf("] %llu %s\n", (unsigned long long)t->nbytes, t->file);
    }
    printf("%zu tensors, %llu bytes\n", bc_checkpoint_count(ck),
           (unsigned long long)bc_checkpoint_total_bytes(ck));
    bc_checkpoint_close(ck);
    return 0;
}
