/* bc_view: draws one frame from a description of the screen (bc_view_state).
 * It reads the model (transcript, input line, status) and never changes it,
 * except the transcript's scroll clamp. Only the UI thread calls it. */
#ifndef BC_VIEW_H
#define BC_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "theme.h"
#include "transcript.h"

typedef enum bc_view_mode { BC_VIEW_IDLE = 0, BC_VIEW_LOADING, BC_VIEW_GENERATING, BC_VIEW_NO_MODEL } bc_view_mode;

typedef struct bc_view_item {
    const char *title;
    const char *detail;   /* "2026-11-27 03:04 · fake" */
    bool current;         /* the open conversation */
    bool corrupt;
} bc_view_item;

typedef struct bc_view_state {
    bc_transcript *transcript;
    const bc_theme *theme;
    /* history pane */
    bool show_history, focus_history;
    const bc_view_item *items;
    size_t n_items, selected;
    const char *filter;          /* the pane's filter text ("" = none) */
    bool filtering;              /* the filter is being typed */
    /* status bar */
    const char *model, *backend, *quant;
    bc_view_mode mode;
    double load_fraction;        /* 0..1 while loading */
    double prompt_tps, decode_tps; /* of the last reply; 0 = none yet */
    int context_used, context_max;
    const char *message;         /* one-line status message, may be NULL */
    bool message_is_error;
    /* overlay */
    const char *const *help_lines; /* NULL = no help shown */
    size_t n_help_lines;
    int help_top;                  /* first help row shown (scrolled) */
} bc_view_state;

void bc_view_draw(bc_view_state *v);
/* Rows of the transcript pane in the current layout (for paging). */
int bc_view_transcript_rows(void);
/* The largest useful help_top in the last frame (0: the help fits). */
int bc_view_help_scroll_max(void);

#endif
