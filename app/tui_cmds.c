/* What the TUI does with a line (a message or a slash command) and with keys
 * in the history pane. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "input.h"
#include "keyparse.h"
#include "tui_app.h"

/* ---- help ---------------------------------------------------------------- */

static char help_buf[64][160];
static const char *help_ptrs[64];

const char *const *bc_tui_help_lines(size_t *n) {
    static size_t count;
    if (!count) {
        static const char *const keys[] = {
            "Keys (Up/Down/PgUp/PgDn scroll this help; any other key closes it)",
            "  Enter          send            Ctrl-J / Alt-Enter  new line",
            "  Ctrl-C         stop the reply; twice at an empty line: quit",
            "  Ctrl-D, /quit  quit            Tab     history pane / input",
            "  PgUp PgDn      scroll          Home End (empty line) top / bottom",
            "  Up, Ctrl-R     input history   F1, /help  this help",
            "  History pane:  Up/Down select, Enter open, n new, r rename, d delete,",
            "                 / find by title (Enter keeps it, Esc shows all)",
            "Commands",
        };
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            snprintf(help_buf[count], sizeof help_buf[count], "%s", keys[i]), count++;
        size_t nc;
        const bc_command_spec *c = bc_commands(&nc);
        /* a help text too long for a 100-column screen continues under itself,
         * cut after a '|' or a blank */
        enum { HELP_COLS = 52 };
        for (size_t i = 0; i < nc && count < 61; i++, count++) {
            const char *h = c[i].help;
            int cut = (int)strlen(h);
            if (cut > HELP_COLS)
                for (cut = HELP_COLS; cut > 0 && h[cut - 1] != '|' && h[cut - 1] != ' '; cut--) {
                }
            if (cut == 0) cut = (int)strlen(h);
            snprintf(help_buf[count], sizeof help_buf[count], "  /%-8s %-28s %.*s", c[i].name,
                     c[i].usage, cut, h);
            if (h[cut]) snprintf(help_buf[++count], sizeof help_buf[count], "%41s%s", "", h + cut);
        }
        for (size_t i = 0; i < count; i++) help_ptrs[i] = help_buf[i];
    }
    *n = count;
    return help_ptrs;
}

/* ---- OSC 52 copy --------------------------------------------------------- */

static void copy_osc52(const char *text) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(text), o = 0;
    char *out = malloc(n / 3 * 4 + 16 + 16);
    if (!out) return;
    o += (size_t)sprintf(out, "\033]52;c;");
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)text[i] << 16;
        if (i + 1 < n) v |= (unsigned char)text[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)text[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o++] = '\a';
    ssize_t w = write(STDOUT_FILENO, out, o);
    (void)w;
    free(out);
}

/* ---- commands ------------------------------------------------------------ */

static bool busy(bc_tui *t, const char *what) {
    if (!t->gen_id) return false;
    bc_tui_status(t, true, "%s: wait for the reply or stop it with Ctrl-C", what);
    return true;
}

static void set_system(bc_tui *t, const char *text) {
    bc_session *s = t->session;
    bc_error err;
    if (s->n && s->msgs[0].role == BC_ROLE_SYSTEM) {
        if (!*text) {
            bc_session_msg first = s->msgs[0];
            memmove(&s->msgs[0], &s->msgs[1], (s->n - 1) * sizeof *s->msgs);
            s->msgs[s->n - 1] = first;
            bc_session_truncate(s, s->n - 1);
        } else {
            bc_session_set_content(s, 0, text, &err);
        }
    } else if (*text) {
        if (bc_session_add(s, BC_ROLE_SYSTEM, text, &err) < 0) return;
        bc_session_msg sys = s->msgs[s->n - 1];
        memmove(&s->msgs[1], &s->msgs[0], (s->n - 1) * sizeof *s->msgs);
        s->msgs[0] = sys;
    }
    bc_tui_save(t);
    bc_tui_rebuild_transcript(t);
    bc_tui_status(t, false, *text ? "system prompt set" : "system prompt cleared");
}

static const char *last_reply(bc_tui *t) {
    for (size_t i = t->session->n; i > 0; i--)
        if (t->session->msgs[i - 1].role == BC_ROLE_ASSISTANT) return t->session->msgs[i - 1].content;
    return NULL;
}

