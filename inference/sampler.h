/* bc_sampler: repetition penalty -> temperature -> top-k -> top-p -> sample,
 * with Hugging Face's semantics (baichuan2.md §4.3). Temperature 0 is greedy.
 * A seed makes sampling reproducible. All scratch is allocated at creation:
 * sampling inside the token loop allocates nothing. */
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

bc_sampler *bc_sampler_new(int vocab_size, const bc_sampling *params);
void bc_sampler_free(bc_sampler *s);
/* Restarts the random stream from params->seed. */
void bc_sampler_reseed(bc_sampler *s, uint64_t seed);

/* Picks the next id. `logits` (vocab_size) is modified in place. `history`
 * holds every id of the sequence so far (prompt included) for the penalty. */
int bc_sampler_sample(bc_sampler *s, float *logits, const int32_t *history,
                      size_t n_history);

#endif
