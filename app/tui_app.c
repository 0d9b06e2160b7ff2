/* The TUI: one thread owns curses and readline; it polls the terminal, the
 * worker's wake fd and a SIGWINCH self-pipe, drains the events, updates the
 * model (transcript, session, status) and draws at most one frame per 33 ms. */
#include "tui_app.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <ncursesw/curses.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "engine_setup.h"
#include "fake_engine.h"
#include "model_config.h"
#include "input.h"
#include "model_path.h"
#include "saver.h"
#include "textwrap.h"
#include "utf8.h"

static int winch_pipe[2] = {-1, -1};
static bc_tui *the_tui; /* for the readline callbacks */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Signals reach the loop through the pipe: 'w' a resize, 'q' a request to
 * quit (SIGTERM, SIGHUP when the terminal goes away), handled like /quit so
 * that the reply in flight and queued messages are kept. */
static void on_signal(int sig) {
    int e = errno;
    ssize_t w = write(winch_pipe[1], sig == SIGWINCH ? "w" : "q", 1);
    (void)w;
    errno = e;
}

/* ---- status and transcript helpers -------------------------------------- */

static void add_info(bc_tui *t, bc_msg_kind kind, const char *text) {
    bc_transcript_add(t->transcript, kind, NULL, text);
    bc_transcript_scroll_end(t->transcript);
    free(t->last_info);
    t->last_info = strdup(text);
    t->dirty = true;
}

/* Display columns of UTF-8 text. */
static int text_columns(const char *s) {
    size_t n;
    wchar_t *w = bc_display_text(s, strlen(s), &n);
    int cols = w ? bc_text_width(w, n) : (int)strlen(s);
    free(w);
    return cols;
}

/* The status bar shows the message after "model · backend · quant │ state";
 * one too long for what is left of the row also goes into the transcript,
 * whole, so that it can be read (unless the transcript just said it). */
void bc_tui_status(bc_tui *t, bool error, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* cut on a character boundary: the status bar shows at most a row */
    size_t keep = bc_utf8_cut(buf, strlen(buf), sizeof t->message - 1);
    memcpy(t->message, buf, keep);
    t->message[keep] = '\0';
    t->message_is_error = error;
    t->dirty = true;
    int room = COLS - 48;   /* a typical left part, and the " │ " before the message */
    if (text_columns(buf) > room && !(t->last_info && strstr(t->last_info, buf)))
        add_info(t, error ? BC_MSG_ERROR : BC_MSG_INFO, buf);
}

void bc_tui_info(bc_tui *t, bc_msg_kind kind, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    add_info(t, kind, buf);
}

static void assistant_header(const bc_session_msg *m, char *buf, size_t len) {
    snprintf(buf, len, "Assistant · %s%s", m->model ? m->model : "?",
             m->stop && !strcmp(m->stop, "cancelled") ? " · stopped" :
             m->stop && !strcmp(m->stop, "error") ? " · failed" :
             m->stop && !strcmp(m->stop, "streaming") ? " · interrupted" : "");
}

void bc_tui_rebuild_transcript(bc_tui *t) {
    bc_transcript_clear(t->transcript);
    if (t->shown_from > t->session->n) t->shown_from = t->session->n;
    for (size_t i = t->shown_from; i < t->session->n; i++) {
        const bc_session_msg *m = &t->session->msgs[i];
        char head[300];
        if (m->role == BC_ROLE_SYSTEM) snprintf(head, sizeof head, "System prompt");
        else if (m->role == BC_ROLE_USER) snprintf(head, sizeof head, "You");
        else assistant_header(m, head, sizeof head);
        bc_transcript_add(t->transcript, m->role == BC_ROLE_SYSTEM ? BC_MSG_SYSTEM
                                         : m->role == BC_ROLE_USER ? BC_MSG_USER : BC_MSG_ASSISTANT,
                          head, m->content);
    }
    bc_transcript_scroll_end(t->transcript);
    t->dirty = true;
}

/* Formats the session here and writes it on the saver's thread; waits for
 * the write when `wait` (a completed message must be on disk before we go
 * on). Without a saver (its thread could not start) it writes here. Every
 * write of the open session goes this way, so writes of it never race. */
static int save_session_err(bc_tui *t, bool wait, bc_error *err) {
    /* an empty conversation gets no file, but one emptied by /undo is rewritten */
    if (t->session->n == 0 && access(t->session->path, F_OK) != 0) return 0;
    char *data;
    size_t len;
    int rc = bc_session_format(t->session, &data, &len, err);
    if (rc) {
        bc_error_prefix(err, "%s", t->session->path);
    } else if (t->saver) {
        rc = bc_saver_submit(t->saver, t->session->path, data, len, err);
        if (rc == 0 && wait) rc = bc_saver_flush(t->saver, err);
    } else {
        rc = bc_write_file_atomic(t->session->path, data, len, err);
        free(data);
    }
    return rc;
}

