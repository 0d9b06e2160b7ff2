/* Decoding, whole and streaming, with SentencePiece's rules:
 *  - runs of BYTE pieces are joined and read as UTF-8, each invalid byte
 *    becoming U+FFFD;
 *  - CONTROL pieces decode to nothing, UNKNOWN to trainer_spec.unk_surface;
 *  - U+2581 becomes ' ';
 *  - with add_dummy_prefix or remove_extra_whitespaces, the leading U+2581 of
 *    the first piece is dropped (with remove_extra_whitespaces, of every
 *    piece until some text has been produced).
 * Both decoders run the same incremental state machine, which holds back only
 * a proper prefix of a valid UTF-8 sequence, so a stream's concatenated output
 * is byte-identical to a whole decode. */
#include <stdlib.h>

#include "tokenizer_internal.h"
#include "utf8.h"

#define REPLACEMENT "\xEF\xBF\xBD"

int bc_tok_decode_tables(bc_tokenizer *t, bc_error *err) {
    size_t total = 0;
    for (uint32_t id = 0; id < t->m.n_pieces; id++) total += t->m.pieces[id].len;
    t->surface = malloc(total + 1);
    t->surface_off = malloc(((size_t)t->m.n_pieces + 1) * sizeof *t->surface_off);
    if (!t->surface || !t->surface_off) return bc_errorf(err, "out of memory");
    size_t o = 0;
    t->max_surface = strlen(t->m.unk_surface);
    for (uint32_t id = 0; id < t->m.n_pieces; id++) {
        const bc_spm_piece *pc = &t->m.pieces[id];
        t->surface_off[id] = (uint32_t)o;
        if (pc->type == BC_SPM_CONTROL || pc->type == BC_SPM_UNKNOWN || pc->type == BC_SPM_BYTE) continue;
        size_t start = o;
        for (uint32_t i = 0; i < pc->len; i++) {
            if (i + 3 <= pc->len && memcmp(pc->text + i, "\xE2\x96\x81", 3) == 0) {
                t->surface[o++] = ' ';
                i += 2;
            } else {
                t->surface[o++] = pc->text[i];
            }
        }
        if (o - start > t->max_surface) t->max_surface = o - start;
    }
    t->surface_off[t->m.n_pieces] = (uint32_t)o;
    return 0;
}

/* ---- a growable output buffer ---- */

typedef struct out_buf {
    char *p;
    size_t len, cap;
    bool oom;
} out_buf;

