/* bc_view: the screen layout and drawing. Layout (recomputed every frame
 * from LINES/COLS, so a resize needs nothing special):
 *
 *   [history pane |] transcript ............ rows 0 .. T-1
 *   status bar ............................. row T
 *   input (1-5 rows) ....................... rows T+1 .. LINES-1 */
#include "view.h"

#include <ncursesw/curses.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"
#include "textwrap.h"

enum { MAX_INPUT_ROWS = 5 };


/* Draws s[0..n) at (y, x) using at most max_cols columns. Returns columns used. */
static int put_wide(int y, int x, const wchar_t *s, size_t n, int max_cols) {
    int used = 0;
    move(y, x);
    for (size_t i = 0; i < n; i++) {
        int w = bc_char_width(s[i]);
        if (used + w > max_cols) break;
        addnwstr(&s[i], 1);
        used += w;
    }
    return used;
}

static int put_utf8(int y, int x, const char *s, int max_cols) {
    size_t n;
    wchar_t *w = bc_display_text(s, strlen(s), &n);
    if (!w) return 0;
    for (size_t i = 0; i < n; i++)
        if (w[i] == '\n') w[i] = ' ';
    int used = put_wide(y, x, w, n, max_cols);
    free(w);
    return used;
}

static void fill(int y, int x, int cols) {
    move(y, x);
    for (int i = 0; i < cols; i++) addch(' ');
}

static bc_style row_style(bc_row_style s) {
    switch (s) {
    case BC_ROW_HEADER_USER: return BC_STYLE_USER_HEADER;
    case BC_ROW_HEADER_ASSISTANT: return BC_STYLE_ASSISTANT_HEADER;
    case BC_ROW_HEADER_SYSTEM: return BC_STYLE_SYSTEM;
    case BC_ROW_USER: return BC_STYLE_USER;
    case BC_ROW_ASSISTANT: return BC_STYLE_ASSISTANT;
    case BC_ROW_CODE: return BC_STYLE_CODE;
    case BC_ROW_SYSTEM: return BC_STYLE_SYSTEM;
    case BC_ROW_INFO: return BC_STYLE_INFO;
    case BC_ROW_ERROR: return BC_STYLE_ERROR;
    case BC_ROW_BLANK: return BC_STYLE_NORMAL;
    }
    return BC_STYLE_NORMAL;
}

static void draw_transcript(bc_view_state *v, int x, int width, int height) {
    bc_transcript_layout(v->transcript, width);
    size_t top = bc_transcript_top(v->transcript, height);
    for (int r = 0; r < height; r++) {
        const bc_row *row = bc_transcript_row(v->transcript, top + (size_t)r);
        if (!row) break;
        bool header = row->style <= BC_ROW_HEADER_SYSTEM;
        attrset(bc_theme_attr(v->theme, row_style(row->style)));
        if (row->style == BC_ROW_CODE) fill(r, x + 2, width - 2);
        if (row->text) put_wide(r, header ? x : x + 2, row->text, row->len, header ? width : width - 2);
    }
    attrset(A_NORMAL);
    if (bc_transcript_more_below(v->transcript, height)) {
        const char *m = " ▼ new text below (End) ";
        attrset(bc_theme_attr(v->theme, BC_STYLE_MARKER));
        int w = 24;
        put_utf8(height - 1, x + (width > w ? width - w : 0), m, width);
        attrset(A_NORMAL);
    }
}

