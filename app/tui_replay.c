/* `baichuan-chat --replay SCRIPT`: the TUI plays a replay script (parsed by
 * app/replay_script.c, the same parser as the headless `replay`) as if the
 * user typed it. User steps go through the same path as typed messages,
 * commands through the shared command table (bc_tui_command), and each step
 * waits until the worker is free (reply done, switch loaded). Expects are
 * checked against the last reply (bc_replay_expect_check, as `replay` does)
 * and their outcome is shown in the transcript and the status line. At the
 * end the TUI stays open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui_app.h"

static const char *last_reply(const bc_tui *t) {
    for (size_t i = t->session->n; i > 0; i--)
        if (t->session->msgs[i - 1].role == BC_ROLE_ASSISTANT) return t->session->msgs[i - 1].content;
    return NULL;
}

static void finish(bc_tui *t, const char *how) {
    bool all = t->replay_held == t->replay_expects;
    bc_tui_info(t, all ? BC_MSG_INFO : BC_MSG_ERROR, "Replay %s %s: %d of %d expects held.", how,
                t->replay->name, t->replay_held, t->replay_expects);
    bc_tui_status(t, !all, "replay %s: %d/%d expects held", how, t->replay_held, t->replay_expects);
    bc_replay_script_free(t->replay);
    t->replay = NULL;
}

static void expect_step(bc_tui *t, size_t step, const bc_replay_expect *x) {
    char what[2048], why[2200];
    bc_replay_expect_describe(x, what, sizeof what);
    bool held = bc_replay_expect_check(x, last_reply(t), t->have_stats ? t->last_stats.new_tokens : 0, why,
                                       sizeof why);
    t->replay_expects++;
    if (held) t->replay_held++;
    bc_tui_info(t, held ? BC_MSG_INFO : BC_MSG_ERROR, "%s step %zu: expect %s: %s", held ? "✓" : "✗", step,
                what, why);
    bc_tui_status(t, !held, "replay step %zu: expect %s", step, held ? "held" : "failed");
}

/* Runs steps until one starts work the worker must finish first. */
void bc_tui_replay_advance(bc_tui *t) {
    while (t->replay && !t->gen_id && !t->load_id) {
        if (!t->have_model) {
            finish(t, "stopped (no model is loaded)");
            return;
        }
        if (t->replay_next >= t->replay->n_steps) {
            finish(t, "finished");
            return;
        }
        size_t step = ++t->replay_next; /* 1-based, as in `replay`'s messages */
        const bc_replay_step *st = &t->replay->steps[step - 1];
        switch (st->kind) {
        case BC_STEP_USER:
            bc_tui_command(t, st->text);
            bc_tui_status(t, false, "replay: step %zu of %zu", step, t->replay->n_steps);
            break;
        case BC_STEP_COMMAND:
            bc_tui_info(t, BC_MSG_INFO, "▸ step %zu: %s", step, st->text);
            if (!strncmp(st->text, "/quit", 5)) { /* ends the script, not the TUI */
                finish(t, "finished");
                return;
            }
            bc_tui_command(t, st->text);
            break;
        case BC_STEP_EXPECT: expect_step(t, step, &st->expect); break;
        }
    }
}

/* Ctrl-C during a replay stops it (and the reply). */
void bc_tui_replay_stop(bc_tui *t) {
    if (t->replay) finish(t, "stopped");
}
