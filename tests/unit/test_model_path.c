/* bc_model_resolve on a fake Hugging Face cache built in a temp dir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "bc_test.h"
#include "model_path.h"

static char base[] = "/tmp/bc_model_path_XXXXXX";

static void mkdirs(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    for (char *p = path + strlen(base) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    mkdir(path, 0755);
}

static void write_file(const char *rel, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Sets a directory's mtime to `seconds` so "newest snapshot" is well defined. */
static void set_mtime(const char *rel, long seconds) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    struct timeval tv[2] = {{seconds, 0}, {seconds, 0}};
    utimes(path, tv);
}

static char *abs_path(const char *rel) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    return path;
}

static void clear_env(void) {
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", abs_path("nohome"), 1);
}

static void expect(const char *spec, const char *want_rel, const char *what) {
    char *dir = NULL;
    bc_error err = {""};
    int rc = bc_model_resolve(spec, &dir, &err);
    const char *want = want_rel ? abs_path(want_rel) : NULL;
    CHECK(rc == 0 && dir && want && strcmp(dir, want) == 0, "%s: %s -> %s %s", what, spec,
          dir ? dir : "(none)", err.msg);
    free(dir);
}

int main(void) {
    if (!mkdtemp(base)) BC_SKIP("cannot make a temp dir");
    mkdirs("hub1/models--baichuan-inc--Baichuan2-7B-Chat/refs");
    mkdirs("hub1/models--baichuan-inc--Baichuan2-7B-Chat/snapshots/aaa111");
    mkdirs("hub1/models--baichuan-inc--Baichuan2-7B-Chat/snapshots/bbb222");
    write_file("hub1/models--baichuan-inc--Baichuan2-7B-Chat/refs/main", "aaa111\n");
    set_mtime("hub1/models--baichuan-inc--Baichuan2-7B-Chat/snapshots/aaa111", 1000000);
    set_mtime("hub1/models--baichuan-inc--Baichuan2-7B-Chat/snapshots/bbb222", 2000000);

    clear_env();
    char *dir = NULL;
    bc_error err = {""};
    CHECK(bc_model_resolve("demo", &dir, &err) == 0 && strcmp(dir, "demo") == 0,
          "demo is returned as is");
    free(dir);
    expect(abs_path("hub1"), "hub1", "an existing directory is returned as is");

    setenv("HF_HUB_CACHE", abs_path("hub1"), 1);
    expect("baichuan-inc/Baichuan2-7B-Chat",
           "hub1/models--baichuan-inc--Baichuan2-7B-Chat/snapshots/aaa111",
           "HF_HUB_CACHE, refs/main names the snapshot (not the newest)");

    write_file("hub1/models--baichuan-inc--Baichuan2-7B-Chat/refs/main", "../../../etc\n");
    expect("baichuan-inc/Baichuan2-7B-Chat",
           "hub1/models--baichuan-inc--Baichuan2-7B-Chat/snapshots/bbb222",
           "a refs/main that climbs out is ignored; the newest snapshot is used");
    write_file("hub1/models--baichuan-inc--Baichuan2-7B-Chat/refs/main", "ccc333\n");
    expect("baichuan-inc/Baichuan2-7B-Chat",
           "hub1/models--baichuan-inc--Baichuan2-7B-Chat/snapshots/bbb222",
           "refs/main naming a missing snapshot falls back to the newest");
    char path[1024];
    snprintf(path, sizeof path, "%s/hub1/models--baichuan-inc--Baichuan2-7B-Chat/refs/main",
             base);
    unlink(path);
    expect("baichuan-inc/Baichuan2-7B-Chat",
           "hub1/models--baichuan-inc--Baichuan2-7B-Chat/snapshots/bbb222",
           "no refs/main: the newest snapshot");

    /* HF_HOME/hub, and precedence of HF_HUB_CACHE over it. */
    mkdirs("home2/hub/models--baichuan-inc--Baichuan2-13B-Chat/snapshots/r13");
    mkdirs("home2/hub/models--baichuan-inc--Baichuan2-7B-Chat/snapshots/other");
    setenv("HF_HOME", abs_path("home2"), 1);
    expect("baichuan-inc/Baichuan2-13B-Chat",
           "home2/hub/models--baichuan-inc--Baichuan2-13B-Chat/snapshots/r13",
           "found under HF_HOME/hub when not in HF_HUB_CACHE (the only snapshot)");
    expect("baichuan-inc/Baichuan2-7B-Chat",
           "hub1/models--baichuan-inc--Baichuan2-7B-Chat/snapshots/bbb222",
           "HF_HUB_CACHE comes before HF_HOME");

    /* ~/.cache/huggingface/hub when no variable is set. */
    clear_env();
    setenv("HOME", abs_path("user"), 1);
    mkdirs("user/.cache/huggingface/hub/models--org--m/snapshots/x1");
    write_file("user/.cache/huggingface/hub/models--org--m/refs", "");
    expect("org/m", "user/.cache/huggingface/hub/models--org--m/snapshots/x1",
           "~/.cache/huggingface/hub");

    /* A miss lists every place it looked and how to get the weights. */
    setenv("HF_HUB_CACHE", abs_path("hub1"), 1);
    setenv("HF_HOME", abs_path("home2"), 1);
    mkdirs("user/.cache/huggingface/hub/models--baichuan-inc--Baichuan2-7B-Chat-4bits/snapshots");
    dir = NULL;
    int rc = bc_model_resolve("baichuan-inc/Baichuan2-7B-Chat-4bits", &dir, &err);
    char hub1_repo[1024], home_repo[1024];
    snprintf(hub1_repo, sizeof hub1_repo, "%s/hub1/models--baichuan-inc--Baichuan2-7B-Chat-4bits",
             base);
    snprintf(home_repo, sizeof home_repo,
             "%s/home2/hub/models--baichuan-inc--Baichuan2-7B-Chat-4bits", base);
    CHECK(rc != 0 && dir == NULL && strstr(err.msg, hub1_repo) && strstr(err.msg, home_repo) &&
              strstr(err.msg, "/user/.cache/huggingface/hub/models--") &&
              strstr(err.msg, "no snapshot") &&
              strstr(err.msg, "huggingface-cli download baichuan-inc/Baichuan2-7B-Chat-4bits"),
          "a miss names every place and the download command:\n# %s", err.msg);

    rc = bc_model_resolve("no-such-dir", &dir, &err);
    CHECK(rc != 0 && strstr(err.msg, "no-such-dir") && strstr(err.msg, "huggingface-cli"),
          "a bare missing name: %s", err.msg);
    rc = bc_model_resolve("../a/b", &dir, &err);
    CHECK(rc != 0 && !strstr(err.msg, "Looked in"), "a relative path is not an HF id: %s",
          err.msg);
    snprintf(path, sizeof path, "%s/file", base);
    write_file("file", "x");
    rc = bc_model_resolve(path, &dir, &err);
    CHECK(rc != 0 && strstr(err.msg, "not a directory"), "a file is refused: %s", err.msg);
    rc = bc_model_resolve("", &dir, &err);
    CHECK(rc != 0, "empty spec refused");

    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) printf("# could not remove %s\n", base);
    return bc_test_done();
}