static void draw_history(bc_view_state *v, int width, int height) {
    bool ascii = v->theme->ascii_borders;
    attrset(bc_theme_attr(v->theme, BC_STYLE_BORDER));
    for (int r = 0; r < height; r++) {
        move(r, width);
        if (ascii) addch('|');
        else addch(ACS_VLINE);
    }
    attrset(bc_theme_attr(v->theme, v->focus_history ? BC_STYLE_SELECTED : BC_STYLE_PANE));
    fill(0, 0, width);
    char head[160];
    if (v->filtering)
        snprintf(head, sizeof head, "Find: %s_", v->filter ? v->filter : "");
    else if (v->filter && v->filter[0])
        snprintf(head, sizeof head, "“%s” (Esc: all)", v->filter);
    else
        snprintf(head, sizeof head, "%s", v->focus_history ? "Conversations (Tab: back)"
                                                           : "Conversations (Tab)");
    put_utf8(0, 1, head, width - 1);
    /* Two rows per item; keep the selection visible. */
    int per_page = (height - 1) / 2;
    size_t first = 0;
    if (per_page > 0 && v->selected >= (size_t)per_page) first = v->selected - (size_t)per_page + 1;
    for (size_t i = first; i < v->n_items && (int)(i - first) < per_page; i++) {
        int y = 1 + 2 * (int)(i - first);
        bool sel = v->focus_history && i == v->selected;
        attrset(bc_theme_attr(v->theme, sel ? BC_STYLE_SELECTED : v->items[i].corrupt ? BC_STYLE_ERROR : BC_STYLE_PANE));
        fill(y, 0, width);
        put_utf8(y, 0, v->items[i].current ? "*" : " ", 1);
        put_utf8(y, 1, v->items[i].title, width - 1);
        attrset(bc_theme_attr(v->theme, sel ? BC_STYLE_SELECTED : BC_STYLE_SYSTEM));
        fill(y + 1, 0, width);
        put_utf8(y + 1, 2, v->items[i].detail, width - 2);
    }
    if (v->n_items == 0) {
        attrset(bc_theme_attr(v->theme, BC_STYLE_SYSTEM));
        put_utf8(2, 1, v->filter && v->filter[0] ? "(none match)" : "(no saved conversations)",
                 width - 1);
    }
    attrset(A_NORMAL);
}

static void draw_status(bc_view_state *v, int y) {
    attrset(bc_theme_attr(v->theme, BC_STYLE_STATUS));
    fill(y, 0, COLS);
    char left[512];
    const char *state = "idle";
    char loading[64];
    switch (v->mode) {
    case BC_VIEW_IDLE: state = "idle"; break;
    case BC_VIEW_GENERATING: state = "generating"; break;
    case BC_VIEW_NO_MODEL: state = "no model"; break;
    case BC_VIEW_LOADING:
        snprintf(loading, sizeof loading, "loading %3.0f%%", v->load_fraction * 100);
        state = loading;
        break;
    }
    /* ascii_borders: for terminals or fonts without box-drawing glyphs */
    bool ascii = v->theme->ascii_borders;
    const char *dot = ascii ? "-" : "·", *bar = ascii ? "|" : "│";
    snprintf(left, sizeof left, " %s %s %s %s %s %s %s", v->model ? v->model : "-", dot,
             v->backend ? v->backend : "-", dot, v->quant ? v->quant : "-", bar, state);
    int x = put_utf8(y, 0, left, COLS);
    if (v->mode == BC_VIEW_LOADING && x + 12 < COLS) {
        /* A 10-cell bar. */
        int filled = (int)(v->load_fraction * 10 + 0.5);
        move(y, x + 1);
        attrset(bc_theme_attr(v->theme, BC_STYLE_PROGRESS));
        for (int i = 0; i < filled; i++) addch(' ');
        attrset(bc_theme_attr(v->theme, BC_STYLE_STATUS));
        for (int i = filled; i < 10; i++) addch(v->theme->ascii_borders ? '.' : ACS_BULLET);
        x += 11;
    }
    char right[160] = "";
    if (v->decode_tps > 0 || v->context_max > 0)
        snprintf(right, sizeof right, "prompt %.1f t/s %s decode %.1f t/s %s ctx %d/%d ",
                 v->prompt_tps, dot, v->decode_tps, dot, v->context_used, v->context_max);
    size_t rn;
    wchar_t *rw = bc_display_text(right, strlen(right), &rn);
    int rwidth = rw ? bc_text_width(rw, rn) : 0;
    free(rw);
    /* The message wins over the speed figures when both do not fit. */
    int msg_w = 0;
    if (v->message && *v->message) {
        size_t mn;
        wchar_t *mw = bc_display_text(v->message, strlen(v->message), &mn);
        msg_w = mw ? bc_text_width(mw, mn) + 3 : 0;
        free(mw);
    }
    bool show_right = rwidth && COLS - x - msg_w > rwidth + 1;
    if (msg_w) {
        attrset(bc_theme_attr(v->theme, v->message_is_error ? BC_STYLE_STATUS_ERROR : BC_STYLE_STATUS));
        int room = COLS - x - 3 - (show_right ? rwidth + 1 : 0);
        if (room > 4) {
            put_utf8(y, x, ascii ? " | " : " │ ", 3);
            put_utf8(y, x + 3, v->message, room);
        }
        attrset(bc_theme_attr(v->theme, BC_STYLE_STATUS));
    }
    if (show_right) put_utf8(y, COLS - rwidth, right, rwidth);
    attrset(A_NORMAL);
}

