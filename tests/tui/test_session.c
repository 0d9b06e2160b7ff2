/* Slash-command parsing and the session store: round trip of awkward text
 * through libyaml, atomic rewrites (no temp files left), corrupt files
 * reported with line and column, listing newest first. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include "../bc_test.h"
#include "commands.h"
#include "session.h"

static void test_commands(void) {
    bc_command c;
    bc_error err;
    CHECK(bc_command_parse("/set temperature 0.7", &c, &err) == 0 && c.spec->id == BC_CMD_SET &&
              c.setting == BC_SET_TEMPERATURE && c.value == 0.7,
          "/set temperature 0.7");
    bc_sampling s = {0};
    bc_command_apply_setting(&c, &s);
    CHECK(s.temperature == 0.7f, "applied to the sampling parameters");
    CHECK(bc_command_parse("/set top_p 1.5", &c, &err) != 0 && strstr(err.msg, "not between 0 and 1"),
          "/set top_p 1.5: %s", err.msg);
    CHECK(bc_command_parse("/set top_k 2.5", &c, &err) != 0 && strstr(err.msg, "whole number"),
          "/set top_k 2.5: %s", err.msg);
    CHECK(bc_command_parse("/set colour red", &c, &err) != 0 && strstr(err.msg, "unknown setting"),
          "/set colour: %s", err.msg);
    CHECK(bc_command_parse("/set seed 18446744073709551615", &c, &err) == 0, "/set seed (max 64-bit)");
    bc_command_apply_setting(&c, &s);
    CHECK(s.seed == 18446744073709551615ull, "the seed is exact");
    CHECK(bc_command_parse("/set seed -1", &c, &err) != 0, "/set seed -1 rejected");
    CHECK(bc_command_parse("/quant nf4", &c, &err) == 0 && !strcmp(c.arg, "nf4"), "/quant nf4");
    CHECK(bc_command_parse("/quant q4_0", &c, &err) != 0 && strstr(err.msg, "not one of"),
          "/quant q4_0: %s", err.msg);
    CHECK(bc_command_parse("/backend cuda", &c, &err) == 0, "/backend cuda");
    CHECK(bc_command_parse("/backend auto", &c, &err) == 0, "/backend auto (as --backend auto)");
    /* paths: "~/" is $HOME, as in the configuration */
    setenv("HOME", "/home/someone", 1);
    CHECK(bc_command_parse("/save ~/chats/x.yaml", &c, &err) == 0 &&
              !strcmp(c.arg, "/home/someone/chats/x.yaml"),
          "/save ~/chats/x.yaml: %s", c.arg);
    CHECK(bc_command_parse("/export ~/x.md", &c, &err) == 0 && !strcmp(c.arg, "/home/someone/x.md"),
          "/export ~/x.md: %s", c.arg);
    CHECK(bc_command_parse("/rename ~/not a path", &c, &err) == 0 && !strcmp(c.arg, "~/not a path"),
          "/rename keeps its text as typed: %s", c.arg);
    CHECK(bc_command_parse("/frobnicate", &c, &err) != 0 && strstr(err.msg, "unknown command /frobnicate"),
          "unknown: %s", err.msg);
    CHECK(bc_command_parse("/help me", &c, &err) != 0, "/help takes no argument");
    CHECK(bc_command_parse("/export", &c, &err) != 0 && strstr(err.msg, "usage: /export"),
          "/export without a file: %s", err.msg);
    CHECK(bc_command_parse("/system   be brief  ", &c, &err) == 0 && !strcmp(c.arg, "be brief"),
          "/system text is trimmed");
    CHECK(bc_command_parse("/save", &c, &err) == 0 && c.arg[0] == 0, "/save without a file");
    size_t n;
    const bc_command_spec *t = bc_commands(&n);
    int unique = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) unique &= strcmp(t[i].name, t[j].name) != 0;
    CHECK(unique && n >= 18, "%zu commands, names unique", n);
}

static int count_files(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    int k = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, part)) k++;
    if (d) closedir(d);
    return k;
}

static const char *AWKWARD[] = {
    "plain",
    "  leading spaces\nand: a colon\n- a dash line\n---\n... \"quotes\" 'single' #hash",
    "trailing spaces   \n\n\nblank lines above, tab\there",
    "中文 😀 e\xCC\x81 ❤️ 🧑‍🌾",
    "yes",
    "",
    "|\n  >\n[not, a, list]\n{not: a map}\n",
};

