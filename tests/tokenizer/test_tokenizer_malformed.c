/* Malformed tokenizer.model files, built here from the bytes of a good one
 * (tests/data/tokenizer/demo.model): each must load cleanly or fail with a
 * message naming the file — never crash (run under ASan/UBSan too).
 *   test_tokenizer_malformed MODEL */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_test.h"
#include "tokenizer.h"

#define NAME "t.model"

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf;

static void put(buf *b, const void *s, size_t n) {
    b->p = realloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_varint(buf *b, uint64_t v) {
    do {
        uint8_t c = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) c |= 0x80;
        put(b, &c, 1);
    } while (v);
}

/* Appends field `field` (length-delimited) holding msg to b. */
static void put_msg(buf *b, uint32_t field, const buf *msg) {
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, msg->n);
    put(b, msg->p, msg->n);
}

static buf copy_of(const buf *src) {
    buf b = {0};
    put(&b, src->p, src->n);
    return b;
}

/* A piece message: piece string, type (0 = leave out). */
static buf piece_msg(const char *s, size_t n, int type) {
    buf m = {0};
    put_varint(&m, 1 << 3 | 2);
    put_varint(&m, n);
    put(&m, s, n);
    if (type) {
        put_varint(&m, 3 << 3 | 0);
        put_varint(&m, (uint64_t)type);
    }
    return m;
}

/* Loads bytes; returns 0 loaded, 1 failed with a message naming the file,
 * -1 failed without a proper message. A loaded model must also encode. */
static int try_load(const buf *b, char *msg_out, size_t msg_cap) {
    bc_tokenizer *t = NULL;
    bc_error err = {{0}};
    int rc = bc_tokenizer_load_memory(b->p ? b->p : (const uint8_t *)"", b->n, NAME, &t, &err);
    if (msg_out) snprintf(msg_out, msg_cap, "%s", err.msg);
    if (rc == 0) {
        int32_t *ids = NULL;
        size_t n;
        const char *text = "Hello \xe4\xbd\xa0\xe5\xa5\xbd \xff 123";
        int erc = bc_tokenizer_encode(t, text, strlen(text), &ids, &n, &err);
        char *dec = NULL;
        size_t dlen;
        if (erc == 0) erc = bc_tokenizer_decode(t, ids, n, &dec, &dlen, &err);
        free(ids);
        free(dec);
        bc_tokenizer_free(t);
        return erc == 0 ? 0 : -1;
    }
    return strncmp(err.msg, NAME ": ", strlen(NAME) + 2) == 0 && strlen(err.msg) > strlen(NAME) + 4 ? 1 : -1;
}