typedef struct rows_ctx {
    size_t start[256], len[256];
    int n;
} rows_ctx;

static void collect_row(void *user, size_t start, size_t len) {
    rows_ctx *c = user;
    if (c->n < 256) {
        c->start[c->n] = start;
        c->len[c->n] = len;
        c->n++;
    }
}

/* The input line, prompt + text wrapped to the screen width, measured before
 * the frame is laid out: the rows it needs this frame decide where the
 * status bar goes (measured while drawing, a new line showed one key late). */
typedef struct input_layout {
    wchar_t *w;      /* prompt + text as display characters [n] */
    size_t n, ncur;  /* ncur: display characters before the cursor */
    rows_ctx rc;     /* the wrapped rows */
    int crow;        /* the row holding the cursor */
} input_layout;

static int layout_input(input_layout *il) {
    il->w = NULL;
    const char *prompt = bc_input_prompt(), *text = bc_input_text();
    size_t plen = strlen(prompt), tlen = strlen(text), cur = bc_input_cursor_byte();
    if (cur > tlen) cur = tlen;
    char *all = malloc(plen + tlen + 1);
    if (!all) return -1;
    memcpy(all, prompt, plen);
    memcpy(all + plen, text, tlen + 1);
    size_t nprompt;
    wchar_t *wp = bc_display_text(all, plen, &nprompt);
    wchar_t *wc = bc_display_text(all, plen + cur, &il->ncur);
    il->w = bc_display_text(all, plen + tlen, &il->n);
    free(all);
    free(wc);
    if (!il->w || !wp || !wc) {
        free(il->w);
        free(wp);
        il->w = NULL;
        return -1;
    }
    free(wp);
    /* The prompt's blank is no place to break a row (a first word longer
     * than the row would leave "> " alone above it): it is a no-break space
     * while the rows are found, and a blank again to be drawn. */
    size_t np = nprompt < il->n ? nprompt : il->n;
    for (size_t i = 0; i < np; i++)
        if (il->w[i] == ' ') il->w[i] = 0xA0;
    il->rc.n = 0;
    bc_wrap(il->w, il->n, COLS - 1, collect_row, &il->rc);
    for (size_t i = 0; i < np; i++)
        if (il->w[i] == 0xA0) il->w[i] = ' ';
    il->crow = 0;
    for (int i = 0; i < il->rc.n; i++)
        if (il->rc.start[i] <= il->ncur) il->crow = i;
    return 0;
}

/* Draws the rows of il that fit in `rows`, scrolled so that the cursor row
 * is visible, and returns the cursor position. */
static void draw_input(bc_view_state *v, const input_layout *il, int y0, int rows, int *cy,
                       int *cx) {
    if (!il->w) return;
    const rows_ctx *rc = &il->rc;
    int crow = il->crow;
    int first = crow >= rows ? crow - rows + 1 : 0;
    attrset(bc_theme_attr(v->theme, BC_STYLE_INPUT));
    for (int r = 0; r < rows; r++) {
        fill(y0 + r, 0, COLS);
        if (first + r < rc->n)
            put_wide(y0 + r, 0, il->w + rc->start[first + r], rc->len[first + r], COLS - 1);
    }
    size_t in_row = il->ncur - rc->start[crow];
    if (in_row > rc->len[crow]) in_row = rc->len[crow];
    *cy = y0 + crow - first;
    *cx = bc_text_width(il->w + rc->start[crow], in_row);
    if (*cx >= COLS) *cx = COLS - 1;
    attrset(A_NORMAL);
}

/* The help overlay: lines wider than the screen continue on the next row,
 * indented; more rows than fit scroll (help_top), with a marker saying so. */
typedef struct help_row { const wchar_t *w; size_t len; bool cont; } help_row;
typedef struct help_rows { help_row *r; size_t n, cap; const wchar_t *line; } help_rows;

