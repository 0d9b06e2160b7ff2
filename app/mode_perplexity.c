#include <stdio.h>

#include "modes.h"

int bc_mode_perplexity(const bc_options *o) {
    (void)o;
    fprintf(stderr, "baichuan-chat: 'perplexity' is not built yet\n");
    return 1;
}
