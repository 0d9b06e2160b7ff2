/* bc_session: YAML conversation files, written atomically after every message. */
#include "session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "utf8.h"
#include "yaml_reader.h"

/* ---- paths and atomic writes ------------------------------------------- */

static int mkdirs(char *path, bc_error *err) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int rc = mkdir(path, 0700);
        *p = '/';
        if (rc != 0 && errno != EEXIST) return bc_errorf(err, "%s: cannot create: %s", path, strerror(errno));
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return bc_errorf(err, "%s: cannot create: %s", path, strerror(errno));
    return 0;
}

char *bc_sessions_dir(bc_error *err) {
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char buf[4096];
    if (xdg && xdg[0] == '/') snprintf(buf, sizeof buf, "%s/baichuan-chat/sessions", xdg);
    else if (home && *home) snprintf(buf, sizeof buf, "%s/.local/share/baichuan-chat/sessions", home);
    else {
        bc_errorf(err, "sessions: neither XDG_DATA_HOME nor HOME is set");
        return NULL;
    }
    if (mkdirs(buf, err) != 0) return NULL;
    return strdup(buf);
}

char *bc_sessions_dir_at(const char *configured, bc_error *err) {
    if (!configured) return bc_sessions_dir(err);
    char *dir = strdup(configured);
    if (!dir) {
        bc_errorf(err, "paths.sessions: out of memory");
        return NULL;
    }
    if (*dir && mkdirs(dir, err) != 0) {
        bc_error_prefix(err, "paths.sessions");
        free(dir);
        return NULL;
    }
    return dir;
}

static void fsync_dir_of(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    fsync(fd); /* some filesystems cannot sync a directory (EINVAL): ignore */
    close(fd);
}

/* Writes all of data to fd; returns 0 or -1 with errno set. */
static int write_all(int fd, const char *data, size_t len) {
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        off += (size_t)w;
    }
    return 0;
}

/* A target that is not a regular file (/dev/null, /dev/stdout, a FIFO) must
 * be written in place: renaming a temporary file over it would replace the
 * device node itself. A symlink is followed, so the link stays a link. */
static int write_in_place_if_special(const char *path, const char *data, size_t len,
                                     bc_error *err, bool *done) {
    struct stat st;
    *done = false;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) return 0;
    *done = true;
    if (S_ISDIR(st.st_mode)) return bc_errorf(err, "%s: is a directory", path);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return bc_errorf(err, "%s: cannot open: %s", path, strerror(errno));
    int rc = write_all(fd, data, len);
    int e = errno;
    close(fd);
    return rc ? bc_errorf(err, "%s: write failed: %s", path, strerror(e)) : 0;
}

int bc_write_file_atomic(const char *path, const char *data, size_t len, bc_error *err) {
    bool special;
    int rc = write_in_place_if_special(path, data, len, err, &special);
    if (special || rc) return rc;
    char resolved[PATH_MAX];
    if (realpath(path, resolved)) path = resolved;   /* replace a link's target, not the link */
    /* One temporary file per write, not per process: the TUI's saver thread
     * and a command on the UI thread may write the same path at once, and
     * two writers of one temporary file could rename interleaved bytes. */
    static _Atomic unsigned counter;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%u", path, (long)getpid(), counter++);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    /* the message names the file the user asked for, not our temporary */
    if (fd < 0) return bc_errorf(err, "%s: cannot create: %s", path, strerror(errno));
    const char *step = "write";
    if (write_all(fd, data, len)) goto fail;
    step = "fsync";
    if (fsync(fd) != 0) goto fail;
    step = "close";
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    step = "rename";
    if (rename(tmp, path) != 0) goto fail;
    fsync_dir_of(path);
    return 0;
fail:;
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    return bc_errorf(err, "%s: %s failed: %s", path, step, strerror(e));
}

/* ---- the in-memory session ---------------------------------------------- */

bc_session *bc_session_new(const char *dir, bc_error *err) {
    static unsigned counter;
    bc_session *s = calloc(1, sizeof *s);
    char name[4200];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(name, sizeof name, "%s/%s-%ld-%u.yaml", dir, stamp, (long)getpid(), counter++);
    if (!s || !(s->path = strdup(name))) {
        free(s);
        bc_errorf(err, "session: out of memory");
        return NULL;
    }
    s->created = now;
    return s;
}

