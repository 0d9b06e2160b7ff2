/* bc_sampler: repetition penalty -> temperature -> top-k -> top-p -> sample,
 * with Hugging Face's semantics (baichuan2.md §4.3). Temperature 0 is greedy.
 * A seed makes sampling reproducible. All scratch is allocated at creation:
 * sampling inside the token loop allocates nothing.
 *
 * The exact rules (transformers' RepetitionPenaltyLogitsProcessor,
 * TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper):
 *   - penalty p over every distinct id of the history: score < 0 ? score * p
 *     : score / p (p = 1 or <= 0: off);
 *   - temperature t: score / t; t <= 0 (or NaN): greedy argmax, lowest id on
 *     ties (the penalty still applies first, as in HF greedy search);
 *   - top-k (k > 0): keep every id whose score is >= the k-th largest (ties
 *     at the boundary are kept);
 *   - top-p (< 1): over the softmax, drop ids whose ascending cumulative
 *     probability is <= 1 - top_p; at least one id always stays;
 *   - sample from the softmax of what is left.
 * NaN logits count as -infinity. */
#ifndef BC_SAMPLER_H
#define BC_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct bc_sampling {
    float temperature;        /* 0 = greedy */
    int top_k;                /* 0 = off */
    float top_p;              /* 1 = off */
    float repetition_penalty; /* 1 = off */
    int max_new_tokens;
    uint64_t seed;
} bc_sampling;

typedef struct bc_sampler bc_sampler;

/* NULL when vocab_size <= 0 or out of memory. Scratch: ~24 bytes per vocab id. */
bc_sampler *bc_sampler_new(int vocab_size, const bc_sampling *params);
void bc_sampler_free(bc_sampler *s);
/* Restarts the random stream from `seed` (the same seed gives the same draws). */
void bc_sampler_reseed(bc_sampler *s, uint64_t seed);
/* Changes temperature/top-k/top-p/penalty between tokens (e.g. a /temp
 * command); keeps the random stream. */
void bc_sampler_set_params(bc_sampler *s, const bc_sampling *params);

/* Picks the next id. `logits` (vocab_size) is modified in place (penalty and
 * temperature applied). `history` holds every id of the sequence so far
 * (prompt included) for the penalty; ids outside the vocabulary are ignored. */
int bc_sampler_sample(bc_sampler *s, float *logits, const int32_t *history,
                      size_t n_history);

/* The distribution bc_sampler_sample draws from: runs the same pipeline and
 * returns how many ids survive (>= 1), with *ids and *probs (renormalised,
 * summing to 1) pointing into the sampler's scratch, valid until the next
 * call. Ordered by descending probability when top-p ran, else by id. */
size_t bc_sampler_candidates(bc_sampler *s, float *logits, const int32_t *history,
                             size_t n_history, const int32_t **ids, const float **probs);

#endif
