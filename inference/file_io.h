/* Reading a whole file or stream into memory, with a size cap.
 *
 * One implementation for every place that needs "all of this text": prompts
 * from stdin, perplexity and tokenizer texts, tokenizer.model. Pipes work
 * (no reliance on st_size); the cap keeps a wrong path such as /dev/zero from
 * eating all memory. */
#ifndef BC_FILE_IO_H
#define BC_FILE_IO_H

#include <stddef.h>
#include <stdio.h>

#include "bc_error.h"

/* Cap for user texts (prompts, perplexity and tokenizer inputs), bytes. */
#define BC_TEXT_MAX_BYTES ((size_t)1 << 30)

/* Reads f to its end into a malloc'd buffer (*data, NUL-terminated after
 * *len bytes). More than max_bytes is an error naming `name`. */
int bc_read_stream(FILE *f, const char *name, size_t max_bytes, char **data, size_t *len,
                   bc_error *err);

/* Opens path ("-" = stdin) and reads it as bc_read_stream does. */
int bc_read_file(const char *path, size_t max_bytes, char **data, size_t *len, bc_error *err);

#endif