static void save_session(bc_tui *t, bool wait) {
    bc_error err;
    bc_error_clear(&err);
    if (save_session_err(t, wait, &err)) bc_tui_status(t, true, "%s", err.msg);
}

void bc_tui_save(bc_tui *t) { save_session(t, true); }

int bc_tui_save_err(bc_tui *t, bc_error *err) { return save_session_err(t, true, err); }

static void detach_reply(bc_tui *t);

void bc_tui_reset_context(bc_tui *t) {
    bc_worker_reset(t->worker);
    t->context_used = 0;
}

void bc_tui_open_session(bc_tui *t, bc_session *s) {
    detach_reply(t);
    bc_session_free(t->session);
    t->session = s;
    t->editing = false;
    t->shown_from = 0;
    bc_tui_reset_context(t);
    bc_tui_rebuild_transcript(t);
    bc_tui_refresh_history(t);
}

/* The configured system prompt (--system, `system:`) opens every new
 * conversation, not only the first; /system changes the open one only. */
static int add_configured_system(bc_tui *t, bc_session *s, bc_error *err) {
    if (!t->cfg.system || !*t->cfg.system || s->n) return 0;
    return bc_session_add(s, BC_ROLE_SYSTEM, t->cfg.system, err) < 0 ? -1 : 0;
}

void bc_tui_new_session(bc_tui *t) {
    bc_error err;
    bc_error_clear(&err);
    bc_session *s = bc_session_new(t->sessions_dir, &err);
    if (!s || add_configured_system(t, s, &err)) {
        bc_session_free(s);
        bc_tui_status(t, true, "new conversation: %s", err.msg);
        return;
    }
    bc_tui_open_session(t, s);
    bc_tui_status(t, false, "new conversation");
}

/* ---- talking to the worker ---------------------------------------------- */

static void restore_loaded_request(bc_tui *t) {
    memcpy(t->model, t->loaded_model, sizeof t->model);
    memcpy(t->backend, t->loaded_backend, sizeof t->backend);
    memcpy(t->quant, t->loaded_quant, sizeof t->quant);
}

static void remember_loaded_request(bc_tui *t) {
    memcpy(t->loaded_model, t->model, sizeof t->model);
    memcpy(t->loaded_backend, t->backend, sizeof t->backend);
    memcpy(t->loaded_quant, t->quant, sizeof t->quant);
}

void bc_tui_load(bc_tui *t, const char *model_arg, const char *backend_arg, const char *quant_arg) {
    bc_tui_cancel(t);
    /* The arguments may be t->model etc. themselves (/quant keeps the model):
     * copy them before overwriting (snprintf onto its own source is undefined). */
    char model[sizeof t->model], backend[sizeof t->backend], quant[sizeof t->quant];
    snprintf(model, sizeof model, "%s", model_arg);
    snprintf(backend, sizeof backend, "%s", backend_arg);
    snprintf(quant, sizeof quant, "%s", quant_arg);
    memcpy(t->model, model, sizeof model);
    memcpy(t->backend, backend, sizeof backend);
    memcpy(t->quant, quant, sizeof quant);
    /* Resolve here (directory, HF cache id, demo) so that a bad name is one
     * status message and the loaded model stays. */
    char *dir = NULL;
    bc_error err;
    bc_error_clear(&err);
    if (!bc_fake_engine_wanted(model) && bc_model_resolve(model, &dir, &err) != 0) {
        bc_tui_status(t, true, "%s", err.msg);
        if (t->have_model) restore_loaded_request(t);
        return;
    }
    t->load_id = bc_worker_load(t->worker, dir ? dir : model, backend, quant, t->threads);
    free(dir);
    t->load_fraction = 0;
    t->load_failed = false;
    bc_tui_status(t, false, "loading %s…", model);
}

void bc_tui_cancel(bc_tui *t) {
    if (t->gen_id) bc_worker_cancel(t->worker);
}

void bc_tui_send(bc_tui *t) {
    size_t n = t->session->n;
    if (!n || t->session->msgs[n - 1].role != BC_ROLE_USER) return;
    if (t->gen_id || t->load_id || !t->have_model) {
        if (!t->have_model && !t->load_id)
            bc_tui_status(t, true, "no model is loaded: the message is answered once one is (try "
                                   "/model demo)");
        t->send_when_ready = true; /* see on_ready */
        return;
    }
    t->send_when_ready = false;
    /* The default reply length must leave room for the prompt in a small
     * context (the demo model has 1024 tokens). */
    if (!t->gen.seed_set) { /* a fresh seed per reply: /regen gives another answer */
        t->fresh_seed = t->fresh_seed * 6364136223846793005ull + 1442695040888963407ull;
        bc_tui_update_sampling(t);
    }
    bc_sampling sp = t->sampling;
    if (t->gen.max_new_tokens < 0 && t->info.context_max > 0 && sp.max_new_tokens > t->info.context_max / 2)
        sp.max_new_tokens = t->info.context_max / 2;
    bc_message *msgs = calloc(n, sizeof *msgs);
    if (!msgs) return;
    for (size_t i = 0; i < n; i++) {
        msgs[i].role = t->session->msgs[i].role;
        msgs[i].content = t->session->msgs[i].content;
    }
    t->gen_id = bc_worker_generate(t->worker, msgs, n, &sp);
    free(msgs);
    t->reply_len = 0;
    if (t->reply) t->reply[0] = 0;
    t->reply_session_index = -1;
    t->last_partial_save = now_s();
    char head[300];
    snprintf(head, sizeof head, "Assistant · %s", t->info.model_name);
    t->reply_index = bc_transcript_add(t->transcript, BC_MSG_ASSISTANT, head, "");
    bc_transcript_scroll_end(t->transcript);
    t->dirty = true;
}

