/* bc_engine on the fixtures: raw greedy completion == the float64 reference's
 * continuation (as text, streamed), chat turns re-use the KV cache and give
 * what a fresh prefill gives, cancellation, a full context, the demo model. */
#include <stdint.h>

#include "bc_test.h"
#include "engine.h"
#include "tokenizer.h"

typedef struct sink { char buf[8192]; size_t len; int pieces, cancel_after; } sink;

static int collect(void *user, const char *utf8, size_t len) {
    sink *s = user;
    if (s->len + len < sizeof s->buf) {
        memcpy(s->buf + s->len, utf8, len);
        s->len += len;
        s->buf[s->len] = '\0';
    }
    s->pieces++;
    return s->cancel_after && s->pieces >= s->cancel_after;
}

static const bc_sampling GREEDY = {0.0f, 0, 1.0f, 1.0f, 32, 1};

/* Reads "greedy 0 N ids..." and "prompt 0 N ids..." of expected.txt. */
static int read_line_ids(const char *path, const char *tag, int32_t *ids, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char word[32];
    int k, m, rc = -1;
    while (fscanf(f, "%31s", word) == 1) {
        if (!strcmp(word, tag) && fscanf(f, "%d %d", &k, &m) == 2 && k == 0 && m <= 64) {
            for (int i = 0; i < m; i++) if (fscanf(f, "%d", &ids[i]) != 1) goto out;
            *n = m;
            rc = 0;
            break;
        }
    }
out:
    fclose(f);
    return rc;
}

static void test_greedy_text(const char *src) {
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/tests/data/models/alibi6-bin-f16", src);
    snprintf(path, sizeof path, "%s/expected.txt", dir);
    bc_load_params lp = {dir, "cpu", "f32", 2};
    bc_engine *e = NULL;
    bc_error err = {{0}};
    CHECK(bc_engine_load(&lp, NULL, NULL, &e, &err) == 0, "fixture loads through the engine (%s)", err.msg);
    if (!e) return;
    int32_t greedy[64], prompt[64];
    int n = 0, np = 0;
    CHECK(read_line_ids(path, "greedy", greedy, &n) == 0 && read_line_ids(path, "prompt", prompt, &np) == 0,
          "expected.txt has prompt 0 and greedy 0");
    int stop_at = n;
    for (int i = 0; i < n; i++) if (greedy[i] == 2) { stop_at = i; break; }
    char *want = NULL;
    size_t want_len = 0;
    bc_tokenizer_decode(bc_engine_tokenizer(e), greedy, (size_t)stop_at, &want, &want_len, &err);
    /* the reference's prompt 0 text (reference.py PROMPTS[0]) */
    sink s = {{0}, 0, 0, 0};
    bc_gen_stats st;
    int rc = bc_engine_complete(e, "The quick brown fox jumps over the lazy dog.", &GREEDY, collect, &s, &st, &err);
    CHECK(rc == 0 && st.prompt_tokens == np, "raw prompt encodes to the reference's %d ids (got %d)", np, st.prompt_tokens);
    CHECK(want && s.len == want_len && !memcmp(s.buf, want, want_len),
          "greedy completion streams the reference continuation (%zu bytes, %d tokens)", want_len, stop_at);
    CHECK(st.stop == (stop_at < n ? BC_STOP_EOS : BC_STOP_LENGTH), "stop reason");
    free(want);
    bc_engine_free(e);
}