static void msg_free(bc_session_msg *m) {
    free(m->content);
    free(m->model);
    free(m->backend);
    free(m->quant);
    free(m->stop);
    memset(m, 0, sizeof *m);
}

void bc_session_free(bc_session *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) msg_free(&s->msgs[i]);
    free(s->msgs);
    free(s->path);
    free(s->title);
    free(s);
}

int bc_session_add(bc_session *s, bc_role role, const char *content, bc_error *err) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        bc_session_msg *m = realloc(s->msgs, cap * sizeof *m);
        if (!m) return bc_errorf(err, "session: out of memory");
        s->msgs = m;
        s->cap = cap;
    }
    bc_session_msg *m = &s->msgs[s->n];
    memset(m, 0, sizeof *m);
    m->role = role;
    m->time = time(NULL);
    if (!(m->content = bc_utf8_dup_valid(content ? content : "")))
        return bc_errorf(err, "session: out of memory");
    return (int)s->n++;
}

/* Every string the store keeps is valid UTF-8 (bc_utf8_dup_valid): it is
 * emitted as YAML later, and libyaml's emitter looped forever on a title
 * pasted in Latin-1. */
static void set_str(char **dst, const char *v) {
    free(*dst);
    *dst = v ? bc_utf8_dup_valid(v) : NULL;
}

void bc_session_set_meta(bc_session *s, size_t i, const char *model, const char *backend,
                         const char *quant, const bc_sampling *params, const char *stop) {
    if (i >= s->n) return;
    bc_session_msg *m = &s->msgs[i];
    set_str(&m->model, model);
    set_str(&m->backend, backend);
    set_str(&m->quant, quant);
    set_str(&m->stop, stop);
    m->has_params = params != NULL;
    if (params) m->params = *params;
    m->time = time(NULL);
}

int bc_session_set_content(bc_session *s, size_t i, const char *content, bc_error *err) {
    if (i >= s->n) return bc_errorf(err, "session: no message %zu", i);
    char *c = bc_utf8_dup_valid(content);
    if (!c) return bc_errorf(err, "session: out of memory");
    free(s->msgs[i].content);
    s->msgs[i].content = c;
    return 0;
}

void bc_session_truncate(bc_session *s, size_t i) {
    while (s->n > i) msg_free(&s->msgs[--s->n]);
}

int bc_session_set_title(bc_session *s, const char *title, bc_error *err) {
    char *t = bc_utf8_dup_valid(title);
    if (!t) return bc_errorf(err, "session: out of memory");
    free(s->title);
    s->title = t;
    return 0;
}

void bc_session_display_title(const bc_session *s, char *buf, size_t len) {
    const char *t = s->title;
    for (size_t i = 0; !t && i < s->n; i++)
        if (s->msgs[i].role == BC_ROLE_USER) t = s->msgs[i].content;
    if (!t) t = "(empty)";
    while (*t == ' ' || *t == '\n') t++;
    size_t n = bc_utf8_cut(t, strcspn(t, "\n"), len - 1);   /* never half a character */
    memcpy(buf, t, n);
    buf[n] = 0;
}

/* ---- writing YAML ------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static int sb_write(void *data, unsigned char *buf, size_t size) {
    sbuf *b = data;
    if (b->len + size + 1 > b->cap) {
        size_t cap = (b->len + size + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return 0;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, buf, size);
    b->len += size;
    b->s[b->len] = 0;
    return 1;
}

static const char *ROLE_NAMES[] = {"system", "user", "assistant"};

static void iso_time(time_t t, char *buf, size_t len) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int emit_scalar(yaml_emitter_t *em, const char *v, yaml_scalar_style_t style) {
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), 1, 1, style);
    return yaml_emitter_emit(em, &ev);
}

static int emit_kv(yaml_emitter_t *em, const char *k, const char *v) {
    if (!v) return 1;
    /* Text with line breaks reads best as a literal block. */
    yaml_scalar_style_t st = strchr(v, '\n') ? YAML_LITERAL_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
    return emit_scalar(em, k, YAML_PLAIN_SCALAR_STYLE) && emit_scalar(em, v, st);
}

static int emit_num(yaml_emitter_t *em, const char *k, const char *fmt, double v) {
    char b[64];
    snprintf(b, sizeof b, fmt, v);
    return emit_kv(em, k, b);
}

