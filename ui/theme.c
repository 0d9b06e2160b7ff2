/* bc_theme: YAML theme files and their mapping to curses colour pairs. */
#include "theme.h"

#include <ncursesw/curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "bc_build_config.h"
#include "yaml_reader.h"

static const char *const STYLE_NAMES[BC_STYLE_COUNT] = {
    "normal", "user", "user_header", "assistant", "assistant_header", "code", "system", "info",
    "error", "status", "status_error", "border", "pane", "selected", "marker", "input", "progress",
};

static const char *const COLOR_NAMES[] = {"black", "red", "green", "yellow",
                                          "blue", "magenta", "cyan", "white"};

static bc_style_def plain(void) {
    bc_style_def d;
    memset(&d, 0, sizeof d);
    d.fg.index = d.bg.index = -1;
    return d;
}

void bc_theme_mono(bc_theme *t) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "mono");
    for (int i = 0; i < BC_STYLE_COUNT; i++) t->styles[i] = plain();
    t->styles[BC_STYLE_USER_HEADER].bold = true;
    t->styles[BC_STYLE_USER].bold = true;
    t->styles[BC_STYLE_ASSISTANT_HEADER].underline = true;
    t->styles[BC_STYLE_CODE].dim = true;
    t->styles[BC_STYLE_SYSTEM].dim = true;
    t->styles[BC_STYLE_ERROR].bold = true;
    t->styles[BC_STYLE_STATUS].reverse = true;
    t->styles[BC_STYLE_STATUS_ERROR].reverse = true;
    t->styles[BC_STYLE_STATUS_ERROR].bold = true;
    t->styles[BC_STYLE_SELECTED].reverse = true;
    t->styles[BC_STYLE_MARKER].reverse = true;
    t->styles[BC_STYLE_PROGRESS].reverse = true;
}

/* The closest colour of the xterm 256-colour palette beyond the first 16:
 * the nearest 6x6x6 cube entry (levels 0, 95, 135, ..., 255) or the nearest
 * of the 24 greys (8, 18, ..., 238), whichever is closer (squared RGB
 * distance): greys like #d0d0d0 (grey 252) are not in the cube. */
static int nearest_xterm256(int r, int g, int b) {
    static const int lv[6] = {0, 95, 135, 175, 215, 255};
    int q[3] = {r, g, b};
    for (int k = 0; k < 3; k++) q[k] = q[k] < 48 ? 0 : q[k] < 115 ? 1 : (q[k] - 35) / 40;
    int cube = 16 + 36 * q[0] + 6 * q[1] + q[2];
    int dr = r - lv[q[0]], dg = g - lv[q[1]], db = b - lv[q[2]];
    int cube_d = dr * dr + dg * dg + db * db;
    int avg = (r + g + b) / 3;
    int gi = avg < 8 ? 0 : avg > 238 ? 23 : (avg - 8 + 5) / 10;
    if (gi > 23) gi = 23;
    int gv = 8 + 10 * gi;
    int grey_d = (r - gv) * (r - gv) + (g - gv) * (g - gv) + (b - gv) * (b - gv);
    return grey_d < cube_d ? 232 + gi : cube;
}

