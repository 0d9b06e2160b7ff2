/* bc_saver (app/saver.c): writes land, in order, the newest snapshot of a
 * file wins, flush waits, errors are reported once and do not stop later
 * writes, free writes what is still queued. Also run under ThreadSanitizer
 * by tests/ci_sanitize.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_test.h"
#include "saver.h"
#include "session.h"

static char *dup_text(const char *s) {
    char *p = malloc(strlen(s) + 1);
    strcpy(p, s);
    return p;
}

static char *read_text(const char *path) {
    static char buf[4096];
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static int submit(bc_saver *sv, const char *path, const char *text) {
    bc_error err;
    bc_error_clear(&err);
    return bc_saver_submit(sv, path, dup_text(text), strlen(text), &err);
}

int main(void) {
    char dir[] = "/tmp/bc-saver-XXXXXX";
    if (!mkdtemp(dir)) BC_SKIP("cannot make a temporary directory");
    char a[256], b[256], bad[256];
    snprintf(a, sizeof a, "%s/a.yaml", dir);
    snprintf(b, sizeof b, "%s/b.yaml", dir);
    snprintf(bad, sizeof bad, "%s/no-such-dir/c.yaml", dir);
    bc_error err;
    bc_error_clear(&err);
    bc_saver *sv;
    CHECK(bc_saver_new(&sv, &err) == 0, "saver starts (%s)", err.msg);

    /* many snapshots of two files: the last of each is what stays */
    char text[64];
    int rc = 0;
    for (int i = 0; i < 500; i++) {
        snprintf(text, sizeof text, "a version %d\n", i);
        rc |= submit(sv, a, text);
        snprintf(text, sizeof text, "b version %d\n", i);
        rc |= submit(sv, b, text);
    }
    CHECK(rc == 0 && bc_saver_flush(sv, &err) == 0, "500 snapshots of two files queued and flushed");
    char *got = read_text(a);
    CHECK(got && !strcmp(got, "a version 499\n"), "a holds its newest snapshot (%s)", got ? got : "missing");
    got = read_text(b);
    CHECK(got && !strcmp(got, "b version 499\n"), "b holds its newest snapshot (%s)", got ? got : "missing");

    /* an error is kept, reported once, names the file; later writes go on */
    submit(sv, bad, "lost\n");
    submit(sv, a, "after the error\n");
    bc_error_clear(&err);
    CHECK(bc_saver_flush(sv, &err) != 0 && strstr(err.msg, "no-such-dir/c.yaml"),
          "a failed write is reported by flush: %s", err.msg);
    bc_error_clear(&err);
    CHECK(bc_saver_take_error(sv, &err) == 0 && bc_saver_flush(sv, &err) == 0,
          "reported once only");
    got = read_text(a);
    CHECK(got && !strcmp(got, "after the error\n"), "the write after a failed one landed");

    /* take_error without waiting: eventually sees the failure */
    submit(sv, bad, "lost again\n");
    int seen = 0;
    for (int i = 0; i < 2000 && !seen; i++) {
        bc_error_clear(&err);
        seen = bc_saver_take_error(sv, &err) != 0;
        if (!seen) usleep(1000);
    }
    CHECK(seen, "take_error reports a failure without flushing (%s)", err.msg);

    /* The saver's thread and this one write the same file at once (a
     * command saving the open conversation while a partial save is in
     * flight): every write succeeds and the file is always one whole
     * version. With one temporary file per process the two writers shared
     * it: renames failed and interleaved bytes could land. */
    char big_a[3000], big_b[3000];
    memset(big_a, 'a', sizeof big_a - 2);
    big_a[sizeof big_a - 2] = '\n';
    big_a[sizeof big_a - 1] = 0;
    memset(big_b, 'b', sizeof big_b - 2);
    big_b[sizeof big_b - 2] = '\n';
    big_b[sizeof big_b - 1] = 0;
    int direct_failed = 0, torn = 0;
    for (int i = 0; i < 300; i++) {
        submit(sv, a, big_a);
        bc_error_clear(&err);
        if (bc_write_file_atomic(a, big_b, strlen(big_b), &err) != 0) direct_failed++;
        got = read_text(a);
        if (!got || (strcmp(got, big_a) && strcmp(got, big_b))) torn++;
    }
    bc_error_clear(&err);
    int queued_failed = bc_saver_flush(sv, &err) != 0;
    CHECK(direct_failed == 0 && !queued_failed && torn == 0,
          "300 writes from two threads to one file: %d direct and %s queued failed, %d torn reads (%s)",
          direct_failed, queued_failed ? "some" : "none", torn, err.msg);

    /* free writes what is queued */
    submit(sv, b, "written by free\n");
    bc_saver_free(sv);
    got = read_text(b);
    CHECK(got && !strcmp(got, "written by free\n"), "free writes the queued snapshot");

    /* no temporary files left behind */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp- >/dev/null", dir);
    CHECK(system(cmd) != 0, "no temporary files are left in the directory");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return bc_test_done();
}
