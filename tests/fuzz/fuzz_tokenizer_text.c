/* Fuzz harness: encode and decode with a fixed model (the test vocabulary
 * tests/data/tokenizer/demo.model, path compiled in by meson). The input is
 * encoded as text; the same bytes read as little-endian int32 ids (any value,
 * out of range included) are decoded whole and through the streaming
 * decoder with a small output buffer. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenizer.h"

static bc_tokenizer *model;

static bc_tokenizer *get_model(void) {
    if (!model) {
        bc_error err;
        if (bc_tokenizer_load(BC_FUZZ_TOKENIZER_MODEL, &model, &err) != 0) abort(); /* setup */
    }
    return model;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const bc_tokenizer *t = get_model();
    bc_error err;
    int32_t *ids = NULL;
    size_t n = 0;
    if (bc_tokenizer_encode(t, (const char *)data, size, &ids, &n, &err) == 0) {
        char *out = NULL;
        size_t out_len = 0;
        if (bc_tokenizer_decode(t, ids, n, &out, &out_len, &err) == 0) free(out);
    }
    free(ids);

    size_t nid = size / 4;
    int32_t *raw = malloc(nid ? nid * sizeof *raw : 1);
    if (!raw) return 0;
    memcpy(raw, data, nid * sizeof *raw);
    char *out = NULL;
    size_t out_len = 0;
    if (bc_tokenizer_decode(t, raw, nid, &out, &out_len, &err) == 0) free(out);
    bc_detok_stream *s = bc_detok_stream_new(t);
    if (s) {
        char buf[7]; /* smaller than one piece: exercises the kept-over path */
        for (size_t i = 0; i < nid; i++) bc_detok_stream_push(s, raw[i], buf, sizeof buf);
        while (bc_detok_stream_flush(s, buf, sizeof buf) > 0) {}
        bc_detok_stream_free(s);
    }
    free(raw);
    return 0;
}
