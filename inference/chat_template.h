/* Baichuan2's build_chat_input (generation_utils.py), exactly (baichuan2.md §4.1):
 * system ids first without a role token; 195 before user turns, 196 before
 * assistant turns and at the end; whole rounds kept newest-first while they fit
 * in max_input_tokens - len(system); then left truncation to max_input_tokens. */
#ifndef BC_CHAT_TEMPLATE_H
#define BC_CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "bc_error.h"
#include "engine.h"

typedef struct bc_chat_turn {
    bc_role role;           /* SYSTEM only at index 0 */
    const int32_t *ids;     /* encoded content, no BOS */
    size_t n;
} bc_chat_turn;

/* max_input_tokens = model_max_length - max_new_tokens. *out is realloc'd. */
int bc_chat_build(const bc_chat_turn *turns, size_t n_turns, int user_token_id,
                  int assistant_token_id, int max_input_tokens, int32_t **out,
                  size_t *out_n, bc_error *err);

#endif
