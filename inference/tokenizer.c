/* SentencePiece BPE, re-implemented from the algorithm's description
 * (baichuan2.md §3) so that ids agree with SentencePiece 0.1.97 id for id.
 *
 * Encode = normalize (space -> U+2581, optional dummy prefix and whitespace
 * cleanup, invalid UTF-8 byte -> U+FFFD) -> split into characters and frozen
 * user-defined pieces -> BPE merges driven by a priority queue of adjacent
 * pairs -> map symbols to ids (resegmenting UNUSED pieces, byte fallback or
 * <unk> for the rest). Decode lives in tokenizer_decode.c. */
#include "tokenizer_internal.h"
#include "utf8.h"

#include "file_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPACE_SYMBOL "\xE2\x96\x81" /* U+2581, how SentencePiece writes ' ' */
#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */
#define MAX_MODEL_FILE_BYTES ((size_t)256 << 20)

/* ---- hashing and the piece table ---- */

uint64_t bc_tok_hash(const uint8_t *s, size_t n) { return bc_tok_hash_inline(s, n); }

static int table_build(bc_tokenizer *t, bc_error *err) {
    uint32_t cap = 16;
    while (cap < t->m.n_pieces * 2u) cap *= 2;
    t->slots = malloc((size_t)cap * sizeof *t->slots);
    if (!t->slots) return bc_errorf(err, "out of memory");
    for (uint32_t i = 0; i < cap; i++) t->slots[i].id = -1;
    t->slot_mask = cap - 1;
    for (uint32_t id = 0; id < t->m.n_pieces; id++) {
        const bc_spm_piece *pc = &t->m.pieces[id];
        uint64_t h = bc_tok_hash((const uint8_t *)pc->text, pc->len);
        uint32_t i = (uint32_t)h & t->slot_mask;
        uint32_t tag = (uint32_t)(h >> 32);
        while (t->slots[i].id >= 0) {
            const bc_spm_piece *o = &t->m.pieces[t->slots[i].id];
            if (t->slots[i].tag == tag && o->len == pc->len && memcmp(o->text, pc->text, pc->len) == 0)
                return bc_errorf(err, "pieces[%u]: '%.64s' duplicates pieces[%d]", id, pc->text, t->slots[i].id);
            i = (i + 1) & t->slot_mask;
        }
        t->slots[i].tag = tag;
        t->slots[i].id = (int32_t)id;
        if (pc->len > t->max_piece_len) t->max_piece_len = pc->len;
    }
    return 0;
}

/* ---- the user-defined pieces' prefix trie ---- */

static int trie_insert(bc_tokenizer *t, const uint8_t *s, uint32_t n, bc_error *err) {
    int32_t node = t->trie_root[s[0]];
    if (node < 0) {
        if (t->n_trie == t->cap_trie) {
            uint32_t nc = t->cap_trie ? t->cap_trie * 2 : 256;
            bc_trie_node *nn = realloc(t->trie, nc * sizeof *nn);
            if (!nn) return bc_errorf(err, "out of memory");
            t->trie = nn;
            t->cap_trie = nc;
        }
        node = (int32_t)t->n_trie++;
        t->trie[node] = (bc_trie_node){-1, -1, s[0], 0};
        t->trie_root[s[0]] = node;
    }
    for (uint32_t i = 1; i < n; i++) {
        int32_t c = t->trie[node].child;
        while (c >= 0 && t->trie[c].byte != s[i]) c = t->trie[c].sibling;
        if (c < 0) {
            if (t->n_trie == t->cap_trie) {
                uint32_t nc = t->cap_trie * 2;
                bc_trie_node *nn = realloc(t->trie, nc * sizeof *nn);
                if (!nn) return bc_errorf(err, "out of memory");
                t->trie = nn;
                t->cap_trie = nc;
            }
            c = (int32_t)t->n_trie++;
            t->trie[c] = (bc_trie_node){-1, t->trie[node].child, s[i], 0};
            t->trie[node].child = c;
        }
        node = c;
    }
    t->trie[node].terminal = 1;
    return 0;
}

