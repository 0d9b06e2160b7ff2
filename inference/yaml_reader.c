#include "yaml_reader.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int bc_yaml_read_file(const char *path, size_t max_bytes, char **text, size_t *len,
                      bc_error *err) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return bc_errorf(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return bc_errorf(err, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(f);
        return bc_errorf(err, "%s: %lld bytes, more than the %zu a config file may have", path,
                         (long long)st.st_size, max_bytes);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return bc_errorf(err, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, size, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || got != size) {
        free(buf);
        return bc_errorf(err, "%s: read error", path);
    }
    buf[size] = '\0';
    *text = buf;
    *len = size;
    return 0;
}

static int parser_error(const char *name, const yaml_parser_t *p, bc_error *err) {
    const char *problem = p->problem ? p->problem : "malformed document";
    if (p->context)
        return bc_errorf(err, "%s:%zu:%zu: not valid YAML/JSON: %s (%s, which started at %zu:%zu)",
                         name, p->problem_mark.line + 1, p->problem_mark.column + 1, problem,
                         p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    return bc_errorf(err, "%s:%zu:%zu: not valid YAML/JSON: %s", name, p->problem_mark.line + 1,
                     p->problem_mark.column + 1, problem);
}

/* Walks the event stream once (libyaml's event parser keeps its own stack,
 * so this is safe on any input) to bound the nesting depth before the
 * recursive document loader sees the text. */
int bc_yaml_check_depth(const char *name, const char *text, size_t len, int max_depth,
                        bc_error *err) {
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return bc_errorf(err, "%s: out of memory", name);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int depth = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = parser_error(name, &p, err);
            break;
        }
        yaml_event_type_t type = ev.type;
        if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT) {
            if (++depth > max_depth) {
                rc = bc_errorf(err, "%s:%zu:%zu: nested more than %d levels deep", name,
                               ev.start_mark.line + 1, ev.start_mark.column + 1, max_depth);
                yaml_event_delete(&ev);
                break;
            }
        } else if (type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT) break;
    }
    yaml_parser_delete(&p);
    return rc;
}

int bc_yaml_load(bc_yaml *y, const char *name, const char *text, size_t len,
                 bool allow_empty, bc_error *err) {
    memset(y, 0, sizeof *y);
    y->name = name;
    if (bc_yaml_check_depth(name, text, len, BC_YAML_MAX_DEPTH, err) != 0) return -1;

    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return bc_errorf(err, "%s: out of memory", name);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &y->doc)) {
        parser_error(name, &p, err);
        yaml_parser_delete(&p);
        return -1;
    }
    y->loaded = true;
    /* A second document (or trailing garbage after a JSON object) is an error,
     * not something to ignore silently. */
    yaml_document_t extra;
    if (!yaml_parser_load(&p, &extra)) {
        parser_error(name, &p, err);
        yaml_parser_delete(&p);
        bc_yaml_free(y);
        return -1;
    }
    yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
    size_t extra_line = extra.start_mark.line + 1;
    yaml_document_delete(&extra);
    yaml_parser_delete(&p);
    if (extra_root) {
        bc_yaml_free(y);
        return bc_errorf(err, "%s:%zu:1: more than one document", name, extra_line);
    }

    yaml_node_t *root = yaml_document_get_root_node(&y->doc);
    if (!root) {
        if (allow_empty) return 0;
        bc_yaml_free(y);
        return bc_errorf(err, "%s: empty file", name);
    }
    if (bc_yaml_kind_of(root) == BC_YAML_NULL && allow_empty) return 0;
    if (root->type != YAML_MAPPING_NODE) {
        int rc = bc_yaml_errorf(y, root, NULL, err, "the top level must be a mapping ({...}), not %s",
                                bc_yaml_kind_name(bc_yaml_kind_of(root)));
        bc_yaml_free(y);
        return rc;
    }
    return 0;
}

void bc_yaml_free(bc_yaml *y) {
    if (y->loaded) yaml_document_delete(&y->doc);
    y->loaded = false;
}

