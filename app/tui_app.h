/* The TUI application: wires the UI (ui/), the worker (inference/), the
 * session store and the command table together. Internal to app/. */
#ifndef BC_TUI_APP_H
#define BC_TUI_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "commands.h"
#include "keyparse.h"
#include "config.h"
#include "options.h"
#include "replay.h"
#include "session.h"
#include "theme.h"
#include "transcript.h"
#include "view.h"
#include "worker.h"

int bc_tui_app_run(const bc_options *o);

typedef struct bc_tui {
    bc_worker *worker;
    struct bc_saver *saver;                       /* session writes off this thread, or NULL */
    bc_transcript *transcript;
    bc_session *session;
    char *sessions_dir;
    bc_theme theme;
    bc_app_config cfg;                            /* the layered configuration */
    /* Sampling: the loaded model's generation_config.json < configuration <
     * /set (bc_app_config_sampling, as `run` does). `gen` is cfg.generation
     * with /set applied; `sampling` is recomputed from it and the model's
     * defaults on every load and /set (bc_tui_update_sampling). */
    bc_app_generation gen;
    uint64_t fresh_seed;                          /* used while no seed is set */
    bc_sampling sampling;
    int threads;

    /* What is loaded (or being loaded). */
    char model[512], backend[16], quant[16];      /* as requested */
    /* The request the loaded model came from: after a failed /model, /quant
     * or /backend the previous model comes back, and so must its request,
     * or the next /quant would retry the failed backend. */
    char loaded_model[512], loaded_backend[16], loaded_quant[16];
    bc_worker_info info;                          /* as reported */
    bool have_model;
    uint64_t load_id;                             /* running load, 0 = none */
    double load_fraction;
    bool load_failed;                             /* the running load reported an error */

    /* The running reply. */
    uint64_t gen_id;                              /* 0 = idle */
    int reply_index;                              /* transcript index of the reply */
    char *reply;                                  /* its text so far */
    size_t reply_len, reply_cap;
    int reply_session_index;                      /* its session message, -1 = not stored yet */
    double last_partial_save;                     /* seconds (monotonic) */
    bc_gen_stats last_stats;
    bool have_stats;
    int context_used;                             /* tokens in the model's cache: the last
                                                     reply's count, 0 after the worker resets */
    bool send_when_ready;                         /* a user message waits for the model */
    /* /edit: the last user message is in the input line; the exchange from
     * session message edit_index on is replaced only when the edited text is
     * sent (an empty line or another command keeps it). */
    bool editing;
    size_t edit_index;
    size_t shown_from;                            /* /clear: the transcript shows session
                                                     messages from this index on */
    char **queued;                                /* [n_queued] lines typed while busy, */
    size_t n_queued;                              /* oldest first: sent one by one when idle */

    /* --replay SCRIPT (tui_replay.c) */
    bc_replay_script *replay;                     /* NULL = none running */
    size_t replay_next;                           /* steps done so far */
    int replay_expects, replay_held;              /* expects checked / held */

    /* Screen state. */
    bool dirty, quit, show_history, focus_history, show_help;
    int help_top;                                 /* the help's first row (scrolled) */
    char message[512];
    bool message_is_error;
    char *last_info;                              /* the latest bc_tui_info text */
    double last_interrupt;                        /* seconds, for double Ctrl-C */
    bc_session_entry *entries;
    size_t n_entries;
    char **item_details;                          /* [n_entries] "date · model" */
    /* The pane shows the entries whose title or details contain the filter
     * (case-insensitively): items[i] is entries[item_entry[i]]. */
    bc_view_item *items;                          /* [n_items] */
    size_t *item_entry;                           /* [n_items] */
    size_t n_items, selected;                     /* selected indexes items */
    char pane_filter[96];
    bool pane_filtering;                          /* '/' typed: keys go to the filter */
    bool confirm_delete;
    char *rename_target;                          /* path for /rename from the pane */
    bc_keyparser pane_keys;                       /* the pane's key decoder */
    double pane_keys_since;                       /* when its pending bytes arrived (s) */
} bc_tui;

/* tui_app.c */
void bc_tui_status(bc_tui *t, bool error, const char *fmt, ...) BC_PRINTF(3, 4);
void bc_tui_info(bc_tui *t, bc_msg_kind kind, const char *fmt, ...) BC_PRINTF(3, 4);
void bc_tui_rebuild_transcript(bc_tui *t);
void bc_tui_send(bc_tui *t);           /* generate a reply to the session's last user message */
void bc_tui_cancel(bc_tui *t);
void bc_tui_load(bc_tui *t, const char *model, const char *backend, const char *quant);
void bc_tui_save(bc_tui *t);   /* the open session, on disk before it returns; errors on the status bar */
int bc_tui_save_err(bc_tui *t, bc_error *err);   /* the same, the error to the caller */

/* tui_history.c */
void bc_tui_refresh_history(bc_tui *t);
void bc_tui_filter_history(bc_tui *t);   /* items from entries and pane_filter */
/* The entry of the selected pane item, or NULL when there is none. */
const bc_session_entry *bc_tui_selected_entry(const bc_tui *t);
void bc_tui_free_history(bc_tui *t);
void bc_tui_open_session(bc_tui *t, bc_session *s);
void bc_tui_new_session(bc_tui *t);   /* an empty conversation with the configured system prompt */
void bc_tui_reset_context(bc_tui *t); /* the model forgets its cache (after /undo, /edit, opening) */
void bc_tui_update_sampling(bc_tui *t);

/* tui_cmds.c */
void bc_tui_command(bc_tui *t, const char *line);
void bc_tui_pane_keys(bc_tui *t, const unsigned char *b, size_t n);
void bc_tui_pane_timeout(bc_tui *t);
const char *const *bc_tui_help_lines(size_t *n);

/* tui_replay.c */
void bc_tui_replay_advance(bc_tui *t);
void bc_tui_replay_stop(bc_tui *t);

#endif
