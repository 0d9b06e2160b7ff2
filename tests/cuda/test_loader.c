/* Suite cuda, runs everywhere: choosing a backend when the CUDA module is
 * absent or unusable. The CPU path must be unaffected and every refusal must
 * say why. Each case runs in a child process, since the module is looked up
 * once per process. */
#include <sys/wait.h>
#include <unistd.h>

#include "backend.h"
#include "backend_loader.h"
#include "bc_test.h"

/* Opens (backend, quant) with $BC_CUDA_MODULE = module in a child; returns
 * 0 when it opened, 1 when it failed, with the backend's name or the error
 * (plus the auto note) in out. */
static int open_in_child(const char *module, const char *backend, const char *quant, char *out,
                         size_t size) {
    int fd[2];
    if (pipe(fd)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        setenv("BC_CUDA_MODULE", module, 1);
        bc_error err = {{0}};
        bc_backend *be = NULL;
        char note[BC_ERROR_MAX] = "", msg[2 * BC_ERROR_MAX + 8];
        int rc = bc_backend_open(backend, quant, 1, &be, note, sizeof note, &err);
        snprintf(msg, sizeof msg, "%s|%s", rc ? err.msg : be->iface->name(be), note);
        if (write(fd[1], msg, strlen(msg)) < 0) _exit(3);
        if (!rc) be->iface->free(be);
        _exit(rc ? 1 : 0);
    }
    close(fd[1]);
    ssize_t n = read(fd[0], out, size - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(void) {
    char out[3 * BC_ERROR_MAX];
    const char *src = getenv("BC_SOURCE_DIR");
    char not_elf[1024];
    snprintf(not_elf, sizeof not_elf, "%s/tests/cuda/test_loader.c", src ? src : ".");

    int rc = open_in_child("/nonexistent/bc_cuda.so", "cuda", "auto", out, sizeof out);
    CHECK(rc == 1 && strstr(out, "/nonexistent/bc_cuda.so: not found"),
          "--backend cuda without the module: %s", out);

    rc = open_in_child("/nonexistent/bc_cuda.so", "auto", "auto", out, sizeof out);
    CHECK(rc == 0 && !strncmp(out, "cpu|", 4), "--backend auto without the module: CPU (%s)", out);

    rc = open_in_child("/nonexistent/bc_cuda.so", "auto", "bf16", out, sizeof out);
    CHECK(rc == 0 && !strncmp(out, "cpu|", 4), "auto + bf16 without the module: CPU (%s)", out);

    rc = open_in_child("/nonexistent/bc_cuda.so", "auto", "f16", out, sizeof out);
    CHECK(rc == 1 && strstr(out, "f16 needs the CUDA backend"), "auto + f16 without CUDA: %s",
          out);

    rc = open_in_child(not_elf, "cuda", "f16", out, sizeof out);
    CHECK(rc == 1 && strstr(out, "cannot be loaded"), "a module that is no library: %s", out);

    rc = open_in_child("/nonexistent/bc_cuda.so", "cpu", "f16", out, sizeof out);
    CHECK(rc == 1 && strstr(out, "f16") && strstr(out, "cuda"),
          "--backend cpu --quant f16 is refused: %s", out);

    rc = open_in_child("/nonexistent/bc_cuda.so", "cpu", "q3", out, sizeof out);
    CHECK(rc == 1 && strstr(out, "q3"), "an unknown storage is named: %s", out);

    rc = open_in_child("/nonexistent/bc_cuda.so", "gpu", "auto", out, sizeof out);
    CHECK(rc == 1 && strstr(out, "'gpu'"), "an unknown backend is named: %s", out);

    rc = open_in_child("off", "cuda", "auto", out, sizeof out);
    CHECK(rc == 1 && strstr(out, "switched off"), "$BC_CUDA_MODULE=off: %s", out);

    rc = open_in_child("/nonexistent/bc_cuda.so", "cpu", "auto", out, sizeof out);
    CHECK(rc == 0 && !strncmp(out, "cpu|", 4), "--backend cpu: %s", out);
    return bc_test_done();
}
