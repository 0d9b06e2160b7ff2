/* bc_yaml: a small typed layer over libyaml's document API, shared by the
 * model config reader (config.json, generation_config.json — JSON is YAML's
 * flow subset) and the application config (config.yaml).
 *
 * Every error message has the form "NAME:LINE:COLUMN: KEY: what is wrong",
 * with 1-based line and column, so a user can jump straight to the spot.
 *
 * Scalar typing follows JSON and YAML 1.2's core schema, not YAML 1.1: a
 * quoted scalar is always a string; a plain scalar is null (null, ~, empty),
 * a boolean (true/false), an integer, a float, or else a string. So
 * "hidden_size": "5120" is a string and is rejected where a number is needed,
 * and "yes"/"no" are strings, not booleans. */
#ifndef BC_YAML_READER_H
#define BC_YAML_READER_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "bc_error.h"

/* Config files are a few KB; deeper nesting than this is not a config but an
 * attempt to exhaust the stack of libyaml's recursive composer. Counts every
 * mapping and sequence, the root included. */
#define BC_YAML_MAX_DEPTH 64

typedef struct bc_yaml {
    yaml_document_t doc;
    const char *name;  /* file name used in messages (borrowed) */
    bool loaded;
} bc_yaml;

typedef enum bc_yaml_kind {
    BC_YAML_NULL = 0,
    BC_YAML_BOOL,
    BC_YAML_INT,
    BC_YAML_FLOAT,
    BC_YAML_STRING,
    BC_YAML_MAP,
    BC_YAML_SEQ,
} bc_yaml_kind;

/* Reads a whole file (at most max_bytes) into a NUL-terminated malloc'd
 * buffer. Messages name the path. */
int bc_yaml_read_file(const char *path, size_t max_bytes, char **text, size_t *len,
                      bc_error *err);

/* Walks the whole event stream of `text` once (libyaml's event parser keeps
 * its own heap stack, so this is safe on any input) and fails when mappings
 * and sequences nest deeper than max_depth, or when the text is not YAML.
 * Readers that use libyaml's document loader directly call it first. */
int bc_yaml_check_depth(const char *name, const char *text, size_t len, int max_depth,
                        bc_error *err);

/* Parses the first document of `text`. The root must be a mapping; an empty
 * document gives an empty mapping only when allow_empty is set. */
int bc_yaml_load(bc_yaml *y, const char *name, const char *text, size_t len,
                 bool allow_empty, bc_error *err);
void bc_yaml_free(bc_yaml *y);

/* The root mapping (NULL for an allowed empty document). */
yaml_node_t *bc_yaml_root(bc_yaml *y);

bc_yaml_kind bc_yaml_kind_of(const yaml_node_t *n);
const char *bc_yaml_kind_name(bc_yaml_kind k);

/* Number of pairs of mapping `map`; pair i's key text (NULL when the key is
 * not a scalar) and value node. */
size_t bc_yaml_map_size(const yaml_node_t *map);
const char *bc_yaml_map_key(bc_yaml *y, const yaml_node_t *map, size_t i,
                            yaml_node_t **key_node, yaml_node_t **value);

/* The value of the first pair of mapping `map` (in document d) whose key is
 * the scalar `key`; NULL when map is NULL, not a mapping or has no such key.
 * For readers that look keys up by name rather than walking every pair. */
yaml_node_t *bc_yaml_map_get(yaml_document_t *d, const yaml_node_t *map, const char *key);

/* A scalar node's text as written; NULL for NULL or a non-scalar node. */
const char *bc_yaml_scalar(const yaml_node_t *n);

/* Whether a parser event is plain JSON: JSON files (config.json's siblings
 * read with the event parser: checkpoint indexes, safetensors headers) must
 * not use YAML's aliases, anchors or tags, which JSON lacks. */
bool bc_json_event_is_plain(const yaml_event_t *ev);

/* Fills err with "NAME:LINE:COL: KEY: <fmt>" pointing at node n; returns -1. */
int bc_yaml_errorf(bc_yaml *y, const yaml_node_t *n, const char *key, bc_error *err,
                   const char *fmt, ...) BC_PRINTF(5, 6);

/* Typed getters. Each checks the type and the inclusive range and fails with
 * a message naming the position and `key`. */
int bc_yaml_get_int(bc_yaml *y, const yaml_node_t *n, const char *key, long long min,
                    long long max, int *out, bc_error *err);
int bc_yaml_get_u64(bc_yaml *y, const yaml_node_t *n, const char *key, unsigned long long *out,
                    bc_error *err);
/* Accepts integers and floats; rejects NaN and infinities. */
int bc_yaml_get_float(bc_yaml *y, const yaml_node_t *n, const char *key, double min,
                      double max, float *out, bc_error *err);
int bc_yaml_get_bool(bc_yaml *y, const yaml_node_t *n, const char *key, bool *out,
                     bc_error *err);
/* Any non-null scalar, as written. The pointer lives as long as the document. */
int bc_yaml_get_string(bc_yaml *y, const yaml_node_t *n, const char *key, const char **out,
                       bc_error *err);

#endif
