/* bc_theme: theme files (top-level keys, booleans as in the configuration)
 * and the fallback of their colours on terminals with 8 and 16 colours,
 * checked on every shipped theme: borders and text stay visible, bars keep a
 * background of their own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_test.h"
#include "theme.h"

static int parse(const char *text, bc_theme *t, bc_error *err) {
    bc_error_clear(err);
    return bc_theme_parse("t.yaml", text, strlen(text), t, err);
}

/* ---- the file --------------------------------------------------------------- */

static void expect_refused(const char *text, const char *where, const char *key,
                           const char *what) {
    bc_theme t;
    bc_error err;
    int rc = parse(text, &t, &err);
    CHECK(rc != 0 && strncmp(err.msg, where, strlen(where)) == 0 && strstr(err.msg, key) &&
              strcmp(t.name, "mono") == 0,
          "%s -> %s", what, err.msg);
}

static void check_file(void) {
    const char *styles = "styles: {user: {bold: true}}\n";
    char text[256];
    snprintf(text, sizeof text, "name: x\nascii_border: true\n%s", styles);
    expect_refused(text, "t.yaml:2:1: ", "ascii_border", "a misspelt top-level key is an error");
    snprintf(text, sizeof text, "name: x\n%scolours: {user: red}\n", styles);
    expect_refused(text, "t.yaml:3:1: ", "colours", "an unknown section is an error");
    snprintf(text, sizeof text, "ascii_borders: yes\n%s", styles);
    expect_refused(text, "t.yaml:1:16: ", "ascii_borders",
                   "ascii_borders: yes is refused as in the configuration (not taken as false)");
    expect_refused("styles: {user: {bold: yes}}\n", "t.yaml:1:23: ", "styles.user.bold",
                   "a style's yes is refused the same way");
    expect_refused("styles: {user: {blink: true}}\n", "t.yaml:1:17: ", "styles.user.blink",
                   "an unknown style key");
    expect_refused("styles: {usr: {bold: true}}\n", "t.yaml:1:10: ", "usr", "an unknown style");
    expect_refused("name: x\nstyles:\n  user: {fg: \"#12345\"}\n", "t.yaml:3:14: ",
                   "styles.user.fg", "a bad colour");
    snprintf(text, sizeof text, "background: grey\n%s", styles);
    expect_refused(text, "t.yaml:1:13: ", "background", "background is dark or light");
    expect_refused("name: x\n", "t.yaml: ", "styles", "a theme without styles");

    bc_theme t;
    bc_error err;
    snprintf(text, sizeof text, "name: x\nascii_borders: true\nbackground: light\n%s", styles);
    CHECK(parse(text, &t, &err) == 0 && t.ascii_borders && t.light_background &&
              t.styles[BC_STYLE_USER].bold && !strcmp(t.name, "x"),
          "ascii_borders: true, background: light (%s)", err.msg);
    CHECK(parse("name:\nascii_borders: ~\nbackground:\nstyles: {user: , code: {fg: ~, bold: }}\n",
                &t, &err) == 0 &&
              !strcmp(t.name, "custom") && !t.ascii_borders && !t.light_background &&
              t.styles[BC_STYLE_CODE].fg.index == -1 && !t.styles[BC_STYLE_CODE].bold,
          "null is \"not set\": default name, no ASCII borders, dark, no colour (%s)", err.msg);
}

/* ---- the fallback ----------------------------------------------------------- */

static bc_color rgb(unsigned r, unsigned g, unsigned b) {
    bc_color c = {16, true, (unsigned char)r, (unsigned char)g, (unsigned char)b};
    return c;
}

