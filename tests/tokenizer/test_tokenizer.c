/* Compares bc_tokenizer with SentencePiece's own output, recorded by
 * tests/tokenizer/make_cases.py:
 *   test_tokenizer MODEL CASES [BIG.txt BIG.ids]
 * Every encode must give SentencePiece's ids exactly, every decode its text
 * exactly, and the streaming decoder (with a roomy and with a tiny buffer)
 * the same bytes as a whole decode. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_test.h"
#include "tokenizer.h"

typedef struct bytes {
    uint8_t *p;
    size_t n;
} bytes;

typedef struct ids_t {
    int32_t *p;
    size_t n;
} ids_t;

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int parse_hex(const char *s, bytes *out) {
    out->n = 0;
    out->p = malloc(strlen(s) / 2 + 1);
    if (strcmp(s, "-") == 0) return 0;
    for (; s[0] && s[1]; s += 2) {
        int hi = hexval(s[0]), lo = hexval(s[1]);
        if (hi < 0 || lo < 0) return -1;
        out->p[out->n++] = (uint8_t)(hi * 16 + lo);
    }
    return *s ? -1 : 0;
}

static int parse_ids(const char *s, ids_t *out) {
    out->n = 0;
    out->p = malloc((strlen(s) + 1) * sizeof *out->p);
    if (strcmp(s, "-") == 0) return 0;
    /* Digits by hand, not strtol: under ASan's strict_string_checks every
     * strtol call measures the whole remaining string, which made the 1 MiB
     * case quadratic (minutes in CI). */
    while (*s) {
        if (*s < '0' || *s > '9') return -1;
        int64_t v = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            v = v * 10 + (*s - '0');
            if (v > INT32_MAX) return -1;
        }
        out->p[out->n++] = (int32_t)v;
        while (*s == ' ' || *s == '\n') s++;
    }
    return 0;
}

