/* baichuan-chat tokenize [-m DIR] [--pieces] [-f FILE | TEXT]: the SentencePiece
 * ids (or pieces) of a text on one line, no BOS. TEXT words are joined with
 * single spaces; a file is taken byte for byte (newlines included); with
 * neither, standard input is read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_setup.h"
#include "file_io.h"
#include "modes.h"
#include "tokenizer_open.h"

static char *join_words(const bc_options *o, size_t *len) {
    size_t n = 0;
    for (int i = 0; i < o->positional_count; i++) n += strlen(o->positional[i]) + 1;
    char *p = malloc(n + 1), *w = p;
    if (!p) return NULL;
    for (int i = 0; i < o->positional_count; i++) {
        if (i) *w++ = ' ';
        size_t k = strlen(o->positional[i]);
        memcpy(w, o->positional[i], k);
        w += k;
    }
    *w = '\0';
    *len = (size_t)(w - p);
    return p;
}

/* Pieces are printed with control bytes and '\' escaped so that the output
 * stays one line ("\n" is the newline piece). */
static void print_piece(const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\\') fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7F) printf("\\x%02x", c);
        else putchar(c);
    }
}

/* The tokenizer of -m, else of the configured model (demo by default, a
 * preset expanded), as the modes that load a model do. */
static int open_tokenizer(const bc_options *o, bc_tokenizer **t) {
    bc_app_config cfg;
    if (bc_app_settings(o, &cfg)) return 2;
    bc_error err = {{0}};
    int rc = bc_tokenizer_open_model(cfg.model, t, &err);
    if (rc) fprintf(stderr, "baichuan-chat: %s\n", err.msg);
    bc_app_config_free(&cfg);
    return rc ? 1 : 0;
}

int bc_mode_tokenize(const bc_options *o) {
    bc_error err = {{0}};
    bc_tokenizer *t = NULL;
    int open_rc = open_tokenizer(o, &t);
    if (open_rc) return open_rc;
    size_t len = 0;
    char *text = NULL;
    if (o->positional_count) {
        text = join_words(o, &len);
    } else if (bc_read_file(o->file ? o->file : "-", BC_TEXT_MAX_BYTES, &text, &len, &err)) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        bc_tokenizer_free(t);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = text ? bc_tokenizer_encode(t, text, len, &ids, &n, &err) : bc_errorf(&err, "out of memory");
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            if (i) putchar(' ');
            if (o->pieces) print_piece(bc_tokenizer_piece(t, ids[i]));
            else printf("%d", ids[i]);
        }
        putchar('\n');
        if (fflush(stdout) != 0) rc = bc_errorf(&err, "writing the output failed");
    }
    if (rc) fprintf(stderr, "baichuan-chat: %s\n", err.msg);
    free(ids);
    free(text);
    bc_tokenizer_free(t);
    return rc ? 1 : 0;
}
