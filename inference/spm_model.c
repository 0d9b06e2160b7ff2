#include "spm_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a bounds-checked protobuf wire reader ---- */

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

typedef struct pb_reader {
    const uint8_t *p;
    const uint8_t *end;
} pb_reader;

static const char *wire_name(int wire) {
    switch (wire) {
    case WIRE_VARINT: return "varint";
    case WIRE_I64: return "64-bit";
    case WIRE_LEN: return "length-delimited";
    case WIRE_I32: return "32-bit";
    case 3: return "group start";
    case 4: return "group end";
    default: return "invalid";
    }
}

/* Returns 0 and *v, or -1 when the varint runs past the end or exceeds 10 bytes. */
static int pb_varint(pb_reader *r, uint64_t *v) {
    uint64_t value = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end) return -1;
        uint8_t b = *r->p++;
        value |= (uint64_t)(b & 0x7F) << (7 * i);
        if (b < 0x80) {
            *v = value;
            return 0;
        }
    }
    return -1;
}

/* Reads a field key. *field is the field number, *wire the wire type. */
static int pb_key(pb_reader *r, uint32_t *field, int *wire, const char *where, bc_error *err) {
    uint64_t key;
    if (pb_varint(r, &key) != 0) return bc_errorf(err, "%s: truncated field key", where);
    *field = (uint32_t)(key >> 3);
    *wire = (int)(key & 7);
    if (*field == 0 || (key >> 3) > 0x1FFFFFFF)
        return bc_errorf(err, "%s: invalid field number", where);
    return 0;
}

/* A length-delimited payload as a sub-reader. */
static int pb_len(pb_reader *r, pb_reader *sub, const char *where, bc_error *err) {
    uint64_t n;
    if (pb_varint(r, &n) != 0) return bc_errorf(err, "%s: truncated or overlong length", where);
    if (n > (uint64_t)(r->end - r->p))
        return bc_errorf(err, "%s: length %llu runs past the end of its message", where,
                         (unsigned long long)n);
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return 0;
}

static int pb_skip(pb_reader *r, int wire, uint32_t field, const char *where, bc_error *err) {
    uint64_t v;
    pb_reader sub = {NULL, NULL};
    switch (wire) {
    case WIRE_VARINT:
        if (pb_varint(r, &v) != 0) return bc_errorf(err, "%s: field %u: truncated varint", where, field);
        return 0;
    case WIRE_I64:
    case WIRE_I32: {
        size_t n = wire == WIRE_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n)
            return bc_errorf(err, "%s: field %u: truncated %s value", where, field, wire_name(wire));
        r->p += n;
        return 0;
    }
    case WIRE_LEN:
        return pb_len(r, &sub, where, err);
    default:
        return bc_errorf(err, "%s: field %u: unsupported wire type %d (%s)", where, field, wire,
                         wire_name(wire));
    }
}

static int expect_wire(int wire, int want, const char *where, const char *field, bc_error *err) {
    if (wire == want) return 0;
    return bc_errorf(err, "%s.%s: wire type %s, expected %s", where, field, wire_name(wire),
                     wire_name(want));
}

static int read_varint_field(pb_reader *r, int wire, const char *where, const char *field,
                             uint64_t *v, bc_error *err) {
    if (expect_wire(wire, WIRE_VARINT, where, field, err)) return -1;
    if (pb_varint(r, v) != 0) return bc_errorf(err, "%s.%s: truncated varint", where, field);
    return 0;
}

/* int32 fields are sign-extended 64-bit varints on the wire (-1 is 10 bytes). */
static int read_int32_field(pb_reader *r, int wire, const char *where, const char *field,
                            int32_t *v, bc_error *err) {
    uint64_t u;
    if (read_varint_field(r, wire, where, field, &u, err)) return -1;
    *v = (int32_t)(uint32_t)u;
    return 0;
}

static int read_string_field(pb_reader *r, int wire, const char *where, const char *field,
                             char **out, bc_error *err) {
    pb_reader sub = {NULL, NULL};
    if (expect_wire(wire, WIRE_LEN, where, field, err)) return -1;
    if (pb_len(r, &sub, where, err)) return -1;
    size_t n = (size_t)(sub.end - sub.p);
    char *s = malloc(n + 1);
    if (!s) return bc_errorf(err, "%s.%s: out of memory", where, field);
    memcpy(s, sub.p, n);
    s[n] = '\0';
    free(*out);
    *out = s;
    return 0;
}

