/* Opening the tokenizer that -m names, for the modes that need nothing else
 * (tokenize, bench --tokenizer). */
#ifndef BC_TOKENIZER_OPEN_H
#define BC_TOKENIZER_OPEN_H

#include "bc_error.h"
#include "tokenizer.h"

/* spec: a model directory (its tokenizer.model is used) or a path to a
 * SentencePiece .model file. */
int bc_tokenizer_open_model(const char *spec, bc_tokenizer **t, bc_error *err);

#endif