static void test_sessions(const char *dir) {
    bc_error err;
    bc_session *s = bc_session_new(dir, &err);
    CHECK(s != NULL, "new session");
    size_t na = sizeof AWKWARD / sizeof AWKWARD[0];
    bc_session_add(s, BC_ROLE_SYSTEM, "be brief", &err);
    for (size_t i = 0; i < na; i++) {
        int k = bc_session_add(s, i % 2 ? BC_ROLE_ASSISTANT : BC_ROLE_USER, AWKWARD[i], &err);
        bc_sampling p = {0.7f, 5, 0.85f, 1.05f, 2048, 18446744073709551615ull};
        if (i % 2) bc_session_set_meta(s, (size_t)k, "demo", "cpu", "f32", &p, "eos");
    }
    bc_session_set_title(s, "A title: with colon", &err);
    CHECK(bc_session_save(s, NULL, &err) == 0, "save: %s", err.msg);
    CHECK(count_files(dir, ".tmp") == 0, "no temp file left behind");

    bc_session *r = NULL;
    CHECK(bc_session_load(s->path, &r, &err) == 0, "load: %s", err.msg);
    int same = r && r->n == s->n && !strcmp(r->title, s->title);
    for (size_t i = 0; same && i < s->n; i++) {
        same &= r->msgs[i].role == s->msgs[i].role && !strcmp(r->msgs[i].content, s->msgs[i].content);
        if (!same) printf("# message %zu differs: [%s] vs [%s]\n", i, r->msgs[i].content, s->msgs[i].content);
    }
    CHECK(same, "every message survives the round trip byte for byte");
    CHECK(r && r->msgs[2].model && !strcmp(r->msgs[2].model, "demo") && r->msgs[2].has_params &&
              r->msgs[2].params.top_k == 5 && r->msgs[2].params.seed == 18446744073709551615ull &&
              !strcmp(r->msgs[2].stop, "eos"),
          "reply metadata (model, params, 64-bit seed, stop) round-trips");
    char title[64];
    bc_session_display_title(r, title, sizeof title);
    CHECK(!strcmp(title, "A title: with colon"), "title: %s", title);
    bc_session_free(r);

    /* A corrupt file: reported with line and column, listed as corrupt. */
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/zz-bad.yaml", dir);
    FILE *f = fopen(bad, "w");
    fputs("format: x\nmessages:\n  - role: user\n    content: [unclosed\n", f);
    fclose(f);
    CHECK(bc_session_load(bad, &r, &err) != 0 && strstr(err.msg, "zz-bad.yaml:") && strstr(err.msg, ":5:"),
          "corrupt YAML: %s", err.msg);
    f = fopen(bad, "w");
    fputs("messages:\n  - role: robot\n    content: hi\n", f);
    fclose(f);
    CHECK(bc_session_load(bad, &r, &err) != 0 && strstr(err.msg, "zz-bad.yaml:2:") && strstr(err.msg, "role"),
          "bad role: %s", err.msg);

    /* Listing: newest first, corrupt files included and marked. */
    bc_session *older = bc_session_new(dir, &err);
    bc_session_add(older, BC_ROLE_USER, "older conversation\nsecond line", &err);
    bc_session_save(older, NULL, &err);
    struct utimbuf old_times = {1000000000, 1000000000};
    utime(older->path, &old_times);
    /* temporary files of killed saves: a dead PID's is removed, a live one's kept */
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char stale[4200], stale2[4200], live[4200];
    snprintf(stale, sizeof stale, "%s.tmp-%ld", older->path, (long)dead);
    snprintf(stale2, sizeof stale2, "%s.tmp-%ld-17", older->path, (long)dead);
    snprintf(live, sizeof live, "%s.tmp-%ld-3", older->path, (long)getppid());
    fclose(fopen(stale, "w"));
    fclose(fopen(stale2, "w"));
    fclose(fopen(live, "w"));
    bc_session_entry *e;
    size_t n;
    CHECK(bc_session_list(dir, &e, &n, &err) == 0 && n == 3, "3 files listed (%zu)", n);
    CHECK(access(stale, F_OK) != 0 && access(stale2, F_OK) != 0 && access(live, F_OK) == 0,
          "listing removes a killed save's temporary file, keeps a running process's");
    unlink(live);
    CHECK(n == 3 && !strcmp(e[2].title, "older conversation") && e[2].modified == 1000000000,
          "oldest last, titled by its first line");
    int corrupt = 0;
    for (size_t i = 0; i < n; i++) corrupt += e[i].corrupt;
    CHECK(corrupt == 1, "the corrupt file is listed and marked");

    /* Listing again from the previous listing: an unchanged file is not
     * re-read (its row is copied: a planted title survives), a changed one
     * is (its new title shows). */
    free(e[2].title);
    e[2].title = strdup("planted: copied, not re-read");
    bc_session_set_title(older, "renamed older", &err);
    bc_session_save(older, NULL, &err);
    utime(older->path, &old_times);   /* same mtime second; the size changed */
    const char *unchanged = e[0].path;
    free(e[0].title);
    e[0].title = strdup("planted: copied, not re-read");
    bc_session_entry *e2;
    size_t n2;
    CHECK(bc_session_list_since(dir, e, n, &e2, &n2, &err) == 0 && n2 == 3,
          "listing since the previous one: 3 files (%zu)", n2);
    int planted = 0, renamed = 0;
    for (size_t i = 0; i < n2; i++) {
        if (!strcmp(e2[i].path, unchanged) && !strcmp(e2[i].title, "planted: copied, not re-read"))
            planted++;
        if (!strcmp(e2[i].path, older->path) && !strcmp(e2[i].title, "renamed older")) renamed++;
    }
    CHECK(planted == 1, "an unchanged file's row is reused, not re-read");
    CHECK(renamed == 1, "a changed file is re-read (its new title shows)");
    bc_session_list_free(e2, n2);
    bc_session_list_free(e, n);

    snprintf(bad, sizeof bad, "%s/out.md", dir);
    CHECK(bc_session_export_md(s, bad, &err) == 0, "export markdown");
    f = fopen(bad, "r");
    char buf[4096] = "";
    size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[got] = 0;
    CHECK(strstr(buf, "# A title: with colon") && strstr(buf, "**You:**\n\nplain"), "markdown content");
    bc_session_free(s);
    bc_session_free(older);
}