/* ---- messages ---- */

static int parse_trainer_spec(pb_reader r, bc_spm_model *m, bc_error *err) {
    const char *w = "trainer_spec";
    while (r.p < r.end) {
        uint32_t field = 0;
        int wire = 0;
        uint64_t v = 0;
        if (pb_key(&r, &field, &wire, w, err)) return -1;
        switch (field) {
        case 3:
            if (read_varint_field(&r, wire, w, "model_type", &v, err)) return -1;
            m->model_type = (int)v;
            break;
        case 24:
            if (read_varint_field(&r, wire, w, "treat_whitespace_as_suffix", &v, err)) return -1;
            m->treat_whitespace_as_suffix = v != 0;
            break;
        case 35:
            if (read_varint_field(&r, wire, w, "byte_fallback", &v, err)) return -1;
            m->byte_fallback = v != 0;
            break;
        case 40:
            if (read_int32_field(&r, wire, w, "unk_id", &m->unk_id, err)) return -1;
            break;
        case 41:
            if (read_int32_field(&r, wire, w, "bos_id", &m->bos_id, err)) return -1;
            break;
        case 42:
            if (read_int32_field(&r, wire, w, "eos_id", &m->eos_id, err)) return -1;
            break;
        case 43:
            if (read_int32_field(&r, wire, w, "pad_id", &m->pad_id, err)) return -1;
            break;
        case 44:
            if (read_string_field(&r, wire, w, "unk_surface", &m->unk_surface, err)) return -1;
            break;
        default:
            if (pb_skip(&r, wire, field, w, err)) return -1;
        }
    }
    return 0;
}

static int parse_normalizer_spec(pb_reader r, bc_spm_model *m, bool denormalizer, bc_error *err) {
    const char *w = denormalizer ? "denormalizer_spec" : "normalizer_spec";
    while (r.p < r.end) {
        uint32_t field = 0;
        int wire = 0;
        uint64_t v = 0;
        pb_reader sub = {NULL, NULL};
        if (pb_key(&r, &field, &wire, w, err)) return -1;
        if (denormalizer && field != 2) {
            if (pb_skip(&r, wire, field, w, err)) return -1;
            continue;
        }
        switch (field) {
        case 1:
            if (read_string_field(&r, wire, w, "name", &m->normalizer_name, err)) return -1;
            break;
        case 2:
            if (expect_wire(wire, WIRE_LEN, w, "precompiled_charsmap", err)) return -1;
            if (pb_len(&r, &sub, w, err)) return -1;
            if (denormalizer) m->denormalizer_charsmap_len = (size_t)(sub.end - sub.p);
            else m->precompiled_charsmap_len = (size_t)(sub.end - sub.p);
            break;
        case 3:
            if (read_varint_field(&r, wire, w, "add_dummy_prefix", &v, err)) return -1;
            m->add_dummy_prefix = v != 0;
            break;
        case 4:
            if (read_varint_field(&r, wire, w, "remove_extra_whitespaces", &v, err)) return -1;
            m->remove_extra_whitespaces = v != 0;
            break;
        case 5:
            if (read_varint_field(&r, wire, w, "escape_whitespaces", &v, err)) return -1;
            m->escape_whitespaces = v != 0;
            break;
        default:
            if (pb_skip(&r, wire, field, w, err)) return -1;
        }
    }
    return 0;
}

/* One SentencePiece message: piece (1), score (2), type (3). The string is
 * copied into *arena_pos. */
