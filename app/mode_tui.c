/* `baichuan-chat` on a terminal: the TUI (app/tui_app.c), when it was built. */
#include <stdio.h>

#include "bc_build_config.h"
#include "modes.h"

#if BC_HAVE_TUI
int bc_tui_app_run(const bc_options *o); /* tui_app.h: needs curses headers */
#endif

int bc_mode_tui(const bc_options *o) {
#if BC_HAVE_TUI
    return bc_tui_app_run(o);
#else
    (void)o;
    fprintf(stderr, "baichuan-chat: built without the terminal UI (ncursesw/readline missing)\n");
    return 1;
#endif
}