static void show_stats(bc_tui *t) {
    char params[256];
    bc_sampling_describe(&t->sampling, params, sizeof params);
    if (!t->have_stats) {
        bc_tui_info(t, BC_MSG_INFO, "Model %s (%s, %s), context %d tokens.\nNo reply yet.\nSampling: %s",
                    t->info.model_name, t->info.backend, t->info.quant, t->info.context_max, params);
        return;
    }
    const bc_gen_stats *s = &t->last_stats;
    bc_tui_info(t, BC_MSG_INFO,
                "Model %s (%s, %s), weights %.1f MB.\n"
                "Last reply: prompt %d tokens (%d prefilled, %.1f t/s), %d new tokens (%.1f t/s).\n"
                "Context %d / %d tokens.\nSampling: %s",
                t->info.model_name, t->info.backend, t->info.quant, t->info.weight_bytes / 1e6,
                s->prompt_tokens, s->prefilled_tokens,
                s->prefill_seconds > 0 ? s->prefilled_tokens / s->prefill_seconds : 0.0, s->new_tokens,
                s->decode_seconds > 0 ? s->new_tokens / s->decode_seconds : 0.0, t->context_used,
                s->context_max, params);
}

static void rename_session(bc_tui *t, const char *title) {
    bc_error err;
    bc_error_clear(&err);
    if (t->rename_target && strcmp(t->rename_target, t->session->path)) {
        bc_session *s;
        if (bc_session_load(t->rename_target, &s, &err) == 0) {
            if (bc_session_set_title(s, title, &err) == 0) bc_session_save(s, NULL, &err);
            bc_session_free(s);
        }
    } else if (bc_session_set_title(t->session, title, &err) == 0) {
        bc_tui_save_err(t, &err);
    }
    free(t->rename_target);
    t->rename_target = NULL;
    if (err.msg[0]) bc_tui_status(t, true, "%s", err.msg);
    else bc_tui_status(t, false, "renamed to “%s”", title);
    bc_tui_refresh_history(t);
}

static void run_command(bc_tui *t, const bc_command *c) {
    bc_error err;
    bc_error_clear(&err);
    bc_session *s = t->session;
    switch (c->spec->id) {
    case BC_CMD_HELP: t->show_help = true; break;
    case BC_CMD_NEW: bc_tui_new_session(t); break;
    case BC_CMD_SYSTEM:
        if (!busy(t, "/system")) set_system(t, c->arg);
        break;
    case BC_CMD_SET:
        /* a reply as long as the context would leave no room for a prompt:
         * every message would fail; refuse it here, where it is typed */
        if (c->setting == BC_SET_MAX_NEW_TOKENS && t->have_model &&
            c->value >= t->info.context_max) {
            bc_tui_status(t, true, "/set max_new_tokens: %.0f leaves no room for a prompt in "
                                   "%s's context of %d tokens (at most %d)", c->value,
                          t->info.model_name, t->info.context_max, t->info.context_max - 1);
            break;
        }
        bc_command_apply_generation(c, &t->gen);
        bc_tui_update_sampling(t);
        bc_tui_status(t, false, "%s", c->arg);
        break;
    case BC_CMD_MODEL: { /* a preset from the configuration, or a name/directory */
        const bc_preset *p = bc_app_config_preset(&t->cfg, c->arg);
        bc_tui_load(t, p && p->model ? p->model : c->arg, p && p->backend ? p->backend : t->backend,
                    p && p->quant ? p->quant : t->quant);
        break;
    }
    case BC_CMD_QUANT: bc_tui_load(t, t->model, t->backend, c->arg); break;
    case BC_CMD_BACKEND: bc_tui_load(t, t->model, c->arg, t->quant); break;
    case BC_CMD_REGEN:
        if (busy(t, "/regen")) break;
        if (s->n && s->msgs[s->n - 1].role == BC_ROLE_ASSISTANT) bc_session_truncate(s, s->n - 1);
        if (!s->n || s->msgs[s->n - 1].role != BC_ROLE_USER) {
            bc_tui_status(t, true, "/regen: nothing to answer");
            break;
        }
        if (t->shown_from >= s->n) t->shown_from = s->n - 1;   /* show what is answered */
        bc_tui_save(t);
        bc_tui_rebuild_transcript(t);
        bc_tui_send(t);
        break;
    case BC_CMD_EDIT:
    case BC_CMD_UNDO: {
        if (busy(t, c->spec->id == BC_CMD_EDIT ? "/edit" : "/undo")) break;
        size_t u = s->n;
        while (u > 0 && s->msgs[u - 1].role != BC_ROLE_USER) u--;
        if (u == 0) {
            bc_tui_status(t, true, "/%s: no message to take back", c->spec->name);
            break;
        }
        if (c->spec->id == BC_CMD_EDIT) {
            bc_input_set_text(s->msgs[u - 1].content);
            t->editing = true;
            t->edit_index = u - 1;
            bc_tui_status(t, false, "edit the message and press Enter: it replaces the last "
                                    "exchange (an empty line keeps it)");
            break;
        }
        bc_session_truncate(s, u - 1);
        bc_tui_save(t);
        bc_tui_reset_context(t);
        bc_tui_rebuild_transcript(t);
        bc_tui_status(t, false, "last exchange removed");
        break;
    }
    case BC_CMD_SAVE:
        /* the open session through the saver (never beside a write of it in
         * flight), then the copy to FILE here */
        if (bc_tui_save_err(t, &err) == 0 && (!c->arg[0] || bc_session_save(s, c->arg, &err) == 0))
            bc_tui_status(t, false, "saved %s", c->arg[0] ? c->arg : s->path);
        else bc_tui_status(t, true, "%s", err.msg);
        bc_tui_refresh_history(t);
        break;
    case BC_CMD_EXPORT:
        if (bc_session_export_md(s, c->arg, &err) == 0) bc_tui_status(t, false, "exported %s", c->arg);
        else bc_tui_status(t, true, "%s", err.msg);
        break;
    case BC_CMD_COPY: {
        const char *r = last_reply(t);
        if (!r) bc_tui_status(t, true, "/copy: no reply yet");
        else {
            copy_osc52(r);
            bc_tui_status(t, false, "copied the last reply (%zu bytes) via OSC 52", strlen(r));
        }
        break;
    }
    case BC_CMD_THEME: {
        bc_theme th;
        if (bc_theme_load(c->arg, &th, &err) != 0) {
            bc_tui_status(t, true, "%s", err.msg);
            break;
        }
        t->theme = th;
        /* ui.ascii_borders is about the terminal, not the theme: it stays */
        if (t->cfg.ui.ascii_borders) t->theme.ascii_borders = true;
        bc_theme_apply(&t->theme);
        bc_tui_status(t, false, "theme %s", th.name);
        break;
    }
    case BC_CMD_STATS: show_stats(t); break;
    case BC_CMD_CLEAR:
        bc_transcript_clear(t->transcript);
        t->shown_from = s->n;   /* later redraws from the session keep it cleared */
        bc_tui_status(t, false, "screen cleared (the conversation is kept; /new starts another)");
        break;
    case BC_CMD_HISTORY:
        t->show_history = !t->show_history;
        if (!t->show_history) t->focus_history = false;
        else bc_tui_refresh_history(t);
        break;
    case BC_CMD_RENAME: rename_session(t, c->arg); break;
    case BC_CMD_QUIT: t->quit = true; break;
    }
    t->dirty = true;
}