/* Expects a failure whose message contains `want`. */
static void expect_error(const buf *b, const char *want, const char *what) {
    char msg[BC_ERROR_MAX];
    int r = try_load(b, msg, sizeof msg);
    CHECK(r == 1 && strstr(msg, want) != NULL, "%s -> \"%s\"", what, msg);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    CHECK(f != NULL, "open %s", argv[1]);
    if (!f) return bc_test_done();
    buf good = {0};
    uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) put(&good, chunk, got);
    fclose(f);
    CHECK(try_load(&good, NULL, 0) == 0, "the good model loads and encodes");

    /* Truncated everywhere near the start, then at a stride through the file. */
    int bad = 0, loaded = 0, total = 0;
    for (size_t cut = 0; cut < good.n; cut += cut < 600 ? 1 : 61) {
        buf b = {good.p, cut};
        int r = try_load(&b, NULL, 0);
        total++;
        if (r < 0) {
            if (bad++ < 3) printf("# truncation at %zu: no proper error\n", cut);
        }
        if (r == 0) loaded++;
    }
    CHECK(bad == 0, "%d truncations: each loads (%d did, cut at a field boundary) or names the file", total, loaded);

    buf b = copy_of(&good);
    b.p[0] = 1 << 3 | 5; /* pieces as a 32-bit value */
    expect_error(&b, "wire type", "pieces field with the wrong wire type");
    free(b.p);

    b = copy_of(&good);
    size_t at = 2;                              /* first piece message: 0x0A len(1 byte) then its fields */
    if (b.p[at] == 0x0A) b.p[at] = 1 << 3 | 0; /* piece string as a varint */
    expect_error(&b, "wire type", "piece string with the wrong wire type");
    free(b.p);

    struct {
        uint32_t field;
        int64_t value;
        const char *want;
    } trainer[] = {
        {40, 4000, "unk_id"}, {41, 123456, "bos_id"}, {42, -7, "eos_id"}, {43, 99999, "pad_id"},
        {3, 1, "model_type"},                      /* UNIGRAM */
        {24, 1, "treat_whitespace_as_suffix"},
    };
    for (size_t i = 0; i < sizeof trainer / sizeof trainer[0]; i++) {
        buf m = {0};
        put_varint(&m, (uint64_t)trainer[i].field << 3);
        put_varint(&m, (uint64_t)trainer[i].value); /* negative: 10-byte varint */
        b = copy_of(&good);
        put_msg(&b, 2, &m); /* a second trainer_spec merges into the first */
        expect_error(&b, trainer[i].want, trainer[i].want);
        free(b.p);
        free(m.p);
    }

    struct {
        const char *piece;
        int type;
        const char *want;
        const char *what;
    } pieces[] = {
        {"<0xZZ>", 6, "not of the form", "BYTE piece <0xZZ>"},
        {"<0x4g>", 6, "not of the form", "BYTE piece <0x4g>"},
        {"<0x41>", 6, "duplicates", "second <0x41>"},
        {"Q", 7, "piece type", "piece type 7"},
        {"Q", 0x7FFFFFFF, "piece type", "piece type 2^31-1"},
        {"", 1, "empty", "empty piece"},
        {"<unk>", 1, "duplicates", "duplicate piece"},
        {"<unk2>", 2, "second UNKNOWN", "second UNKNOWN piece"},
    };
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        buf m = piece_msg(pieces[i].piece, strlen(pieces[i].piece), pieces[i].type);
        b = copy_of(&good);
        put_msg(&b, 1, &m);
        expect_error(&b, pieces[i].want, pieces[i].what);
        free(b.p);
        free(m.p);
    }

    { /* an nmt_nfkc-style normalizer with a precompiled charsmap */
        buf m = {0}, blob = {0};
        put(&blob, "\x01\x02\x03\x04", 4);
        put_msg(&m, 2, &blob);
        b = copy_of(&good);
        put_msg(&b, 3, &m);
        expect_error(&b, "precompiled_charsmap", "normalizer with a precompiled charsmap");
        free(b.p);
        free(m.p);
        free(blob.p);
    }

    const struct {
        const char *bytes;
        size_t n;
        const char *want;
        const char *what;
    } tails[] = {
        {"\x0a\xff\xff\xff\xff\x0f", 6, "runs past", "length far past the end"},
        {"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12, "length", "11-byte varint length"},
        {"\x0b", 1, "wire type", "group wire type"},
        {"\x0f", 1, "wire type", "wire type 7"},
        {"\xf8\xff\xff\xff\xff\xff\x01\x00", 8, "field number", "field number beyond 2^29"},
        {"\x11\x01\x02", 3, "truncated", "truncated 64-bit field"},
    };
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        b = copy_of(&good);
        put(&b, tails[i].bytes, tails[i].n);
        expect_error(&b, tails[i].want, tails[i].what);
        free(b.p);
    }

    b.p = NULL;
    b.n = 0;
    expect_error(&b, "no pieces", "empty file");

    /* 10 MB of garbage, and 10 MB of zeros. */
    size_t big = 10u << 20;
    b.p = malloc(big);
    b.n = big;
    for (size_t i = 0; i < big; i++) b.p[i] = (uint8_t)rnd();
    CHECK(try_load(&b, NULL, 0) == 1, "10 MB of random bytes: clear error");
    memset(b.p, 0, big);
    CHECK(try_load(&b, NULL, 0) == 1, "10 MB of zeros: clear error");
    free(b.p);

    /* Random byte mutations of the good model. */
    bad = 0;
    loaded = 0;
    for (int i = 0; i < 300; i++) {
        b = copy_of(&good);
        int flips = 1 + (int)(rnd() % 8);
        for (int k = 0; k < flips; k++) b.p[rnd() % b.n] = (uint8_t)rnd();
        int r = try_load(&b, NULL, 0);
        if (r < 0) bad++;
        if (r == 0) loaded++;
        free(b.p);
    }
    CHECK(bad == 0, "300 randomly mutated models: each loads (%d did) or names the file", loaded);

    bc_tokenizer *t = NULL;
    bc_error err = {{0}};
    CHECK(bc_tokenizer_load("/nonexistent/dir/tokenizer.model", &t, &err) != 0 &&
              strstr(err.msg, "/nonexistent/dir/tokenizer.model") != NULL,
          "missing file -> \"%s\"", err.msg);
    free(good.p);
    return bc_test_done();
}
