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

/* Reads the first and the last byte of every tensor in ck. Each view lies in
 * one heap block of exactly its record's size (or the input itself), so a view
 * that starts or ends outside its buffer is an ASan report; the bytes between
 * are contiguous and add nothing. Reading every byte made the pickle harness
 * spend its time on the 65,536 views a shared-reference pickle may flatten to
 * (33 ms per input at -O2), not on the parser. Returns a checksum so the reads
 * are not optimised away. */
static inline unsigned bc_fuzz_touch_tensors(const bc_checkpoint *ck) {
    unsigned sum = 0;
    for (size_t i = 0; i < bc_checkpoint_count(ck); i++) {
        const bc_tensor *t = bc_checkpoint_at(ck, i);
        const unsigned char *p = t->data;
        if (t->nbytes) sum += p[0] + p[t->nbytes - 1];
        sum += (unsigned)t->name[0];
    }
    return sum;
}

#endif