/* Saving over something that is not a regular file writes into it: a FIFO
 * stays a FIFO (as /dev/null must stay a device), and a symlink stays a link
 * whose target gets the new content. */
static void test_special_targets(const char *dir) {
    char fifo[512], out[512], target[512], link[512], cmd[1200];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(out, sizeof out, "%s/fifo.out", dir);
    CHECK(mkfifo(fifo, 0600) == 0, "made a FIFO");
    snprintf(cmd, sizeof cmd, "cat '%s' > '%s' &", fifo, out);
    if (system(cmd) != 0) printf("# could not start the FIFO reader\n");
    bc_error err = {{0}};
    int rc = bc_write_file_atomic(fifo, "through the pipe\n", 17, &err);
    struct stat st;
    CHECK(rc == 0 && stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode),
          "writing to a FIFO keeps it a FIFO: %s", err.msg);
    for (int i = 0; i < 200; i++) {   /* the reader may still be copying */
        if (stat(out, &st) == 0 && st.st_size == 17) break;
        usleep(10000);
    }
    CHECK(stat(out, &st) == 0 && st.st_size == 17, "the FIFO's reader got the data");

    snprintf(target, sizeof target, "%s/real.md", dir);
    snprintf(link, sizeof link, "%s/link.md", dir);
    bc_error_clear(&err);
    rc = bc_write_file_atomic(target, "old\n", 4, &err);
    CHECK(rc == 0 && symlink(target, link) == 0, "a link to a regular file");
    rc = bc_write_file_atomic(link, "new content\n", 12, &err);
    CHECK(rc == 0 && lstat(link, &st) == 0 && S_ISLNK(st.st_mode) && stat(target, &st) == 0 &&
              st.st_size == 12,
          "writing through a symlink keeps the link and replaces the target: %s", err.msg);
}

/* paths.sessions is created with its parents, like the default; a path that
 * cannot be a directory is an error naming the field. A failed write names
 * the file asked for, not its temporary. */
static void test_sessions_dir(const char *dir) {
    char want[512], file[512];
    snprintf(want, sizeof want, "%s/configured/deeper/sessions", dir);
    bc_error err = {{0}};
    char *got = bc_sessions_dir_at(want, &err);
    struct stat st;
    CHECK(got && !strcmp(got, want) && stat(want, &st) == 0 && S_ISDIR(st.st_mode),
          "paths.sessions: created with its parents (%s)", err.msg);
    free(got);
    snprintf(file, sizeof file, "%s/a-file", dir);
    CHECK(bc_write_file_atomic(file, "x", 1, &err) == 0, "a plain file");
    snprintf(want, sizeof want, "%s/a-file/sessions", dir);
    bc_error_clear(&err);
    got = bc_sessions_dir_at(want, &err);
    CHECK(!got && strstr(err.msg, "paths.sessions") && strstr(err.msg, "a-file"),
          "paths.sessions under a file: %s", err.msg);
    free(got);
    snprintf(want, sizeof want, "%s/no-such-dir/x.yaml", dir);
    bc_error_clear(&err);
    CHECK(bc_write_file_atomic(want, "x", 1, &err) != 0 && strstr(err.msg, want) &&
              !strstr(err.msg, ".tmp-"),
          "a failed save names the file, not the temporary: %s", err.msg);
}