/* Length of the longest user-defined piece that prefixes s[0..n), 0 if none. */
static inline size_t trie_match(const bc_tokenizer *t, const uint8_t *s, size_t n) {
    int32_t node = t->trie_root[s[0]];
    if (node < 0) return 0;
    size_t best = t->trie[node].terminal ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        int32_t c = t->trie[node].child;
        while (c >= 0 && t->trie[c].byte != s[i]) c = t->trie[c].sibling;
        if (c < 0) break;
        node = c;
        if (t->trie[node].terminal) best = i + 1;
    }
    return best;
}

/* ---- UTF-8 exactly as SentencePiece's DecodeUTF8/IsValidDecodeUTF8 ---- */

/* ---- load / free ---- */

static int build(bc_tokenizer *t, bc_error *err) {
    if (table_build(t, err)) return -1;
    for (int b = 0; b < 256; b++) t->trie_root[b] = -1;
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    for (uint32_t id = 0; id < t->m.n_pieces; id++) {
        const bc_spm_piece *pc = &t->m.pieces[id];
        if (pc->type == BC_SPM_UNKNOWN) t->unk_id = (int32_t)id;
        if (pc->type == BC_SPM_UNUSED) t->has_unused = true;
        if (pc->type == BC_SPM_BYTE) {
            int hi = pc->text[3] <= '9' ? pc->text[3] - '0' : pc->text[3] - 'A' + 10;
            int lo = pc->text[4] <= '9' ? pc->text[4] - '0' : pc->text[4] - 'A' + 10;
            t->byte_id[hi * 16 + lo] = (int32_t)id;
        }
        if (pc->type == BC_SPM_USER_DEFINED) {
            if (trie_insert(t, (const uint8_t *)pc->text, pc->len, err)) return -1;
            /* The normalizer only needs to see user-defined pieces as units when
             * that changes its output: pieces holding a space (whitespace
             * cleanup) or bytes that are not valid UTF-8 (no U+FFFD inside). */
            size_t i = 0;
            while (i < pc->len) {
                const uint8_t *s = (const uint8_t *)pc->text + i;
                size_t k = bc_utf8_char_len(s, pc->len - i);
                if (k == 0 || *s == ' ') {
                    t->normalizer_sees_user_defined = true;
                    break;
                }
                i += k;
            }
        }
    }
    return bc_tok_decode_tables(t, err);
}

int bc_tokenizer_load_memory(const void *data, size_t len, const char *name, bc_tokenizer **out,
                             bc_error *err) {
    *out = NULL;
    bc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return bc_errorf(err, "%s: out of memory", name);
    if (bc_spm_model_parse(data, len, name, &t->m, err)) {
        free(t);
        return -1;
    }
    if (build(t, err)) {
        bc_tokenizer_free(t);
        return bc_error_prefix(err, "%s", name);
    }
    *out = t;
    return 0;
}

int bc_tokenizer_load(const char *path, bc_tokenizer **out, bc_error *err) {
    *out = NULL;
    char *buf;
    size_t len;
    if (bc_read_file(path, MAX_MODEL_FILE_BYTES, &buf, &len, err)) return -1;
    const char *base = strrchr(path, '/');
    int rc = bc_tokenizer_load_memory(buf, len, base ? base + 1 : path, out, err);
    free(buf);
    return rc;
}

void bc_tokenizer_free(bc_tokenizer *t) {
    if (!t) return;
    bc_spm_model_free(&t->m);
    free(t->slots);
    free(t->trie);
    free(t->surface);
    free(t->surface_off);
    free(t);
}

int bc_tokenizer_vocab_size(const bc_tokenizer *t) { return (int)t->m.n_pieces; }
int bc_tokenizer_bos_id(const bc_tokenizer *t) { return t->m.bos_id; }
int bc_tokenizer_eos_id(const bc_tokenizer *t) { return t->m.eos_id; }
int bc_tokenizer_unk_id(const bc_tokenizer *t) { return t->unk_id; }

const char *bc_tokenizer_piece(const bc_tokenizer *t, int id) {
    if (id < 0 || (uint32_t)id >= t->m.n_pieces) return NULL;
    return t->m.pieces[id].text;
}

/* ---- normalization ---- */

/* SentencePiece's NormalizePrefix for an identity rule: a user-defined piece
 * (when the normalizer must see them), else one valid UTF-8 character, else
 * one invalid byte that becomes U+FFFD. */