/* "red", "bright-red", "default", "196", "#ff0000". */
static int parse_color(const char *v, bc_color *c) {
    memset(c, 0, sizeof *c);
    c->index = -1;
    if (!strcmp(v, "default") || !strcmp(v, "none")) return 0;
    if (v[0] == '#') {
        unsigned r, g, b;
        if (strlen(v) != 7 || sscanf(v + 1, "%2x%2x%2x", &r, &g, &b) != 3) return -1;
        c->rgb = true;
        c->r = (unsigned char)r, c->g = (unsigned char)g, c->b = (unsigned char)b;
        c->index = nearest_xterm256((int)r, (int)g, (int)b);
        return 0;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (end != v && !*end) {
        if (n < 0 || n > 255) return -1;
        c->index = (int)n;
        return 0;
    }
    int bright = !strncmp(v, "bright-", 7);
    const char *base = bright ? v + 7 : v;
    for (int i = 0; i < 8; i++)
        if (!strcmp(base, COLOR_NAMES[i])) {
            c->index = i + (bright ? 8 : 0);
            return 0;
        }
    return -1;
}

/* Booleans are read as everywhere else (yaml_reader.h: true/false, not
 * yes/no); null, like an absent key, means false. */
static int get_flag(bc_yaml *y, const yaml_node_t *v, const char *key, bool *out, bc_error *err) {
    if (bc_yaml_kind_of(v) == BC_YAML_NULL) {
        *out = false;
        return 0;
    }
    return bc_yaml_get_bool(y, v, key, out, err);
}

static int parse_style_key(bc_yaml *y, const char *key, const yaml_node_t *k,
                           const yaml_node_t *v, const char *where, bc_style_def *s,
                           bc_error *err) {
    char path[96];
    snprintf(path, sizeof path, "%s.%.30s", where, key);
    if (!strcmp(key, "fg") || !strcmp(key, "bg")) {
        const char *text = bc_yaml_kind_of(v) == BC_YAML_NULL ? "default" : bc_yaml_scalar(v);
        if (!text || parse_color(text, !strcmp(key, "fg") ? &s->fg : &s->bg))
            return bc_yaml_errorf(y, v, path, err,
                                  "'%.40s' is not a colour (name, 0-255 or #rrggbb)",
                                  text ? text : "(a mapping or list)");
        return 0;
    }
    if (!strcmp(key, "bold")) return get_flag(y, v, path, &s->bold, err);
    if (!strcmp(key, "underline")) return get_flag(y, v, path, &s->underline, err);
    if (!strcmp(key, "reverse")) return get_flag(y, v, path, &s->reverse, err);
    if (!strcmp(key, "dim")) return get_flag(y, v, path, &s->dim, err);
    if (!strcmp(key, "italic")) return get_flag(y, v, path, &s->italic, err);
    return bc_yaml_errorf(y, k, path, err,
                          "unknown style key (fg, bg, bold, dim, underline, reverse, italic)");
}

/* One style: a mapping of fg/bg and attributes; null = no colour, no
 * attribute. */
static int parse_style(bc_yaml *y, const yaml_node_t *n, const char *where, bc_style_def *s,
                       bc_error *err) {
    if (bc_yaml_kind_of(n) == BC_YAML_NULL) return 0;
    if (n->type != YAML_MAPPING_NODE)
        return bc_yaml_errorf(y, n, where, err,
                              "a style must be a mapping like {fg: red, bold: true}");
    for (size_t i = 0, count = bc_yaml_map_size(n); i < count; i++) {
        yaml_node_t *k, *v;
        const char *key = bc_yaml_map_key(y, n, i, &k, &v);
        if (!key) return bc_yaml_errorf(y, k, where, err, "style keys must be scalars");
        if (parse_style_key(y, key, k, v, where, s, err) != 0) return -1;
    }
    return 0;
}

static int parse_styles(bc_yaml *y, const yaml_node_t *styles, bc_theme *nt, bc_error *err) {
    for (size_t i = 0, count = bc_yaml_map_size(styles); i < count; i++) {
        yaml_node_t *k, *v;
        const char *key = bc_yaml_map_key(y, styles, i, &k, &v);
        int idx = -1;
        for (int s = 0; key && s < BC_STYLE_COUNT; s++)
            if (!strcmp(key, STYLE_NAMES[s])) idx = s;
        if (idx < 0)
            return bc_yaml_errorf(y, k, "styles", err, "unknown style '%.40s'", key ? key : "?");
        char where[64];
        snprintf(where, sizeof where, "styles.%s", STYLE_NAMES[idx]);
        if (parse_style(y, v, where, &nt->styles[idx], err) != 0) return -1;
    }
    return 0;
}

/* The top level: name, background, ascii_borders, styles. As the shipped
 * themes say, an unknown key is an error: a misspelt `ascii_border:` or
 * `colours:` would otherwise be dropped without a word. */
static int parse_top(bc_yaml *y, bc_theme *nt, bc_error *err) {
    const yaml_node_t *root = bc_yaml_root(y), *styles = NULL;
    for (size_t i = 0, count = bc_yaml_map_size(root); i < count; i++) {
        yaml_node_t *k, *v;
        const char *key = bc_yaml_map_key(y, root, i, &k, &v), *text;
        int rc = 0;
        if (!key) {
            rc = bc_yaml_errorf(y, k, NULL, err, "keys must be scalars");
        } else if (!strcmp(key, "name")) {
            if (bc_yaml_kind_of(v) != BC_YAML_NULL &&
                (rc = bc_yaml_get_string(y, v, key, &text, err)) == 0)
                snprintf(nt->name, sizeof nt->name, "%s", text);
        } else if (!strcmp(key, "ascii_borders")) {
            rc = get_flag(y, v, key, &nt->ascii_borders, err);
        } else if (!strcmp(key, "background")) {
            text = bc_yaml_scalar(v);
            if (bc_yaml_kind_of(v) == BC_YAML_NULL) nt->light_background = false;
            else if (text && (!strcmp(text, "dark") || !strcmp(text, "light")))
                nt->light_background = !strcmp(text, "light");
            else rc = bc_yaml_errorf(y, v, key, err, "must be dark or light");
        } else if (!strcmp(key, "styles")) {
            styles = v;
        } else {
            rc = bc_yaml_errorf(y, k, key, err, "unknown key (a theme has name, background, "
                                                "ascii_borders, styles)");
        }
        if (rc != 0) return -1;
    }
    if (!styles || styles->type != YAML_MAPPING_NODE)
        return bc_errorf(err, "%s: a theme needs a 'styles' mapping", y->name);
    return parse_styles(y, styles, nt, err);
}

int bc_theme_parse(const char *path, const char *text, size_t len, bc_theme *t, bc_error *err) {
    bc_theme_mono(t);
    if (len > BC_THEME_MAX_BYTES)
        return bc_errorf(err, "%s: %zu bytes is over the %d-byte limit of a theme", path, len,
                         BC_THEME_MAX_BYTES);
    /* libyaml builds the whole document tree; bound its nesting first. */
    if (bc_yaml_check_depth(path, text, len, BC_THEME_MAX_DEPTH, err) != 0) return -1;
    bc_yaml y;
    if (bc_yaml_load(&y, path, text, len, false, err) != 0) return -1;
    bc_theme nt;
    memset(&nt, 0, sizeof nt);
    snprintf(nt.name, sizeof nt.name, "custom");
    for (int i = 0; i < BC_STYLE_COUNT; i++) nt.styles[i] = plain();
    int rc = parse_top(&y, &nt, err);
    bc_yaml_free(&y);
    if (rc == 0) *t = nt;
    return rc;
}

int bc_theme_load_file(const char *path, bc_theme *t, bc_error *err) {
    bc_theme_mono(t);
    char *text;
    size_t len;
    if (bc_yaml_read_file(path, BC_THEME_MAX_BYTES, &text, &len, err) != 0) return -1;
    int rc = bc_theme_parse(path, text, len, t, err);
    free(text);
    return rc;
}

int bc_theme_load(const char *name, bc_theme *t, bc_error *err) {
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc) {
        bc_theme_mono(t);
        return 0;
    }
    if (strchr(name, '/') || strstr(name, ".yaml")) return bc_theme_load_file(name, t, err);
    char path[4096];
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char d0[4096] = "", d2[4096] = "";
    if (xdg && *xdg) snprintf(d0, sizeof d0, "%s/baichuan-chat/themes", xdg);
    else if (home && *home) snprintf(d0, sizeof d0, "%s/.config/baichuan-chat/themes", home);
    /* Next to the program: build/baichuan-chat finds the source tree's
     * themes/ before the program is installed. */
    char exe[3072];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(d2, sizeof d2, "%s/../themes", exe);
    }
    const char *dirs[3] = {d0, BC_DATADIR "/themes", d2};
    for (int i = 0; i < 3; i++) {
        if (!dirs[i][0]) continue;
        snprintf(path, sizeof path, "%s/%s.yaml", dirs[i], name);
        if (access(path, R_OK) == 0) return bc_theme_load_file(path, t, err);
    }
    bc_theme_mono(t);
    if (!strcmp(name, "mono")) return 0;
    return bc_errorf(err, "theme '%s' not found (looked in %s, %s, %s)", name, d0,
                     BC_DATADIR "/themes", d2);
}