/* Puts the reply so far into the session (adding it the first time) with
 * its metadata; stop "streaming" marks one that is still being written. */
static int store_reply(bc_tui *t, const char *stop) {
    bc_error err;
    int i = t->reply_session_index;
    if (i < 0) {
        i = bc_session_add(t->session, BC_ROLE_ASSISTANT, t->reply ? t->reply : "", &err);
        if (i < 0) return -1;
        t->reply_session_index = i;
    } else if (bc_session_set_content(t->session, (size_t)i, t->reply ? t->reply : "", &err) != 0) {
        return -1;
    }
    bc_session_set_meta(t->session, (size_t)i, t->info.model_name, t->info.backend, t->info.quant,
                        &t->sampling, stop);
    return i;
}

/* The reply ended (done, cancelled or failed): it joins the session, which is
 * saved at once, even when it is partial. */
static void finish_reply(bc_tui *t, const char *stop) {
    if (t->reply_len > 0 || strcmp(stop, "error")) {
        int i = store_reply(t, stop);
        if (i >= 0) {
            char head[300];
            assistant_header(&t->session->msgs[i], head, sizeof head);
            bc_transcript_set_header(t->transcript, t->reply_index, head);
        }
        bc_tui_save(t);
        bc_tui_refresh_history(t);
    } else {
        bc_transcript_truncate(t->transcript, t->reply_index);
    }
    t->gen_id = 0;
    t->reply_session_index = -1;
    t->dirty = true;
}

/* The open conversation is about to be closed (another opened, a new one
 * started, this one deleted): the reply in flight stops, what streamed is
 * kept in this conversation, and the request's later events are ignored
 * (gen_id 0) -- stored when they came, they went into the next one. */
static void detach_reply(bc_tui *t) {
    if (!t->gen_id) return;
    bc_worker_cancel(t->worker);
    if (t->reply_len > 0) {
        finish_reply(t, "cancelled");
    } else {
        bc_transcript_truncate(t->transcript, t->reply_index);
        t->gen_id = 0;
        t->reply_session_index = -1;
    }
}

/* While a reply streams, what is on screen is written to the session file
 * (atomically, with fsync) once a second, so a crash or kill -9 loses at
 * most the last second of a reply still streaming; every completed message
 * is saved at once and waited for (bc_tui_command, finish_reply). The
 * partial saves do not wait: the fsync runs on the saver's thread, so a
 * slow disk never stalls the screen or the keyboard. */
static void save_partial_reply(bc_tui *t) {
    double now = now_s();
    if (now - t->last_partial_save < 1.0) return;
    t->last_partial_save = now;
    if (store_reply(t, "streaming") >= 0) save_session(t, false);
}

static void add_reply_text(bc_tui *t, const char *s, size_t n) {
    if (t->reply_len + n + 1 > t->reply_cap) {
        size_t cap = (t->reply_len + n + 1) * 2;
        char *p = realloc(t->reply, cap);
        if (!p) {
            /* Keep what is there; stop the reply rather than save a text
             * with a hole in it. */
            bc_tui_status(t, true, "out of memory: the reply is cut here");
            bc_worker_cancel(t->worker);
            return;
        }
        t->reply = p;
        t->reply_cap = cap;
    }
    memcpy(t->reply + t->reply_len, s, n);
    t->reply_len += n;
    t->reply[t->reply_len] = 0;
    bc_transcript_append(t->transcript, t->reply_index, s, n);
    t->dirty = true;
    save_partial_reply(t);
}

static const char *stop_name(bc_stop_reason r) {
    switch (r) {
    case BC_STOP_EOS: return "eos";
    case BC_STOP_LENGTH: return "length";
    case BC_STOP_CANCELLED: return "cancelled";
    case BC_STOP_CONTEXT: return "context";
    }
    return "eos";
}

/* The worker became free: send what waits (a line typed while busy). */
static void on_ready(bc_tui *t) {
    if (t->replay) bc_tui_replay_advance(t); /* the script goes first */
    if (t->replay || t->gen_id || t->load_id || !t->have_model) return;
    if (t->n_queued) {
        char *line = t->queued[0];
        memmove(t->queued, t->queued + 1, --t->n_queued * sizeof *t->queued);
        bc_tui_command(t, line);
        free(line);
    } else if (t->send_when_ready) {
        bc_tui_send(t); /* a message sent while the model was loading */
    }
}