static int emit_map(yaml_emitter_t *em, int start) {
    yaml_event_t ev;
    if (start) yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    else yaml_mapping_end_event_initialize(&ev);
    return yaml_emitter_emit(em, &ev);
}

static int emit_message(yaml_emitter_t *em, const bc_session_msg *m) {
    char t[40];
    iso_time(m->time, t, sizeof t);
    int ok = emit_map(em, 1) && emit_kv(em, "role", ROLE_NAMES[m->role]) && emit_kv(em, "time", t);
    ok = ok && emit_kv(em, "model", m->model) && emit_kv(em, "backend", m->backend) &&
         emit_kv(em, "quant", m->quant) && emit_kv(em, "stop", m->stop);
    if (ok && m->has_params) {
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)m->params.seed);
        ok = emit_scalar(em, "params", YAML_PLAIN_SCALAR_STYLE) && emit_map(em, 1) &&
             emit_num(em, "temperature", "%g", m->params.temperature) &&
             emit_num(em, "top_k", "%.0f", m->params.top_k) &&
             emit_num(em, "top_p", "%g", m->params.top_p) &&
             emit_num(em, "repetition_penalty", "%g", m->params.repetition_penalty) &&
             emit_num(em, "max_new_tokens", "%.0f", m->params.max_new_tokens) &&
             emit_kv(em, "seed", seed) && emit_map(em, 0);
    }
    return ok && emit_kv(em, "content", m->content) && emit_map(em, 0);
}

int bc_session_save(const bc_session *s, const char *path, bc_error *err) {
    if (!path) path = s->path;
    char *data;
    size_t len;
    if (bc_session_format(s, &data, &len, err)) return bc_error_prefix(err, "%s", path);
    int rc = bc_write_file_atomic(path, data, len, err);
    free(data);
    return rc;
}

int bc_session_format(const bc_session *s, char **data, size_t *len, bc_error *err) {
    *data = NULL;
    *len = 0;
    yaml_emitter_t em;
    yaml_event_t ev;
    sbuf b = {0};
    yaml_emitter_initialize(&em);
    yaml_emitter_set_output(&em, sb_write, &b);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    char created[40];
    iso_time(s->created, created, sizeof created);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    int ok = yaml_emitter_emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit(&em, &ev) && emit_map(&em, 1) &&
         emit_kv(&em, "format", "baichuan-chat session 1") && emit_kv(&em, "title", s->title) &&
         emit_kv(&em, "created", created) && emit_scalar(&em, "messages", YAML_PLAIN_SCALAR_STYLE);
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
    ok = ok && yaml_emitter_emit(&em, &ev);
    for (size_t i = 0; ok && i < s->n; i++) ok = emit_message(&em, &s->msgs[i]);
    yaml_sequence_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev) && emit_map(&em, 0);
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev) && yaml_emitter_flush(&em);
    int rc = 0;
    if (!ok || b.oom || !b.s) {
        rc = bc_errorf(err, "cannot format the session: %s",
                       em.problem ? em.problem : "out of memory");
        free(b.s);
    } else {
        *data = b.s;
        *len = b.len;
    }
    yaml_emitter_delete(&em);
    return rc;
}

static void sb_puts(sbuf *b, const char *s) { sb_write(b, (unsigned char *)s, strlen(s)); }

static bool is_fence(const char *line) {
    while (*line == ' ') line++;
    return !strncmp(line, "```", 3) || !strncmp(line, "~~~", 3);
}

/* A reply is Markdown already (the model writes it so): as it is, but a code
 * fence left open -- a reply stopped mid-block -- is closed, or everything
 * after it in the file would be code. */
static void md_reply(sbuf *b, const char *text) {
    bool open = false;
    for (const char *l = text, *nl; l; l = (nl = strchr(l, '\n')) ? nl + 1 : NULL)
        if (is_fence(l)) open = !open;
    sb_puts(b, text);
    if (open) sb_puts(b, text[0] && text[strlen(text) - 1] == '\n' ? "```" : "\n```");
}

/* What the user typed is plain text: each line break stays one (a
 * backslash hard break; Markdown would join the lines), and a line that
 * Markdown would read as a heading, quote, list, rule or fence is escaped. */
