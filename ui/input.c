/* bc_input: the readline bridge (see input.h). */
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool bc_input_dirty;

static bc_input_callbacks cbs;
static char *hist_path;
static int tty;
static FILE *devnull;

/* The byte queue readline reads from. */
static unsigned char *q;
static size_t q_head, q_len, q_cap;

static int q_push(const unsigned char *b, size_t n) {
    if (q_head > 0 && q_head == q_len) q_head = q_len = 0;
    if (q_len + n > q_cap) {
        if (q_head > 0) {
            memmove(q, q + q_head, q_len - q_head);
            q_len -= q_head;
            q_head = 0;
        }
        if (q_len + n > q_cap) {
            size_t cap = (q_len + n) * 2;
            unsigned char *p = realloc(q, cap);
            if (!p) return -1;
            q = p;
            q_cap = cap;
        }
    }
    memcpy(q + q_len, b, n);
    q_len += n;
    return 0;
}

static bool q_empty(void) { return q_head >= q_len; }

/* Bracketed paste state, tracked across reads (a marker may arrive split):
 * inside a paste every byte is text for readline, a 0x03 included. Bytes
 * readline pulls from the terminal itself (read_tty, in the middle of a paste
 * or a key sequence) are tracked too, so the end marker is never missed. */
static const unsigned char PASTE_BEGIN[] = "\033[200~", PASTE_END[] = "\033[201~";
static bool in_paste;
static size_t paste_match; /* bytes of the marker we look for matched so far */

static void track_paste(unsigned char c) {
    const unsigned char *m = in_paste ? PASTE_END : PASTE_BEGIN;
    if (c == m[paste_match]) {
        if (++paste_match == sizeof PASTE_BEGIN - 1) {
            in_paste = !in_paste;
            paste_match = 0;
        }
    } else {
        paste_match = c == m[0] ? 1 : 0;
    }
}

/* Reads more from the terminal, waiting at most timeout_ms (-1 = forever). */
static bool read_tty(int timeout_ms) {
    struct pollfd p = {.fd = tty, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    unsigned char buf[4096];
    ssize_t r = read(tty, buf, sizeof buf);
    if (r <= 0) return false;
    for (ssize_t i = 0; i < r; i++) track_paste(buf[i]);
    q_push(buf, (size_t)r);
    return true;
}

/* readline asks for the next byte: from the queue, else (in the middle of a
 * key sequence or a paste) from the terminal. */
static int queue_getc(FILE *f) {
    (void)f;
    while (q_empty())
        if (!read_tty(-1)) return EOF;
    return q[q_head++];
}

static int queue_available(void) {
    if (!q_empty()) return 1;
    return read_tty(25) ? 1 : 0; /* ESC vs. escape sequence: wait 25 ms */
}

static void redisplay(void) { bc_input_dirty = true; }

/* ---- history ------------------------------------------------------------ */

static void mkdirs(char *path) {
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0700);
            *p = '/';
        }
}

char *bc_input_history_path(void) {
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char buf[4096];
    if (xdg && xdg[0] == '/') snprintf(buf, sizeof buf, "%s/baichuan-chat/history", xdg);
    else if (home && *home) snprintf(buf, sizeof buf, "%s/.local/state/baichuan-chat/history", home);
    else return NULL;
    mkdirs(buf);
    return strdup(buf);
}

/* Text for the input line set while readline runs our line handler (e.g.
 * /edit): readline clears the line when the handler returns, so it is put
 * in afterwards (read_pending). */
static char *pending_text;
static bool in_handler;

static void apply_pending_text(void) {
    if (!pending_text) return;
    rl_replace_line(pending_text, 0);
    rl_point = rl_end;
    free(pending_text);
    pending_text = NULL;
    bc_input_dirty = true;
}

/* Lets readline consume the queue. */
static void read_queued(void) {
    while (!q_empty()) {
        rl_callback_read_char();
        apply_pending_text();
    }
}