static void handle_event(bc_tui *t, bc_event *ev) {
    switch (ev->type) {
    case BC_EV_LOAD_PROGRESS:
        if (ev->request_id == t->load_id && ev->bytes_total)
            t->load_fraction = (double)ev->bytes_done / (double)ev->bytes_total;
        break;
    case BC_EV_LOADED:
        t->info = ev->info;
        t->have_model = true;
        t->context_used = 0;   /* a new engine: its cache is empty */
        bc_tui_update_sampling(t); /* this model's generation_config.json */
        if (ev->request_id == t->load_id) {
            t->load_id = 0;
            if (t->load_failed) {
                restore_loaded_request(t);
                bc_tui_info(t, BC_MSG_INFO, "Still using %s (%s, %s).", ev->info.model_name,
                            ev->info.backend, ev->info.quant);
            } else {
                remember_loaded_request(t);
                if (!t->message_is_error)
                    bc_tui_status(t, false, "loaded %s (%s, %s)", ev->info.model_name,
                                  ev->info.backend, ev->info.quant);
            }
            /* Say it plainly, once per load: the demo's replies are noise. */
            if (ev->info.is_demo)
                bc_tui_info(t, BC_MSG_INFO,
                            "%s is a built-in DEMO model with random weights, so its replies "
                            "are noise. Use /model DIR (or -m DIR) for a real Baichuan2 "
                            "checkpoint.", ev->info.model_name);
        }
        break;
    case BC_EV_UNLOADED:
        t->have_model = false;
        if (ev->request_id == t->load_id) t->load_id = 0;
        break;
    case BC_EV_TEXT:
        if (ev->request_id == t->gen_id) add_reply_text(t, ev->text, ev->text_len);
        break;
    case BC_EV_DONE:
        if (ev->request_id != t->gen_id) break;
        t->last_stats = ev->stats;
        t->have_stats = true;
        t->context_used = ev->stats.context_used;
        if (ev->stats.prompt_tokens_dropped > 0)
            bc_tui_status(t, false, "the conversation no longer fits the context: its first %d "
                                    "tokens were left out of this reply's prompt",
                          ev->stats.prompt_tokens_dropped);
        finish_reply(t, stop_name(ev->stats.stop));
        if (ev->stats.stop == BC_STOP_CANCELLED) bc_tui_status(t, false, "stopped; the partial reply is kept");
        if (ev->text_dropped)
            bc_tui_status(t, true, "out of memory: part of this reply could not be shown");
        break;
    case BC_EV_ERROR:
        if (ev->request_kind == BC_REQ_GENERATE && ev->request_id == t->gen_id) {
            finish_reply(t, "error");
            bc_tui_info(t, BC_MSG_ERROR, "Error: %s", ev->message);
            bc_tui_status(t, true, "%s", ev->message);
        } else if (ev->request_kind == BC_REQ_LOAD) {
            if (ev->request_id == t->load_id) t->load_failed = true;
            bc_tui_info(t, BC_MSG_ERROR, "Cannot load: %s", ev->message);
            bc_tui_status(t, true, "%s", ev->message);
        }
        break;
    }
    t->dirty = true;
}

/* ---- input callbacks ---------------------------------------------------- */

/* A message typed while the model is busy waits its turn; each one typed
 * is kept (in order), none replaces another. */
static void queue_line(bc_tui *t, char *line) {
    char **q = realloc(t->queued, (t->n_queued + 1) * sizeof *q);
    if (!q) {   /* keep it in the input line rather than lose it */
        bc_input_set_text(line);
        free(line);
        bc_tui_status(t, true, "out of memory: the message is back in the input line");
        return;
    }
    t->queued = q;
    t->queued[t->n_queued++] = line;
    const char *when = t->replay ? "when the replay ends" : "when the reply ends";
    if (t->n_queued == 1) bc_tui_status(t, false, "queued: sent %s (Ctrl-C stops it)", when);
    else bc_tui_status(t, false, "%zu messages queued: sent one by one %s", t->n_queued, when);
}

/* Quitting with messages still queued: they go into the conversation as
 * unanswered messages (/regen answers the last), never lost. */
static void keep_queued(bc_tui *t) {
    bc_error err;
    for (size_t i = 0; i < t->n_queued; i++) {
        bc_error_clear(&err);
        if (t->session && bc_session_add(t->session, BC_ROLE_USER, t->queued[i], &err) < 0)
            fprintf(stderr, "baichuan-chat: a queued message could not be kept: %s\n", err.msg);
        free(t->queued[i]);
    }
    free(t->queued);
    t->queued = NULL;
    t->n_queued = 0;
}

/* The input line was emptied (an empty Enter, Ctrl-C): what the pane's `r`
 * or /edit had prepared it for is dropped with it. */
static void drop_prepared_line(bc_tui *t) {
    if (t->editing) bc_tui_status(t, false, "edit cancelled: the exchange is kept");
    t->editing = false;
    free(t->rename_target);
    t->rename_target = NULL;
}

