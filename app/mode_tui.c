#include <stdio.h>

#include "modes.h"

int bc_mode_tui(const bc_options *o) {
    (void)o;
    fprintf(stderr, "baichuan-chat: 'tui' is not built yet\n");
    return 1;
}
