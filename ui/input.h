/* bc_input: GNU readline in callback mode inside the ncurses UI
 * (tui-notes §3.2, "queue-fed"). Bytes read from the terminal are appended to
 * a byte queue and readline consumes them from there: a bracketed paste is
 * one insertion, never a byte-at-a-time spin. Readline never draws: the view
 * draws bc_input_prompt()/bc_input_text() and places the cursor at
 * bc_input_cursor_byte().
 *
 * Keys the app owns are readline functions too (so ~/.inputrc can rebind
 * them under `$if baichuan-chat`): bc-insert-newline (C-j, M-RET), bc-help
 * (F1), bc-toggle-focus (TAB), bc-page-up/down, bc-home/bc-end (scroll when
 * the line is empty). Ctrl-C (byte 0x03, the terminal is raw) and mouse
 * wheel reports are taken out of the byte stream before readline sees it.
 * Only the UI thread may call these functions. */
#ifndef BC_INPUT_H
#define BC_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "bc_error.h"

typedef enum bc_input_action {
    BC_ACT_INTERRUPT = 0, BC_ACT_HELP, BC_ACT_TOGGLE_FOCUS, BC_ACT_PAGE_UP, BC_ACT_PAGE_DOWN,
    BC_ACT_HOME, BC_ACT_END, BC_ACT_WHEEL_UP, BC_ACT_WHEEL_DOWN,
    BC_ACT_SUSPEND, /* Ctrl-Z: the terminal is raw, so it arrives as a key */
} bc_input_action;

typedef struct bc_input_callbacks {
    void (*on_line)(void *user, char *line); /* malloc'd line, NULL on Ctrl-D at an empty line */
    void (*on_action)(void *user, bc_input_action a);
    void *user;
} bc_input_callbacks;

/* history_path may be NULL (no persistent history). tty_fd is read when a
 * key sequence or a paste continues past the bytes already queued. */
int bc_input_init(const bc_input_callbacks *cb, const char *history_path, int tty_fd, bc_error *err);
void bc_input_shutdown(void);

/* Queues bytes from the terminal and lets readline consume all of them. */
void bc_input_feed(const unsigned char *bytes, size_t n);

const char *bc_input_prompt(void);
const char *bc_input_text(void);
size_t bc_input_cursor_byte(void);
bool bc_input_empty(void);
/* Replaces the line (e.g. /edit) and puts the cursor at its end. */
void bc_input_set_text(const char *text);

/* Set whenever readline changed the line; the view clears it after drawing. */
extern bool bc_input_dirty;

/* $XDG_STATE_HOME/baichuan-chat/history (directories created); malloc'd. */
char *bc_input_history_path(void);

#endif
