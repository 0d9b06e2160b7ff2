/* The libFuzzer entry point every harness in tests/fuzz defines.
 *
 * A harness feeds (data, size) to one parser and returns 0. It must accept any
 * bytes: the parser refuses bad input with a bc_error, never crashes, leaks or
 * aborts. The same harness is linked two ways (tests/fuzz/meson.build):
 * with libFuzzer under clang (-Dfuzz=enabled), and with replay.c in every build,
 * which runs the stored crash corpus and seeds as the fuzz-corpus suite. */
#ifndef BC_FUZZ_H
#define BC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every byte of every tensor in ck, so ASan sees a view that strays
 * outside its buffer; returns a checksum so the reads are not optimised away. */
static inline unsigned bc_fuzz_touch_tensors(const bc_checkpoint *ck) {
    unsigned sum = 0;
    for (size_t i = 0; i < bc_checkpoint_count(ck); i++) {
        const bc_tensor *t = bc_checkpoint_at(ck, i);
        const unsigned char *p = t->data;
        for (uint64_t b = 0; b < t->nbytes; b++) sum += p[b];
        sum += (unsigned)t->name[0];
    }
    return sum;
}

#endif
