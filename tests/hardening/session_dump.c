/* Prints a saved session as the application's own reader sees it, for the
 * crash-durability test (test_kill.py):
 *   session_dump FILE
 * stdout: "N\n", then per message "ROLE BYTES\n" + content + "\n".
 * Exit 1 with the reader's message on stderr when the file does not load. */
#include <stdio.h>
#include <string.h>

#include "session.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: session_dump FILE\n");
        return 2;
    }
    bc_session *s;
    bc_error err;
    if (bc_session_load(argv[1], &s, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    static const char *const ROLES[] = {"system", "user", "assistant"};
    printf("%zu\n", s->n);
    for (size_t i = 0; i < s->n; i++) {
        printf("%s %zu\n", ROLES[s->msgs[i].role], strlen(s->msgs[i].content));
        fwrite(s->msgs[i].content, 1, strlen(s->msgs[i].content), stdout);
        putchar('\n');
    }
    bc_session_free(s);
    return 0;
}