static size_t normalize_prefix(const bc_tokenizer *t, const uint8_t *s, size_t n, const uint8_t **out,
                               size_t *out_len) {
    if (t->normalizer_sees_user_defined) {
        size_t m = trie_match(t, s, n);
        if (m) {
            *out = s;
            *out_len = m;
            return m;
        }
    }
    size_t k = bc_utf8_char_len(s, n);
    if (k == 0) {
        *out = (const uint8_t *)REPLACEMENT;
        *out_len = 3;
        return 1;
    }
    *out = s;
    *out_len = k;
    return k;
}

/* Writes the normalized text into norm (room for 3 * len + 3 bytes) and
 * returns its length. Mirrors SentencePiece's Normalizer::Normalize. */
static size_t normalize(const bc_tokenizer *t, const uint8_t *in, size_t len, uint8_t *norm) {
    const bool escape = t->m.escape_whitespaces;
    const bool rew = t->m.remove_extra_whitespaces;
    size_t pos = 0, o = 0;
    const uint8_t *piece;
    size_t plen;
    if (rew) { /* leading spaces go */
        while (pos < len) {
            size_t used = normalize_prefix(t, in + pos, len - pos, &piece, &plen);
            if (!(plen == 1 && piece[0] == ' ')) break;
            pos += used;
        }
        if (pos == len) return 0;
    }
    if (len == 0) return 0;
    if (t->m.add_dummy_prefix) {
        if (escape) {
            memcpy(norm + o, SPACE_SYMBOL, 3);
            o += 3;
        } else {
            norm[o++] = ' ';
        }
    }
    if (!rew && !t->normalizer_sees_user_defined) {
        /* Fast path (Baichuan2): copy, escaping spaces and replacing invalid bytes. */
        while (pos < len) {
            uint8_t b = in[pos];
            if (b < 0x80) {
                if (b == ' ' && escape) {
                    memcpy(norm + o, SPACE_SYMBOL, 3);
                    o += 3;
                } else {
                    norm[o++] = b;
                }
                pos++;
                continue;
            }
            size_t k = bc_utf8_char_len(in + pos, len - pos);
            if (k == 0) {
                memcpy(norm + o, REPLACEMENT, 3);
                o += 3;
                pos++;
            } else {
                memcpy(norm + o, in + pos, k);
                o += k;
                pos += k;
            }
        }
        return o;
    }
    bool prev_space = rew;
    while (pos < len) {
        size_t used = normalize_prefix(t, in + pos, len - pos, &piece, &plen);
        if (prev_space)
            while (plen > 0 && piece[0] == ' ') {
                piece++;
                plen--;
            }
        if (plen > 0) {
            for (size_t i = 0; i < plen; i++) {
                if (escape && piece[i] == ' ') {
                    memcpy(norm + o, SPACE_SYMBOL, 3);
                    o += 3;
                } else {
                    norm[o++] = piece[i];
                }
            }
            prev_space = piece[plen - 1] == ' ';
        }
        pos += used;
        if (!rew) prev_space = false;
    }
    if (rew) { /* trailing spaces go */
        const char *sp = escape ? SPACE_SYMBOL : " ";
        size_t sl = escape ? 3 : 1;
        while (o >= sl && memcmp(norm + o - sl, sp, sl) == 0) o -= sl;
    }
    return o;
}

/* ---- encode ---- */

int bc_tokenizer_encode(const bc_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
                        bc_error *err) {
    *n = 0;
    if (len > (SIZE_MAX - 8) / 3 || len > (size_t)INT32_MAX / 4)
        return bc_errorf(err, "tokenizer: input of %zu bytes is too long", len);
    bc_encode_work w;
    if (bc_tok_work_init(&w, t, 3 * len + 3, err)) return -1;
    size_t norm_len = normalize(t, (const uint8_t *)text, len, w.norm);
    int rc = bc_tok_bpe(t, &w, norm_len, err);
    if (rc == 0) {
        size_t want = norm_len ? norm_len : 1;
        int32_t *out = realloc(*ids, want * sizeof *out);
        if (!out) {
            rc = bc_errorf(err, "tokenizer: out of memory");
        } else {
            *ids = out;
            *n = bc_tok_emit_ids(t, &w, out);
        }
    }
    bc_tok_work_free(&w);
    return rc;
}
