/* Fuzz harness: a tokenizer.model (SentencePiece ModelProto, our protobuf
 * reader) from memory; a model that loads is then used once, encoding and
 * decoding a fixed text, so half-valid vocabularies reach the tokenizer. */
#include <stdlib.h>

#include "fuzz.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_tokenizer *t = NULL;
    bc_error err;
    if (bc_tokenizer_load_memory(data, size, "fuzz.model", &t, &err) != 0) return 0;
    static const char text[] = "hello  world\n\xe4\xbd\xa0\xe5\xa5\xbd <reserved_106> \xff";
    int32_t *ids = NULL;
    size_t n = 0;
    if (bc_tokenizer_encode(t, text, sizeof text - 1, &ids, &n, &err) == 0) {
        char *out = NULL;
        size_t out_len = 0;
        if (bc_tokenizer_decode(t, ids, n, &out, &out_len, &err) == 0) free(out);
    }
    free(ids);
    bc_tokenizer_free(t);
    return 0;
}