yaml_node_t *bc_yaml_root(bc_yaml *y) {
    if (!y->loaded) return NULL;
    yaml_node_t *root = yaml_document_get_root_node(&y->doc);
    return root && root->type == YAML_MAPPING_NODE ? root : NULL;
}

static bool is_one_of(const char *s, const char *const *words) {
    for (; *words; words++)
        if (strcmp(s, *words) == 0) return true;
    return false;
}

static bool is_integer_text(const char *s) {
    if (*s == '-' || *s == '+') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* [-+]? (digits [. digits?] | . digits) ([eE] [-+]? digits)? — the JSON/YAML
 * number grammar, stricter than strtod (no "inf", "nan", hex floats). */
static bool is_float_text(const char *s) {
    if (*s == '-' || *s == '+') s++;
    size_t mantissa_digits = 0;
    while (*s >= '0' && *s <= '9') s++, mantissa_digits++;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') s++, mantissa_digits++;
    }
    if (mantissa_digits == 0) return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+') s++;
        if (!(*s >= '0' && *s <= '9')) return false;
        while (*s >= '0' && *s <= '9') s++;
    }
    return *s == '\0';
}

bc_yaml_kind bc_yaml_kind_of(const yaml_node_t *n) {
    if (!n) return BC_YAML_NULL;
    if (n->type == YAML_MAPPING_NODE) return BC_YAML_MAP;
    if (n->type == YAML_SEQUENCE_NODE) return BC_YAML_SEQ;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return BC_YAML_STRING;
    const char *s = (const char *)n->data.scalar.value;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    if (is_one_of(s, nulls)) return BC_YAML_NULL;
    if (is_one_of(s, bools)) return BC_YAML_BOOL;
    if (is_integer_text(s)) return BC_YAML_INT;
    if (is_float_text(s)) return BC_YAML_FLOAT;
    return BC_YAML_STRING;
}

const char *bc_yaml_kind_name(bc_yaml_kind k) {
    switch (k) {
    case BC_YAML_NULL: return "null";
    case BC_YAML_BOOL: return "a boolean";
    case BC_YAML_INT: return "an integer";
    case BC_YAML_FLOAT: return "a number";
    case BC_YAML_STRING: return "a string";
    case BC_YAML_MAP: return "a mapping";
    case BC_YAML_SEQ: return "a list";
    }
    return "?";
}

