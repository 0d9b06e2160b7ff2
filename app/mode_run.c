#include <stdio.h>

#include "modes.h"

int bc_mode_run(const bc_options *o) {
    (void)o;
    fprintf(stderr, "baichuan-chat: 'run' is not built yet\n");
    return 1;
}
