/* Backend selection and the dlopen() of the CUDA module (backend_loader.h). */
#include "backend_loader.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_build_config.h"

#define MODULE_FILE "bc_cuda.so"

/* The module, loaded at most once per process and never unloaded (the CUDA
 * runtime does not like being unloaded while a context exists). */
static struct {
    pthread_once_t once;
    void *handle;
    char path[PATH_MAX];
    char why[BC_ERROR_MAX];          /* why loading failed (empty when loaded) */
    bc_cuda_probe_fn probe;
    bc_cuda_backend_new_fn backend_new;
    bc_cuda_copy_bandwidth_fn copy_bandwidth;
    bc_cuda_fill_uniform_fn fill_uniform;
} module = {.once = PTHREAD_ONCE_INIT};

/* Directory of the running executable, "" when /proc is unavailable. */
static void exe_dir(char *dir, size_t size) {
    ssize_t n = readlink("/proc/self/exe", dir, size - 1);
    if (n <= 0) { dir[0] = '\0'; return; }
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else dir[0] = '\0';
}

/* Tries one path; on failure appends "  PATH: reason\n" to the list. */
static bool try_open(const char *path, char *tried, size_t tried_size) {
    size_t used = strlen(tried);
    if (access(path, F_OK) != 0) {
        snprintf(tried + used, tried_size - used, "\n  %s: not found", path);
        return false;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(tried + used, tried_size - used,
                 "\n  %s: cannot be loaded: %s (it needs libcublas.so.13 and libcublasLt.so.13 "
                 "on the library path)", path, e ? e : "unknown error");
        return false;
    }
    module.handle = h;
    snprintf(module.path, sizeof module.path, "%s", path);
    return true;
}

static bool find_module(void) {
    char tried[BC_ERROR_MAX - 128] = "";
    const char *env = getenv("BC_CUDA_MODULE");
    if (env && !strcmp(env, "off")) {
        snprintf(module.why, sizeof module.why, "CUDA is switched off ($BC_CUDA_MODULE=off)");
        return false;
    }
    if (env && *env) {
        if (try_open(env, tried, sizeof tried)) return true;
        snprintf(module.why, sizeof module.why, "CUDA module from $BC_CUDA_MODULE:%s", tried);
        return false;
    }
    char dir[PATH_MAX], path[PATH_MAX + 64];
    exe_dir(dir, sizeof dir);
    if (dir[0]) {
        snprintf(path, sizeof path, "%s/kernels/" MODULE_FILE, dir);
        if (try_open(path, tried, sizeof tried)) return true;
        snprintf(path, sizeof path, "%s/../kernels/" MODULE_FILE, dir);
        if (try_open(path, tried, sizeof tried)) return true;
    }
    if (try_open(BC_LIBDIR "/" MODULE_FILE, tried, sizeof tried)) return true;
    snprintf(module.why, sizeof module.why, "the CUDA module %s was not found%s; looked at:%s",
             MODULE_FILE,
             BC_HAVE_CUDA ? "" : " (this build has no CUDA backend: nvcc was not found or "
                                 "-Dcuda=disabled)", tried);
    return false;
}

static void *symbol(const char *name) {
    void *p = dlsym(module.handle, name);
    if (!p)
        snprintf(module.why, sizeof module.why, "%.800s: symbol %s is missing (a module from another "
                 "version?)", module.path, name);
    return p;
}

static void load_module(void) {
    if (!find_module()) return;
    bc_cuda_abi_version_fn version = (bc_cuda_abi_version_fn)symbol("bc_cuda_module_abi_version");
    if (!version) return;
    if (version() != BC_CUDA_ABI_VERSION) {
        snprintf(module.why, sizeof module.why, "%.800s: module ABI version %d, this program needs %d "
                 "(rebuild both together)", module.path, version(), BC_CUDA_ABI_VERSION);
        return;
    }
    module.probe = (bc_cuda_probe_fn)symbol("bc_cuda_module_probe");
    module.backend_new = (bc_cuda_backend_new_fn)symbol("bc_cuda_module_backend_new");
    module.copy_bandwidth = (bc_cuda_copy_bandwidth_fn)symbol("bc_cuda_module_copy_bandwidth");
    module.fill_uniform = (bc_cuda_fill_uniform_fn)symbol("bc_cuda_module_fill_uniform");
}

