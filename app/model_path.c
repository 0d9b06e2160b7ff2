/* -m/--model resolution (model_path.h). The Hugging Face cache layout is
 * ROOT/models--ORG--NAME/{refs/main, snapshots/<revision>/...}; refs/main
 * holds the revision that `huggingface-cli download` fetched last. */
#include "model_path.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synthetic_model.h"

#define MAX_ROOTS 5
#define PATH_CAP 4096

/* snprintf into a fixed buffer; false when it did not fit. */
static bool format_path(char *out, size_t cap, const char *fmt, ...) BC_PRINTF(3, 4);
static bool format_path(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < cap;
}

/* Appends to a NUL-terminated buffer, truncating quietly: it is a message. */
static void append(char *buf, size_t cap, const char *fmt, ...) BC_PRINTF(3, 4);
static void append(char *buf, size_t cap, const char *fmt, ...) {
    size_t used = strlen(buf);
    if (used + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ORG/NAME with HF's allowed characters; nothing that could climb out of
 * the cache directory. */
static bool is_hf_id(const char *spec) {
    const char *slash = strchr(spec, '/');
    if (!slash || slash == spec || slash[1] == '\0' || strchr(slash + 1, '/')) return false;
    if (spec[0] == '.' || slash[1] == '.') return false;
    for (const char *p = spec; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == '/';
        if (!ok) return false;
    }
    return true;
}

/* A revision name from refs/main: one path component, no dots-only names. */
static bool is_revision(const char *rev) {
    if (!*rev || strcmp(rev, ".") == 0 || strcmp(rev, "..") == 0) return false;
    return strchr(rev, '/') == NULL;
}

typedef struct cache_roots {
    char path[MAX_ROOTS][PATH_CAP];
    const char *why[MAX_ROOTS]; /* which variable gave it */
    int n;
} cache_roots;

static void add_root(cache_roots *r, const char *why, const char *a, const char *b) {
    if (!a || !*a || r->n == MAX_ROOTS) return;
    char path[PATH_CAP];
    if (!format_path(path, sizeof path, "%s%s", a, b)) return;
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->path[i], path) == 0) return;
    memcpy(r->path[r->n], path, sizeof path);
    r->why[r->n++] = why;
}

/* The places huggingface_hub itself uses, in its order of precedence. */
static void find_roots(cache_roots *r) {
    r->n = 0;
    add_root(r, "$HF_HUB_CACHE", getenv("HF_HUB_CACHE"), "");
    add_root(r, "$HUGGINGFACE_HUB_CACHE", getenv("HUGGINGFACE_HUB_CACHE"), "");
    add_root(r, "$HF_HOME", getenv("HF_HOME"), "/hub");
    add_root(r, "$XDG_CACHE_HOME", getenv("XDG_CACHE_HOME"), "/huggingface/hub");
    add_root(r, "~", getenv("HOME"), "/.cache/huggingface/hub");
}

/* Reads refs/main (one line). Returns false when absent or unusable. */
static bool read_ref(const char *repo, char *rev, size_t cap) {
    char path[PATH_CAP];
    if (!format_path(path, sizeof path, "%s/refs/main", repo)) return false;
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fgets(rev, (int)cap, f) != NULL;
    fclose(f);
    if (!ok) return false;
    rev[strcspn(rev, "\r\n \t")] = '\0';
    return is_revision(rev);
}

/* The newest snapshot directory (by modification time), for caches without
 * refs/main. Returns false when there is none. */
static bool newest_snapshot(const char *snapshots, char *rev, size_t cap) {
    DIR *d = opendir(snapshots);
    if (!d) return false;
    struct dirent *e;
    bool found = false;
    struct timespec best = {0, 0};
    while ((e = readdir(d)) != NULL) {
        if (!is_revision(e->d_name)) continue;
        char path[PATH_CAP];
        struct stat st;
        if (!format_path(path, sizeof path, "%s/%s", snapshots, e->d_name)) continue;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        bool newer = !found || st.st_mtim.tv_sec > best.tv_sec ||
                     (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec > best.tv_nsec);
        if (newer && strlen(e->d_name) < cap) {
            strcpy(rev, e->d_name);
            best = st.st_mtim;
            found = true;
        }
    }
    closedir(d);
    return found;
}

/* Looks for models--ORG--NAME under one root. Fills *dir on success; else
 * appends what it saw to `seen`. */
