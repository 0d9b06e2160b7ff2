/* Synthetic models: "-m synthetic:7b" (or :13b, :tiny) is a Baichuan2 of the
 * real shapes -- 7B with RoPE, 13B with ALiBi, vocabulary 125,696, context
 * 4096 -- whose weights are random numbers made where they live (on the GPU
 * by a kernel, on the CPU in row blocks), with the demo tokenizer. It exists
 * to measure a machine: `baichuan-chat bench -m synthetic:7b --backend cuda`
 * shows what a 7B model would do there without a 15 GB download. Its replies
 * are noise, and everything that uses it says so. */
#ifndef BC_SYNTHETIC_MODEL_H
#define BC_SYNTHETIC_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "bc_error.h"
#include "model_config.h"

/* Whether a -m spec names a synthetic model ("synthetic:..."). */
bool bc_synthetic_is_spec(const char *spec);
/* The shapes of spec; an unknown size is an error listing the known ones. */
int bc_synthetic_config(const char *spec, bc_model_config *cfg, bc_generation_config *gen,
                        bc_error *err);

typedef struct bc_synthetic_fill_state {
    uint64_t seed;   /* advanced for every tensor */
} bc_synthetic_fill_state;

/* A bc_model_fill_fn (model.h): linears and embeddings uniform in +-0.03
 * (about sqrt(3 / hidden) for 4096: activations stay finite through 40
 * layers), RMSNorm weights 1. */
int bc_synthetic_fill(void *user, bc_backend *be, bc_btensor *t, int64_t rows, int64_t cols,
                      bool norm, bc_error *err);

#endif