/* ---- colours on terminals with 8 or 16 colours ------------------------------
 * A theme is drawn for 256 colours; with fewer, each colour falls back to a
 * basic one. Nearest-by-distance is wrong for the colours themes use most:
 * greys and dark tints fall to black, which vanishes on a dark terminal (a
 * #585858 border, a #303a4a status bar). So greys go by lightness to black,
 * bright black, white or bright white, other colours keep their hue, and a
 * pair is checked last: a bar keeps a background of its own, text keeps
 * contrast with its background. */

/* xterm's values of the 16 basic colours: what the contrast checks assume. */
static const unsigned char BASIC_RGB[16][3] = {
    {0, 0, 0},       {205, 0, 0},   {0, 205, 0},   {205, 205, 0},
    {0, 0, 238},     {205, 0, 205}, {0, 205, 205}, {229, 229, 229},
    {127, 127, 127}, {255, 0, 0},   {0, 255, 0},   {255, 255, 0},
    {92, 92, 255},   {255, 0, 255}, {0, 255, 255}, {255, 255, 255},
};

static int luma(int r, int g, int b) {
    return (299 * r + 587 * g + 114 * b) / 1000;
}

static int basic_luma(int i) {
    return luma(BASIC_RGB[i][0], BASIC_RGB[i][1], BASIC_RGB[i][2]);
}

/* A grey by lightness. With 8 colours there is no mid grey: it becomes
 * whichever of black and white shows on the background the theme is made
 * for (a #585858 border on a dark terminal is white, not black). */