static bool try_root(const char *root, const char *why, const char *org, const char *name,
                     char **dir, char *seen, size_t seen_cap) {
    char repo[PATH_CAP], snapshots[PATH_CAP], snap[PATH_CAP], rev[256];
    if (!format_path(repo, sizeof repo, "%s/models--%s--%s", root, org, name) ||
        !format_path(snapshots, sizeof snapshots, "%s/snapshots", repo))
        return false;
    if (!is_dir(repo)) {
        append(seen, seen_cap, "\n  %s (%s): not there", repo, why);
        return false;
    }
    bool have = read_ref(repo, rev, sizeof rev) &&
                format_path(snap, sizeof snap, "%s/%s", snapshots, rev) && is_dir(snap);
    if (!have) have = newest_snapshot(snapshots, rev, sizeof rev);
    if (!have) {
        append(seen, seen_cap, "\n  %s (%s): no snapshot (an interrupted download?)", repo, why);
        return false;
    }
    if (!format_path(snap, sizeof snap, "%s/%s", snapshots, rev)) return false;
    *dir = strdup(snap);
    return *dir != NULL;
}

static int resolve_hf_id(const char *spec, char **dir, bc_error *err) {
    const char *slash = strchr(spec, '/');
    char org[256], name[256];
    size_t org_n = (size_t)(slash - spec);
    if (org_n >= sizeof org || strlen(slash + 1) >= sizeof name)
        return bc_errorf(err, "model \"%s\": name too long", spec);
    memcpy(org, spec, org_n);
    org[org_n] = '\0';
    strcpy(name, slash + 1);

    cache_roots roots;
    find_roots(&roots);
    char seen[BC_ERROR_MAX] = "";
    for (int i = 0; i < roots.n; i++)
        if (try_root(roots.path[i], roots.why[i], org, name, dir, seen, sizeof seen)) return 0;
    return bc_errorf(err,
                     "model \"%s\": not a directory, and not in the Hugging Face cache. "
                     "Looked in:%s%s\nGet the weights with:  huggingface-cli download %s\n"
                     "or pass a checkpoint directory (-m DIR), or -m demo for the tiny "
                     "built-in model",
                     spec, seen, roots.n ? "" : "\n  (no cache directory: HOME is unset)", spec);
}

/* A name that is neither a directory nor an ORG/NAME id. The places that
 * were searched: the directory (shown absolute, since a relative name is
 * looked up from wherever the program was started) and, for a bare name,
 * the configuration's presets (the callers expand those before they get
 * here, so none had that name). The Hugging Face cache is searched only for
 * ORG/NAME ids: say so, with the download command. */
static int not_found(const char *spec, int errnum, bc_error *err) {
    char where[PATH_CAP] = "", cwd[PATH_CAP];
    if (spec[0] != '/' && getcwd(cwd, sizeof cwd))
        format_path(where, sizeof where, " %s/%s", strcmp(cwd, "/") ? cwd : "", spec);
    bool bare = strchr(spec, '/') == NULL;
    return bc_errorf(err,
                     "model \"%s\": not found. Searched: the directory %s%s (%s)%s. Not searched: "
                     "the Hugging Face cache, which takes an ORG/NAME id like "
                     "baichuan-inc/Baichuan2-7B-Chat (fetch it with: huggingface-cli download "
                     "baichuan-inc/Baichuan2-7B-Chat). Or -m demo for the tiny built-in model",
                     spec, where[0] ? "" : spec, where[0] ? where + 1 : "", strerror(errnum),
                     bare ? "; the presets of the configuration: none has that name" : "");
}

int bc_model_resolve(const char *spec, char **dir, bc_error *err) {
    *dir = NULL;
    if (!spec || !*spec) return bc_errorf(err, "no model given (-m DIR|ORG/NAME|demo)");
    if (strcmp(spec, "demo") == 0 || bc_synthetic_is_spec(spec) || is_dir(spec)) {
        *dir = strdup(spec);
        return *dir ? 0 : bc_errorf(err, "out of memory");
    }
    if (is_hf_id(spec)) return resolve_hf_id(spec, dir, err);
    struct stat st;
    if (stat(spec, &st) == 0)
        return bc_errorf(err, "model \"%s\": not a directory (give the checkpoint directory, "
                              "not one of its files)", spec);
    return not_found(spec, errno, err);
}
