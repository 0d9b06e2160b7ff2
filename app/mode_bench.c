#include <stdio.h>

#include "modes.h"

int bc_mode_bench(const bc_options *o) {
    (void)o;
    fprintf(stderr, "baichuan-chat: 'bench' is not built yet\n");
    return 1;
}