static void print_ids(const char *what, const int32_t *ids, size_t n) {
    printf("#   %s:", what);
    for (size_t i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
    printf("%s\n", n > 40 ? " ..." : "");
}

static void print_bytes(const char *what, const void *p, size_t n) {
    printf("#   %s: \"", what);
    const uint8_t *b = p;
    for (size_t i = 0; i < n && i < 120; i++) printf(b[i] >= 0x20 && b[i] < 0x7F ? "%c" : "\\x%02x", b[i]);
    printf("\"\n");
}

/* Streams ids through a decoder with output buffer size cap; returns malloc'd text. */
static char *stream_decode(const bc_tokenizer *t, const int32_t *ids, size_t n, size_t cap, size_t *len) {
    bc_detok_stream *s = bc_detok_stream_new(t);
    char *out = malloc(16), *buf = malloc(cap + 1);
    size_t o = 0, room = 16;
    for (size_t i = 0; i <= n; i++) {
        size_t k = i < n ? bc_detok_stream_push(s, ids[i], buf, cap) : bc_detok_stream_flush(s, buf, cap);
        /* a tiny cap keeps text back: flush until nothing more comes out */
        for (int more = 1; more;) {
            if (o + k + 1 > room) {
                while (o + k + 1 > room) room *= 2;
                out = realloc(out, room);
            }
            memcpy(out + o, buf, k);
            o += k;
            more = i == n && k > 0;
            if (more) k = bc_detok_stream_flush(s, buf, cap);
        }
    }
    bc_detok_stream_free(s);
    free(buf);
    *len = o;
    return out;
}

typedef struct stats {
    int n_enc, bad_enc, n_dec, bad_dec, n_stream, bad_stream;
} stats;

static void check_decode(const bc_tokenizer *t, const ids_t *ids, const bytes *want, stats *st, int line) {
    bc_error err = {{0}};
    char *text = NULL;
    size_t len = 0;
    st->n_dec++;
    if (bc_tokenizer_decode(t, ids->p, ids->n, &text, &len, &err) != 0 || len != want->n ||
        memcmp(text, want->p, len) != 0) {
        if (st->bad_dec++ < 5) {
            printf("# decode mismatch at cases line %d %s\n", line, err.msg);
            print_ids("ids", ids->p, ids->n);
            print_bytes("want", want->p, want->n);
            if (text) print_bytes("got ", text, len);
        }
    }
    size_t caps[2] = {bc_detok_stream_max_push(t), 5};
    for (int c = 0; c < 2 && text; c++) {
        size_t slen;
        char *s = stream_decode(t, ids->p, ids->n, caps[c], &slen);
        st->n_stream++;
        if (slen != len || memcmp(s, text, len) != 0) {
            if (st->bad_stream++ < 5) {
                printf("# stream (cap %zu) differs from whole decode at cases line %d\n", caps[c], line);
                print_bytes("whole ", text, len);
                print_bytes("stream", s, slen);
            }
        }
        free(s);
    }
    free(text);
}

static void run_case(const bc_tokenizer *t, char *line, int lineno, stats *st) {
    char *f[4] = {0};
    int nf = 0;
    for (char *p = line; nf < 4; nf++) {
        f[nf] = p;
        char *tab = strchr(p, '\t');
        if (!tab) {
            nf++;
            break;
        }
        *tab = '\0';
        p = tab + 1;
    }
    bytes text = {0}, dec = {0};
    ids_t want = {0};
    if (strcmp(f[0], "E") == 0 && nf == 4) {
        if (parse_hex(f[1], &text) || parse_ids(f[2], &want)) goto malformed;
        if (strcmp(f[3], "=") == 0) {
            dec.p = malloc(text.n + 1);
            memcpy(dec.p, text.p, text.n);
            dec.n = text.n;
        } else if (parse_hex(f[3], &dec)) {
            goto malformed;
        }
        int32_t *got = NULL;
        size_t n = 0;
        bc_error err = {{0}};
        st->n_enc++;
        if (bc_tokenizer_encode(t, (const char *)text.p, text.n, &got, &n, &err) != 0 || n != want.n ||
            (n && memcmp(got, want.p, n * sizeof *got) != 0)) {
            if (st->bad_enc++ < 8) {
                printf("# encode mismatch at cases line %d %s\n", lineno, err.msg);
                print_bytes("text", text.p, text.n);
                print_ids("want", want.p, want.n);
                print_ids("got ", got, n);
            }
        }
        free(got);
        check_decode(t, &want, &dec, st, lineno);
    } else if (strcmp(f[0], "D") == 0 && nf == 3) {
        if (parse_ids(f[1], &want) || parse_hex(f[2], &dec)) goto malformed;
        check_decode(t, &want, &dec, st, lineno);
    } else {
        goto malformed;
    }
    goto done;
malformed:
    printf("# cases line %d is malformed\n", lineno);
    st->bad_enc++;
done:
    free(text.p);
    free(dec.p);
    free(want.p);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    *len = fread(p, 1, (size_t)n, f);
    p[*len] = '\0';
    fclose(f);
    return p;
}

static void big_case(const bc_tokenizer *t, const char *text_path, const char *ids_path) {
    size_t tlen, ilen;
    char *text = read_file(text_path, &tlen), *idtext = read_file(ids_path, &ilen);
    CHECK(text && idtext, "big case files readable");
    if (!text || !idtext) return;
    ids_t want;
    parse_ids(idtext, &want);
    int32_t *got = NULL;
    size_t n = 0;
    bc_error err = {{0}};
    int rc = bc_tokenizer_encode(t, text, tlen, &got, &n, &err);
    size_t first_diff = 0;
    while (rc == 0 && first_diff < n && first_diff < want.n && got[first_diff] == want.p[first_diff]) first_diff++;
    CHECK(rc == 0 && n == want.n && first_diff == n, "1 MiB text (%zu bytes): %zu ids agree with SentencePiece (got %zu, first difference at %zu) %s",
          tlen, want.n, n, first_diff, err.msg);
    char *dec = NULL;
    size_t dlen = 0, slen = 0;
    bc_tokenizer_decode(t, got, n, &dec, &dlen, &err);
    char *s = stream_decode(t, got, n, bc_detok_stream_max_push(t), &slen);
    CHECK(dec && slen == dlen && memcmp(s, dec, dlen) == 0, "1 MiB text: streamed decode equals whole decode");
    free(s);
    free(dec);
    free(got);
    free(want.p);
    free(text);
    free(idtext);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s MODEL CASES [BIG.txt BIG.ids]\n", argv[0]);
        return 2;
    }
    bc_tokenizer *t = NULL;
    bc_error err = {{0}};
    int rc = bc_tokenizer_load(argv[1], &t, &err);
    CHECK(rc == 0, "load %s %s", argv[1], err.msg);
    if (rc) return bc_test_done();
    FILE *f = fopen(argv[2], "r");
    CHECK(f != NULL, "open cases %s", argv[2]);
    if (!f) return bc_test_done();
    stats st = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int lineno = 0;
    while ((got = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[got - 1] == '\n') line[--got] = '\0';
        if (line[0] == '#' || line[0] == '\0') continue;
        run_case(t, line, lineno, &st);
    }
    free(line);
    fclose(f);
    CHECK(st.n_enc >= 1 && st.bad_enc == 0, "encode agrees with SentencePiece: %d of %d texts differ", st.bad_enc,
          st.n_enc);
    CHECK(st.n_dec >= 1 && st.bad_dec == 0, "decode agrees with SentencePiece: %d of %d id sequences differ",
          st.bad_dec, st.n_dec);
    CHECK(st.n_stream >= 1 && st.bad_stream == 0, "streamed decode equals whole decode: %d of %d differ",
          st.bad_stream, st.n_stream);
    if (argc == 5) big_case(t, argv[3], argv[4]);
    bc_tokenizer_free(t);
    return bc_test_done();
}
