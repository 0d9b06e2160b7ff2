/* bc_transcript: messages, their wrapped rows, and the scroll position. */
#include "transcript.h"

#include <stdlib.h>
#include <string.h>

#include "textwrap.h"

typedef struct tmsg {
    bc_msg_kind kind;
    char *utf8;          /* the message text */
    size_t len, cap;     /* bytes */
    wchar_t *header;     /* display header, may be NULL */
    size_t header_len;
    wchar_t *disp;       /* display text of utf8 */
    size_t disp_len;
    bc_row *rows;        /* layout at t->width */
    size_t n_rows, cap_rows;
    bool dirty;          /* rows must be recomputed */
} tmsg;

struct bc_transcript {
    tmsg *msgs;
    int n, cap;
    int width;           /* width of the current layout, 0 = none */
    bc_row *all;         /* concatenated rows */
    size_t n_all, cap_all;
    bool all_dirty;
    size_t top;          /* first visible row when not following */
    bool follow;         /* stick to the bottom */
};

bc_transcript *bc_transcript_new(void) {
    bc_transcript *t = calloc(1, sizeof *t);
    if (t) t->follow = true;
    return t;
}

static void tmsg_free(tmsg *m) {
    free(m->utf8);
    free(m->header);
    free(m->disp);
    free(m->rows);
}

void bc_transcript_clear(bc_transcript *t) { bc_transcript_truncate(t, 0); }

void bc_transcript_free(bc_transcript *t) {
    if (!t) return;
    bc_transcript_clear(t);
    free(t->msgs);
    free(t->all);
    free(t);
}

int bc_transcript_count(const bc_transcript *t) { return t->n; }
const char *bc_transcript_text(const bc_transcript *t, int i) {
    return i >= 0 && i < t->n ? t->msgs[i].utf8 : "";
}

void bc_transcript_truncate(bc_transcript *t, int i) {
    if (i < 0) i = 0;
    while (t->n > i) tmsg_free(&t->msgs[--t->n]);
    t->all_dirty = true;
}

void bc_transcript_set_header(bc_transcript *t, int i, const char *header) {
    if (i < 0 || i >= t->n) return;
    tmsg *m = &t->msgs[i];
    free(m->header);
    m->header = header ? bc_display_text(header, strlen(header), &m->header_len) : NULL;
    m->dirty = t->all_dirty = true;
}

int bc_transcript_append(bc_transcript *t, int i, const char *utf8, size_t len) {
    if (i < 0 || i >= t->n) return -1;
    tmsg *m = &t->msgs[i];
    if (m->len + len + 1 > m->cap) {
        size_t cap = (m->len + len + 1) * 2;
        char *p = realloc(m->utf8, cap);
        if (!p) return -1;
        m->utf8 = p;
        m->cap = cap;
    }
    memcpy(m->utf8 + m->len, utf8, len);
    m->len += len;
    m->utf8[m->len] = 0;
    m->dirty = t->all_dirty = true;
    return 0;
}

int bc_transcript_add(bc_transcript *t, bc_msg_kind kind, const char *header, const char *utf8) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 32;
        tmsg *m = realloc(t->msgs, (size_t)cap * sizeof *m);
        if (!m) return -1;
        t->msgs = m;
        t->cap = cap;
    }
    tmsg *m = &t->msgs[t->n];
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->utf8 = calloc(1, 1);
    m->cap = 1;
    if (!m->utf8) return -1;
    int i = t->n++;
    bc_transcript_set_header(t, i, header);
    if (utf8) bc_transcript_append(t, i, utf8, strlen(utf8));
    m->dirty = t->all_dirty = true;
    return i;
}

/* ---- layout ------------------------------------------------------------- */

typedef struct wrap_ctx {
    tmsg *m;
    bc_row_style style;
    const wchar_t *base;
} wrap_ctx;

static void push_row(tmsg *m, const wchar_t *text, size_t len, bc_row_style style) {
    if (m->n_rows == m->cap_rows) {
        size_t cap = m->cap_rows ? m->cap_rows * 2 : 8;
        bc_row *r = realloc(m->rows, cap * sizeof *r);
        if (!r) return;
        m->rows = r;
        m->cap_rows = cap;
    }
    m->rows[m->n_rows++] = (bc_row){text, len, style};
}

