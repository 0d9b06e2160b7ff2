/* Fuzz harness: a theme file (ui/theme.c, bc_theme_parse), as read from
 * themes/NAME.yaml or a user's theme directory. */
#include "fuzz.h"
#include "theme.h"

volatile int bc_fuzz_theme_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_theme t;
    bc_error err;
    if (bc_theme_parse("fuzz-theme.yaml", (const char *)data, size, &t, &err) == 0)
        bc_fuzz_theme_sink += t.styles[BC_STYLE_USER].fg.index + t.name[0];
    return 0;
}
