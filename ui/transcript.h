/* bc_transcript: what the transcript pane shows, as data. Messages plus a
 * layout (wrapped rows) for one width; the layout is recomputed when the
 * width changes and, while a reply streams, only for the message that grew
 * (tui-notes §3.4). Scrolling state lives here too. No curses. */
#ifndef BC_TRANSCRIPT_H
#define BC_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

typedef enum bc_msg_kind {
    BC_MSG_SYSTEM = 0, BC_MSG_USER, BC_MSG_ASSISTANT, BC_MSG_INFO, BC_MSG_ERROR
} bc_msg_kind;

/* How a row is styled; the view maps these to theme styles. */
typedef enum bc_row_style {
    BC_ROW_HEADER_USER = 0, BC_ROW_HEADER_ASSISTANT, BC_ROW_HEADER_SYSTEM, BC_ROW_USER,
    BC_ROW_ASSISTANT, BC_ROW_CODE, BC_ROW_SYSTEM, BC_ROW_INFO, BC_ROW_ERROR, BC_ROW_BLANK,
} bc_row_style;

typedef struct bc_row {
    const wchar_t *text; /* points into the message's display text */
    size_t len;          /* characters */
    bc_row_style style;
} bc_row;

typedef struct bc_transcript bc_transcript;

bc_transcript *bc_transcript_new(void);
void bc_transcript_free(bc_transcript *t);
void bc_transcript_clear(bc_transcript *t);

/* Adds a message; header is shown above it ("You", "Assistant · fake").
 * Returns its index or -1. */
int bc_transcript_add(bc_transcript *t, bc_msg_kind kind, const char *header, const char *utf8);
/* Appends UTF-8 to message i (a streaming reply). */
int bc_transcript_append(bc_transcript *t, int i, const char *utf8, size_t len);
void bc_transcript_set_header(bc_transcript *t, int i, const char *header);
/* Drops messages i.. to the end. */
void bc_transcript_truncate(bc_transcript *t, int i);
int bc_transcript_count(const bc_transcript *t);
/* The UTF-8 text of message i (NUL-terminated). */
const char *bc_transcript_text(const bc_transcript *t, int i);

/* Lays out for `width` columns (cheap when nothing changed) and returns the
 * number of rows. */
size_t bc_transcript_layout(bc_transcript *t, int width);
const bc_row *bc_transcript_row(const bc_transcript *t, size_t i);

/* Scrolling, in rows, for a pane `height` rows high. The view follows the
 * bottom only while it is at the bottom. */
void bc_transcript_scroll(bc_transcript *t, long delta, int height);
void bc_transcript_scroll_home(bc_transcript *t);
void bc_transcript_scroll_end(bc_transcript *t);
/* First row to show; also updates the follow state. */
size_t bc_transcript_top(bc_transcript *t, int height);
/* True when rows exist below the visible part (the "new text below" marker). */
bool bc_transcript_more_below(bc_transcript *t, int height);

#endif