static void on_line(char *line) {
    if (line && *line) {
        HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
        if (!last || strcmp(last->line, line)) {
            add_history(line);
            /* Written after every line, not at exit: a crash keeps history. */
            if (hist_path) {
                int fd = open(hist_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (fd >= 0) close(fd);
                append_history(1, hist_path);
            }
        }
    }
    bc_input_dirty = true;
    in_handler = true;
    cbs.on_line(cbs.user, line);
    in_handler = false;
}

/* ---- app key functions -------------------------------------------------- */

static int act(bc_input_action a) {
    cbs.on_action(cbs.user, a);
    return 0;
}
static int fn_newline(int c, int k) { (void)c, (void)k; return rl_insert_text("\n") >= 0 ? 0 : 1; }
static int fn_help(int c, int k) { (void)c, (void)k; return act(BC_ACT_HELP); }
static int fn_focus(int c, int k) { (void)c, (void)k; return act(BC_ACT_TOGGLE_FOCUS); }
static int fn_pgup(int c, int k) { (void)c, (void)k; return act(BC_ACT_PAGE_UP); }
static int fn_suspend(int c, int k) { (void)c, (void)k; return act(BC_ACT_SUSPEND); }
static int fn_pgdn(int c, int k) { (void)c, (void)k; return act(BC_ACT_PAGE_DOWN); }
static int fn_home(int c, int k) {
    if (rl_end == 0) return act(BC_ACT_HOME);
    return rl_beg_of_line(c, k);
}
static int fn_end(int c, int k) {
    if (rl_end == 0) return act(BC_ACT_END);
    return rl_end_of_line(c, k);
}

static void bind_keys(void) {
    rl_add_funmap_entry("bc-insert-newline", fn_newline);
    rl_add_funmap_entry("bc-help", fn_help);
    rl_add_funmap_entry("bc-toggle-focus", fn_focus);
    rl_add_funmap_entry("bc-page-up", fn_pgup);
    rl_add_funmap_entry("bc-page-down", fn_pgdn);
    rl_add_funmap_entry("bc-home", fn_home);
    rl_add_funmap_entry("bc-end", fn_end);
    rl_add_funmap_entry("bc-suspend", fn_suspend);
    rl_bind_keyseq("\\C-j", fn_newline);
    rl_bind_keyseq("\\e\\C-m", fn_newline);
    rl_bind_keyseq("\\t", fn_focus);
    rl_bind_keyseq("\\C-z", fn_suspend);
    static const char *const help_keys[] = {"\\eOP", "\\e[11~", "\\e[[A"};
    for (size_t i = 0; i < 3; i++) rl_bind_keyseq(help_keys[i], fn_help);
    rl_bind_keyseq("\\e[5~", fn_pgup);
    rl_bind_keyseq("\\e[6~", fn_pgdn);
    static const char *const home_keys[] = {"\\e[H", "\\eOH", "\\e[1~", "\\e[7~"};
    static const char *const end_keys[] = {"\\e[F", "\\eOF", "\\e[4~", "\\e[8~"};
    for (size_t i = 0; i < 4; i++) {
        rl_bind_keyseq(home_keys[i], fn_home);
        rl_bind_keyseq(end_keys[i], fn_end);
    }
    rl_bind_keyseq("\\e[200~", rl_bracketed_paste_begin);
}

int bc_input_init(const bc_input_callbacks *cb, const char *history_path, int tty_fd, bc_error *err) {
    cbs = *cb;
    tty = tty_fd;
    devnull = fopen("/dev/null", "w");
    if (!devnull) return bc_errorf(err, "/dev/null: %s", strerror(errno));
    rl_readline_name = "baichuan-chat";
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_prep_term_function = NULL;
    rl_deprep_term_function = NULL;
    rl_getc_function = queue_getc;
    rl_input_available_hook = queue_available;
    rl_redisplay_function = redisplay;
    rl_outstream = devnull;
    rl_instream = stdin;
    using_history();
    stifle_history(2000);
    if (history_path) {
        hist_path = strdup(history_path);
        read_history(hist_path);
    }
    rl_callback_handler_install("> ", on_line);
    rl_variable_bind("enable-bracketed-paste", "on");
    rl_variable_bind("bell-style", "none");
    bind_keys();
    /* Re-read ~/.inputrc (or $INPUTRC) so the user's bindings, with
     * `$if baichuan-chat` sections, win over the defaults above. */
    rl_read_init_file(NULL);
    bc_input_dirty = true;
    return 0;
}

void bc_input_shutdown(void) {
    rl_callback_handler_remove();
    if (hist_path && history_length > 2000) history_truncate_file(hist_path, 2000);
    free(hist_path);
    hist_path = NULL;
    free(q);
    q = NULL;
    free(pending_text);
    pending_text = NULL;
    q_head = q_len = q_cap = 0;
    if (devnull) fclose(devnull);
    devnull = NULL;
}

/* Takes Ctrl-C and SGR mouse reports out of the stream (outside a bracketed
 * paste); the rest goes to readline. */
void bc_input_feed(const unsigned char *b, size_t n) {
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        bool pasting = in_paste;
        track_paste(b[i]);
        if (pasting) continue;
        if (b[i] == 0x03) {
            q_push(b + start, i - start);
            start = i + 1;
            read_queued();
            cbs.on_action(cbs.user, BC_ACT_INTERRUPT);
            continue;
        }
        if (b[i] == 0x1b && i + 2 < n && b[i + 1] == '[' && b[i + 2] == '<') {
            size_t j = i + 3;
            while (j < n && b[j] != 'M' && b[j] != 'm') j++;
            if (j < n) {
                q_push(b + start, i - start);
                int button = atoi((const char *)b + i + 3);
                if (b[j] == 'M' && button == 64) cbs.on_action(cbs.user, BC_ACT_WHEEL_UP);
                if (b[j] == 'M' && button == 65) cbs.on_action(cbs.user, BC_ACT_WHEEL_DOWN);
                start = j + 1;
                i = j;
                paste_match = 0;
            }
        }
    }
    q_push(b + start, n - start);
    read_queued();
}

const char *bc_input_prompt(void) { return rl_display_prompt ? rl_display_prompt : "> "; }
const char *bc_input_text(void) { return rl_line_buffer ? rl_line_buffer : ""; }
size_t bc_input_cursor_byte(void) { return rl_point > 0 ? (size_t)rl_point : 0; }
bool bc_input_empty(void) { return rl_end == 0; }

void bc_input_set_text(const char *text) {
    if (in_handler) {
        free(pending_text);
        pending_text = strdup(text);
        return;
    }
    rl_replace_line(text, 0);
    rl_point = rl_end;
    bc_input_dirty = true;
}
