/* bc_keyparser (see keyparse.h). */
#include "keyparse.h"

#include <stdlib.h>
#include <string.h>

static const unsigned char PASTE_END[] = "\033[201~";

static void emit(bc_key_fn fn, void *user, bc_key_kind kind, unsigned char ch) {
    bc_key k = {kind, ch};
    fn(user, k);
}

/* seq holds ESC '[' params... final (CSI) or ESC 'O' final (SS3). */
static void finish_sequence(bc_keyparser *p, bc_key_fn fn, void *user) {
    unsigned char final = p->seq[p->len - 1];
    bc_key_kind k = BC_KEY_OTHER;
    if (p->len == 3 || p->seq[1] == 'O') {
        switch (final) {
        case 'A': k = BC_KEY_UP; break;
        case 'B': k = BC_KEY_DOWN; break;
        case 'H': k = BC_KEY_HOME; break;
        case 'F': k = BC_KEY_END; break;
        }
    } else if (final == '~' && p->seq[1] == '[') {
        /* ESC [ N ~ (xterm, tmux) with an optional ;modifier */
        int n = atoi((const char *)p->seq + 2);
        switch (n) {
        case 1: case 7: k = BC_KEY_HOME; break;
        case 4: case 8: k = BC_KEY_END; break;
        case 3: k = BC_KEY_DELETE; break;
        case 5: k = BC_KEY_PAGE_UP; break;
        case 6: k = BC_KEY_PAGE_DOWN; break;
        case 200:
            p->in_paste = true;
            p->paste_match = 0;
            p->len = 0;
            return;
        }
    }
    p->len = 0;
    emit(fn, user, k, 0);
}

static void feed_byte(bc_keyparser *p, unsigned char c, bc_key_fn fn, void *user) {
    if (p->in_paste) {
        /* Swallow until ESC[201~, matching it across reads. */
        if (c == PASTE_END[p->paste_match]) {
            if (++p->paste_match == sizeof PASTE_END - 1) p->in_paste = false;
        } else {
            p->paste_match = c == PASTE_END[0] ? 1 : 0;
        }
        return;
    }
    if (p->len == 0) {
        if (c == 0x1b) p->seq[p->len++] = c;
        else emit(fn, user, BC_KEY_CHAR, c);
        return;
    }
    if (p->len == 1) { /* after ESC */
        if (c == '[' || c == 'O') {
            p->seq[p->len++] = c;
            return;
        }
        p->len = 0;
        emit(fn, user, BC_KEY_ESC, 0); /* ESC then a key of its own */
        feed_byte(p, c, fn, user);
        return;
    }
    p->seq[p->len++] = c;
    bool final = p->seq[1] == 'O' ? true : (c >= 0x40 && c <= 0x7e);
    if (final) finish_sequence(p, fn, user);
    else if (p->len == sizeof p->seq) { /* not a sequence we know: drop it */
        p->len = 0;
        emit(fn, user, BC_KEY_OTHER, 0);
    }
}

void bc_keyparser_feed(bc_keyparser *p, const unsigned char *b, size_t n, bc_key_fn fn, void *user) {
    for (size_t i = 0; i < n; i++) feed_byte(p, b[i], fn, user);
}

int bc_keyparser_wait_ms(const bc_keyparser *p) {
    if (p->len == 0) return -1;
    return p->len == 1 ? 50 : 1000;
}

void bc_keyparser_flush(bc_keyparser *p, bc_key_fn fn, void *user) {
    if (p->len == 0) return;
    bc_key_kind k = p->len == 1 ? BC_KEY_ESC : BC_KEY_OTHER;
    p->len = 0;
    emit(fn, user, k, 0);
}