/* A line from the input: a command, or a user message that is saved before
 * generation starts. */
void bc_tui_command(bc_tui *t, const char *line) {
    /* the pane's `r` prepares the next line only: any other line forgets it */
    if (t->rename_target && strncmp(line, "/rename", 7) != 0) {
        free(t->rename_target);
        t->rename_target = NULL;
    }
    bool replaces_edited = t->editing && !bc_is_command(line);
    t->editing = false;   /* any line ends an /edit; only a message replaces */
    if (replaces_edited && t->edit_index < t->session->n) {
        bc_session_truncate(t->session, t->edit_index);
        bc_tui_reset_context(t);
        bc_tui_rebuild_transcript(t);
    }
    if (bc_is_command(line)) {
        bc_command c;
        bc_error err;
        bc_error_clear(&err);
        if (bc_command_parse(line, &c, &err) != 0) {
            bc_tui_status(t, true, "%s", err.msg);
            return;
        }
        run_command(t, &c);
        return;
    }
    bc_error err;
    if (bc_session_add(t->session, BC_ROLE_USER, line, &err) < 0) {
        bc_tui_status(t, true, "%s", err.msg);
        return;
    }
    bc_tui_save(t);
    bc_transcript_add(t->transcript, BC_MSG_USER, "You", line);
    bc_transcript_scroll_end(t->transcript);
    t->message[0] = 0;
    bc_tui_send(t);
    bc_tui_refresh_history(t);
    t->dirty = true;
}

/* ---- history pane keys --------------------------------------------------- */

static void open_selected(bc_tui *t) {
    const bc_session_entry *e = bc_tui_selected_entry(t);
    if (!e) return;
    bc_session *s;
    bc_error err;
    bc_error_clear(&err);
    char *title = strdup(e->title);
    if (bc_session_load(e->path, &s, &err) != 0) {
        bc_tui_status(t, true, "%s", err.msg);
        free(title);
        return;
    }
    bc_tui_open_session(t, s);   /* refreshes the listing: e is gone */
    t->focus_history = false;
    bc_tui_status(t, false, "opened %s", title ? title : "the conversation");
    free(title);
}

