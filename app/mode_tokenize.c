#include <stdio.h>

#include "modes.h"

int bc_mode_tokenize(const bc_options *o) {
    (void)o;
    fprintf(stderr, "baichuan-chat: 'tokenize' is not built yet\n");
    return 1;
}
