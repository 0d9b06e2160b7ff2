/* baichuan-chat: argument parsing and mode dispatch. The only place that
 * decides the process exit code. */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bc_build_config.h"
#include "modes.h"
#include "options.h"

/* The bare command is the TUI only when a person is at a capable terminal;
 * pipes and TERM=dumb get the one-shot `run` behaviour. */
static int wants_tui(void) {
    if (!BC_HAVE_TUI) return 0;
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) return 0;
    const char *term = getenv("TERM");
    return term && *term && strcmp(term, "dumb") != 0;
}

int main(int argc, char **argv) {
    setlocale(LC_ALL, "");
    bc_options opt;
    char why[512] = "";
    int rc = bc_options_parse(argc, argv, &opt, why, sizeof why);
    if (rc == 1 || rc == 2) {
        if (rc == 2) fprintf(stderr, "baichuan-chat: %s\n", why);
        free(opt.positional);
        return rc == 1 ? 0 : 2;
    }
    switch (opt.mode) {
    case BC_MODE_RUN: rc = bc_mode_run(&opt); break;
    case BC_MODE_REPLAY: rc = bc_mode_replay(&opt); break;
    case BC_MODE_BENCH: rc = bc_mode_bench(&opt); break;
    case BC_MODE_PERPLEXITY: rc = bc_mode_perplexity(&opt); break;
    case BC_MODE_TOKENIZE: rc = bc_mode_tokenize(&opt); break;
    case BC_MODE_DEFAULT:
        rc = wants_tui() ? bc_mode_tui(&opt) : bc_mode_run(&opt);
        break;
    }
    free(opt.positional);
    return rc;
}