static void md_plain(sbuf *b, const char *text) {
    const char *l = text;
    while (l) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        size_t lead = strspn(l, " "), k = lead;
        while (k < n && l[k] >= '0' && l[k] <= '9') k++;
        /* "1." starts a list: the escape goes before its dot */
        size_t at = k > lead && k < n && (l[k] == '.' || l[k] == ')') ? k
                    : lead < n && strchr("#>-+*=_|`~", l[lead]) ? lead
                                                                 : n + 1;
        if (at <= n) {
            sb_write(b, (unsigned char *)l, at);
            sb_puts(b, "\\");
            sb_write(b, (unsigned char *)l + at, n - at);
        } else {
            sb_write(b, (unsigned char *)l, n);
        }
        /* a hard break where the next line has text; a blank line stays one */
        bool more = nl && nl[1];
        if (more) sb_puts(b, n && nl[1] != '\n' ? "\\\n" : "\n");
        l = more ? nl + 1 : NULL;
    }
}

int bc_session_export_md(const bc_session *s, const char *path, bc_error *err) {
    sbuf b = {0};
    char title[256];
    bc_session_display_title(s, title, sizeof title);
    unsigned char head[400];
    int n = snprintf((char *)head, sizeof head, "# %s\n\n", title);
    sb_write(&b, head, (size_t)n);
    static const char *HEADS[] = {"**System:**", "**You:**", "**Assistant:**"};
    for (size_t i = 0; i < s->n; i++) {
        const bc_session_msg *m = &s->msgs[i];
        sb_puts(&b, HEADS[m->role]);
        const char *mark = !m->stop                        ? ""
                           : !strcmp(m->stop, "cancelled") ? " *(stopped)*"
                           : !strcmp(m->stop, "error")     ? " *(failed)*"
                           : !strcmp(m->stop, "streaming") ? " *(interrupted)*"
                                                           : "";
        sb_puts(&b, mark);
        sb_puts(&b, "\n\n");
        if (m->role == BC_ROLE_ASSISTANT) md_reply(&b, m->content);
        else md_plain(&b, m->content);
        sb_puts(&b, "\n\n");
    }
    int rc = b.oom ? bc_errorf(err, "%s: out of memory", path)
                   : bc_write_file_atomic(path, b.s ? b.s : "", b.len, err);
    free(b.s);
    return rc;
}

/* ---- reading YAML ------------------------------------------------------- */

static time_t parse_time(const char *v) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!v || !strptime(v, "%Y-%m-%dT%H:%M:%SZ", &tm)) return 0;
    return timegm(&tm);
}

static int bad(bc_error *err, const char *path, yaml_node_t *n, const char *what) {
    if (n)
        return bc_errorf(err, "%s:%zu:%zu: %s", path, n->start_mark.line + 1, n->start_mark.column + 1,
                         what);
    return bc_errorf(err, "%s: %s", path, what);
}

static int read_params(yaml_document_t *d, yaml_node_t *pn, bc_sampling *p) {
    const char *v;
    if ((v = bc_yaml_scalar(bc_yaml_map_get(d, pn, "temperature")))) p->temperature = strtof(v, NULL);
    if ((v = bc_yaml_scalar(bc_yaml_map_get(d, pn, "top_k")))) p->top_k = atoi(v);
    if ((v = bc_yaml_scalar(bc_yaml_map_get(d, pn, "top_p")))) p->top_p = strtof(v, NULL);
    if ((v = bc_yaml_scalar(bc_yaml_map_get(d, pn, "repetition_penalty")))) p->repetition_penalty = strtof(v, NULL);
    if ((v = bc_yaml_scalar(bc_yaml_map_get(d, pn, "max_new_tokens")))) p->max_new_tokens = atoi(v);
    if ((v = bc_yaml_scalar(bc_yaml_map_get(d, pn, "seed")))) p->seed = strtoull(v, NULL, 10);
    return 0;
}

