/* Stand-alone driver for bc_bench_tokenizer, for tests/tokenizer/bench_vs_spm.sh
 * while (or where) `baichuan-chat bench --tokenizer` is unavailable:
 *   bench_tokenizer -m MODEL -f FILE */
#include <stdio.h>
#include <string.h>

#include "modes.h"

int main(int argc, char **argv) {
    bc_options o;
    memset(&o, 0, sizeof o);
    o.mode = BC_MODE_BENCH;
    o.bench_tokenizer = true;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-m") == 0) o.model = argv[i + 1];
        else if (strcmp(argv[i], "-f") == 0) o.file = argv[i + 1];
    }
    if (!o.model || !o.file) {
        fprintf(stderr, "usage: %s -m MODEL -f FILE\n", argv[0]);
        return 2;
    }
    return bc_bench_tokenizer(&o);
}
