/* bc_keyparser: turns terminal bytes into keys for the parts of the UI that
 * do not go through readline (the history pane). Escape sequences may arrive
 * split across reads (a pty delivers what was written so far): an incomplete
 * one is kept until the next feed, and the caller flushes it after a timeout
 * (a lone ESC is only known to be lone when nothing follows it). A bracketed
 * paste is swallowed whole, so pasted letters never act as pane commands. */
#ifndef BC_KEYPARSE_H
#define BC_KEYPARSE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum bc_key_kind {
    BC_KEY_CHAR = 0, /* `ch` (one byte: the pane's commands are ASCII) */
    BC_KEY_UP, BC_KEY_DOWN, BC_KEY_HOME, BC_KEY_END, BC_KEY_PAGE_UP, BC_KEY_PAGE_DOWN,
    BC_KEY_DELETE,
    BC_KEY_ESC,      /* a lone Escape */
    BC_KEY_OTHER,    /* any other escape sequence (F-keys, mouse reports, ...) */
} bc_key_kind;

typedef struct bc_key {
    bc_key_kind kind;
    unsigned char ch; /* CHAR */
} bc_key;

typedef void (*bc_key_fn)(void *user, bc_key key);

typedef struct bc_keyparser {
    unsigned char seq[32]; /* the escape sequence read so far */
    size_t len;            /* bytes in seq; 0 = none pending */
    bool in_paste;         /* between ESC[200~ and ESC[201~ */
    size_t paste_match;    /* bytes of ESC[201~ matched so far */
} bc_keyparser;

/* Calls fn once per complete key in b[0..n). */
void bc_keyparser_feed(bc_keyparser *p, const unsigned char *b, size_t n, bc_key_fn fn, void *user);

/* Milliseconds the caller should wait for the rest of a pending sequence
 * before calling bc_keyparser_flush: short after a lone ESC (a key of its
 * own, most likely), longer once "ESC [" or "ESC O" showed a sequence has
 * begun. -1 when nothing is pending. */
int bc_keyparser_wait_ms(const bc_keyparser *p);

/* Nothing more came: a pending lone ESC is reported as ESC, an incomplete
 * sequence as OTHER. */
void bc_keyparser_flush(bc_keyparser *p, bc_key_fn fn, void *user);

#endif
