/* bc_tokenizer: SentencePiece BPE read straight from tokenizer.model.
 *
 * Agrees id for id with SentencePiece (baichuan2.md §3): whitespace escaping,
 * longest-match user-defined pieces (frozen), highest-score merges with
 * leftmost tie-break, byte fallback; the normalizer flags add_dummy_prefix and
 * remove_extra_whitespaces are honoured as well. No BOS is ever added. */
#ifndef BC_TOKENIZER_H
#define BC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "bc_error.h"

typedef struct bc_tokenizer bc_tokenizer;

int bc_tokenizer_load(const char *path, bc_tokenizer **out, bc_error *err);
/* `name` is used in messages (e.g. the file name). The bytes are not kept. */
int bc_tokenizer_load_memory(const void *data, size_t len, const char *name,
                             bc_tokenizer **out, bc_error *err);
void bc_tokenizer_free(bc_tokenizer *t);

int bc_tokenizer_vocab_size(const bc_tokenizer *t);
int bc_tokenizer_bos_id(const bc_tokenizer *t);   /* -1 when the model has none */
int bc_tokenizer_eos_id(const bc_tokenizer *t);
int bc_tokenizer_unk_id(const bc_tokenizer *t);
/* The piece string of id, or NULL when id is out of range. */
const char *bc_tokenizer_piece(const bc_tokenizer *t, int id);

/* Encodes len bytes of text (any bytes; invalid UTF-8 is byte-fallback'd like
 * SentencePiece does). *ids is realloc'd (it may be NULL on entry) and *n set. */
int bc_tokenizer_encode(const bc_tokenizer *t, const char *text, size_t len,
                        int32_t **ids, size_t *n, bc_error *err);

/* Decodes ids into a malloc'd NUL-terminated string (*out_len without the NUL). */
int bc_tokenizer_decode(const bc_tokenizer *t, const int32_t *ids, size_t n,
                        char **out, size_t *out_len, bc_error *err);

/* Streaming decoder: fed one id at a time, it only ever emits whole UTF-8
 * characters (a character split over byte-fallback tokens is held back until
 * complete; invalid sequences become U+FFFD exactly as a whole decode would). */
typedef struct bc_detok_stream bc_detok_stream;

bc_detok_stream *bc_detok_stream_new(const bc_tokenizer *t);
/* Writes the newly complete text of `id` to out (at most cap bytes, not
 * NUL-terminated) and returns the bytes written. With cap >=
 * bc_detok_stream_max_push(t) everything decided so far comes out at once
 * (Baichuan2: 105 bytes; one piece alone can be 96). A smaller cap is safe:
 * what does not fit is kept, cut at a character start, and comes out first on
 * the next push or flush. Out-of-range ids produce nothing. */
size_t bc_detok_stream_push(bc_detok_stream *s, int32_t id, char *out, size_t cap);
/* End of stream: held-back bytes become U+FFFD. Returns bytes written. */
size_t bc_detok_stream_flush(bc_detok_stream *s, char *out, size_t cap);
void bc_detok_stream_reset(bc_detok_stream *s);
/* The most bytes one push (or flush) can produce with nothing kept over. */
size_t bc_detok_stream_max_push(const bc_tokenizer *t);
void bc_detok_stream_free(bc_detok_stream *s);

#endif
