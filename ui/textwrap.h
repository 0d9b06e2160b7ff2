/* Display text for the terminal: UTF-8 -> wide characters that ncursesw and
 * the terminal agree on, display widths, and wrapping by columns.
 *
 * Widths come from libc wcwidth, the same function ncursesw uses to advance
 * the cursor (tui-notes §3.3): CJK = 2 columns, combining marks = 0. Where
 * glibc and terminals disagree (VS16 U+FE0F makes a terminal draw 2 columns
 * where glibc says 1; a ZWJ sequence is one 2-column glyph in many terminals
 * but 2+2 to glibc) we remove U+FE0F and U+200D, so every emoji is drawn as
 * itself and both sides count the same columns. No curses in this module. */
#ifndef BC_TEXTWRAP_H
#define BC_TEXTWRAP_H

#include <stddef.h>
#include <wchar.h>

/* Converts UTF-8 to display characters: VS16/ZWJ removed, tabs to 4 spaces,
 * other control characters and invalid bytes to U+FFFD; '\n' kept.
 * Returns a malloc'd, NUL-terminated array (*out_len characters) or NULL. */
wchar_t *bc_display_text(const char *utf8, size_t len, size_t *out_len);

/* Columns of one display character (0 for combining marks, 2 for wide). */
int bc_char_width(wchar_t c);
int bc_text_width(const wchar_t *s, size_t n);

/* Splits s[0..n) into rows of at most `width` columns: at '\n', else at the
 * last space that fits, else anywhere. Calls row(user, start, len) per row
 * (len excludes the '\n' and the space broken at). Returns the row count. */
typedef void (*bc_row_fn)(void *user, size_t start, size_t len);
size_t bc_wrap(const wchar_t *s, size_t n, int width, bc_row_fn row, void *user);

#endif