static int parse_piece(pb_reader r, uint32_t id, bc_spm_piece *pc, char **arena_pos, bc_error *err) {
    char w[48];
    snprintf(w, sizeof w, "pieces[%u]", id);
    pc->text = NULL;
    pc->len = 0;
    pc->score = 0.0f;
    pc->type = BC_SPM_NORMAL;
    while (r.p < r.end) {
        uint32_t field = 0;
        int wire = 0;
        uint64_t v = 0;
        pb_reader sub = {NULL, NULL};
        if (pb_key(&r, &field, &wire, w, err)) return -1;
        switch (field) {
        case 1: {
            if (expect_wire(wire, WIRE_LEN, w, "piece", err)) return -1;
            if (pb_len(&r, &sub, w, err)) return -1;
            size_t n = (size_t)(sub.end - sub.p);
            if (n > BC_SPM_MAX_PIECE_BYTES)
                return bc_errorf(err, "%s.piece: %zu bytes long (limit %u)", w, n, BC_SPM_MAX_PIECE_BYTES);
            /* A repeated piece field (last one wins in protobuf) must not
             * overrun the arena sized by the first pass: each field occurrence
             * got its own room there. */
            memcpy(*arena_pos, sub.p, n);
            (*arena_pos)[n] = '\0';
            pc->text = *arena_pos;
            pc->len = (uint32_t)n;
            *arena_pos += n + 1;
            break;
        }
        case 2: {
            if (expect_wire(wire, WIRE_I32, w, "score", err)) return -1;
            if (r.end - r.p < 4) return bc_errorf(err, "%s.score: truncated", w);
            uint32_t bits = (uint32_t)r.p[0] | (uint32_t)r.p[1] << 8 | (uint32_t)r.p[2] << 16 |
                            (uint32_t)r.p[3] << 24;
            memcpy(&pc->score, &bits, 4);
            r.p += 4;
            break;
        }
        case 3:
            if (read_varint_field(&r, wire, w, "type", &v, err)) return -1;
            if (v < BC_SPM_NORMAL || v > BC_SPM_BYTE)
                return bc_errorf(err, "%s.type: %llu is not a piece type (1..6)", w, (unsigned long long)v);
            pc->type = (uint8_t)v;
            break;
        default:
            if (pb_skip(&r, wire, field, w, err)) return -1;
        }
    }
    if (pc->len == 0) return bc_errorf(err, "%s.piece: empty or missing", w);
    if (pc->score != pc->score) return bc_errorf(err, "%s.score: not a number", w);
    return 0;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1; /* SentencePiece writes <0x%02X>: lower-case hex is not its form */
}