static int read_message(const char *path, yaml_document_t *d, yaml_node_t *mn, bc_session *s,
                        bc_error *err) {
    if (!mn || mn->type != YAML_MAPPING_NODE) return bad(err, path, mn, "a message must be a mapping");
    const char *role = bc_yaml_scalar(bc_yaml_map_get(d, mn, "role"));
    const char *content = bc_yaml_scalar(bc_yaml_map_get(d, mn, "content"));
    int r = -1;
    for (int i = 0; role && i < 3; i++)
        if (!strcmp(role, ROLE_NAMES[i])) r = i;
    if (r < 0) return bad(err, path, mn, "message: 'role' must be system, user or assistant");
    if (!content) return bad(err, path, mn, "message: 'content' is missing");
    int i = bc_session_add(s, (bc_role)r, content, err);
    if (i < 0) return -1;
    bc_session_msg *m = &s->msgs[i];
    m->time = parse_time(bc_yaml_scalar(bc_yaml_map_get(d, mn, "time")));
    set_str(&m->model, bc_yaml_scalar(bc_yaml_map_get(d, mn, "model")));
    set_str(&m->backend, bc_yaml_scalar(bc_yaml_map_get(d, mn, "backend")));
    set_str(&m->quant, bc_yaml_scalar(bc_yaml_map_get(d, mn, "quant")));
    set_str(&m->stop, bc_yaml_scalar(bc_yaml_map_get(d, mn, "stop")));
    yaml_node_t *pn = bc_yaml_map_get(d, mn, "params");
    if (pn && pn->type == YAML_MAPPING_NODE) m->has_params = !read_params(d, pn, &m->params);
    return 0;
}