static void on_line(void *user, char *line) {
    bc_tui *t = user;
    if (!line) { /* Ctrl-D at an empty line */
        t->quit = true;
        return;
    }
    bool blank = strspn(line, " \t\n") == strlen(line);
    if (blank) drop_prepared_line(t);
    if (!blank) {
        if ((t->gen_id || t->load_id || t->replay) && !bc_is_command(line)) {
            queue_line(t, line);
            return;
        }
        bc_tui_command(t, line);
    }
    free(line);
}

static void terminal_modes(bool on);
static void on_resize(void);

/* Ctrl-Z: the shell's job control, as in any full-screen program: the
 * screen and the terminal modes are put back, the process stops, and on
 * `fg` the screen comes back as it was. A reply keeps streaming into the
 * conversation meanwhile (the worker does not stop). */
static void suspend(bc_tui *t) {
    terminal_modes(false);
    endwin();
    signal(SIGTSTP, SIG_DFL);
    raise(SIGTSTP);
    /* continued */
    terminal_modes(true);
    on_resize();
    clearok(curscr, TRUE);
    refresh();
    t->dirty = true;
}

static void on_action(void *user, bc_input_action a) {
    bc_tui *t = user;
    int page = bc_view_transcript_rows() - 2;
    switch (a) {
    case BC_ACT_INTERRUPT: {
        double now = now_s();
        if (t->replay) {
            bc_tui_cancel(t);
            bc_tui_replay_stop(t);
        } else if (t->gen_id) {
            bc_tui_cancel(t);
            bc_tui_status(t, false, "stopping…");
        } else if (!bc_input_empty()) {
            bc_input_set_text("");
            drop_prepared_line(t);
        } else if (now - t->last_interrupt < 1.0) {
            t->quit = true;
        } else {
            bc_tui_status(t, false, "press Ctrl-C again to quit (or Ctrl-D, /quit)");
        }
        t->last_interrupt = t->gen_id ? 0 : now;
        break;
    }
    case BC_ACT_HELP: t->show_help = true; break;
    case BC_ACT_SUSPEND: suspend(t); break;
    case BC_ACT_TOGGLE_FOCUS:
        t->show_history = true;
        t->focus_history = !t->focus_history;
        if (t->focus_history) bc_tui_refresh_history(t);
        break;
    case BC_ACT_PAGE_UP: bc_transcript_scroll(t->transcript, -page, bc_view_transcript_rows()); break;
    case BC_ACT_PAGE_DOWN: bc_transcript_scroll(t->transcript, page, bc_view_transcript_rows()); break;
    case BC_ACT_HOME: bc_transcript_scroll_home(t->transcript); break;
    case BC_ACT_END: bc_transcript_scroll_end(t->transcript); break;
    case BC_ACT_WHEEL_UP: bc_transcript_scroll(t->transcript, -3, bc_view_transcript_rows()); break;
    case BC_ACT_WHEEL_DOWN: bc_transcript_scroll(t->transcript, 3, bc_view_transcript_rows()); break;
    }
    t->dirty = true;
}

/* ---- the loop ----------------------------------------------------------- */

static void draw(bc_tui *t) {
    size_t nh;
    const char *const *help = bc_tui_help_lines(&nh);
    bc_view_state v = {
        .transcript = t->transcript, .theme = &t->theme,
        .show_history = t->show_history, .focus_history = t->focus_history,
        .items = t->items, .n_items = t->n_items, .selected = t->selected,
        .filter = t->pane_filter, .filtering = t->pane_filtering,
        .model = t->have_model ? t->info.model_name : t->model,
        .backend = t->have_model ? t->info.backend : t->backend,
        .quant = t->have_model ? t->info.quant : t->quant,
        .mode = t->load_id ? BC_VIEW_LOADING : t->gen_id ? BC_VIEW_GENERATING
              : t->have_model ? BC_VIEW_IDLE : BC_VIEW_NO_MODEL,
        .load_fraction = t->load_fraction,
        .message = t->message, .message_is_error = t->message_is_error,
        .help_lines = t->show_help ? help : NULL, .n_help_lines = nh, .help_top = t->help_top,
    };
    if (t->have_stats) {
        const bc_gen_stats *s = &t->last_stats;
        v.prompt_tps = s->prefill_seconds > 0 ? s->prefilled_tokens / s->prefill_seconds : 0;
        v.decode_tps = s->decode_seconds > 0 ? s->new_tokens / s->decode_seconds : 0;
    }
    v.context_used = t->context_used;
    v.context_max = t->have_model ? t->info.context_max : 0;
    bc_view_draw(&v);
}

static void on_resize(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resizeterm(ws.ws_row, ws.ws_col);
}

/* Keys while the help shows: Up/Down/PgUp/PgDn (and j/k) scroll it when it
 * is taller than the screen -- several may come in one read (auto-repeat);
 * anything else closes it. */
