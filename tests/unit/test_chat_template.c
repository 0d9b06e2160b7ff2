/* bc_chat_build against the cases that tests/unit/chat_template_ref.py (a
 * transcription of upstream build_chat_input) wrote to
 * tests/data/chat_template_cases.txt, plus the error paths. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_test.h"
#include "chat_template.h"

#define MAX_TURNS 64
#define MAX_IDS 4096

typedef struct chat_case {
    char name[128];
    int max_input;
    size_t n_turns;
    bc_chat_turn turns[MAX_TURNS];
    int32_t ids[MAX_IDS]; /* contents of all turns, back to back */
    size_t n_ids;
    int32_t want[MAX_IDS];
    size_t n_want;
} chat_case;

static int read_ids(FILE *f, int32_t *dst, size_t cap, size_t *n) {
    if (fscanf(f, "%zu", n) != 1 || *n > cap) return -1;
    for (size_t i = 0; i < *n; i++)
        if (fscanf(f, "%d", &dst[i]) != 1) return -1;
    return 0;
}

/* Reads the next case; 1 = got one, 0 = end of file, -1 = malformed file. */
static int read_case(FILE *f, chat_case *c) {
    char word[32];
    memset(c, 0, sizeof *c);
    while (fscanf(f, "%31s", word) == 1) {
        if (word[0] == '#') {
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {}
        } else if (strcmp(word, "case") == 0) {
            if (fscanf(f, "%127s", c->name) != 1) return -1;
        } else if (strcmp(word, "max") == 0) {
            if (fscanf(f, "%d", &c->max_input) != 1) return -1;
        } else if (strcmp(word, "msg") == 0) {
            char role[16];
            if (c->n_turns == MAX_TURNS || fscanf(f, "%15s", role) != 1) return -1;
            bc_chat_turn *t = &c->turns[c->n_turns++];
            t->role = strcmp(role, "system") == 0 ? BC_ROLE_SYSTEM
                      : strcmp(role, "user") == 0 ? BC_ROLE_USER
                                                  : BC_ROLE_ASSISTANT;
            t->ids = c->ids + c->n_ids;
            if (read_ids(f, c->ids + c->n_ids, MAX_IDS - c->n_ids, &t->n) != 0) return -1;
            c->n_ids += t->n;
        } else if (strcmp(word, "want") == 0) {
            if (read_ids(f, c->want, MAX_IDS, &c->n_want) != 0) return -1;
        } else if (strcmp(word, "end") == 0) {
            return 1;
        } else {
            return -1;
        }
    }
    return 0;
}

static void check_cases(void) {
    const char *src = getenv("BC_SOURCE_DIR");
    char path[2048];
    snprintf(path, sizeof path, "%s/tests/data/chat_template_cases.txt", src ? src : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    static chat_case c;
    int32_t *out = NULL;
    size_t out_n = 0;
    int n_cases = 0, r;
    while ((r = read_case(f, &c)) == 1) {
        bc_error err = {""};
        int rc = bc_chat_build(c.turns, c.n_turns, 195, 196, c.max_input, &out, &out_n, &err);
        int same = rc == 0 && out_n == c.n_want &&
                   (out_n == 0 || memcmp(out, c.want, out_n * sizeof *out) == 0);
        CHECK(same, "%s: %zu ids (reference %zu) %s", c.name, out_n, c.n_want, err.msg);
        n_cases++;
    }
    CHECK(r == 0 && n_cases > 100, "cases file read to the end (%d cases)", n_cases);
    free(out);
    fclose(f);
}

static void check_spec_example(void) {
    /* baichuan2.md §4.1: a single user turn "你好" (id 16829) -> [195, 16829, 196]. */
    int32_t hello = 16829;
    bc_chat_turn t = {BC_ROLE_USER, &hello, 1};
    int32_t *out = NULL;
    size_t n = 0;
    bc_error err = {""};
    int rc = bc_chat_build(&t, 1, 195, 196, 4096 - 2048, &out, &n, &err);
    CHECK(rc == 0 && n == 3 && out[0] == 195 && out[1] == 16829 && out[2] == 196,
          "spec example: 你好 -> [195, 16829, 196]");
    free(out);
}

static void check_errors(void) {
    int32_t a = 5;
    bc_chat_turn late_system[] = {{BC_ROLE_USER, &a, 1}, {BC_ROLE_SYSTEM, &a, 1}};
    int32_t *out = NULL;
    size_t n = 0;
    bc_error err = {""};
    CHECK(bc_chat_build(late_system, 2, 195, 196, 100, &out, &n, &err) != 0 &&
              strstr(err.msg, "system"),
          "system message after index 0 rejected: %s", err.msg);
    CHECK(bc_chat_build(late_system, 0, 195, 196, 100, &out, &n, &err) != 0,
          "no messages rejected: %s", err.msg);
    CHECK(bc_chat_build(late_system, 1, 195, 196, 0, &out, &n, &err) != 0 &&
              strstr(err.msg, "max_new_tokens"),
          "max_input_tokens 0 rejected: %s", err.msg);
    CHECK(bc_chat_build(late_system, 1, 195, 196, -2048, &out, &n, &err) != 0,
          "negative max_input_tokens rejected");
    bc_chat_turn bad_role = {(bc_role)7, &a, 1};
    CHECK(bc_chat_build(&bad_role, 1, 195, 196, 10, &out, &n, &err) != 0, "unknown role rejected");
    free(out);
}

int main(void) {
    check_cases();
    check_spec_example();
    check_errors();
    return bc_test_done();
}
