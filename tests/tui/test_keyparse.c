/* The history pane's key decoder: the key sequences terminfo lists for
 * xterm-256color and tmux-256color (the ncurses database is the reference),
 * plus their CSI forms, decoded whole and split at every byte boundary across
 * feeds; a lone ESC only after a flush; a bracketed paste swallowed, its end
 * marker split too. */
#include <ncursesw/curses.h>
#include <ncursesw/term.h>
#include <string.h>

#include "bc_test.h"
#include "keyparse.h"

typedef struct keys {
    bc_key k[64];
    int n;
} keys;

static void collect(void *user, bc_key key) {
    keys *ks = user;
    if (ks->n < 64) ks->k[ks->n++] = key;
}

/* Feeds s split after `cut` bytes (cut = len: unsplit). */
static keys decode_split(const char *s, size_t cut) {
    keys ks = {.n = 0};
    bc_keyparser p;
    memset(&p, 0, sizeof p);
    size_t n = strlen(s);
    bc_keyparser_feed(&p, (const unsigned char *)s, cut, collect, &ks);
    bc_keyparser_feed(&p, (const unsigned char *)s + cut, n - cut, collect, &ks);
    return ks;
}

static void check_key_everywhere(const char *term, const char *cap, const char *seq, bc_key_kind want) {
    size_t n = strlen(seq);
    int good = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        keys ks = decode_split(seq, cut);
        if (ks.n == 1 && ks.k[0].kind == want) good++;
    }
    CHECK(good == (int)n + 1, "%s %s (%zu bytes): one key at each of %zu split points (%d good)", term, cap, n,
          n + 1, good);
}

int main(void) {
    static const struct {
        const char *cap;
        bc_key_kind kind;
    } caps[] = {
        {"kcuu1", BC_KEY_UP}, {"kcud1", BC_KEY_DOWN}, {"kdch1", BC_KEY_DELETE},
        {"kpp", BC_KEY_PAGE_UP}, {"knp", BC_KEY_PAGE_DOWN}, {"khome", BC_KEY_HOME}, {"kend", BC_KEY_END},
    };
    static const char *const terms[] = {"xterm-256color", "tmux-256color"};
    int found = 0;
    for (size_t t = 0; t < 2; t++) {
        int errret = 0;
        if (setupterm((char *)terms[t], -1, &errret) != OK) {
            printf("# %s: no terminfo entry\n", terms[t]);
            continue;
        }
        found++;
        for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
            char *s = tigetstr((char *)caps[i].cap);
            if (!s || s == (char *)-1) continue;
            check_key_everywhere(terms[t], caps[i].cap, s, caps[i].kind);
        }
        /* the next setupterm would replace (and leak) this entry */
        del_curterm(cur_term);
    }
    if (!found) BC_SKIP("no terminfo for xterm-256color or tmux-256color");
    /* The cursor keys in normal (not application) mode. */
    check_key_everywhere("CSI", "up", "\033[A", BC_KEY_UP);
    check_key_everywhere("CSI", "down", "\033[B", BC_KEY_DOWN);
    check_key_everywhere("CSI", "shift-delete", "\033[3;2~", BC_KEY_DELETE);

    /* A lone ESC is held until the caller's timeout says nothing follows. */
    keys ks = {.n = 0};
    bc_keyparser p;
    memset(&p, 0, sizeof p);
    bc_keyparser_feed(&p, (const unsigned char *)"j\033", 2, collect, &ks);
    CHECK(ks.n == 1 && ks.k[0].kind == BC_KEY_CHAR && ks.k[0].ch == 'j' && bc_keyparser_wait_ms(&p) > 0,
          "'j' ESC: the j now, the ESC pending (wait %d ms)", bc_keyparser_wait_ms(&p));
    bc_keyparser_flush(&p, collect, &ks);
    CHECK(ks.n == 2 && ks.k[1].kind == BC_KEY_ESC && bc_keyparser_wait_ms(&p) < 0, "flush: a lone ESC");
    CHECK(bc_keyparser_wait_ms(&p) == -1, "nothing pending after the flush");
    /* "ESC [" waits longer than a lone ESC: a sequence has begun. */
    bc_keyparser_feed(&p, (const unsigned char *)"\033[", 2, collect, &ks);
    int w_seq = bc_keyparser_wait_ms(&p);
    bc_keyparser_flush(&p, collect, &ks);
    bc_keyparser_feed(&p, (const unsigned char *)"\033", 1, collect, &ks);
    CHECK(w_seq > bc_keyparser_wait_ms(&p), "ESC [ waits %d ms, a lone ESC %d ms", w_seq,
          bc_keyparser_wait_ms(&p));
    /* ESC followed by a plain key: both. */
    ks.n = 0;
    memset(&p, 0, sizeof p);
    bc_keyparser_feed(&p, (const unsigned char *)"\033q", 2, collect, &ks);
    CHECK(ks.n == 2 && ks.k[0].kind == BC_KEY_ESC && ks.k[1].kind == BC_KEY_CHAR && ks.k[1].ch == 'q',
          "ESC q: ESC, then q");

    /* A bracketed paste produces no keys (its letters are not pane commands),
     * whatever the split; the key after it does. */
    const char *paste = "\033[200~dny\033[20\033[201~k";
    size_t n = strlen(paste);
    int good = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        keys r = decode_split(paste, cut);
        if (r.n == 1 && r.k[0].kind == BC_KEY_CHAR && r.k[0].ch == 'k') good++;
    }
    CHECK(good == (int)n + 1, "bracketed paste swallowed at each of %zu split points (%d good)", n + 1, good);
    return bc_test_done();
}