static void help_key(bc_tui *t, const unsigned char *b, size_t n) {
    static const struct { const char *seq; int dir; bool page; } SCROLL[] = {
        {"\033[A", -1, false}, {"\033OA", -1, false}, {"k", -1, false},
        {"\033[B", 1, false},  {"\033OB", 1, false},  {"j", 1, false},
        {"\033[5~", -1, true}, {"\033[6~", 1, true},
    };
    int page = LINES > 4 ? LINES - 4 : 1, max = bc_view_help_scroll_max();
    for (size_t i = 0; i < n;) {
        int step = 0;
        size_t len = 0;
        for (size_t k = 0; k < sizeof SCROLL / sizeof SCROLL[0] && !step; k++) {
            size_t l = strlen(SCROLL[k].seq);
            if (l <= n - i && !memcmp(b + i, SCROLL[k].seq, l))
                step = SCROLL[k].dir * (SCROLL[k].page ? page : 1), len = l;
        }
        if (step == 0 || max == 0) {
            t->show_help = false;
            t->help_top = 0;
            return;
        }
        t->help_top += step;
        if (t->help_top < 0) t->help_top = 0;
        if (t->help_top > max) t->help_top = max;
        i += len;
    }
}

static void handle_tty(bc_tui *t) {
    unsigned char buf[4096];
    ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
    if (r <= 0) {
        if (r == 0) t->quit = true;
        return;
    }
    if (t->show_help) { /* scroll keys scroll it, any other key closes it */
        help_key(t, buf, (size_t)r);
        t->dirty = true;
        return;
    }
    if (t->focus_history) {
        bc_tui_pane_keys(t, buf, (size_t)r);
        t->pane_keys_since = now_s();
    } else {
        bc_input_feed(buf, (size_t)r);
    }
}

static void run_loop(bc_tui *t) {
    const double frame = 1.0 / 30;
    double next_frame = 0;
    while (!t->quit) {
        if (bc_input_dirty) t->dirty = true;
        bc_error save_err;
        if (t->saver && bc_saver_take_error(t->saver, &save_err))
            bc_tui_status(t, true, "%s", save_err.msg);
        double now = now_s();
        if (t->dirty && now >= next_frame) {
            draw(t);
            t->dirty = false;
            next_frame = now + frame;
        }
        int timeout = -1;
        if (t->dirty) timeout = (int)ceil((next_frame - now) * 1000);
        int pane_wait = bc_keyparser_wait_ms(&t->pane_keys);
        if (pane_wait >= 0) {
            double left_ms = t->pane_keys_since * 1000 + pane_wait - now * 1000;
            if (left_ms <= 0) {
                bc_tui_pane_timeout(t);
                continue;
            }
            if (timeout < 0 || left_ms < timeout) timeout = (int)ceil(left_ms);
        }
        if (timeout < -1) timeout = 0;
        struct pollfd fds[3] = {
            {.fd = STDIN_FILENO, .events = POLLIN},
            {.fd = bc_worker_wake_fd(t->worker), .events = POLLIN},
            {.fd = winch_pipe[0], .events = POLLIN},
        };
        int n = poll(fds, 3, timeout);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (fds[2].revents & POLLIN) {
            char got[64];
            ssize_t r;
            while ((r = read(winch_pipe[0], got, sizeof got)) > 0)
                if (memchr(got, 'q', (size_t)r)) t->quit = true;
            on_resize();
            t->dirty = true;
        }
        if (fds[1].revents & POLLIN) {
            bc_worker_clear_wake(t->worker);
            bc_event *ev;
            while ((ev = bc_worker_next_event(t->worker))) {
                handle_event(t, ev);
                bc_event_free(ev);
            }
            on_ready(t);
        }
        if (fds[0].revents & (POLLIN | POLLHUP)) handle_tty(t);
    }
}

/* ---- setup and teardown ------------------------------------------------- */

/* Configured values (and /set) win; the rest come from the loaded model's
 * generation_config.json, or Baichuan2-Chat's defaults before a model is
 * loaded (and for engines without one). */
void bc_tui_update_sampling(bc_tui *t) {
    bc_generation_config dflt;
    bc_generation_config_defaults(&dflt);
    bc_app_config c = t->cfg;
    c.generation = t->gen;
    bc_app_config_sampling(&c, t->have_model ? &t->info.generation : &dflt, t->fresh_seed, &t->sampling);
}

/* defaults < config files < the script < options, as `replay` has them;
 * configuration errors come back in err. */
static void replay_settings(const bc_options *o, const bc_replay_script *script, bc_app_config *cfg,
                            bc_error *err) {
    char *log = NULL;
    size_t log_len = 0;
    FILE *f = open_memstream(&log, &log_len);
    bc_replay_settings(o, script, NULL, NULL, cfg, f);
    if (f) fclose(f);
    if (log && *log) {
        log[strcspn(log, "\n")] = 0; /* the first message */
        const char *msg = strncmp(log, "baichuan-chat: ", 15) ? log : log + 15;
        snprintf(err->msg, sizeof err->msg, "%s", msg);
    }
    free(log);
}