/* -1 unless the piece is exactly "<0xXX>" with upper-case hex digits. */
static int byte_piece_value(const bc_spm_piece *pc) {
    const char *s = pc->text;
    if (pc->len != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>') return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    if (hi < 0 || lo < 0) return -1;
    return hi * 16 + lo;
}

static int validate(bc_spm_model *m, bc_error *err) {
    if (m->n_pieces == 0) return bc_errorf(err, "no pieces");
    if (m->model_type != BC_SPM_BPE)
        return bc_errorf(err, "trainer_spec.model_type is %d, only BPE (2) is supported", m->model_type);
    if (m->precompiled_charsmap_len != 0)
        return bc_errorf(err, "normalizer_spec: rule '%s' has a precompiled_charsmap (%zu bytes); only the "
                              "identity normalizer is supported",
                         m->normalizer_name, m->precompiled_charsmap_len);
    if (m->denormalizer_charsmap_len != 0)
        return bc_errorf(err, "denormalizer_spec: a precompiled_charsmap is not supported");
    if (m->treat_whitespace_as_suffix)
        return bc_errorf(err, "trainer_spec.treat_whitespace_as_suffix is not supported");
    const char *idname[4] = {"unk_id", "bos_id", "eos_id", "pad_id"};
    int32_t ids[4] = {m->unk_id, m->bos_id, m->eos_id, m->pad_id};
    for (int i = 0; i < 4; i++)
        if (ids[i] < -1 || ids[i] >= (int64_t)m->n_pieces)
            return bc_errorf(err, "trainer_spec.%s: %d is out of range (%u pieces)", idname[i], ids[i],
                             m->n_pieces);
    int unk = -1;
    bool byte_seen[256] = {false};
    for (uint32_t i = 0; i < m->n_pieces; i++) {
        const bc_spm_piece *pc = &m->pieces[i];
        if (pc->type == BC_SPM_UNKNOWN) {
            if (unk >= 0) return bc_errorf(err, "pieces[%u]: a second UNKNOWN piece (first is %d)", i, unk);
            unk = (int)i;
        } else if (pc->type == BC_SPM_BYTE) {
            if (!m->byte_fallback)
                return bc_errorf(err, "pieces[%u]: BYTE piece although trainer_spec.byte_fallback is false", i);
            int b = byte_piece_value(pc);
            if (b < 0) return bc_errorf(err, "pieces[%u]: BYTE piece '%.16s' is not of the form <0xXX>", i, pc->text);
            byte_seen[b] = true; /* duplicates are caught as duplicate pieces */
        }
    }
    if (unk < 0) return bc_errorf(err, "no UNKNOWN piece");
    if (m->byte_fallback)
        for (int b = 0; b < 256; b++)
            if (!byte_seen[b]) return bc_errorf(err, "byte_fallback is set but piece <0x%02X> is missing", b);
    return 0;
}

void bc_spm_model_free(bc_spm_model *m) {
    if (!m) return;
    free(m->pieces);
    free(m->arena);
    free(m->unk_surface);
    free(m->normalizer_name);
    memset(m, 0, sizeof *m);
}

static void set_defaults(bc_spm_model *m) {
    memset(m, 0, sizeof *m);
    m->model_type = BC_SPM_UNIGRAM;
    m->unk_id = 0;
    m->bos_id = 1;
    m->eos_id = 2;
    m->pad_id = -1;
    m->add_dummy_prefix = true;
    m->remove_extra_whitespaces = true;
    m->escape_whitespaces = true;
}

/* First pass over the top level: how many pieces, and how many bytes their
 * strings (plus NULs) can need at most. */
static int count_pieces(pb_reader r, uint32_t *n, size_t *arena_bytes, bc_error *err) {
    *n = 0;
    *arena_bytes = 0;
    while (r.p < r.end) {
        uint32_t field = 0;
        int wire = 0;
        if (pb_key(&r, &field, &wire, "ModelProto", err)) return -1;
        if (field == 1) {
            pb_reader sub = {NULL, NULL};
            if (expect_wire(wire, WIRE_LEN, "ModelProto", "pieces", err)) return -1;
            if (pb_len(&r, &sub, "ModelProto.pieces", err)) return -1;
            if (++*n > BC_SPM_MAX_PIECES) return bc_errorf(err, "more than %u pieces", BC_SPM_MAX_PIECES);
            /* Each piece-string occurrence inside the payload (a repeated
             * field included) costs >= 2 bytes of key and length on the wire
             * and needs 1 NUL in the arena, so the payload size is enough. */
            *arena_bytes += (size_t)(sub.end - sub.p);
        } else if (pb_skip(&r, wire, field, "ModelProto", err)) {
            return -1;
        }
    }
    return 0;
}

static int parse_top(pb_reader r, bc_spm_model *m, char *arena, bc_error *err) {
    uint32_t id = 0;
    char *pos = arena;
    while (r.p < r.end) {
        uint32_t field = 0;
        int wire = 0;
        pb_reader sub = {NULL, NULL};
        if (pb_key(&r, &field, &wire, "ModelProto", err)) return -1;
        switch (field) {
        case 1:
            if (pb_len(&r, &sub, "ModelProto.pieces", err)) return -1;
            if (parse_piece(sub, id, &m->pieces[id], &pos, err)) return -1;
            id++;
            break;
        case 2:
        case 3:
        case 5:
            if (expect_wire(wire, WIRE_LEN, "ModelProto",
                            field == 2 ? "trainer_spec" : field == 3 ? "normalizer_spec" : "denormalizer_spec",
                            err))
                return -1;
            if (pb_len(&r, &sub, "ModelProto", err)) return -1;
            if (field == 2 && parse_trainer_spec(sub, m, err)) return -1;
            if (field == 3 && parse_normalizer_spec(sub, m, false, err)) return -1;
            if (field == 5 && parse_normalizer_spec(sub, m, true, err)) return -1;
            break;
        default:
            if (pb_skip(&r, wire, field, "ModelProto", err)) return -1;
        }
    }
    return 0;
}

int bc_spm_model_parse(const uint8_t *data, size_t len, const char *name, bc_spm_model *m, bc_error *err) {
    set_defaults(m);
    pb_reader r = {data, data + len};
    uint32_t n;
    size_t arena_bytes;
    if (count_pieces(r, &n, &arena_bytes, err)) goto fail;
    m->pieces = calloc(n ? n : 1, sizeof *m->pieces);
    m->arena = malloc(arena_bytes + 1);
    m->unk_surface = strdup(" \xE2\x81\x87 ");
    m->normalizer_name = strdup("");
    if (!m->pieces || !m->arena || !m->unk_surface || !m->normalizer_name) {
        bc_errorf(err, "out of memory");
        goto fail;
    }
    m->n_pieces = n;
    if (parse_top(r, m, m->arena, err)) goto fail;
    if (validate(m, err)) goto fail;
    return 0;
fail:
    bc_spm_model_free(m);
    return bc_error_prefix(err, "%s", name);
}