size_t bc_yaml_map_size(const yaml_node_t *map) {
    if (!map || map->type != YAML_MAPPING_NODE) return 0;
    return (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
}

const char *bc_yaml_map_key(bc_yaml *y, const yaml_node_t *map, size_t i,
                            yaml_node_t **key_node, yaml_node_t **value) {
    const yaml_node_pair_t *pair = map->data.mapping.pairs.start + i;
    yaml_node_t *k = yaml_document_get_node(&y->doc, pair->key);
    yaml_node_t *v = yaml_document_get_node(&y->doc, pair->value);
    if (key_node) *key_node = k;
    if (value) *value = v;
    if (!k || k->type != YAML_SCALAR_NODE) return NULL;
    return (const char *)k->data.scalar.value;
}

yaml_node_t *bc_yaml_map_get(yaml_document_t *d, const yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

const char *bc_yaml_scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

bool bc_json_event_is_plain(const yaml_event_t *ev) {
    switch (ev->type) {
    case YAML_ALIAS_EVENT: return false;
    case YAML_SCALAR_EVENT: return !ev->data.scalar.anchor && !ev->data.scalar.tag;
    case YAML_MAPPING_START_EVENT:
        return !ev->data.mapping_start.anchor && !ev->data.mapping_start.tag;
    case YAML_SEQUENCE_START_EVENT:
        return !ev->data.sequence_start.anchor && !ev->data.sequence_start.tag;
    default: return true;
    }
}

int bc_yaml_errorf(bc_yaml *y, const yaml_node_t *n, const char *key, bc_error *err,
                   const char *fmt, ...) {
    char what[BC_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t line = n ? n->start_mark.line + 1 : 1, col = n ? n->start_mark.column + 1 : 1;
    if (key) return bc_errorf(err, "%s:%zu:%zu: %s: %s", y->name, line, col, key, what);
    return bc_errorf(err, "%s:%zu:%zu: %s", y->name, line, col, what);
}

/* Quotes a scalar for a message, shortened so one bad value cannot flood it. */
static const char *shown(const yaml_node_t *n, char *buf, size_t cap) {
    if (!n || n->type != YAML_SCALAR_NODE || bc_yaml_kind_of(n) == BC_YAML_NULL) return "";
    snprintf(buf, cap, " \"%.40s%s\"", (const char *)n->data.scalar.value,
             n->data.scalar.length > 40 ? "..." : "");
    return buf;
}

static int type_error(bc_yaml *y, const yaml_node_t *n, const char *key, const char *wanted,
                      bc_error *err) {
    char buf[64];
    return bc_yaml_errorf(y, n, key, err, "expected %s, got %s%s", wanted,
                          bc_yaml_kind_name(bc_yaml_kind_of(n)), shown(n, buf, sizeof buf));
}

int bc_yaml_get_int(bc_yaml *y, const yaml_node_t *n, const char *key, long long min,
                    long long max, int *out, bc_error *err) {
    if (bc_yaml_kind_of(n) != BC_YAML_INT) return type_error(y, n, key, "an integer", err);
    errno = 0;
    long long v = strtoll((const char *)n->data.scalar.value, NULL, 10);
    if (errno == ERANGE || v < min || v > max)
        return bc_yaml_errorf(y, n, key, err, "%s is out of range (%lld..%lld)",
                              (const char *)n->data.scalar.value, min, max);
    *out = (int)v;
    return 0;
}

int bc_yaml_get_u64(bc_yaml *y, const yaml_node_t *n, const char *key, unsigned long long *out,
                    bc_error *err) {
    const char *s = n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : "";
    if (bc_yaml_kind_of(n) != BC_YAML_INT || *s == '-')
        return type_error(y, n, key, "a non-negative integer", err);
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE)
        return bc_yaml_errorf(y, n, key, err, "%s does not fit in 64 bits", s);
    *out = v;
    return 0;
}

int bc_yaml_get_float(bc_yaml *y, const yaml_node_t *n, const char *key, double min,
                      double max, float *out, bc_error *err) {
    bc_yaml_kind k = bc_yaml_kind_of(n);
    if (k != BC_YAML_INT && k != BC_YAML_FLOAT) return type_error(y, n, key, "a number", err);
    double v = strtod((const char *)n->data.scalar.value, NULL);
    if (!isfinite(v) || !isfinite((float)v) || v < min || v > max)
        return bc_yaml_errorf(y, n, key, err, "%s is out of range (%g..%g)",
                              (const char *)n->data.scalar.value, min, max);
    *out = (float)v;
    return 0;
}

int bc_yaml_get_bool(bc_yaml *y, const yaml_node_t *n, const char *key, bool *out,
                     bc_error *err) {
    if (bc_yaml_kind_of(n) != BC_YAML_BOOL) return type_error(y, n, key, "true or false", err);
    *out = ((const char *)n->data.scalar.value)[0] != 'f' &&
           ((const char *)n->data.scalar.value)[0] != 'F';
    return 0;
}

int bc_yaml_get_string(bc_yaml *y, const yaml_node_t *n, const char *key, const char **out,
                       bc_error *err) {
    bc_yaml_kind k = bc_yaml_kind_of(n);
    if (!n || n->type != YAML_SCALAR_NODE || k == BC_YAML_NULL)
        return type_error(y, n, key, "a string", err);
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
        return bc_yaml_errorf(y, n, key, err, "contains a NUL character");
    *out = (const char *)n->data.scalar.value;
    return 0;
}
