/* Display text, widths and wrapping (see textwrap.h). */
#include "textwrap.h"

#include <stdlib.h>
#include <string.h>

wchar_t *bc_display_text(const char *utf8, size_t len, size_t *out_len) {
    wchar_t *w = malloc((len * 4 + 1) * sizeof *w); /* a tab becomes 4 */
    if (!w) return NULL;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t i = 0, o = 0;
    while (i < len) {
        wchar_t c;
        size_t r = mbrtowc(&c, utf8 + i, len - i, &st);
        if (r == (size_t)-1 || r == (size_t)-2) {
            memset(&st, 0, sizeof st);
            w[o++] = 0xFFFD;
            i++;
            continue;
        }
        if (r == 0) r = 1; /* an embedded NUL */
        i += r;
        if (c == 0xFE0F || c == 0x200D) continue;
        if (c == '\t') {
            for (int k = 0; k < 4; k++) w[o++] = ' ';
            continue;
        }
        if (c != '\n' && (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0))) c = 0xFFFD;
        if (c != '\n' && wcwidth(c) < 0) c = 0xFFFD;
        w[o++] = c;
    }
    w[o] = 0;
    *out_len = o;
    return w;
}

int bc_char_width(wchar_t c) {
    int n = wcwidth(c);
    return n < 0 ? 1 : n;
}

int bc_text_width(const wchar_t *s, size_t n) {
    int cols = 0;
    for (size_t i = 0; i < n; i++) cols += bc_char_width(s[i]);
    return cols;
}

size_t bc_wrap(const wchar_t *s, size_t n, int width, bc_row_fn row, void *user) {
    if (width < 2) width = 2;
    size_t rows = 0, start = 0;
    while (start <= n) {
        size_t i = start, last_space = (size_t)-1;
        int cols = 0;
        while (i < n && s[i] != '\n') {
            int cw = bc_char_width(s[i]);
            if (cols + cw > width) break;
            if (s[i] == ' ') last_space = i;
            cols += cw;
            i++;
        }
        /* Keep combining marks with the character before them. */
        while (i < n && s[i] != '\n' && bc_char_width(s[i]) == 0) i++;
        if (i >= n || s[i] == '\n') {
            row(user, start, i - start);
            rows++;
            if (i >= n) break;
            start = i + 1;
            continue;
        }
        if (last_space != (size_t)-1 && last_space > start) {
            row(user, start, last_space - start);
            start = last_space + 1;
        } else {
            if (i == start) i++; /* a character wider than the row */
            row(user, start, i - start);
            start = i;
        }
        rows++;
    }
    return rows;
}