static short basic_grey(int l, int ncolors, bool light_background) {
    if (ncolors >= 16) return l < 64 ? 0 : l < 178 ? 8 : l < 242 ? 7 : 15;
    if (l < 64) return 0;
    if (l >= 192) return 7;
    return light_background ? 0 : 7;
}

static short basic_of_rgb(int r, int g, int b, int ncolors, bool light_background) {
    int hi = r > g ? (r > b ? r : b) : (g > b ? g : b);
    int lo = r < g ? (r < b ? r : b) : (g < b ? g : b);
    if (hi < 48) return 0;
    /* chroma under a quarter of the strongest channel: a grey, maybe tinted */
    if ((hi - lo) * 4 < hi) return basic_grey(luma(r, g, b), ncolors, light_background);
    /* the hue: every channel at least halfway from the weakest to the strongest */
    int idx = ((r - lo) * 2 >= hi - lo ? 1 : 0) | ((g - lo) * 2 >= hi - lo ? 2 : 0) |
              ((b - lo) * 2 >= hi - lo ? 4 : 0);
    /* Without bright colours, a light blue (#87afff) as basic blue would be
     * the darkest colour there is: cyan keeps it light. */
    if (idx == 4 && ncolors < 16 && luma(r, g, b) >= 128) idx = 6;
    return (short)(idx + (hi > 200 && ncolors >= 16 ? 8 : 0));
}

short bc_theme_basic_color(const bc_color *c, int ncolors, bool light_background) {
    if (c->index < 0) return -1;
    if (ncolors >= 256 || (c->index < 16 && c->index < ncolors)) return (short)c->index;
    int r, g, b;
    if (c->rgb) {
        r = c->r, g = c->g, b = c->b;
    } else if (c->index >= 232) {
        r = g = b = 8 + (c->index - 232) * 10;
    } else if (c->index >= 16) {
        static const int lv[6] = {0, 95, 135, 175, 215, 255};
        int k = c->index - 16;
        r = lv[k / 36], g = lv[(k / 6) % 6], b = lv[k % 6];
    } else if (c->index == 8) { /* bright black on 8 colours: a mid grey */
        return basic_grey(127, ncolors, light_background);
    } else {
        return (short)(c->index - 8);
    }
    return basic_of_rgb(r, g, b, ncolors, light_background);
}

/* Styles drawn as a band across the screen: on a background of their own. */
static bool is_bar(bc_style s) {
    return s == BC_STYLE_STATUS || s == BC_STYLE_STATUS_ERROR || s == BC_STYLE_SELECTED ||
           s == BC_STYLE_MARKER || s == BC_STYLE_PROGRESS;
}

void bc_theme_pair(const bc_theme *t, bc_style s, int ncolors, short *fg, short *bg) {
    const bc_style_def *d = &t->styles[s];
    bool light = t->light_background;
    *fg = bc_theme_basic_color(&d->fg, ncolors, light);
    *bg = bc_theme_basic_color(&d->bg, ncolors, light);
    if (ncolors >= 256 || *bg < 0) return;
    /* The colour the terminal's own background most likely is: a bar on it
     * would be no bar (a status bar of 37;40 on a black terminal). */
    short own = light ? (ncolors >= 16 ? 15 : -1) : 0;
    if (is_bar(s) && *bg == own) *bg = light ? 7 : ncolors >= 16 ? 8 : 7;
    /* Text too close to its background in lightness (black on blue, white
     * on a white bar) becomes black or white, whichever stands out. */
    int fl = *fg >= 0 ? basic_luma(*fg) : light ? 0 : 229, bl = basic_luma(*bg);
    if (abs(fl - bl) < 50) {
        short white = ncolors >= 16 ? 15 : 7;
        *fg = bl > 128 ? 0 : white;
    }
}

void bc_theme_apply(const bc_theme *t) {
    if (!has_colors()) return;
    int ncolors = COLORS >= 256 ? 256 : COLORS >= 16 ? 16 : 8;
    for (int i = 0; i < BC_STYLE_COUNT; i++) {
        short fg, bg;
        bc_theme_pair(t, (bc_style)i, ncolors, &fg, &bg);
        init_pair((short)(i + 1), fg, bg);
    }
}

unsigned long bc_theme_attr(const bc_theme *t, bc_style s) {
    const bc_style_def *d = &t->styles[s];
    unsigned long a = has_colors() ? (unsigned long)COLOR_PAIR(s + 1) : 0;
    if (d->bold) a |= A_BOLD;
    if (d->underline) a |= A_UNDERLINE;
    if (d->reverse) a |= A_REVERSE;
    if (d->dim) a |= A_DIM;
    if (d->italic) a |= A_ITALIC;
    return a;
}
