/* bc_backend_loader: picks and opens a backend by name ("cpu", "cuda", "auto").
 *
 * The CUDA backend is a separate shared module (bc_cuda.so, built from
 * kernels/) that this file dlopen()s on first use, so the main binary needs
 * neither the CUDA toolkit nor a driver to start. The module exports the C
 * functions declared below (the module ABI); nothing else crosses the line.
 *
 * Where the module is looked for, in order:
 *   $BC_CUDA_MODULE (a path; when set, nothing else is tried; "off": CUDA
 *                    is never used, so `auto` means the CPU),
 *   <dir of the executable>/kernels/bc_cuda.so     (build tree),
 *   <dir of the executable>/../kernels/bc_cuda.so  (build tree, tests/),
 *   BC_LIBDIR/bc_cuda.so                           (installed).
 * A module that cannot be loaded, a missing driver, no device or a driver
 * older than the module's runtime each give one message saying which. */
#ifndef BC_BACKEND_LOADER_H
#define BC_BACKEND_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "bc_error.h"

/* ---- The module ABI (implemented in kernels/, C linkage) ----------------
 * Exported symbols: bc_cuda_module_abi_version, bc_cuda_module_probe,
 * bc_cuda_module_backend_new, bc_cuda_module_copy_bandwidth,
 * bc_cuda_module_fill_uniform, bc_cuda_module_quant_download (types below). */

/* 2: int8/nf4 stores, quant_download; 3: step_begin/step_end/step_forget,
 * table_new and describe in bc_backend_iface, host_weight_bytes */
#define BC_CUDA_ABI_VERSION 3

typedef struct bc_cuda_probe_info {
    int device_count;        /* CUDA devices visible (CUDA_VISIBLE_DEVICES applies) */
    int driver_version;      /* e.g. 13000 for 13.0; 0 when there is no driver */
    int runtime_version;     /* the CUDA runtime the module was built with */
    char name[256];          /* device 0 */
    int cc_major, cc_minor;  /* compute capability of device 0 */
    int multiprocessors;
    uint64_t total_bytes;    /* device 0 memory */
    uint64_t free_bytes;
} bc_cuda_probe_info;

/* Each returns 0, or -1 with a message. */
typedef int (*bc_cuda_abi_version_fn)(void);
/* Fills info; fails with the reason when no device is usable. */
typedef int (*bc_cuda_probe_fn)(bc_cuda_probe_info *info, bc_error *err);
/* A backend on device 0; p->store is f16 or bf16 (weights), threads unused. */
typedef int (*bc_cuda_backend_new_fn)(const bc_backend_params *p, bc_backend **out,
                                      bc_error *err);
/* Device-to-device copy bandwidth (read + write bytes / s) over `bytes`
 * (best of a few runs), for the benchmark's roofline figure. */
typedef int (*bc_cuda_copy_bandwidth_fn)(uint64_t bytes, double *bytes_per_s, bc_error *err);
/* Fills a tensor of a CUDA backend with uniform random values in [lo, hi),
 * generated on the device (synthetic benchmark models). */
typedef int (*bc_cuda_fill_uniform_fn)(bc_backend *be, bc_btensor *t, uint64_t seed, float lo,
                                       float hi, bc_error *err);
/* Copies an INT8/NF4 weight of a CUDA backend back to host memory, in
 * bc_quant's layout (out owns it: bc_quant_tensor_free). For tests: the
 * GPU quantizers are checked byte for byte against quant.c's. */
typedef int (*bc_cuda_quant_download_fn)(bc_backend *be, const bc_btensor *t,
                                         bc_quant_tensor *out, bc_error *err);

/* ---- Loader ------------------------------------------------------------- */

/* Loads the module (once per process; it stays loaded) and probes device 0.
 * Fails with a clear message: module not found / not loadable, no driver, no
 * device, driver too old. */
int bc_cuda_probe(bc_cuda_probe_info *info, bc_error *err);

/* Opens the CUDA backend (loads the module, probes, then creates it). */
int bc_backend_cuda_new(const bc_backend_params *p, bc_backend **out, bc_error *err);

/* Device-to-device copy bandwidth in bytes/s (see bc_cuda_copy_bandwidth_fn). */
int bc_cuda_copy_bandwidth(uint64_t bytes, double *bytes_per_s, bc_error *err);

/* See bc_cuda_fill_uniform_fn; be must come from bc_backend_cuda_new. */
int bc_cuda_fill_uniform(bc_backend *be, bc_btensor *t, uint64_t seed, float lo, float hi,
                         bc_error *err);

/* See bc_cuda_quant_download_fn; be must come from bc_backend_cuda_new. */
int bc_cuda_quant_download(bc_backend *be, const bc_btensor *t, bc_quant_tensor *out,
                           bc_error *err);

/* Path of the loaded module, or NULL. */
const char *bc_cuda_module_path(void);

/* Opens the backend named `backend` ("cpu", "cuda", "auto"; NULL = "auto")
 * with weights stored as `quant` ("auto", "f32", "bf16", "f16", "int8",
 * "nf4"; NULL = "auto"). auto picks CUDA when a device is usable (for any
 * storage but f32, which only the CPU has), else the CPU; auto storage is f16
 * on CUDA and f32 on the CPU. When auto fell back to the CPU,
 * *note (may be NULL) receives why, else "". */
int bc_backend_open(const char *backend, const char *quant, int threads, bc_backend **out,
                    char *note, size_t note_size, bc_error *err);

#endif
