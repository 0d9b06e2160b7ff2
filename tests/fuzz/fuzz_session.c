/* Fuzz harness: a saved conversation (app/session.c, bc_session_parse), as
 * the history pane, --session and `replay SESSION.yaml` read it. A session
 * that parses is saved again and reloaded: the writer must round-trip
 * whatever the reader accepted (same message count, roles and contents). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "session.h"

static char tmp_path[256];

static void cleanup(void) {
    if (tmp_path[0]) unlink(tmp_path);
}

static const char *scratch_file(void) {
    if (!tmp_path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(tmp_path, sizeof tmp_path, "%s/bc-fuzz-session-%ld.yaml",
                 dir && *dir ? dir : "/tmp", (long)getpid());
        atexit(cleanup);
    }
    return tmp_path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_session *s = NULL, *back = NULL;
    bc_error err;
    if (bc_session_parse("fuzz-session.yaml", (const char *)data, size, &s, &err) != 0) return 0;
    char title[200];
    bc_session_display_title(s, title, sizeof title);
    /* Round trip through the writer (small sessions only, to stay fast). */
    if (size < 4096 && bc_session_save(s, scratch_file(), &err) == 0) {
        if (bc_session_load(scratch_file(), &back, &err) != 0) abort(); /* writer/reader disagree */
        if (back->n != s->n) abort();
        for (size_t i = 0; i < s->n; i++)
            if (back->msgs[i].role != s->msgs[i].role ||
                strcmp(back->msgs[i].content, s->msgs[i].content) != 0)
                abort();
        bc_session_free(back);
    }
    bc_session_free(s);
    return 0;
}
