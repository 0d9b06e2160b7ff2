/* `baichuan-chat bench -m MODEL [--quant Q] [--threads N]`: load time,
 * prefill of a 512-token prompt, 128 decode steps, peak RSS, and the decode
 * step's effective weight bandwidth next to this machine's memory read
 * bandwidth measured in the same run. `--tokenizer -f FILE` benchmarks the
 * tokenizer instead. Figures go to stdout. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine_setup.h"
#include "model.h"
#include "modes.h"
#include "threadpool.h"

enum { PROMPT_TOKENS = 512, DECODE_TOKENS = 128 };

/* ---- memory read bandwidth: every thread sums its slice of a big buffer ---- */

typedef struct bw_slice { const uint64_t *p; size_t n; uint64_t sum; } bw_slice;

static void *bw_read(void *arg) {
    bw_slice *s = arg;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= s->n; i += 4) { a += s->p[i]; b += s->p[i + 1]; c += s->p[i + 2]; d += s->p[i + 3]; }
    s->sum = a + b + c + d;
    return NULL;
}

/* Best of 3 passes over 512 MiB with `threads` threads, in GB/s. */
static double measure_read_bandwidth(int threads) {
    size_t bytes = (size_t)512 << 20, n = bytes / 8;
    uint64_t *buf = malloc(bytes);
    if (!buf) return 0.0;
    for (size_t i = 0; i < n; i++) buf[i] = i;
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    pthread_t tid[64];
    bw_slice sl[64];
    double best = 0.0;
    for (int pass = 0; pass < 3; pass++) {
        double t0 = bc_app_now();
        for (int t = 0; t < threads; t++) {
            size_t lo = n * (size_t)t / (size_t)threads, hi = n * (size_t)(t + 1) / (size_t)threads;
            sl[t] = (bw_slice){buf + lo, hi - lo, 0};
            pthread_create(&tid[t], NULL, bw_read, &sl[t]);
        }
        uint64_t sink = 0;
        for (int t = 0; t < threads; t++) { pthread_join(tid[t], NULL); sink += sl[t].sum; }
        double gbs = (double)bytes / (bc_app_now() - t0) / 1e9;
        if (sink != 1 && gbs > best) best = gbs;   /* sink keeps the sums alive */
    }
    free(buf);
    return best;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;   /* ru_maxrss is in KiB on Linux */
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[best]) best = i;
    return best;
}

int bc_mode_bench(const bc_options *o) {
    if (o->bench_tokenizer) return bc_bench_tokenizer(o);
    bc_engine *e;
    double load_s;
    if (bc_app_load_engine(o, &e, &load_s)) return 1;
    bc_engine_info info;
    bc_engine_get_info(e, &info);
    bc_model *m = bc_engine_model(e);
    const bc_model_config *c = bc_model_get_config(m);
    int V = bc_model_vocab(m), rc = 0;
    bc_error err = {{0}};
    if (PROMPT_TOKENS + DECODE_TOKENS > bc_model_ctx(m)) {
        fprintf(stderr, "baichuan-chat: bench needs a context of %d tokens; the model has %d\n",
                PROMPT_TOKENS + DECODE_TOKENS, bc_model_ctx(m));
        bc_engine_free(e);
        return 1;
    }
    int32_t ids[PROMPT_TOKENS + DECODE_TOKENS];
    uint64_t rng = 12345;   /* fixed pseudo-random prompt over the whole vocabulary */
    for (int i = 0; i < PROMPT_TOKENS; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)(3 + (rng >> 33) % (uint64_t)(V - 3));
    }
    float *logits = malloc((size_t)V * sizeof(float));
    if (!logits) { bc_engine_free(e); return 1; }
    double t0 = bc_app_now();
    rc = bc_model_forward(m, ids, PROMPT_TOKENS, 0, false, logits, &err);
    double prefill_s = bc_app_now() - t0;
    double t1 = bc_app_now();
    for (int i = 0; i < DECODE_TOKENS && !rc; i++) {
        ids[PROMPT_TOKENS + i] = argmax(logits, V);
        rc = bc_model_forward(m, &ids[PROMPT_TOKENS + i], 1, PROMPT_TOKENS + i, false, logits, &err);
    }
    double decode_s = bc_app_now() - t1;
    free(logits);
    if (rc) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        bc_engine_free(e);
        return 1;
    }
    int threads = o->threads > 0 ? o->threads : bc_cpu_count();
    double rss = peak_rss_mib();
    double bw = measure_read_bandwidth(threads);
    double prefill_tps = PROMPT_TOKENS / prefill_s, decode_tps = DECODE_TOKENS / decode_s;
    double step_bytes = (double)bc_model_decode_weight_bytes(m);
    double kv_mib = 2.0 * c->num_hidden_layers * (PROMPT_TOKENS + DECODE_TOKENS) *
                    (double)c->hidden_size * 4.0 / 1048576.0;
    printf("model:            %s%s (%d layers, hidden %d, vocab %d)\n", info.model_name,
           info.is_demo ? " [DEMO]" : "", c->num_hidden_layers, c->hidden_size, V);
    printf("backend:          %s, weights %s, %d threads\n", info.backend, info.quant, threads);
    printf("load:             %.2f s\n", load_s);
    printf("prefill:          %d tokens in %.2f s = %.1f tok/s, %.1f GFLOP/s (linear layers)\n",
           PROMPT_TOKENS, prefill_s, prefill_tps,
           bc_model_prefill_flops(m, PROMPT_TOKENS) / prefill_s / 1e9);
    printf("decode:           %d tokens in %.2f s = %.2f tok/s\n", DECODE_TOKENS, decode_s, decode_tps);
    printf("decode bandwidth: %.1f MB of weights per token x %.2f tok/s = %.1f GB/s "
           "(machine read bandwidth, measured now: %.1f GB/s)\n",
           step_bytes / 1e6, decode_tps, step_bytes * decode_tps / 1e9, bw);
    printf("memory:           peak RSS %.0f MiB; weights %.0f MiB + KV cache in use %.0f MiB\n",
           rss, (double)info.weight_bytes / 1048576.0, kv_mib);
    bc_engine_free(e);
    return 0;
}