static void on_row(void *user, size_t start, size_t len) {
    wrap_ctx *c = user;
    push_row(c->m, c->base + start, len, c->style);
}

static bool is_fence(const wchar_t *s, size_t n) {
    while (n && *s == ' ') s++, n--;
    return n >= 3 && s[0] == '`' && s[1] == '`' && s[2] == '`';
}

static const bc_row_style HEADER_STYLE[] = {BC_ROW_HEADER_SYSTEM, BC_ROW_HEADER_USER,
                                            BC_ROW_HEADER_ASSISTANT, BC_ROW_INFO, BC_ROW_ERROR};
static const bc_row_style BODY_STYLE[] = {BC_ROW_SYSTEM, BC_ROW_USER, BC_ROW_ASSISTANT,
                                          BC_ROW_INFO, BC_ROW_ERROR};

/* Wraps one message: header, then its text line by line, so that fenced code
 * blocks get their own style. An unclosed fence (still streaming) simply runs
 * to the end of the message. */
static void layout_msg(tmsg *m, int width) {
    m->n_rows = 0;
    free(m->disp);
    m->disp = bc_display_text(m->utf8, m->len, &m->disp_len);
    if (!m->disp) return;
    if (m->header) push_row(m, m->header, m->header_len, HEADER_STYLE[m->kind]);
    bool in_code = false;
    size_t start = 0;
    for (;;) {
        size_t end = start;
        while (end < m->disp_len && m->disp[end] != '\n') end++;
        bool fence = m->kind == BC_MSG_ASSISTANT && is_fence(m->disp + start, end - start);
        wrap_ctx c = {m, (in_code || fence) ? BC_ROW_CODE : BODY_STYLE[m->kind], m->disp + start};
        bc_wrap(m->disp + start, end - start, width - 2, on_row, &c);
        if (fence) in_code = !in_code;
        if (end >= m->disp_len) break;
        start = end + 1;
    }
    push_row(m, NULL, 0, BC_ROW_BLANK);
}

size_t bc_transcript_layout(bc_transcript *t, int width) {
    if (width != t->width) {
        for (int i = 0; i < t->n; i++) t->msgs[i].dirty = true;
        t->width = width;
        t->all_dirty = true;
    }
    if (!t->all_dirty) return t->n_all;
    size_t total = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->msgs[i].dirty) layout_msg(&t->msgs[i], width);
        t->msgs[i].dirty = false;
        total += t->msgs[i].n_rows;
    }
    if (total > t->cap_all) {
        bc_row *a = realloc(t->all, total * 2 * sizeof *a);
        if (!a) return t->n_all;
        t->all = a;
        t->cap_all = total * 2;
    }
    t->n_all = 0;
    for (int i = 0; i < t->n; i++) {
        memcpy(t->all + t->n_all, t->msgs[i].rows, t->msgs[i].n_rows * sizeof *t->all);
        t->n_all += t->msgs[i].n_rows;
    }
    t->all_dirty = false;
    return t->n_all;
}

const bc_row *bc_transcript_row(const bc_transcript *t, size_t i) {
    return i < t->n_all ? &t->all[i] : NULL;
}

/* ---- scrolling ---------------------------------------------------------- */

static size_t max_top(const bc_transcript *t, int height) {
    return t->n_all > (size_t)height ? t->n_all - (size_t)height : 0;
}

size_t bc_transcript_top(bc_transcript *t, int height) {
    size_t mt = max_top(t, height);
    if (t->follow || t->top >= mt) {
        t->top = mt;
        if (!t->follow && t->top == mt) t->follow = true;
    }
    return t->top;
}

void bc_transcript_scroll(bc_transcript *t, long delta, int height) {
    size_t top = bc_transcript_top(t, height);
    long nt = (long)top + delta;
    if (nt < 0) nt = 0;
    t->top = (size_t)nt;
    t->follow = t->top >= max_top(t, height);
}

void bc_transcript_scroll_home(bc_transcript *t) {
    t->top = 0;
    t->follow = false;
}

void bc_transcript_scroll_end(bc_transcript *t) { t->follow = true; }

bool bc_transcript_more_below(bc_transcript *t, int height) {
    return bc_transcript_top(t, height) < max_top(t, height);
}