static void test_chat_cache(const char *src) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/data/models/rope-safetensors-bf16", src);
    bc_load_params lp = {dir, "auto", "auto", 2};
    bc_engine *e = NULL;
    bc_error err = {{0}};
    if (bc_engine_load(&lp, NULL, NULL, &e, &err)) { CHECK(0, "load: %s", err.msg); return; }
    bc_sampling g = GREEDY;
    g.max_new_tokens = 8;
    sink r1 = {{0}, 0, 0, 0};
    bc_gen_stats st1, st2, st3;
    bc_message turn1[] = {{BC_ROLE_USER, "你好"}};
    CHECK(bc_engine_chat(e, turn1, 1, &g, collect, &r1, &st1, &err) == 0 && st1.prefilled_tokens == st1.prompt_tokens,
          "first turn prefills the whole prompt (%d tokens)", st1.prompt_tokens);
    bc_message turn2[] = {{BC_ROLE_USER, "你好"}, {BC_ROLE_ASSISTANT, r1.buf}, {BC_ROLE_USER, "more please"}};
    sink r2 = {{0}, 0, 0, 0}, r3 = {{0}, 0, 0, 0};
    CHECK(bc_engine_chat(e, turn2, 3, &g, collect, &r2, &st2, &err) == 0 &&
          st2.prefilled_tokens < st2.prompt_tokens - st1.prompt_tokens + 1,
          "second turn re-uses the cache: prefilled %d of %d", st2.prefilled_tokens, st2.prompt_tokens);
    bc_engine_reset(e);
    CHECK(bc_engine_chat(e, turn2, 3, &g, collect, &r3, &st3, &err) == 0 &&
          st3.prefilled_tokens == st3.prompt_tokens, "after reset the whole prompt is prefilled");
    CHECK(r2.len > 0 && r2.len == r3.len && !memcmp(r2.buf, r3.buf, r2.len),
          "cached and fresh prefill give the same greedy reply");
    /* cancellation: stop after the first piece of text */
    sink c = {{0}, 0, 0, 1};
    g.max_new_tokens = 20;
    bc_engine_chat(e, turn1, 1, &g, collect, &c, &st1, &err);
    CHECK(st1.stop == BC_STOP_CANCELLED && st1.new_tokens <= 3, "a non-zero callback cancels (%d tokens)", st1.new_tokens);
    /* A full context: a raw prompt of ctx - 4 tokens leaves 4 free positions.
     * Greedy decoding is deterministic and picks no EOS on this fixture, so
     * the 5th new token (sampled from the logits of position ctx - 1,
     * emitted, with no position left to run it) must stop generation. */
    int ctx = st1.context_max, reps = 0, n_prompt = 0;
    char prompt[4096] = "";
    const bc_tokenizer *tok = bc_engine_tokenizer(e);
    for (;;) {
        char longer[4096];
        snprintf(longer, sizeof longer, "%s%s", prompt, reps ? " the fox" : "the fox");
        int32_t *ids = NULL;
        size_t n = 0;
        if (bc_tokenizer_encode(tok, longer, strlen(longer), &ids, &n, &err)) break;
        free(ids);
        if ((int)n > ctx - 4 || strlen(longer) + 16 >= sizeof prompt) break;
        memcpy(prompt, longer, strlen(longer) + 1);
        n_prompt = (int)n;
        reps++;
    }
    sink f = {{0}, 0, 0, 0};
    bc_sampling lots = g;
    lots.max_new_tokens = 1000;
    bc_engine_reset(e);
    int rc = bc_engine_complete(e, prompt, &lots, collect, &f, &st1, &err);
    CHECK(rc == 0 && st1.prompt_tokens == n_prompt && n_prompt >= ctx - 8,
          "a prompt of %d tokens fills the context of %d but for a few", st1.prompt_tokens, ctx);
    CHECK(st1.stop == BC_STOP_CONTEXT && st1.context_used == st1.context_max &&
              st1.new_tokens == st1.context_max - st1.prompt_tokens + 1,
          "generation stops at a full context (%d/%d used, %d new tokens, stop %d)",
          st1.context_used, st1.context_max, st1.new_tokens, (int)st1.stop);
    bc_engine_free(e);
}

static void test_demo(void) {
    bc_load_params lp = {"demo", "auto", "bf16", 1};
    bc_engine *e = NULL;
    bc_error err = {{0}};
    CHECK(bc_engine_load(&lp, NULL, NULL, &e, &err) == 0, "demo loads (%s)", err.msg);
    if (!e) return;
    bc_engine_info info;
    bc_engine_get_info(e, &info);
    CHECK(info.is_demo && !strcmp(info.model_name, "demo") && !strcmp(info.quant, "bf16"),
          "demo says it is the demo");
    sink a = {{0}, 0, 0, 0}, b = {{0}, 0, 0, 0};
    bc_sampling s = {0.8f, 40, 0.95f, 1.1f, 24, 42};
    bc_message m[] = {{BC_ROLE_SYSTEM, "be brief"}, {BC_ROLE_USER, "hello"}};
    bc_engine_chat(e, m, 2, &s, collect, &a, NULL, &err);
    bc_engine_reset(e);
    bc_engine_chat(e, m, 2, &s, collect, &b, NULL, &err);
    CHECK(a.len > 0 && a.len == b.len && !memcmp(a.buf, b.buf, a.len), "same seed, same reply");
    bc_engine_free(e);
    bc_load_params bad = {"demo", "auto", "f16", 1};
    CHECK(bc_engine_load(&bad, NULL, NULL, &e, &err) != 0 && strstr(err.msg, "f16"),
          "unsupported --quant is a clear error: %s", err.msg);
}

int main(void) {
    const char *src = getenv("BC_SOURCE_DIR");
    if (!src) BC_SKIP("BC_SOURCE_DIR is not set");
    test_greedy_text(src);
    test_chat_cache(src);
    test_demo();
    return bc_test_done();
}
