/* bc_session: one saved conversation = one YAML file in
 * $XDG_DATA_HOME/baichuan-chat/sessions/ (~/.local/share when unset).
 *
 * The whole file is rewritten atomically after every message (temp file in
 * the same directory, write, fsync, rename, fsync the directory;
 * formats-and-safety.md §3), so a crash or kill -9 loses nothing already
 * shown. Files are read with libyaml; a corrupt file is reported with its
 * line and column, never fatal. */
#ifndef BC_SESSION_H
#define BC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "bc_error.h"
#include "engine.h"
#include "sampler.h"

typedef struct bc_session_msg {
    bc_role role;
    char *content;        /* UTF-8, owned */
    time_t time;          /* when written (user) or finished (assistant) */
    /* Assistant messages: what produced them (owned, may be NULL). */
    char *model, *backend, *quant;
    bool has_params;
    bc_sampling params;
    char *stop;           /* "eos", "length", "cancelled", "context", "error" */
} bc_session_msg;

typedef struct bc_session {
    char *path;           /* file, owned */
    char *title;          /* owned; NULL = first user line */
    time_t created;
    bc_session_msg *msgs; /* n messages, owned; a system prompt is msgs[0] */
    size_t n, cap;
} bc_session;

/* The sessions directory (created with parents when missing); malloc'd. */
char *bc_sessions_dir(bc_error *err);
/* The same for the configuration's paths.sessions when set (NULL: the
 * default above); an error names the field. */
char *bc_sessions_dir_at(const char *configured, bc_error *err);

/* A new, empty session with a fresh file name in dir (nothing written yet). */
bc_session *bc_session_new(const char *dir, bc_error *err);
int bc_session_load(const char *path, bc_session **out, bc_error *err);
/* The same from memory (text need not be NUL-terminated); path names it. */
int bc_session_parse(const char *path, const char *text, size_t len, bc_session **out,
                     bc_error *err);
/* A session is at most this big on disk (a very long conversation is a few
 * MB) and nests at most this deep (root, messages, message, params = 4). */
#define BC_SESSION_MAX_BYTES ((size_t)64 << 20)
#define BC_SESSION_MAX_DEPTH 8
void bc_session_free(bc_session *s);

/* Appends a copy of content; meta fields may be NULL. Returns the index or -1. */
int bc_session_add(bc_session *s, bc_role role, const char *content, bc_error *err);
/* Sets the producing model/params of message i. */
void bc_session_set_meta(bc_session *s, size_t i, const char *model, const char *backend,
                         const char *quant, const bc_sampling *params, const char *stop);
int bc_session_set_content(bc_session *s, size_t i, const char *content, bc_error *err);
/* Removes messages from index i to the end. */
void bc_session_truncate(bc_session *s, size_t i);
int bc_session_set_title(bc_session *s, const char *title, bc_error *err);

/* Atomic rewrite of s->path (or of `path` when not NULL). */
int bc_session_save(const bc_session *s, const char *path, bc_error *err);
/* The session file's bytes (what bc_session_save writes), malloc'd, for a
 * write on another thread (bc_saver). */
int bc_session_format(const bc_session *s, char **data, size_t *len, bc_error *err);
/* Markdown transcript. */
int bc_session_export_md(const bc_session *s, const char *path, bc_error *err);

/* Title shown in lists: s->title or the first line of the first user message. */
void bc_session_display_title(const bc_session *s, char *buf, size_t len);

/* One row of the history pane. */
typedef struct bc_session_entry {
    char *path;
    char *title;
    char *model;    /* model of the last reply, "" when none */
    time_t created;
    time_t modified;
    bool corrupt;   /* the file could not be read; title holds the reason */
    /* what the row was read from: a file with the same stamp is not re-read */
    struct { uint64_t size, ino; int64_t mtime_ns; } stamp;
} bc_session_entry;

/* Every *.yaml file in dir, newest first (by modification time). Removes
 * the temporary files of saves whose process is gone (killed mid-save). */
int bc_session_list(const char *dir, bc_session_entry **out, size_t *n, bc_error *err);
/* The same, re-reading only the files that changed since the listing prev
 * (size, inode or modification time differ): after a reply one file is
 * parsed, not the whole history. prev stays the caller's. */
int bc_session_list_since(const char *dir, const bc_session_entry *prev, size_t n_prev,
                          bc_session_entry **out, size_t *n, bc_error *err);
void bc_session_list_free(bc_session_entry *e, size_t n);

/* Writes data to path atomically (temp, fsync, rename, fsync dir). */
int bc_write_file_atomic(const char *path, const char *data, size_t len, bc_error *err);

#endif
