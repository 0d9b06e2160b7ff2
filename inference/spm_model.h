/* bc_spm_model: the fields of a SentencePiece tokenizer.model (a protobuf
 * ModelProto, proto2) that BPE tokenization needs, parsed and validated.
 *
 * The parser is a hand-written protobuf reader: proto2 defaults apply to absent
 * fields (add_dummy_prefix, remove_extra_whitespaces and escape_whitespaces are
 * TRUE when absent), unknown fields are skipped by wire type, and every length
 * and count is checked before use. A malformed file gets one message naming the
 * file and the field; it never crashes. Used by tokenizer.c only. */
#ifndef BC_SPM_MODEL_H
#define BC_SPM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bc_error.h"

/* SentencePiece.Type values (sentencepiece_model.proto). */
enum {
    BC_SPM_NORMAL = 1,
    BC_SPM_UNKNOWN = 2,
    BC_SPM_CONTROL = 3,
    BC_SPM_USER_DEFINED = 4,
    BC_SPM_UNUSED = 5,
    BC_SPM_BYTE = 6,
};

/* TrainerSpec.model_type values. */
enum { BC_SPM_UNIGRAM = 1, BC_SPM_BPE = 2, BC_SPM_WORD = 3, BC_SPM_CHAR = 4 };

/* Upper bounds that keep a hostile file from asking for absurd allocations;
 * real models are far below them (Baichuan2: 125,696 pieces of <= 96 bytes). */
#define BC_SPM_MAX_PIECES (1u << 22)
#define BC_SPM_MAX_PIECE_BYTES 4096u

typedef struct bc_spm_piece {
    const char *text; /* NUL-terminated, inside bc_spm_model.arena */
    uint32_t len;     /* bytes, > 0 */
    float score;      /* BPE merge priority: larger merges first */
    uint8_t type;     /* BC_SPM_NORMAL .. BC_SPM_BYTE */
} bc_spm_piece;

typedef struct bc_spm_model {
    bc_spm_piece *pieces; /* id = index */
    uint32_t n_pieces;
    char *arena; /* all piece strings, each NUL-terminated */

    /* TrainerSpec */
    int model_type;
    bool byte_fallback;
    bool treat_whitespace_as_suffix;
    int32_t unk_id, bos_id, eos_id, pad_id; /* as stored; -1 = none */
    char *unk_surface;                      /* malloc'd, default " \u2047 " */

    /* NormalizerSpec */
    char *normalizer_name; /* malloc'd, "" when absent */
    size_t precompiled_charsmap_len;
    bool add_dummy_prefix;
    bool remove_extra_whitespaces;
    bool escape_whitespaces;

    /* denormalizer_spec (only its presence and charsmap size matter here) */
    size_t denormalizer_charsmap_len;
} bc_spm_model;

/* Parses and validates len bytes. `name` is used in messages. On failure *m is
 * left empty (safe to free). */
int bc_spm_model_parse(const uint8_t *data, size_t len, const char *name,
                       bc_spm_model *m, bc_error *err);
void bc_spm_model_free(bc_spm_model *m);

#endif
