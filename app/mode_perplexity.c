/* `baichuan-chat perplexity -m MODEL -f FILE [--ctx N]`: tokens = the file
 * encoded without BOS, cut into consecutive windows of N tokens (default
 * model_max_length; a last window shorter than 2 tokens is dropped). In each
 * window every token after the first is scored given the window's earlier
 * tokens; perplexity = exp(mean negative log-likelihood). Progress on stderr,
 * the result as the last stdout line. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_setup.h"
#include "file_io.h"
#include "model.h"
#include "modes.h"
#include "tokenizer.h"

enum { ROWS_PER_STEP = 32 };   /* logits rows fetched per forward call */

/* -log softmax(row)[target], in double. */
static double nll(const float *row, int V, int target) {
    double mx = row[0];
    for (int i = 1; i < V; i++) if (row[i] > mx) mx = row[i];
    double sum = 0.0;
    for (int i = 0; i < V; i++) sum += exp((double)row[i] - mx);
    return mx + log(sum) - (double)row[target];
}

int bc_mode_perplexity(const bc_options *o) {
    size_t len = 0;
    char *text = NULL;
    bc_error err = {{0}};
    if (bc_read_file(o->file, BC_TEXT_MAX_BYTES, &text, &len, &err)) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        return 1;
    }
    bc_engine *e;
    double load_s;
    bc_app_config cfg;
    int load_rc = bc_app_settings(o, &cfg);
    if (!load_rc) load_rc = bc_app_open_engine(&cfg, &e, &load_s);
    bc_app_config_free(&cfg);
    if (load_rc) { free(text); return load_rc; }
    bc_engine_info info;
    bc_engine_get_info(e, &info);
    int ctx = o->ctx > 0 ? o->ctx : info.context_max;
    /* Known once the model is loaded, and before any window is announced. */
    if (ctx > info.context_max) {
        fprintf(stderr, "baichuan-chat: --ctx %d is larger than the model's context (%d tokens): "
                        "use --ctx %d or less\n", ctx, info.context_max, info.context_max);
        free(text);
        bc_engine_free(e);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = bc_tokenizer_encode(bc_engine_tokenizer(e), text, len, &ids, &n, &err);
    free(text);
    bc_model *m = bc_engine_model(e);
    int V = bc_model_vocab(m);
    float *logits = malloc((size_t)ROWS_PER_STEP * (size_t)V * sizeof(float));
    if (!rc && !logits) rc = bc_errorf(&err, "out of memory");
    double total = 0.0;
    long scored = 0;
    size_t n_windows = (n + (size_t)ctx - 1) / (size_t)ctx;
    if (!rc) fprintf(stderr, "perplexity: %zu tokens, %zu windows of %d\n", n, n_windows, ctx);
    /* A line rewritten with \r is for a person watching; in a log it is
     * one long line of overwrites. */
    const bool live = isatty(STDERR_FILENO);
    bool shown = false;
    double t0 = bc_app_now();
    for (size_t w = 0; !rc && w < n_windows; w++) {
        const int32_t *win = ids + w * (size_t)ctx;
        int wl = (int)((n - w * (size_t)ctx) < (size_t)ctx ? n - w * (size_t)ctx : (size_t)ctx);
        if (wl < 2) break;
        /* rows 0..wl-2 predict tokens 1..wl-1; the last token needs no logits */
        for (int pos = 0; pos < wl - 1 && !rc; pos += ROWS_PER_STEP) {
            int b = wl - 1 - pos < ROWS_PER_STEP ? wl - 1 - pos : ROWS_PER_STEP;
            rc = bc_model_forward(m, win + pos, b, pos, true, logits, &err);
            for (int i = 0; i < b && !rc; i++) {
                total += nll(logits + (size_t)i * V, V, win[pos + i + 1]);
                scored++;
            }
        }
        if (live) {
            fprintf(stderr, "\rwindow %zu/%zu: perplexity so far %.4f", w + 1, n_windows,
                    scored ? exp(total / scored) : 0.0);
            shown = true;
        }
    }
    if (shown) fprintf(stderr, "\n");
    if (!rc && scored == 0) rc = bc_errorf(&err, "%s: fewer than 2 tokens to score", o->file);
    if (!rc) {
        double secs = bc_app_now() - t0;
        fprintf(stderr, "scored %ld tokens in %.2f s (%.1f tok/s)\n", scored, secs,
                secs > 0 ? scored / secs : 0.0);
        printf("perplexity: %.10g\n", exp(total / scored));
    } else {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
    }
    free(logits);
    free(ids);
    bc_engine_free(e);
    return rc ? 1 : 0;
}
