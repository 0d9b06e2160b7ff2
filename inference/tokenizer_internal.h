/* Internals shared by tokenizer.c (load, normalize), tokenizer_bpe.c (merges)
 * and tokenizer_decode.c. Not part of the public contract. */
#ifndef BC_TOKENIZER_INTERNAL_H
#define BC_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "spm_model.h"
#include "tokenizer.h"

typedef struct bc_piece_slot {
    uint32_t tag; /* high half of the piece's hash */
    int32_t id;   /* -1 = empty slot */
} bc_piece_slot;

/* Trie node for longest-match of user-defined pieces: children as a list. */
typedef struct bc_trie_node {
    int32_t child;   /* first child, -1 none */
    int32_t sibling; /* next sibling, -1 none */
    uint8_t byte;
    uint8_t terminal; /* a user-defined piece ends here */
} bc_trie_node;

struct bc_tokenizer {
    bc_spm_model m;
    int32_t unk_id;

    /* piece string -> id, open addressing with linear probing */
    bc_piece_slot *slots;
    uint32_t slot_mask;
    uint32_t max_piece_len; /* bytes; longer strings cannot be pieces */

    int32_t byte_id[256]; /* id of <0xXX> by name, -1 without byte fallback */
    bool has_unused;      /* UNUSED pieces exist: resegment, keep SentencePiece's exact order */
    bool normalizer_sees_user_defined;

    int32_t trie_root[256]; /* node for each first byte, -1 none */
    bc_trie_node *trie;
    uint32_t n_trie, cap_trie;

    /* decode: each piece's text with U+2581 turned into ' ' */
    char *surface;
    uint32_t *surface_off; /* n_pieces + 1 offsets into surface */
    size_t max_surface;    /* longest text one id can decode to (unk_surface included) */
};

/* The fast string hash used by the piece table. */
static inline uint64_t bc_tok_hash_inline(const uint8_t *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}
uint64_t bc_tok_hash(const uint8_t *s, size_t n);

/* Id of the piece spelled s[0..n), any type; -1 when there is none. */
static inline int32_t bc_tok_lookup(const bc_tokenizer *t, const uint8_t *s, size_t n) {
    if (n > t->max_piece_len || n == 0) return -1;
    uint64_t h = bc_tok_hash_inline(s, n);
    uint32_t i = (uint32_t)h & t->slot_mask;
    uint32_t tag = (uint32_t)(h >> 32);
    for (;;) {
        const bc_piece_slot sl = t->slots[i];
        if (sl.id < 0) return -1;
        if (sl.tag == tag) {
            const bc_spm_piece *pc = &t->m.pieces[sl.id];
            if (pc->len == n && memcmp(pc->text, s, n) == 0) return sl.id;
        }
        i = (i + 1) & t->slot_mask;
    }
}


/* ---- per-call encode workspace ---- */

typedef struct bc_symbol {
    uint32_t start; /* byte offset in norm */
    uint32_t len;   /* bytes; 0 once merged into its left neighbour */
    int32_t prev, next;
} bc_symbol;

typedef struct bc_pair {
    float score;
    int32_t left, right; /* symbol indexes */
    uint32_t size;       /* bytes of left + right when queued; stale if it changed */
} bc_pair;

typedef struct bc_encode_work {
    uint8_t *norm;
    bc_symbol *sym;
    uint8_t *frozen; /* user-defined piece: never merged */
    uint32_t n_sym;
    bc_pair *heap;
    size_t n_heap, cap_heap;
    uint32_t *rev_left; /* UNUSED piece id -> bytes of its left half (0 = none) */
    uint32_t *stack;    /* resegmentation work stack (start, len pairs) */
    size_t cap_stack;
} bc_encode_work;

int bc_tok_work_init(bc_encode_work *w, const bc_tokenizer *t, size_t norm_cap, bc_error *err);
void bc_tok_work_free(bc_encode_work *w);
/* Splits norm[0..norm_len) into symbols and runs the merges. */
int bc_tok_bpe(const bc_tokenizer *t, bc_encode_work *w, size_t norm_len, bc_error *err);
/* Writes the final ids (at most norm_len of them) and returns the count. */
size_t bc_tok_emit_ids(const bc_tokenizer *t, bc_encode_work *w, int32_t *out);

int bc_tok_decode_tables(bc_tokenizer *t, bc_error *err);

#endif
