/* Fault injection for test executables (sqlite-style SimulateIOError): the
 * executable is linked with -Wl,--wrap=<fn> for every function below (see
 * tests/meson.build, bc_fault_wraps), so the calls that OUR code makes — the
 * static libraries linked into it — go through fault_inject.c. libc's own
 * internal calls and shared libraries (libyaml) are not affected.
 *
 * Every wrapped call of an armed class is counted; the N-th one fails with
 * the errno a real failure would have:
 *   BC_FAULT_ALLOC  malloc calloc realloc strdup strndup aligned_alloc
 *                   posix_memalign                               ENOMEM
 *   BC_FAULT_OPEN   open fopen                                   EIO
 *   BC_FAULT_READ   read fread                                   EIO
 *   BC_FAULT_WRITE  write fwrite                                 ENOSPC
 *   BC_FAULT_FSYNC  fsync fdatasync                              EIO
 *   BC_FAULT_RENAME rename                                       EIO
 *   BC_FAULT_MMAP   mmap                                         ENOMEM
 * It also tracks the blocks our code allocates (and frees), so a test can
 * check that an operation that failed half-way released everything, in
 * builds without LeakSanitizer too. */
#ifndef BC_FAULT_INJECT_H
#define BC_FAULT_INJECT_H

#include <stdbool.h>
#include <stddef.h>

enum {
    BC_FAULT_ALLOC = 1u << 0,
    BC_FAULT_OPEN = 1u << 1,
    BC_FAULT_READ = 1u << 2,
    BC_FAULT_WRITE = 1u << 3,
    BC_FAULT_FSYNC = 1u << 4,
    BC_FAULT_RENAME = 1u << 5,
    BC_FAULT_MMAP = 1u << 6,
    BC_FAULT_ALL = (1u << 7) - 1,
};

/* Counts calls of the classes in `mask` from now on and fails the n-th
 * (1-based); n = 0 only counts. With `persist`, every later call of those
 * classes fails too (a disk that stays full). */
void bc_fault_arm(unsigned mask, unsigned long n, bool persist);
/* Stops failing and counting. */
void bc_fault_disarm(void);
/* Calls of the armed classes counted since bc_fault_arm. */
unsigned long bc_fault_calls(void);
/* Whether the armed failure happened. */
bool bc_fault_fired(void);

/* Blocks allocated through the wrappers and not yet freed. */
size_t bc_fault_live_blocks(void);

#endif