static void collect_help_row(void *user, size_t start, size_t len) {
    help_rows *h = user;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        help_row *r = realloc(h->r, cap * sizeof *r);
        if (!r) return;
        h->r = r;
        h->cap = cap;
    }
    h->r[h->n++] = (help_row){h->line + start, len, start > 0};   /* later rows continue it */
}

static int help_scroll_max;

int bc_view_help_scroll_max(void) { return help_scroll_max; }

static void draw_help(bc_view_state *v) {
    int w = 0;
    wchar_t **lines = calloc(v->n_help_lines, sizeof *lines);
    size_t *lens = calloc(v->n_help_lines, sizeof *lens);
    help_rows h = {0};
    if (!lines || !lens) goto done;
    for (size_t i = 0; i < v->n_help_lines; i++) {
        lines[i] = bc_display_text(v->help_lines[i], strlen(v->help_lines[i]), &lens[i]);
        if (lines[i] && bc_text_width(lines[i], lens[i]) > w) w = bc_text_width(lines[i], lens[i]);
    }
    w += 4;   /* two blank columns each side */
    if (w > COLS) w = COLS;
    int inner = w - 4 > 8 ? w - 4 : 8;
    for (size_t i = 0; i < v->n_help_lines; i++) {
        if (!lines[i]) continue;
        h.line = lines[i];
        bc_wrap(lines[i], lens[i], inner, collect_help_row, &h);
    }
    int height = (int)h.n + 2;
    if (height > LINES) height = LINES;
    int visible = height - 2 > 0 ? height - 2 : 0;
    help_scroll_max = (int)h.n - visible > 0 ? (int)h.n - visible : 0;
    int top = v->help_top < 0 ? 0 : v->help_top > help_scroll_max ? help_scroll_max : v->help_top;
    int y0 = (LINES - height) / 2, x0 = (COLS - w) / 2;
    attrset(bc_theme_attr(v->theme, BC_STYLE_STATUS));
    for (int r = 0; r < height; r++) fill(y0 + r, x0, w);
    for (int r = 0; r < visible; r++) {
        const help_row *hr = &h.r[top + r];
        int indent = hr->cont ? 6 : 0;
        put_wide(y0 + 1 + r, x0 + 2 + indent, hr->w, hr->len, inner - indent);
    }
    if (top > 0) put_utf8(y0, x0 + w - 12 > x0 ? x0 + w - 12 : x0, " ↑ more ", 8);
    if (top < help_scroll_max)
        put_utf8(y0 + height - 1, x0 + w - 24 > x0 ? x0 + w - 24 : x0, " ↓ more: Down, PgDn ", 20);
done:
    attrset(A_NORMAL);
    for (size_t i = 0; lines && i < v->n_help_lines; i++) free(lines[i]);
    free(lines);
    free(lens);
    free(h.r);
}

static int transcript_rows;

int bc_view_transcript_rows(void) { return transcript_rows > 1 ? transcript_rows : 1; }

void bc_view_draw(bc_view_state *v) {
    erase();
    input_layout il;
    int needed = layout_input(&il) == 0 ? il.rc.n : 1;
    int in_rows = needed < 1 ? 1 : needed > MAX_INPUT_ROWS ? MAX_INPUT_ROWS : needed;
    if (LINES < 6) in_rows = 1;
    int status_y = LINES - in_rows - 1;
    if (status_y < 1) status_y = 1;
    transcript_rows = status_y;
    int pane_w = 0;
    if (v->show_history && COLS >= 40) {
        pane_w = COLS / 3 > 32 ? 32 : COLS / 3;
        draw_history(v, pane_w, transcript_rows);
        pane_w += 1; /* the border */
    }
    draw_transcript(v, pane_w, COLS - pane_w, transcript_rows);
    draw_status(v, status_y);
    int cy = status_y + 1, cx = 0;
    draw_input(v, &il, status_y + 1, in_rows, &cy, &cx);
    free(il.w);
    if (v->help_lines) draw_help(v);
    if (v->focus_history || v->help_lines) curs_set(0);
    else {
        curs_set(1);
        move(cy, cx);
    }
    bc_input_dirty = false;
    refresh();
}
