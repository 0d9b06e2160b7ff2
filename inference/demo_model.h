/* The built-in "demo" model: a tiny Baichuan2-architecture network (RoPE,
 * 2 layers, hidden 128) with random weights made from a fixed seed at start,
 * and the project's small demo tokenizer embedded in the binary. It exists so
 * the program runs on a machine with no weights; its replies are noise, and
 * everything that uses it says so. */
#ifndef BC_DEMO_MODEL_H
#define BC_DEMO_MODEL_H

#include <stddef.h>

#include "bc_error.h"
#include "checkpoint.h"
#include "model_config.h"

/* Fills cfg/gen and builds the in-memory checkpoint for a vocabulary of
 * vocab_size (the demo tokenizer's). */
int bc_demo_model_build(int vocab_size, bc_model_config *cfg, bc_generation_config *gen,
                        bc_checkpoint **out, bc_error *err);

/* The embedded demo tokenizer.model (SentencePiece protobuf); NULL with
 * *len = 0 when the build had no demo tokenizer to embed. */
const unsigned char *bc_demo_tokenizer_data(size_t *len);

#endif
