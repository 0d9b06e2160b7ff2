/* The BPE merge loop and the symbol -> id step, following SentencePiece's
 * bpe_model.cc behaviour:
 *  - a priority queue ("agenda") of adjacent symbol pairs whose concatenation
 *    is a NORMAL, USER_DEFINED or UNUSED piece, best = highest score, ties to
 *    the leftmost pair; entries go stale (and are skipped) once either side
 *    changed, so each merge costs O(log n);
 *  - frozen symbols (user-defined pieces found by longest match) never pair;
 *  - merged UNUSED pieces are split back along the merge that made them (the
 *    last queued split of that piece wins, as in SentencePiece);
 *  - a symbol that is no piece is <unk>: with byte fallback its bytes become
 *    <0xXX> ids, otherwise runs of unknown symbols join into one <unk>. */
#include <stdlib.h>

#include "tokenizer_internal.h"

int bc_tok_work_init(bc_encode_work *w, const bc_tokenizer *t, size_t norm_cap, bc_error *err) {
    memset(w, 0, sizeof *w);
    w->norm = malloc(norm_cap + 1);
    w->sym = malloc((norm_cap + 1) * sizeof *w->sym);
    w->frozen = malloc(norm_cap + 1);
    w->cap_heap = 64;
    w->heap = malloc(w->cap_heap * sizeof *w->heap);
    if (t->has_unused) {
        w->rev_left = calloc(t->m.n_pieces, sizeof *w->rev_left);
        w->cap_stack = 2 * (size_t)t->max_piece_len + 4;
        w->stack = malloc(w->cap_stack * 2 * sizeof *w->stack);
    }
    if (!w->norm || !w->sym || !w->frozen || !w->heap || (t->has_unused && (!w->rev_left || !w->stack))) {
        bc_tok_work_free(w);
        return bc_errorf(err, "tokenizer: out of memory for a %zu-byte input", norm_cap / 3);
    }
    return 0;
}

void bc_tok_work_free(bc_encode_work *w) {
    free(w->norm);
    free(w->sym);
    free(w->frozen);
    free(w->heap);
    free(w->rev_left);
    free(w->stack);
    memset(w, 0, sizeof *w);
}

/* ---- binary heap of pairs ---- */

static inline bool pair_better(const bc_pair *a, const bc_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(bc_encode_work *w, bc_pair p) {
    if (w->n_heap == w->cap_heap) {
        size_t nc = w->cap_heap * 2;
        bc_pair *nh = realloc(w->heap, nc * sizeof *nh);
        if (!nh) return -1;
        w->heap = nh;
        w->cap_heap = nc;
    }
    size_t i = w->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_better(&p, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = p;
    return 0;
}

static bc_pair heap_pop(bc_encode_work *w) {
    bc_pair top = w->heap[0];
    bc_pair last = w->heap[--w->n_heap];
    size_t n = w->n_heap, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_better(&w->heap[c + 1], &w->heap[c])) c++;
        if (!pair_better(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n > 0) w->heap[i] = last;
    return top;
}

/* Queues (left, right) if their concatenation is a mergeable piece. */
static int maybe_add_pair(const bc_tokenizer *t, bc_encode_work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0 || w->frozen[left] || w->frozen[right]) return 0;
    const bc_symbol *l = &w->sym[left], *r = &w->sym[right];
    uint32_t size = l->len + r->len;
    int32_t id = bc_tok_lookup(t, w->norm + l->start, size);
    if (id < 0) return 0;
    const bc_spm_piece *pc = &t->m.pieces[id];
    if (pc->type != BC_SPM_NORMAL && pc->type != BC_SPM_USER_DEFINED && pc->type != BC_SPM_UNUSED) return 0;
    if (pc->type == BC_SPM_UNUSED) w->rev_left[id] = l->len;
    return heap_push(w, (bc_pair){pc->score, left, right, size});
}

/* Merges symbols lo..hi-1 (linked among themselves) until no pair is a piece. */
static int merge_range(const bc_tokenizer *t, bc_encode_work *w, uint32_t lo, uint32_t hi) {
    bc_symbol *sym = w->sym;
    for (uint32_t i = lo; i < hi; i++) {
        sym[i].prev = i == lo ? -1 : (int32_t)i - 1;
        sym[i].next = i + 1 == hi ? -1 : (int32_t)i + 1;
    }
    for (uint32_t i = lo + 1; i < hi; i++)
        if (maybe_add_pair(t, w, (int32_t)i - 1, (int32_t)i)) return -1;
    while (w->n_heap > 0) {
        bc_pair top = heap_pop(w);
        bc_symbol *l = &sym[top.left], *r = &sym[top.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != top.size) continue; /* stale */
        l->len += r->len;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = top.left;
        r->len = 0;
        if (maybe_add_pair(t, w, l->prev, top.left)) return -1;
        if (maybe_add_pair(t, w, top.left, l->next)) return -1;
    }
    return 0;
}

static const uint8_t utf8_lead_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};

