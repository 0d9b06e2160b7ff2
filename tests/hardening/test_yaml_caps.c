/* The caps of the YAML documents the application reads (issue "Hardening",
 * item 6), each at its value and just over it: sessions
 * (BC_SESSION_MAX_BYTES, BC_SESSION_MAX_DEPTH), replay scripts
 * (BC_REPLAY_MAX_BYTES, BC_REPLAY_MAX_STEPS, BC_YAML_MAX_DEPTH), the
 * application config (BC_APP_CONFIG_MAX_BYTES) and, where the TUI is built,
 * themes (BC_THEME_MAX_BYTES, BC_THEME_MAX_DEPTH). Every refusal must be a
 * message naming the cap, never a crash. */
#include <stdarg.h>
#include <unistd.h>

#include "bc_build_config.h"
#include "bc_test.h"
#include "config.h"
#include "replay.h"
#include "session.h"
#include "yaml_reader.h"
#if BC_HAVE_TUI
#include "theme.h"
#endif

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void putf(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)need + 1 > b->cap) {
        b->cap = (b->n + (size_t)need + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort(); /* test setup */
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

/* "[[[...]]]" nested `levels` deep. */
static void nested(buf *b, int levels) {
    for (int i = 0; i < levels; i++) putf(b, "[");
    for (int i = 0; i < levels; i++) putf(b, "]");
}

/* A big buffer of `n` bytes of spaces (a valid, empty YAML document). */
static char *spaces(size_t n) {
    char *p = malloc(n ? n : 1);
    if (p) memset(p, ' ', n);
    return p;
}

static void session_caps(void) {
    bc_error err;
    bc_session *s = NULL;
    for (int over = 0; over <= 1; over++) {
        /* root (1) > messages (2) > message (3) > extra: 5 (+1) more levels */
        buf b = {0};
        putf(&b, "messages:\n- role: user\n  content: hi\n  extra: ");
        nested(&b, BC_SESSION_MAX_DEPTH - 3 + over);
        putf(&b, "\n");
        int rc = bc_session_parse("caps.yaml", b.p, b.n, &s, &err);
        if (over)
            CHECK(rc != 0 && strstr(err.msg, "nested more than"),
                  "session nested BC_SESSION_MAX_DEPTH + 1 deep refused: %s", err.msg);
        else
            CHECK(rc == 0 && s->n == 1, "session nested BC_SESSION_MAX_DEPTH deep loads (%s)",
                  rc ? err.msg : "ok");
        bc_session_free(s);
        s = NULL;
        free(b.p);
    }
    char *big = spaces(BC_SESSION_MAX_BYTES + 1);
    CHECK(big && bc_session_parse("big.yaml", big, BC_SESSION_MAX_BYTES + 1, &s, &err) != 0 &&
              strstr(err.msg, "limit"),
          "session of BC_SESSION_MAX_BYTES + 1 bytes refused unparsed: %s", err.msg);
    free(big);
}

static void replay_caps(void) {
    bc_error err;
    bc_replay_script *s = NULL;
    for (int over = 0; over <= 1; over++) {
        buf b = {0};
        putf(&b, "steps:\n");
        for (int i = 0; i < BC_REPLAY_MAX_STEPS + over; i++) putf(&b, "- user: q%d\n", i);
        int rc = bc_replay_script_parse("steps.yaml", b.p, b.n, &s, &err);
        if (over)
            CHECK(rc != 0 && strstr(err.msg, "steps"),
                  "replay script with BC_REPLAY_MAX_STEPS + 1 steps refused: %s", err.msg);
        else
            CHECK(rc == 0 && s->n_steps == BC_REPLAY_MAX_STEPS,
                  "replay script with BC_REPLAY_MAX_STEPS steps accepted (%s)", rc ? err.msg : "ok");
        bc_replay_script_free(s);
        s = NULL;
        free(b.p);
    }
    for (int over = 0; over <= 1; over++) {
        buf b = {0};
        putf(&b, "steps: [{user: hi}]\nx: ");
        nested(&b, BC_YAML_MAX_DEPTH - 1 + over);
        putf(&b, "\n");
        int rc = bc_replay_script_parse("deep.yaml", b.p, b.n, &s, &err);
        bool depth_error = rc != 0 && strstr(err.msg, "nested more than");
        if (over)
            CHECK(depth_error, "replay script nested BC_YAML_MAX_DEPTH + 1 deep refused: %s", err.msg);
        else
            CHECK(!depth_error, "replay script nested BC_YAML_MAX_DEPTH deep passes the depth cap (%s)",
                  rc ? err.msg : "ok");
        bc_replay_script_free(s);
        s = NULL;
        free(b.p);
    }
    char *big = spaces(BC_REPLAY_MAX_BYTES + 1);
    CHECK(big && bc_replay_script_parse("big.yaml", big, BC_REPLAY_MAX_BYTES + 1, &s, &err) != 0 &&
              strstr(err.msg, "at most"),
          "replay script of BC_REPLAY_MAX_BYTES + 1 bytes refused: %s", err.msg);
    free(big);
}

static void app_config_caps(void) {
    const char *tmp = getenv("TMPDIR");
    char tpl[1024];
    snprintf(tpl, sizeof tpl, "%s/bc-caps-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(tpl);
    bc_error err;
    if (fd < 0) {
        CHECK(0, "mkstemp %s", tpl);
        return;
    }
    for (int over = 0; over <= 1; over++) {
        if (ftruncate(fd, (off_t)BC_APP_CONFIG_MAX_BYTES + over) != 0) {
            CHECK(0, "ftruncate");
            break;
        }
        /* a file of NUL bytes: refused for its size, or read and then refused as YAML */
        bc_app_config c;
        bc_app_config_defaults(&c);
        int rc = bc_app_config_apply_file(&c, tpl, false, &err);
        bc_app_config_free(&c);
        bool size_error = rc != 0 && strstr(err.msg, "more than");
        if (over)
            CHECK(size_error, "config file of BC_APP_CONFIG_MAX_BYTES + 1 bytes refused unread: %s",
                  err.msg);
        else
            CHECK(!size_error, "config file of BC_APP_CONFIG_MAX_BYTES bytes is read (%s)",
                  rc ? err.msg : "ok");
    }
    close(fd);
    unlink(tpl);
}

#if BC_HAVE_TUI
static void theme_caps(void) {
    bc_error err;
    bc_theme t;
    for (int over = 0; over <= 1; over++) {
        buf b = {0};
        putf(&b, "name: caps\nstyles: {user: {bold: true}}\nx: ");
        nested(&b, BC_THEME_MAX_DEPTH - 1 + over);
        putf(&b, "\n");
        int rc = bc_theme_parse("caps.yaml", b.p, b.n, &t, &err);
        if (over)
            CHECK(rc != 0 && strstr(err.msg, "nested more than") && !strcmp(t.name, "mono"),
                  "theme nested BC_THEME_MAX_DEPTH + 1 deep refused (mono theme kept): %s", err.msg);
        else /* no theme key takes a nested value, so `x` is then refused by name */
            CHECK(rc != 0 && !strstr(err.msg, "nested more than") && strstr(err.msg, "caps.yaml:3:1: x:"),
                  "theme nested BC_THEME_MAX_DEPTH deep passes the depth cap (%s)", err.msg);
        free(b.p);
    }
    char *big = spaces(BC_THEME_MAX_BYTES + 1);
    CHECK(big && bc_theme_parse("big.yaml", big, BC_THEME_MAX_BYTES + 1, &t, &err) != 0 &&
              strstr(err.msg, "limit"),
          "theme of BC_THEME_MAX_BYTES + 1 bytes refused: %s", err.msg);
    free(big);
}
#endif

int main(void) {
    session_caps();
    replay_caps();
    app_config_caps();
#if BC_HAVE_TUI
    theme_caps();
#else
    printf("# themes: not built (no TUI)\n");
#endif
    return bc_test_done();
}
