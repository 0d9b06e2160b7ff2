/* Baichuan2's build_chat_input at the token-id level (baichuan2.md §4.1). The
 * upstream quirks are kept on purpose, because the model was tuned on prompts
 * built this way:
 *   - the newest round is always taken, even when it alone exceeds the limit;
 *   - older rounds are taken whole or not at all, and the walk stops at the
 *     first one that does not fit (or once the history reaches the limit);
 *   - the final left truncation may cut into the system prompt. */
#include "chat_template.h"

#include <stdbool.h>
#include <stdlib.h>

/* Tokens a message contributes: its role token plus its content. */
static size_t message_tokens(const bc_chat_turn *t) {
    return 1 + t->n;
}

/* Index of the first message of the round that ends just before `end`. A
 * round starts at a user message, or at `first` for messages before any user
 * message (upstream's _parse_messages). */
static size_t round_start(const bc_chat_turn *turns, size_t first, size_t end) {
    size_t i = end - 1;
    while (i > first && turns[i].role != BC_ROLE_USER) i--;
    return i;
}

static int validate(const bc_chat_turn *turns, size_t n_turns, int max_input_tokens,
                    bc_error *err) {
    if (n_turns == 0) return bc_errorf(err, "chat template: no messages");
    if (max_input_tokens <= 0)
        return bc_errorf(err,
                         "chat template: no room for the prompt (%d input tokens = "
                         "model_max_length - max_new_tokens); lower max_new_tokens",
                         max_input_tokens);
    for (size_t i = 0; i < n_turns; i++) {
        if (turns[i].role == BC_ROLE_SYSTEM && i != 0)
            return bc_errorf(err, "chat template: message %zu: a system message may only come first",
                             i);
        if (turns[i].role != BC_ROLE_SYSTEM && turns[i].role != BC_ROLE_USER &&
            turns[i].role != BC_ROLE_ASSISTANT)
            return bc_errorf(err, "chat template: message %zu: unknown role %d", i,
                             (int)turns[i].role);
        if (turns[i].n > 0 && !turns[i].ids)
            return bc_errorf(err, "chat template: message %zu: no ids", i);
        /* Keeps every sum below in range: each message is far below this. */
        if (turns[i].n > (size_t)1 << 40)
            return bc_errorf(err, "chat template: message %zu: %zu tokens", i, turns[i].n);
    }
    return 0;
}

int bc_chat_build(const bc_chat_turn *turns, size_t n_turns, int user_token_id,
                  int assistant_token_id, int max_input_tokens, int32_t **out, size_t *out_n,
                  bc_error *err) {
    *out_n = 0;
    if (validate(turns, n_turns, max_input_tokens, err) != 0) return -1;

    size_t first = 0, system_n = 0;
    if (turns[0].role == BC_ROLE_SYSTEM) {
        system_n = turns[0].n;
        first = 1;
    }
    /* May be negative: a system prompt longer than the limit. */
    long long max_history = (long long)max_input_tokens - (long long)system_n;

    /* Walk rounds newest to oldest; keep_from is the first kept message. */
    size_t keep_from = n_turns, history_n = 0;
    for (size_t end = n_turns; end > first;) {
        size_t start = round_start(turns, first, end);
        size_t round_n = 0;
        for (size_t i = start; i < end; i++) round_n += message_tokens(&turns[i]);
        if (history_n != 0 && (long long)(history_n + round_n) > max_history) break;
        history_n += round_n;
        keep_from = start;
        if ((long long)history_n >= max_history) break;
        end = start;
    }

    bool add_assistant = turns[n_turns - 1].role != BC_ROLE_ASSISTANT;
    size_t total = system_n + history_n + (add_assistant ? 1 : 0);
    size_t skip = total > (size_t)max_input_tokens ? total - (size_t)max_input_tokens : 0;
    size_t kept = total - skip;

    int32_t *buf = realloc(*out, (kept ? kept : 1) * sizeof *buf);
    if (!buf) return bc_errorf(err, "chat template: out of memory for %zu ids", kept);
    *out = buf;

    /* Emit the full sequence conceptually, writing only positions >= skip. */
    size_t pos = 0, w = 0;
#define EMIT(id)                                  \
    do {                                          \
        if (pos++ >= skip) buf[w++] = (int32_t)(id); \
    } while (0)
    for (size_t j = 0; j < system_n; j++) EMIT(turns[0].ids[j]);
    for (size_t i = keep_from; i < n_turns; i++) {
        EMIT(turns[i].role == BC_ROLE_USER ? user_token_id : assistant_token_id);
        for (size_t j = 0; j < turns[i].n; j++) EMIT(turns[i].ids[j]);
    }
    if (add_assistant) EMIT(assistant_token_id);
#undef EMIT
    *out_n = w;
    return 0;
}