int bc_tok_bpe(const bc_tokenizer *t, bc_encode_work *w, size_t norm_len, bc_error *err) {
    /* Initial symbols: the longest user-defined piece (frozen) or one character. */
    uint32_t n = 0;
    size_t pos = 0;
    const uint8_t *s = w->norm;
    while (pos < norm_len) {
        size_t rest = norm_len - pos, k = 0;
        if (t->trie_root[s[pos]] >= 0) {
            int32_t node = t->trie_root[s[pos]];
            k = t->trie[node].terminal ? 1 : 0;
            for (size_t i = 1; i < rest; i++) {
                int32_t c = t->trie[node].child;
                while (c >= 0 && t->trie[c].byte != s[pos + i]) c = t->trie[c].sibling;
                if (c < 0) break;
                node = c;
                if (t->trie[node].terminal) k = i + 1;
            }
        }
        w->frozen[n] = k > 0;
        if (k == 0) {
            k = utf8_lead_len[s[pos] >> 4];
            if (k > rest) k = rest;
        }
        w->sym[n].start = (uint32_t)pos;
        w->sym[n].len = (uint32_t)k;
        n++;
        pos += k;
    }
    w->n_sym = n;
    if (t->has_unused) {
        /* One pass over everything, in SentencePiece's queue order, so that
         * the UNUSED resegmentation table ends up exactly as SentencePiece's. */
        if (n > 0 && merge_range(t, w, 0, n)) return bc_errorf(err, "tokenizer: out of memory");
        return 0;
    }
    /* Frozen symbols never pair, so the runs between them merge independently:
     * smaller queues, same result. */
    uint32_t i = 0;
    while (i < n) {
        if (w->frozen[i]) {
            i++;
            continue;
        }
        uint32_t j = i;
        while (j < n && !w->frozen[j]) j++;
        if (j - i > 1 && merge_range(t, w, i, j)) return bc_errorf(err, "tokenizer: out of memory");
        i = j;
    }
    return 0;
}

typedef struct emit_state {
    int32_t *out;
    size_t n;
    bool prev_unk;
} emit_state;

static void emit_piece(const bc_tokenizer *t, emit_state *e, const uint8_t *s, uint32_t len, int32_t id) {
    if (id < 0) id = t->unk_id;
    bool is_unk = t->m.pieces[id].type == BC_SPM_UNKNOWN;
    if (is_unk && t->m.byte_fallback) {
        for (uint32_t i = 0; i < len; i++) e->out[e->n++] = t->byte_id[s[i]];
    } else if (!(is_unk && e->prev_unk)) {
        e->out[e->n++] = id;
    }
    e->prev_unk = is_unk;
}

/* Splits a merged UNUSED piece back into the halves it was made from,
 * depth first, left before right (an explicit stack: no recursion). */
static void emit_resegmented(const bc_tokenizer *t, bc_encode_work *w, emit_state *e, uint32_t start,
                             uint32_t len) {
    size_t top = 0;
    w->stack[top++] = start;
    w->stack[top++] = len;
    while (top > 0) {
        uint32_t l = w->stack[--top], st = w->stack[--top];
        int32_t id = bc_tok_lookup(t, w->norm + st, l);
        uint32_t left = id >= 0 && t->m.pieces[id].type == BC_SPM_UNUSED ? w->rev_left[id] : 0;
        if (left == 0 || left >= l || top + 4 > w->cap_stack * 2) {
            emit_piece(t, e, w->norm + st, l, id);
            continue;
        }
        w->stack[top++] = st + left; /* right half, popped second */
        w->stack[top++] = l - left;
        w->stack[top++] = st;
        w->stack[top++] = left;
    }
}

size_t bc_tok_emit_ids(const bc_tokenizer *t, bc_encode_work *w, int32_t *out) {
    emit_state e = {out, 0, false};
    for (uint32_t i = 0; i < w->n_sym; i++) {
        const bc_symbol *s = &w->sym[i];
        if (s->len == 0) continue;
        if (t->has_unused) {
            emit_resegmented(t, w, &e, s->start, s->len);
        } else {
            const uint8_t *p = w->norm + s->start;
            emit_piece(t, &e, p, s->len, bc_tok_lookup(t, p, s->len));
        }
    }
    return e.n;
}