/* The saved conversation titled `title` in dir; an error when none or
 * several are. */
static int find_by_title(const char *dir, const char *title, const char *tried, char **path,
                         bc_error *err) {
    bc_session_entry *e = NULL;
    size_t n = 0, hits = 0, hit = 0;
    if (bc_session_list(dir, &e, &n, err) != 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (!e[i].corrupt && !strcmp(e[i].title, title)) hits++, hit = i;
    int rc = 0;
    if (hits == 1) {
        *path = strdup(e[hit].path);
        if (!*path) rc = bc_errorf(err, "out of memory");
    } else if (hits > 1) {
        rc = bc_errorf(err, "--session \"%s\": %zu conversations have that title; name one by "
                            "its file (%s is the newest)", title, hits, e[hit].path);
    } else {
        rc = bc_errorf(err, "--session \"%s\": no such conversation (no file %s or ./%s, and "
                            "no saved conversation has that title)", title, tried, title);
    }
    bc_session_list_free(e, n);
    return rc;
}

/* --session NAME|FILE: a path, a file name in the sessions directory, or the
 * title of a saved conversation. One that cannot be found or read is an
 * error before the screen opens: the user asked for that conversation, and
 * an empty one in its place would hide the mistake. */
static bc_session *open_initial_session(bc_tui *t, const char *spec, bc_error *err) {
    bc_session *s = NULL;
    if (!spec) return bc_session_new(t->sessions_dir, err);
    char path[4200];
    if (strchr(spec, '/')) snprintf(path, sizeof path, "%s", spec);
    else snprintf(path, sizeof path, "%s/%s%s", t->sessions_dir, spec,
                  strstr(spec, ".yaml") ? "" : ".yaml");
    char *titled = NULL;
    if (!strchr(spec, '/') && access(path, F_OK) != 0) {
        if (access(spec, F_OK) == 0) {   /* a file here, as /save FILE wrote it */
            snprintf(path, sizeof path, "%s", spec);
        } else {
            if (find_by_title(t->sessions_dir, spec, path, &titled, err) != 0) return NULL;
            snprintf(path, sizeof path, "%s", titled);
            free(titled);
        }
    }
    if (bc_session_load(path, &s, err) != 0) return NULL;
    return s;
}

static void write_tty(const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w <= 0) break;
        s += w;
        n -= (size_t)w;
    }
}

/* initscr, but a TERM the terminfo database does not know (xterm-kitty
 * over ssh, say) is not the end: the screen is drawn for a common type
 * instead, and `note` says which. */
static bool open_screen(char *note, size_t len) {
    if (newterm(NULL, stdout, stdin)) return true;
    static const char *const fallbacks[] = {"xterm-256color", "xterm", "vt100"};
    for (size_t i = 0; i < sizeof fallbacks / sizeof fallbacks[0]; i++) {
        if (!newterm(fallbacks[i], stdout, stdin)) continue;
        snprintf(note, len, "TERM=%s has no terminfo entry here: drawing as %s",
                 getenv("TERM") ? getenv("TERM") : "", fallbacks[i]);
        return true;
    }
    return false;
}

static bool mouse_on;   /* ui.mouse: SGR mouse reports asked for */

/* Bracketed paste and SGR mouse wheel reports (readline's own terminal
 * setup is off, so the sequences are ours to send), on or off. */
static void terminal_modes(bool on) {
    if (on) write_tty(mouse_on ? "\033[?2004h\033[?1000h\033[?1006h" : "\033[?2004h");
    else write_tty("\033[?1006l\033[?1000l\033[?2004l");
}