int bc_session_parse(const char *path, const char *text, size_t len, bc_session **out,
                     bc_error *err) {
    *out = NULL;
    if (len > BC_SESSION_MAX_BYTES)
        return bc_errorf(err, "%s: %zu bytes is over the %llu-byte limit of a session", path, len,
                         (unsigned long long)BC_SESSION_MAX_BYTES);
    /* libyaml's document loader recurses per nesting level: bound it first. */
    if (bc_yaml_check_depth(path, text, len, BC_SESSION_MAX_DEPTH, err) != 0) return -1;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return bc_errorf(err, "%s: out of memory", path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        bc_errorf(err, "%s:%zu:%zu: not valid YAML: %s", path, parser.problem_mark.line + 1,
                  parser.problem_mark.column + 1, parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = 0;
    bc_session *s = calloc(1, sizeof *s);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *msgs = bc_yaml_map_get(&doc, root, "messages");
    if (!s || !(s->path = strdup(path))) rc = bc_errorf(err, "%s: out of memory", path);
    else if (!root || root->type != YAML_MAPPING_NODE) rc = bad(err, path, root, "not a session (expected a mapping)");
    else if (!msgs || msgs->type != YAML_SEQUENCE_NODE)
        rc = bad(err, path, root, "not a session: 'messages' list is missing");
    if (rc == 0) {
        const char *t = bc_yaml_scalar(bc_yaml_map_get(&doc, root, "title"));
        if (t) set_str(&s->title, t);
        s->created = parse_time(bc_yaml_scalar(bc_yaml_map_get(&doc, root, "created")));
        for (yaml_node_item_t *it = msgs->data.sequence.items.start;
             rc == 0 && it < msgs->data.sequence.items.top; it++)
            rc = read_message(path, &doc, yaml_document_get_node(&doc, *it), s, err);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        bc_session_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int bc_session_load(const char *path, bc_session **out, bc_error *err) {
    *out = NULL;
    char *text;
    size_t len;
    if (bc_yaml_read_file(path, BC_SESSION_MAX_BYTES, &text, &len, err) != 0) return -1;
    int rc = bc_session_parse(path, text, len, out, err);
    free(text);
    return rc;
}

/* ---- listing ------------------------------------------------------------ */

static int by_modified_desc(const void *a, const void *b) {
    const bc_session_entry *x = a, *y = b;
    if (x->modified != y->modified) return x->modified < y->modified ? 1 : -1;
    return strcmp(y->path, x->path);
}

/* "NAME.yaml.tmp-PID-N" left behind by a save that was killed between
 * creating its temporary file and renaming it (bc_write_file_atomic): the
 * session file itself is intact, the leftover is removed once no process
 * with that PID runs. A PID that is alive (perhaps reused) keeps its file:
 * it may be a save in progress in another instance. */
static void remove_stale_tmp(const char *dir, const char *name) {
    const char *tag = strstr(name, ".yaml.tmp-");
    if (!tag || tag == name) return;
    const char *digits = tag + strlen(".yaml.tmp-");
    char *end;
    errno = 0;
    long pid = strtol(digits, &end, 10);
    if (end == digits || errno || pid <= 0 || pid == (long)getpid()) return;
    if (*end == '-') {   /* the write's number */
        const char *n = end + 1;
        if (!*n) return;
        while (*n >= '0' && *n <= '9') n++;
        if (*n) return;
    } else if (*end) {
        return;
    }
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) return;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static int by_path(const void *a, const void *b) {
    const bc_session_entry *const *x = a, *const *y = b;
    return strcmp((*x)->path, (*y)->path);
}

/* The row for path: copied from prev when its stamp matches, else read. */
static int list_entry(const char *path, const struct stat *st, const bc_session_entry **by_name,
                      size_t n_prev, bc_session_entry *e) {
    memset(e, 0, sizeof *e);
    e->modified = st->st_mtime;
    e->stamp.size = (uint64_t)st->st_size;
    e->stamp.ino = (uint64_t)st->st_ino;
    e->stamp.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    bc_session_entry key = {.path = (char *)path};
    const bc_session_entry *kp = &key;
    const bc_session_entry **hit =
        n_prev ? bsearch(&kp, by_name, n_prev, sizeof *by_name, by_path) : NULL;
    if (hit && (*hit)->stamp.size == e->stamp.size && (*hit)->stamp.ino == e->stamp.ino &&
        (*hit)->stamp.mtime_ns == e->stamp.mtime_ns) {
        e->title = strdup((*hit)->title);
        e->model = strdup((*hit)->model);
        e->created = (*hit)->created;
        e->corrupt = (*hit)->corrupt;
    } else {
        bc_session *s;
        bc_error lerr;
        bc_error_clear(&lerr);
        if (bc_session_load(path, &s, &lerr) == 0) {
            char t[200];
            bc_session_display_title(s, t, sizeof t);
            e->title = strdup(t);
            e->created = s->created;
            const char *model = "";
            for (size_t i = 0; i < s->n; i++)
                if (s->msgs[i].model) model = s->msgs[i].model;
            e->model = strdup(model);
            bc_session_free(s);
        } else {
            /* the pane is narrow: the file's name and the reason, not the
             * directory every entry shares */
            e->corrupt = true;
            const char *base = strrchr(path, '/');
            size_t dir_len = base ? (size_t)(base + 1 - path) : 0;
            e->title = bc_utf8_dup_valid(strncmp(lerr.msg, path, dir_len) ? lerr.msg
                                                                            : lerr.msg + dir_len);
            e->model = strdup("");
            e->created = st->st_mtime;
        }
    }
    e->path = strdup(path);
    if (e->path && e->title && e->model) return 0;
    free(e->path);
    free(e->title);
    free(e->model);
    return -1;
}

int bc_session_list_since(const char *dir, const bc_session_entry *prev, size_t n_prev,
                          bc_session_entry **out, size_t *n, bc_error *err) {
    *out = NULL;
    *n = 0;
    const bc_session_entry **by_name = NULL;
    if (n_prev && (by_name = malloc(n_prev * sizeof *by_name))) {
        for (size_t i = 0; i < n_prev; i++) by_name[i] = &prev[i];
        qsort(by_name, n_prev, sizeof *by_name, by_path);
    } else {
        n_prev = 0;   /* no index: every file is read */
    }
    DIR *d = opendir(dir);
    if (!d) {
        free(by_name);
        return bc_errorf(err, "%s: cannot list: %s", dir, strerror(errno));
    }
    size_t cap = 0;
    bc_session_entry *v = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        remove_stale_tmp(dir, de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") || de->d_name[0] == '.') continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            bc_session_entry *nv = realloc(v, cap * sizeof *nv);
            if (!nv) break;
            v = nv;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        /* only regular files are conversations: reading a FIFO named x.yaml
         * would wait forever for a writer */
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (list_entry(path, &st, by_name, n_prev, &v[*n]) == 0) (*n)++;
    }
    closedir(d);
    free(by_name);
    if (*n) qsort(v, *n, sizeof *v, by_modified_desc);
    *out = v;
    return 0;
}

int bc_session_list(const char *dir, bc_session_entry **out, size_t *n, bc_error *err) {
    return bc_session_list_since(dir, NULL, 0, out, n, err);
}

void bc_session_list_free(bc_session_entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(e[i].path);
        free(e[i].title);
        free(e[i].model);
    }
    free(e);
}