static void put(out_buf *b, const void *s, size_t n) {
    if (b->oom || n == 0) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 64;
        while (b->len + n + 1 > nc) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* ---- the decoder state machine ---- */

typedef struct dec_state {
    uint8_t held[4]; /* a proper prefix of a valid UTF-8 sequence from BYTE pieces */
    int n_held;
    bool is_bos_ws;   /* a leading U+2581 may still be dropped */
    bool bos_ws_seen; /* the previous piece had its leading U+2581 dropped */
    bool any_text;    /* something has been produced */
} dec_state;

static void dec_reset(dec_state *d) {
    memset(d, 0, sizeof *d);
    d->is_bos_ws = true;
}

/* Could more bytes still make held[0..n) a valid sequence? */
static bool is_proper_prefix(const uint8_t *s, int n) {
    uint8_t b0 = s[0];
    int need = b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3 : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
    if (need == 0 || n >= need) return false;
    if (n >= 2) {
        uint8_t lo = 0x80, hi = 0xBF;
        if (b0 == 0xE0) lo = 0xA0;
        else if (b0 == 0xED) hi = 0x9F;
        else if (b0 == 0xF0) lo = 0x90;
        else if (b0 == 0xF4) hi = 0x8F;
        if (s[1] < lo || s[1] > hi) return false;
    }
    if (n >= 3 && (s[2] & 0xC0) != 0x80) return false;
    return true;
}

/* Emits every character of held that is decided; at_end decides all. */
static void dec_drain(dec_state *d, out_buf *b, bool at_end) {
    while (d->n_held > 0) {
        size_t k = bc_utf8_char_len(d->held, (size_t)d->n_held);
        if (k == 0) {
            if (!at_end && is_proper_prefix(d->held, d->n_held)) return;
            put(b, REPLACEMENT, 3);
            k = 1;
        } else {
            put(b, d->held, k);
        }
        d->any_text = true;
        memmove(d->held, d->held + k, (size_t)d->n_held - k);
        d->n_held -= (int)k;
    }
}

static void dec_push(const bc_tokenizer *t, dec_state *d, int32_t id, out_buf *b) {
    const bc_spm_piece *pc = &t->m.pieces[id];
    if (pc->type == BC_SPM_BYTE) {
        /* validated at load as <0xXX>, upper-case hex */
        int hi = pc->text[3] <= '9' ? pc->text[3] - '0' : pc->text[3] - 'A' + 10;
        int lo = pc->text[4] <= '9' ? pc->text[4] - '0' : pc->text[4] - 'A' + 10;
        d->held[d->n_held++] = (uint8_t)(hi * 16 + lo); /* n_held <= 3 before this */
        dec_drain(d, b, false);
        return;
    }
    dec_drain(d, b, true); /* a non-byte piece ends the byte run */
    if (d->bos_ws_seen || d->any_text) d->is_bos_ws = false;
    bool stripped = false;
    if (pc->type == BC_SPM_CONTROL) {
        /* invisible */
    } else if (pc->type == BC_SPM_UNKNOWN) {
        size_t n = strlen(t->m.unk_surface);
        put(b, t->m.unk_surface, n);
        if (n) d->any_text = true;
    } else {
        const char *s = t->surface + t->surface_off[id];
        size_t n = t->surface_off[id + 1] - t->surface_off[id];
        if (d->is_bos_ws && (t->m.add_dummy_prefix || t->m.remove_extra_whitespaces) && pc->len >= 3 &&
            memcmp(pc->text, "\xE2\x96\x81", 3) == 0) {
            s++; /* the U+2581 is the surface's first byte, ' ' */
            n--;
            stripped = !t->m.remove_extra_whitespaces;
        }
        put(b, s, n);
        if (n) d->any_text = true;
    }
    d->bos_ws_seen = stripped;
}

int bc_tokenizer_decode(const bc_tokenizer *t, const int32_t *ids, size_t n, char **out, size_t *out_len,
                        bc_error *err) {
    *out = NULL;
    *out_len = 0;
    out_buf b = {0};
    put(&b, "", 1); /* allocates, so that empty output is still a string */
    b.len = 0;
    if (b.oom) return bc_errorf(err, "tokenizer: out of memory");
    dec_state d;
    dec_reset(&d);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= t->m.n_pieces) {
            free(b.p);
            return bc_errorf(err, "tokenizer: id %d at position %zu is out of range (vocabulary %u)", ids[i], i,
                             t->m.n_pieces);
        }
        dec_push(t, &d, ids[i], &b);
    }
    dec_drain(&d, &b, true);
    if (b.oom) {
        free(b.p);
        return bc_errorf(err, "tokenizer: out of memory decoding %zu ids", n);
    }
    *out = b.p;
    *out_len = b.len;
    return 0;
}

/* ---- streaming ---- */

struct bc_detok_stream {
    const bc_tokenizer *t;
    dec_state d;
    out_buf pending; /* decided text not yet handed out (only when cap was short) */
};

bc_detok_stream *bc_detok_stream_new(const bc_tokenizer *t) {
    bc_detok_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->t = t;
    dec_reset(&s->d);
    return s;
}

size_t bc_detok_stream_max_push(const bc_tokenizer *t) {
    /* held bytes (<= 3) may turn into 3 U+FFFD, then the piece's own text */
    return 9 + (t->max_surface > 12 ? t->max_surface : 12);
}

/* Hands out as much pending text as fits in cap, cut at a character start. */
static size_t hand_out(bc_detok_stream *s, char *out, size_t cap) {
    size_t n = s->pending.len;
    if (n > cap) {
        n = cap;
        while (n > 0 && ((uint8_t)s->pending.p[n] & 0xC0) == 0x80) n--;
    }
    if (n == 0) return 0;
    memcpy(out, s->pending.p, n);
    memmove(s->pending.p, s->pending.p + n, s->pending.len - n);
    s->pending.len -= n;
    return n;
}

size_t bc_detok_stream_push(bc_detok_stream *s, int32_t id, char *out, size_t cap) {
    if (id >= 0 && (uint32_t)id < s->t->m.n_pieces) dec_push(s->t, &s->d, id, &s->pending);
    return hand_out(s, out, cap);
}

size_t bc_detok_stream_flush(bc_detok_stream *s, char *out, size_t cap) {
    dec_drain(&s->d, &s->pending, true);
    return hand_out(s, out, cap);
}

void bc_detok_stream_reset(bc_detok_stream *s) {
    dec_reset(&s->d);
    s->pending.len = 0;
    s->pending.oom = false;
}

void bc_detok_stream_free(bc_detok_stream *s) {
    if (!s) return;
    free(s->pending.p);
    free(s);
}