static int setup_signals(void) {
    if (pipe(winch_pipe) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(winch_pipe[i], F_SETFL, O_NONBLOCK);
        fcntl(winch_pipe[i], F_SETFD, FD_CLOEXEC);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int bc_tui_app_run(const bc_options *o) {
    static bc_tui tui;
    bc_tui *t = &tui;
    the_tui = t;
    bc_error err;
    bc_error_clear(&err);
    /* Configuration: defaults < user file < -c FILE < options. A broken file
     * is reported on screen; the program starts with the layers that worked. */
    bc_app_config *cfg = &t->cfg;
    bc_error cfg_err, replay_err;
    bc_error_clear(&cfg_err);
    bc_error_clear(&replay_err);
    if (o->replay && bc_replay_script_load(o->replay, &t->replay, &replay_err) != 0) t->replay = NULL;
    if (t->replay) replay_settings(o, t->replay, cfg, &cfg_err);
    else bc_app_config_load(cfg, o, &cfg_err);
    t->gen = cfg->generation;
    t->fresh_seed = bc_app_fresh_seed();
    bc_tui_update_sampling(t);
    t->threads = cfg->threads;
    t->reply_session_index = -1;
    t->show_history = cfg->ui.history_pane;
    if (setup_signals() != 0) {
        fprintf(stderr, "baichuan-chat: cannot create a pipe\n");
        return 1;
    }
    t->sessions_dir = bc_sessions_dir_at(cfg->paths.sessions, &err);
    if (!t->sessions_dir) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        return 1;
    }
    t->transcript = bc_transcript_new();
    if (bc_saver_new(&t->saver, &err) != 0) t->saver = NULL;   /* saves on this thread then */
    bc_error_clear(&err);
    t->worker = bc_worker_start(&err);
    if (!t->transcript || !t->worker) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg[0] ? err.msg : "out of memory");
        return 1;
    }
    bc_error_clear(&err);
    t->session = open_initial_session(t, o->session, &err);
    if (!t->session) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg[0] ? err.msg : "cannot create a session");
        bc_worker_stop(t->worker);
        bc_saver_free(t->saver);
        return 1;
    }
    add_configured_system(t, t->session, &err);

    char theme_error[BC_ERROR_MAX] = "";
    if (bc_theme_load(cfg->theme ? cfg->theme : "dark", &t->theme, &err) != 0)
        snprintf(theme_error, sizeof theme_error, "%s", err.msg);
    if (cfg->ui.ascii_borders) t->theme.ascii_borders = true;

    char term_note[160] = "";
    if (!open_screen(term_note, sizeof term_note)) {
        fprintf(stderr, "baichuan-chat: TERM=%s: no terminfo entry for it, nor for xterm-256color, "
                        "xterm or vt100 (install ncurses-term, or set TERM)\n",
                getenv("TERM") ? getenv("TERM") : "");
        bc_worker_stop(t->worker);
        bc_saver_free(t->saver);
        return 1;
    }
    raw();
    noecho();
    nonl();
    keypad(stdscr, FALSE);
    if (has_colors()) {
        start_color();
        use_default_colors();
    }
    bc_theme_apply(&t->theme);
    /* Bracketed paste and SGR mouse wheel reports (readline's own terminal
     * setup is off, so the enable sequence is ours to send). */
    mouse_on = cfg->ui.mouse;
    terminal_modes(true);

    char *hist = cfg->paths.history ? strdup(cfg->paths.history) : bc_input_history_path();
    bc_input_callbacks cb = {on_line, on_action, t};
    bc_input_init(&cb, hist, STDIN_FILENO, &err);
    free(hist);

    bc_tui_rebuild_transcript(t);
    bc_tui_refresh_history(t);
    if (theme_error[0]) {
        bc_tui_info(t, BC_MSG_ERROR, "Theme: %s (using mono)", theme_error);
        bc_tui_status(t, true, "%s", theme_error);
    }
    if (cfg_err.msg[0]) bc_tui_info(t, BC_MSG_ERROR, "Configuration: %s", cfg_err.msg);
    if (replay_err.msg[0]) bc_tui_info(t, BC_MSG_ERROR, "Replay: %s", replay_err.msg);
    else if (t->replay)
        bc_tui_info(t, BC_MSG_INFO, "Replaying %s: %zu steps (Ctrl-C stops it).", t->replay->name,
                    t->replay->n_steps);
    if (cfg->warnings) bc_tui_info(t, BC_MSG_INFO, "Configuration: %s", cfg->warnings);
    bc_tui_load(t, cfg->model ? cfg->model : "demo", cfg->backend ? cfg->backend : "auto",
                cfg->quant ? cfg->quant : "auto");
    if (cfg_err.msg[0]) bc_tui_status(t, true, "configuration errors: see above");
    if (theme_error[0]) bc_tui_status(t, true, "%s", theme_error);
    if (replay_err.msg[0]) bc_tui_status(t, true, "replay: %s", replay_err.msg);
    if (term_note[0]) bc_tui_info(t, BC_MSG_INFO, "%s.", term_note);
    t->dirty = true;

    run_loop(t);

    terminal_modes(false);
    bc_input_shutdown();
    endwin();
    bc_worker_cancel(t->worker);
    /* quitting mid-reply keeps what had streamed, as a stopped reply */
    if (t->gen_id && t->reply_len > 0 && store_reply(t, "cancelled") >= 0) bc_tui_save(t);
    if (t->n_queued) {
        keep_queued(t);
        bc_tui_save(t);
    }
    if (t->saver) {
        bc_error_clear(&err);
        if (bc_saver_flush(t->saver, &err) != 0) fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        bc_saver_free(t->saver);
    }
    /* A load cannot be stopped halfway (a 13B checkpoint takes minutes):
     * everything is saved by now, so do not wait for it -- leave at once,
     * the kernel ends the loading thread with the process. */
    if (t->load_id) _exit(0);
    bc_worker_stop(t->worker);
    bc_session_free(t->session);
    bc_transcript_free(t->transcript);
    bc_tui_free_history(t);
    free(t->sessions_dir);
    free(t->reply);
    free(t->queued);   /* emptied by keep_queued above */
    free(t->rename_target);
    free(t->last_info);
    bc_replay_script_free(t->replay);
    bc_app_config_free(&t->cfg);
    return 0;
}
