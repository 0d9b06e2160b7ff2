/* Entry points of the program's modes. Each returns the process exit code:
 * 0 ok, 1 runtime error, 2 usage error, 130 interrupted. Only these (through
 * main) print to stdout/stderr; the library code below them never does. */
#ifndef BC_MODES_H
#define BC_MODES_H

#include "options.h"

int bc_mode_run(const bc_options *o);
int bc_mode_replay(const bc_options *o);
int bc_mode_bench(const bc_options *o);
int bc_mode_perplexity(const bc_options *o);
int bc_mode_tokenize(const bc_options *o);
int bc_mode_tui(const bc_options *o);

/* bench --tokenizer: encode/decode MB/s and tokens/s next to spm_encode. */
int bc_bench_tokenizer(const bc_options *o);

#endif
