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

static int where(bc_error *err, const char *path, yaml_node_t *n, const char *fmt, const char *a) {
    char what[300];
    snprintf(what, sizeof what, fmt, a);
    return bc_errorf(err, "%s:%zu:%zu: %s", path, n->start_mark.line + 1, n->start_mark.column + 1, what);
}

static int parse_style(const char *path, yaml_document_t *d, yaml_node_t *n, bc_style_def *s,
                       bc_error *err) {
    if (n->type != YAML_MAPPING_NODE) return where(err, path, n, "%sa style must be a mapping", "");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key), *v = yaml_document_get_node(d, p->value);
        if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
            return where(err, path, k, "%sstyle keys and values must be scalars", "");
        const char *key = (const char *)k->data.scalar.value, *val = (const char *)v->data.scalar.value;
        if (!strcmp(key, "fg") || !strcmp(key, "bg")) {
            if (parse_color(val, !strcmp(key, "fg") ? &s->fg : &s->bg))
                return where(err, path, v, "'%s' is not a colour (name, 0-255 or #rrggbb)", val);
            continue;
        }
        bool on = !strcmp(val, "true") || !strcmp(val, "yes");
        if (!on && strcmp(val, "false") && strcmp(val, "no"))
            return where(err, path, v, "'%s' is not true or false", val);
        if (!strcmp(key, "bold")) s->bold = on;
        else if (!strcmp(key, "underline")) s->underline = on;
        else if (!strcmp(key, "reverse")) s->reverse = on;
        else if (!strcmp(key, "dim")) s->dim = on;
        else if (!strcmp(key, "italic")) s->italic = on;
        else return where(err, path, k, "unknown style key '%s'", key);
    }
    return 0;
}

int bc_theme_parse(const char *path, const char *text, size_t len, bc_theme *t, bc_error *err) {
    bc_theme_mono(t);
    if (len > BC_THEME_MAX_BYTES)
        return bc_errorf(err, "%s: %zu bytes is over the %d-byte limit of a theme", path, len,
                         BC_THEME_MAX_BYTES);
    /* libyaml builds the whole document tree; bound its nesting first. */
    if (bc_yaml_check_depth(path, text, len, BC_THEME_MAX_DEPTH, err) != 0) return -1;
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        bc_errorf(err, "%s:%zu:%zu: not valid YAML: %s", path, parser.problem_mark.line + 1,
                  parser.problem_mark.column + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        return -1;
    }
    bc_theme nt;
    bc_theme_mono(&nt);
    for (int i = 0; i < BC_STYLE_COUNT; i++) nt.styles[i] = plain();
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *styles = bc_yaml_map_get(&doc, root, "styles");
    if (!root || root->type != YAML_MAPPING_NODE || !styles || styles->type != YAML_MAPPING_NODE) {
        rc = bc_errorf(err, "%s: a theme needs a 'styles' mapping", path);
    } else {
        yaml_node_t *nm = bc_yaml_map_get(&doc, root, "name"), *ab = bc_yaml_map_get(&doc, root, "ascii_borders");
        snprintf(nt.name, sizeof nt.name, "%s",
                 nm && nm->type == YAML_SCALAR_NODE ? (char *)nm->data.scalar.value : "custom");
        nt.ascii_borders = ab && ab->type == YAML_SCALAR_NODE && !strcmp((char *)ab->data.scalar.value, "true");
        for (yaml_node_pair_t *p = styles->data.mapping.pairs.start;
             rc == 0 && p < styles->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(&doc, p->key);
            int idx = -1;
            for (int i = 0; k->type == YAML_SCALAR_NODE && i < BC_STYLE_COUNT; i++)
                if (!strcmp((char *)k->data.scalar.value, STYLE_NAMES[i])) idx = i;
            if (idx < 0) {
                rc = where(err, path, k, "unknown style '%s'",
                           k->type == YAML_SCALAR_NODE ? (char *)k->data.scalar.value : "?");
                break;
            }
            rc = parse_style(path, &doc, yaml_document_get_node(&doc, p->value), &nt.styles[idx], err);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
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

/* Nearest of the 8 (or 16) basic colours for terminals without 256. */
static short to_basic(const bc_color *c, int ncolors) {
    if (c->index < 0) return -1;
    if (c->index < ncolors) return (short)c->index;
    int r, g, b;
    if (c->rgb) r = c->r, g = c->g, b = c->b;
    else if (c->index >= 232) r = g = b = 8 + (c->index - 232) * 10;
    else if (c->index >= 16) {
        int k = c->index - 16;
        static const int lv[6] = {0, 95, 135, 175, 215, 255};
        r = lv[k / 36], g = lv[(k / 6) % 6], b = lv[k % 6];
    } else {
        return (short)(c->index % 8);
    }
    int bright = (r > 200 || g > 200 || b > 200) && ncolors >= 16;
    int idx = (r > 127 ? 1 : 0) | (g > 127 ? 2 : 0) | (b > 127 ? 4 : 0);
    return (short)(idx + (bright ? 8 : 0));
}

void bc_theme_apply(const bc_theme *t) {
    if (!has_colors()) return;
    for (int i = 0; i < BC_STYLE_COUNT; i++) {
        const bc_style_def *s = &t->styles[i];
        short fg = to_basic(&s->fg, COLORS >= 256 ? 256 : COLORS >= 16 ? 16 : 8);
        short bg = to_basic(&s->bg, COLORS >= 256 ? 256 : COLORS >= 16 ? 16 : 8);
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