/* Text that is not UTF-8 (a title pasted in Latin-1) is stored with U+FFFD
 * in place of the bad bytes: libyaml's emitter looped forever on it. A
 * title cut for display never ends in half a character. */
static void test_not_utf8(const char *dir) {
    bc_error err = {{0}};
    bc_session *s = bc_session_new(dir, &err);
    CHECK(s != NULL, "a session (%s)", err.msg);
    if (!s) return;
    char *data = NULL;
    size_t len = 0;
    int ok = bc_session_set_title(s, "caf\xe9 \xff\xfe end", &err) == 0 &&
             bc_session_add(s, BC_ROLE_USER, "bad \xc3( bytes", &err) >= 0 &&
             bc_session_format(s, &data, &len, &err) == 0;
    CHECK(ok && data && strstr(data, "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd end") &&
              strstr(data, "bad \xef\xbf\xbd( bytes"),
          "invalid UTF-8 is stored and saved with U+FFFD (%s)", err.msg);
    free(data);
    char cjk[300] = "";
    for (int i = 0; i < 85; i++) strcat(cjk, "\xe4\xb8\xad");   /* 85 x U+4E2D, 255 bytes */
    bc_session_set_title(s, cjk, &err);
    char shown[200];
    bc_session_display_title(s, shown, sizeof shown);
    CHECK(strlen(shown) == 198 && strlen(shown) % 3 == 0,
          "a 255-byte CJK title cut to fit 200 bytes ends on a character (%zu bytes)", strlen(shown));
    bc_session_free(s);
}

/* The listing skips what is not a regular file (a FIFO named x.yaml would
 * block it forever) and names an unreadable file by its name, not by the
 * directory every entry shares. */
static void test_listing_odd_files(const char *dir) {
    char sub[512], fifo[600], bad[600];
    snprintf(sub, sizeof sub, "%s/odd", dir);
    mkdir(sub, 0700);
    snprintf(fifo, sizeof fifo, "%s/pipe.yaml", sub);
    snprintf(bad, sizeof bad, "%s/broken.yaml", sub);
    bc_error err = {{0}};
    CHECK(mkfifo(fifo, 0600) == 0 && bc_write_file_atomic(bad, "messages: [\n", 12, &err) == 0,
          "a FIFO and a broken file in a sessions folder");
    bc_session_entry *e = NULL;
    size_t n = 0;
    int rc = bc_session_list(sub, &e, &n, &err);
    CHECK(rc == 0 && n == 1 && e[0].corrupt && !strncmp(e[0].title, "broken.yaml:", 12),
          "listing: the FIFO skipped, the broken file shown by its name (%zu: %s)", n,
          n ? e[0].title : err.msg);
    bc_session_list_free(e, n);
}

/* /export: what the user typed stays plain text (line breaks kept, Markdown
 * syntax at a line start escaped); a reply stopped inside a code block gets
 * its fence closed, and is marked stopped. */
static void test_export_md(const char *dir) {
    bc_error err = {{0}};
    bc_session *s = bc_session_new(dir, &err);
    if (!s) return;
    char path[600];
    snprintf(path, sizeof path, "%s/export.md", dir);
    bc_session_add(s, BC_ROLE_USER, "# not a heading\nline two\n\n1. not a list", &err);
    int a = bc_session_add(s, BC_ROLE_ASSISTANT, "Here:\n```c\nint x;", &err);
    bc_session_set_meta(s, (size_t)a, "demo", "cpu", "f32", NULL, "cancelled");
    bc_session_add(s, BC_ROLE_USER, "after", &err);
    int rc = bc_session_export_md(s, path, &err);
    char buf[2048] = "";
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    CHECK(rc == 0 && strstr(buf, "\\# not a heading\\\nline two\n\n1\\. not a list\n"),
          "export: the user's lines kept, heading and list syntax escaped");
    CHECK(strstr(buf, "**Assistant:** *(stopped)*\n\nHere:\n```c\nint x;\n```\n\n**You:**"),
          "export: a stopped reply is marked and its open code fence closed before the next message");
    bc_session_free(s);
}

int main(void) {
    char tmpl[] = "/tmp/bc-session-test.XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) BC_SKIP("cannot create a temporary directory");
    test_commands();
    test_sessions(dir);
    test_special_targets(dir);
    test_sessions_dir(dir);
    test_not_utf8(dir);
    test_listing_odd_files(dir);
    test_export_md(dir);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("# could not remove %s\n", dir);
    return bc_test_done();
}