static void check_mapping(void) {
    struct {
        unsigned rgb;
        short c16, c8_dark, c8_light;
        const char *what;
    } cases[] = {
        {0x000000, 0, 0, 0, "black"},
        {0x262626, 0, 0, 0, "a near-black code background"},
        {0x585858, 8, 7, 0, "a dark grey border: bright black; on 8 colours what shows"},
        {0x8a8a8a, 8, 7, 0, "a mid grey"},
        {0xa8a8a8, 8, 7, 0, "light.yaml's border"},
        {0xd0d0d0, 7, 7, 7, "a light grey bar"},
        {0xffffff, 15, 7, 7, "white"},
        {0x303a4a, 4, 4, 4, "dark.yaml's status bar: a blue tint, blue"},
        {0x87d787, 10, 2, 2, "a light green stays green"},
        {0xffd787, 11, 3, 3, "a light orange: yellow"},
        {0x870000, 1, 1, 1, "a dark red stays red"},
        {0x87afff, 12, 6, 6, "a light blue: bright blue; cyan where blue would be dark"},
        {0x005fd7, 12, 4, 4, "a deep blue: blue"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned v = cases[i].rgb;
        bc_color c = rgb(v >> 16, (v >> 8) & 255, v & 255);
        short a = bc_theme_basic_color(&c, 16, false), b = bc_theme_basic_color(&c, 8, false),
              l = bc_theme_basic_color(&c, 8, true);
        CHECK(a == cases[i].c16 && b == cases[i].c8_dark && l == cases[i].c8_light,
              "#%06x (%s): 16 colours %d, 8 colours %d (dark) / %d (light); want %d, %d / %d", v,
              cases[i].what, a, b, l, cases[i].c16, cases[i].c8_dark, cases[i].c8_light);
    }
    bc_color grey240 = {240, false, 0, 0, 0}, bright_black = {8, false, 0, 0, 0};
    CHECK(bc_theme_basic_color(&grey240, 16, false) == 8 &&
              bc_theme_basic_color(&grey240, 8, false) == 7 &&
              bc_theme_basic_color(&bright_black, 16, false) == 8 &&
              bc_theme_basic_color(&bright_black, 8, false) == 7 &&
              bc_theme_basic_color(&grey240, 256, false) == 240,
          "indexes: grey 240 and bright-black fall back like #585858; 256 colours keep them");
}

/* xterm's basic colours, to judge what a pair looks like. */
static int luma(short c) {
    static const int L[16] = {0,   61, 120, 181, 27,  88,  143, 229,
                              127, 76, 149, 226, 110, 105, 179, 255};
    return L[c];
}

static void sgr(short fg, short bg, char *out, size_t cap) {
    int n = 0;
    if (fg >= 0) n += snprintf(out + n, cap - (size_t)n, "%d", fg < 8 ? 30 + fg : 90 + fg - 8);
    if (bg >= 0)
        snprintf(out + n, cap - (size_t)n, "%s%d", n ? ";" : "", bg < 8 ? 40 + bg : 100 + bg - 8);
    if (fg < 0 && bg < 0) snprintf(out, cap, "default");
}

/* Every style of a shipped theme on 8 and 16 colours: text stands out from
 * its background (the terminal's when the style has none: black for a dark
 * theme, white for a light one), a bar's background is not the terminal's. */
static void check_shipped(const char *name) {
    const char *src = getenv("BC_SOURCE_DIR");
    char path[2048];
    snprintf(path, sizeof path, "%s/themes/%s.yaml", src ? src : ".", name);
    bc_theme t;
    bc_error err;
    int rc = bc_theme_load_file(path, &t, &err);
    CHECK(rc == 0, "themes/%s.yaml loads (%s)", name, rc ? err.msg : "ok");
    if (rc) return;
    static const char *const names[BC_STYLE_COUNT] = {
        "normal", "user", "user_header", "assistant", "assistant_header", "code", "system",
        "info", "error", "status", "status_error", "border", "pane", "selected", "marker",
        "input", "progress"};
    for (int ncolors = 8; ncolors <= 16; ncolors += 8) {
        int term_bg = t.light_background ? 255 : 0, bad = 0;
        char table[1024] = "", first[160] = "";
        for (int s = 0; s < BC_STYLE_COUNT; s++) {
            short fg, bg;
            bc_theme_pair(&t, (bc_style)s, ncolors, &fg, &bg);
            char code[32];
            sgr(fg, bg, code, sizeof code);
            size_t used = strlen(table);
            snprintf(table + used, sizeof table - used, " %s=%s", names[s], code);
            bool bar = s == BC_STYLE_STATUS || s == BC_STYLE_STATUS_ERROR ||
                       s == BC_STYLE_SELECTED || s == BC_STYLE_MARKER || s == BC_STYLE_PROGRESS;
            int back = bg >= 0 ? luma(bg) : term_bg;
            bool text_ok = fg < 0 || abs(luma(fg) - back) >= 50;
            bool bar_ok = !bar || t.styles[s].bg.index < 0 || (bg >= 0 && luma(bg) != term_bg);
            if ((!text_ok || !bar_ok) && bad++ == 0)
                snprintf(first, sizeof first, "%s=%s", names[s], code);
        }
        CHECK(bad == 0, "%s on %d colours: every style readable, bars visible (first bad: %s)",
              name, ncolors, first);
        printf("# %s/%d:%s\n", name, ncolors, table);
    }
}

static void check_dark_specifics(void) {
    const char *src = getenv("BC_SOURCE_DIR");
    char path[2048];
    snprintf(path, sizeof path, "%s/themes/dark.yaml", src ? src : ".");
    bc_theme t;
    bc_error err;
    if (bc_theme_load_file(path, &t, &err) != 0) return;
    short fg8, bg8, fg16, bg16;
    bc_theme_pair(&t, BC_STYLE_BORDER, 16, &fg16, &bg16);
    bc_theme_pair(&t, BC_STYLE_BORDER, 8, &fg8, &bg8);
    CHECK(fg16 == 8 && fg8 == 7,
          "dark border #585858: bright black on 16 colours (%d), white on 8 (%d)", fg16, fg8);
    bc_theme_pair(&t, BC_STYLE_STATUS, 16, &fg16, &bg16);
    bc_theme_pair(&t, BC_STYLE_STATUS, 8, &fg8, &bg8);
    CHECK(bg16 > 0 && bg8 > 0 && fg16 != bg16 && fg8 != bg8,
          "dark status bar keeps a background: %d on %d (16), %d on %d (8), not 37;40", fg16, bg16,
          fg8, bg8);
    bc_theme_pair(&t, BC_STYLE_STATUS, 256, &fg16, &bg16);
    CHECK(fg16 == t.styles[BC_STYLE_STATUS].fg.index && bg16 == t.styles[BC_STYLE_STATUS].bg.index,
          "256 colours: the theme's own indexes");
    /* A theme whose bar is a plain dark grey: the bar moves off black. */
    CHECK(parse("styles: {status: {fg: \"#e4e4e4\", bg: \"#303030\"}}\n", &t, &err) == 0, "parse");
    bc_theme_pair(&t, BC_STYLE_STATUS, 16, &fg16, &bg16);
    bc_theme_pair(&t, BC_STYLE_STATUS, 8, &fg8, &bg8);
    CHECK(bg16 == 8 && bg8 == 7 && fg8 == 0,
          "a #303030 bar: bright black on 16 colours (%d), white with black text on 8 (%d on %d)",
          bg16, fg8, bg8);
}

int main(void) {
    check_file();
    check_mapping();
    check_shipped("dark");
    check_shipped("light");
    check_shipped("high-contrast");
    check_shipped("mono");
    check_dark_specifics();
    return bc_test_done();
}