/* 0 when every entry point is there, else -1 with the reason. */
static int ensure_module(bc_error *err) {
    pthread_once(&module.once, load_module);
    if (!module.probe || !module.backend_new || !module.copy_bandwidth || !module.fill_uniform)
        return bc_errorf(err, "%s", module.why[0] ? module.why : "the CUDA module is unusable");
    return 0;
}

int bc_cuda_probe(bc_cuda_probe_info *info, bc_error *err) {
    if (ensure_module(err)) return -1;
    memset(info, 0, sizeof *info);
    return module.probe(info, err);
}

int bc_backend_cuda_new(const bc_backend_params *p, bc_backend **out, bc_error *err) {
    bc_cuda_probe_info info;
    if (bc_cuda_probe(&info, err)) return -1;
    return module.backend_new(p, out, err);
}

int bc_cuda_copy_bandwidth(uint64_t bytes, double *bytes_per_s, bc_error *err) {
    if (ensure_module(err)) return -1;
    return module.copy_bandwidth(bytes, bytes_per_s, err);
}

int bc_cuda_fill_uniform(bc_backend *be, bc_btensor *t, uint64_t seed, float lo, float hi,
                         bc_error *err) {
    if (ensure_module(err)) return -1;
    return module.fill_uniform(be, t, seed, lo, hi, err);
}

const char *bc_cuda_module_path(void) { return module.handle ? module.path : NULL; }

/* A cheap test before `auto` loads the module (and cuBLAS with it, which
 * takes a while): without the driver library there is nothing to find. */
static bool driver_library_present(void) {
    void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
    if (!h) h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!h) return false;
    dlclose(h);
    return true;
}

int bc_backend_open(const char *backend, const char *quant, int threads, bc_backend **out,
                    char *note, size_t note_size, bc_error *err) {
    if (note && note_size) note[0] = '\0';
    if (!backend) backend = "auto";
    if (!quant) quant = "auto";
    bool is_auto = !strcmp(backend, "auto");
    if (!is_auto && strcmp(backend, "cpu") && strcmp(backend, "cuda"))
        return bc_errorf(err, "backend '%s' is unknown (use auto, cpu or cuda)", backend);
    bool auto_quant = !strcmp(quant, "auto");
    bc_backend_params bp = {threads, BC_STORE_F32};
    if (!auto_quant && bc_store_parse(quant, &bp.store))
        return bc_errorf(err, "--quant %s is unknown (use auto, f32, bf16, f16, int8 or nf4)",
                         quant);

    /* CUDA stores weights in 16 bits only (int8/nf4 CUDA kernels are still to
     * come); auto with --quant f32, int8 or nf4 means the CPU. */
    bool cuda_store_ok = auto_quant || bp.store == BC_STORE_F16 || bp.store == BC_STORE_BF16;
    if (!strcmp(backend, "cuda") || (is_auto && cuda_store_ok)) {
        bc_backend_params cp = bp;
        if (auto_quant) cp.store = BC_STORE_F16;
        bc_error cuda_err = {{0}};
        if (!strcmp(backend, "cuda")) {
            if (bc_backend_cuda_new(&cp, out, &cuda_err) == 0) return 0;
            return bc_errorf(err, "cuda backend: %s", cuda_err.msg);
        }
        if (!driver_library_present())
            snprintf(cuda_err.msg, sizeof cuda_err.msg, "no CUDA driver (libcuda.so.1)");
        else if (bc_backend_cuda_new(&cp, out, &cuda_err) == 0)
            return 0;
        if (note && note_size)
            snprintf(note, note_size, "CUDA not used: %s", cuda_err.msg);
    }
    if (auto_quant) bp.store = BC_STORE_F32;
    if (bp.store == BC_STORE_F16 && note && note[0])
        return bc_errorf(err, "--quant f16 needs the CUDA backend (%s)", note);
    return bc_backend_cpu_new(&bp, out, err);
}
