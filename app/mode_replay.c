#include <stdio.h>

#include "modes.h"

int bc_mode_replay(const bc_options *o) {
    (void)o;
    fprintf(stderr, "baichuan-chat: 'replay' is not built yet\n");
    return 1;
}
