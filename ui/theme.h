/* bc_theme: colours and attributes of every screen element, loaded from a
 * YAML file (themes/NAME.yaml). Colours are names ("red", "bright-blue",
 * "default"), 256-colour indexes (0-255) or "#rrggbb"; on terminals with 8 or
 * 16 colours they fall back to a basic one (bc_theme_basic_color). NO_COLOR (set, non-empty)
 * forces the mono theme. Themes are data: a table indexed by bc_style. */
#ifndef BC_THEME_H
#define BC_THEME_H

#include <stdbool.h>
#include <stddef.h>

#include "bc_error.h"

typedef enum bc_style {
    BC_STYLE_NORMAL = 0, BC_STYLE_USER, BC_STYLE_USER_HEADER, BC_STYLE_ASSISTANT,
    BC_STYLE_ASSISTANT_HEADER, BC_STYLE_CODE, BC_STYLE_SYSTEM, BC_STYLE_INFO, BC_STYLE_ERROR,
    BC_STYLE_STATUS, BC_STYLE_STATUS_ERROR, BC_STYLE_BORDER, BC_STYLE_PANE, BC_STYLE_SELECTED,
    BC_STYLE_MARKER, BC_STYLE_INPUT, BC_STYLE_PROGRESS,
    BC_STYLE_COUNT
} bc_style;

/* A colour before it meets a terminal: -1 = terminal default. */
typedef struct bc_color {
    int index;      /* 0-255, or -1 */
    bool rgb;       /* given as #rrggbb: r,g,b valid */
    unsigned char r, g, b;
} bc_color;

typedef struct bc_style_def {
    bc_color fg, bg;
    bool bold, underline, reverse, dim, italic;
} bc_style_def;

typedef struct bc_theme {
    char name[64];
    bool ascii_borders;  /* '|' '-' instead of line drawing */
    /* `background: light`: made for a light terminal background. Only the
     * fallback to 8/16 colours uses it (which of black and white shows). */
    bool light_background;
    bc_style_def styles[BC_STYLE_COUNT];
} bc_theme;

/* Built-in mono theme (attributes only): the fallback for every error. */
void bc_theme_mono(bc_theme *t);

/* NAME is looked up as $XDG_CONFIG_HOME/baichuan-chat/themes/NAME.yaml, then
 * in the source/installed themes directories; a NAME with a '/' or ending in
 * .yaml is a file. On error *t is the mono theme and err says why. */
int bc_theme_load(const char *name, bc_theme *t, bc_error *err);
int bc_theme_load_file(const char *path, bc_theme *t, bc_error *err);

/* Theme files are a few hundred bytes of two-level YAML: anything bigger or
 * deeper than this is refused before libyaml builds a tree of it. */
#define BC_THEME_MAX_BYTES (256 * 1024)
#define BC_THEME_MAX_DEPTH 8
/* Parses a theme held in memory (text need not be NUL-terminated); `path`
 * names it in messages. Same results as bc_theme_load_file. */
int bc_theme_parse(const char *path, const char *text, size_t len, bc_theme *t, bc_error *err);

/* The fallback of a colour on a terminal with `ncolors` colours (8 or 16;
 * 256 or more keep the index): greys by lightness (a mid grey on 8 colours
 * is black or white, whichever shows on the theme's background), other
 * colours by hue. -1 = the terminal's default. */
short bc_theme_basic_color(const bc_color *c, int ncolors, bool light_background);
/* The curses colour numbers of style s with `ncolors` colours: the basic
 * colours above, then a bar (status, selected, marker, progress) keeps a
 * background apart from the terminal's own, and text too close to its
 * background in lightness becomes black or white. */
void bc_theme_pair(const bc_theme *t, bc_style s, int ncolors, short *fg, short *bg);
/* Creates colour pairs for the current terminal (after start_color). Call
 * again after loading another theme. */
void bc_theme_apply(const bc_theme *t);
/* curses attributes (pair + flags) of a style. */
unsigned long bc_theme_attr(const bc_theme *t, bc_style s);

#endif