/* The pane's filter while it is typed ('/'): printable bytes (UTF-8
 * included) add to it, Backspace takes off the last character, Enter keeps
 * it, Esc drops it. The list narrows as it is typed. */
static void filter_key(bc_tui *t, bc_key key) {
    size_t len = strlen(t->pane_filter);
    unsigned char k = key.kind == BC_KEY_CHAR ? key.ch : 0;
    if (key.kind == BC_KEY_ESC || k == 0x1b || k == 0x03) {
        t->pane_filter[0] = '\0';
        t->pane_filtering = false;
    } else if (k == '\r' || k == '\n' || k == '\t') {
        t->pane_filtering = false;
    } else if (k == 0x7f || k == 0x08) {
        while (len > 0 && ((unsigned char)t->pane_filter[len - 1] & 0xC0) == 0x80) len--;
        if (len > 0) len--;
        t->pane_filter[len] = '\0';
    } else if (key.kind == BC_KEY_CHAR && k >= 0x20 && len + 1 < sizeof t->pane_filter) {
        t->pane_filter[len] = (char)k;
        t->pane_filter[len + 1] = '\0';
    } else {
        return;
    }
    bc_tui_filter_history(t);
}

static void pane_key(void *user, bc_key key) {
    bc_tui *t = user;
    t->dirty = true;
    if (t->pane_filtering) {
        filter_key(t, key);
        return;
    }
    unsigned char k = key.kind == BC_KEY_CHAR ? key.ch : 0;
    const bc_session_entry *sel = bc_tui_selected_entry(t);
    if (t->confirm_delete) {
        t->confirm_delete = false;
        char *p = (k == 'y' || k == 'Y') && sel ? strdup(sel->path) : NULL;
        if (p) {
            if (!strcmp(p, t->session->path))   /* deleting the open one: start anew */
                bc_tui_new_session(t);
            if (unlink(p) == 0) bc_tui_status(t, false, "deleted");
            else bc_tui_status(t, true, "cannot delete %s", p);
            free(p);
            bc_tui_refresh_history(t);
        } else {
            bc_tui_status(t, false, "not deleted");
        }
        return;
    }
    switch (key.kind) {
    case BC_KEY_UP: k = 'k'; break;
    case BC_KEY_DOWN: k = 'j'; break;
    case BC_KEY_HOME: t->selected = 0; return;
    case BC_KEY_END: t->selected = t->n_items ? t->n_items - 1 : 0; return;
    case BC_KEY_DELETE: k = 'd'; break;
    case BC_KEY_ESC: k = 0x1b; break;
    case BC_KEY_CHAR: break;
    default: return;
    }
    if (k == 0x1b && t->pane_filter[0]) {   /* Esc first drops a filter */
        t->pane_filter[0] = '\0';
        bc_tui_filter_history(t);
    } else if (k == '\t' || k == 0x1b || k == 'q' || k == 0x03) {
        t->focus_history = false;
    } else if (k == '/') {
        t->pane_filtering = true;
    } else if (k == 'k' && t->selected > 0) {
        t->selected--;
    } else if (k == 'j' && t->selected + 1 < t->n_items) {
        t->selected++;
    } else if (k == '\r' || k == '\n') {
        open_selected(t);
    } else if (k == 'n') {
        bc_tui_new_session(t);
        t->focus_history = false;
    } else if (k == 'r' && sel && sel->corrupt) {
        bc_tui_status(t, true, "this file cannot be read, so it cannot be renamed (d deletes it)");
    } else if (k == 'r' && sel) {
        free(t->rename_target);
        t->rename_target = strdup(sel->path);
        char line[600];
        snprintf(line, sizeof line, "/rename %s", sel->title);
        bc_input_set_text(line);
        t->focus_history = false;
    } else if (k == 'd' && sel) {
        t->confirm_delete = true;
        bc_tui_status(t, true, "delete “%s”? y/n", sel->title);
    }
}

/* Keys typed while the pane has the focus. An escape sequence split across
 * reads is completed by the next read (or flushed by bc_tui_pane_timeout). */
void bc_tui_pane_keys(bc_tui *t, const unsigned char *b, size_t n) {
    t->dirty = true;
    bc_keyparser_feed(&t->pane_keys, b, n, pane_key, t);
}

/* Nothing followed a pending ESC (or an incomplete sequence) in time. */
void bc_tui_pane_timeout(bc_tui *t) { bc_keyparser_flush(&t->pane_keys, pane_key, t); }
