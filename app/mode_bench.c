/* `baichuan-chat bench -m MODEL [--quant Q] [--threads N] [-p T] [-n N]`:
 * load time and peak RSS while loading, weight format and footprint, prefill
 * of a T-token prompt (default 512), N decode steps (default 128), peak RSS,
 * and the references the targets are stated against, measured in the same
 * run: OpenBLAS sgemm and our own f32 GEMM on the model's linear shapes at
 * the same T (prefill), and
 * this machine's memory read bandwidth (decode). `--tokenizer -f FILE`
 * benchmarks the tokenizer instead. Figures go to stdout. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backend_loader.h"
#include "cpu_kernels.h"
#include "engine_setup.h"
#include "model.h"
#include "modes.h"
#include "threadpool.h"

enum { DEFAULT_PROMPT_TOKENS = 512, DEFAULT_DECODE_TOKENS = 128, DECODE_WINDOW = 16 };

/* ---- memory read bandwidth: every thread of a pool reads its slice of a
 * 512 MiB buffer (twice the size of the largest last-level cache we met),
 * with the same vectorized loop the kernels use. Best of `passes`. ---- */

static double measure_read_bandwidth(bc_threadpool *pool, int passes) {
    size_t n = ((size_t)512 << 20) / sizeof(float);
    float *buf = malloc(n * sizeof(float));
    if (!buf) return 0.0;
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 1023);
    double best = 0.0;
    float sink = 0.0f;
    for (int pass = 0; pass < passes; pass++) {
        double t0 = bc_app_now();
        sink += bc_read_pass(pool, buf, n);
        double gbs = (double)(n * sizeof(float)) / (bc_app_now() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    free(buf);
    return sink == -1.0f ? 0.0 : best;   /* sink keeps the sums alive */
}

/* ---- prefill references: Y[T, rows] = X[T, cols] . W^T on the model's
 * linear shapes, as one layer's worth of products ---- */

typedef struct linear_shape { int rows, cols, count; } linear_shape;

enum { REF_SGEMM, REF_OWN_F32 };

/* GFLOP/s of one layer's linears (each shape `count` times) at T tokens,
 * best of up to 3 timings per shape (fewer once a shape took 0.4 s). */
static double reference_gflops(int kind, int blas_threads, bc_threadpool *pool,
                               const linear_shape *sh, int n_shapes, const float *W,
                               const float *X, float *Y, int T) {
    double seconds = 0.0, flops = 0.0;
    for (int s = 0; s < n_shapes; s++) {
        double best = 1e30, spent = 0.0;
        for (int rep = 0; rep < 3 && spent < 0.4; rep++) {
            double t0 = bc_app_now();
            if (kind == REF_SGEMM) {
                if (bc_blas_sgemm(blas_threads, W, X, Y, T, sh[s].rows, sh[s].cols)) return 0.0;
            } else {
                bc_matmul_f32(pool, W, X, Y, T, sh[s].rows, sh[s].cols);
            }
            double t = bc_app_now() - t0;
            spent += t;
            if (t < best) best = t;
        }
        seconds += best * sh[s].count;
        flops += 2.0 * T * (double)sh[s].rows * sh[s].cols * sh[s].count;
    }
    return flops / seconds / 1e9;
}

static void print_load(void) {
    char buf[64] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f)) strcpy(buf, "?");
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = '\0';
    printf("machine load:     %s (/proc/loadavg: other processes share the cores)\n", buf);
}

/* The prefill GEMM references next to the model's prefill figure. */
static void print_prefill_references(const bc_model_config *c, int threads, int T,
                                     double model_gflops) {
    int H = c->hidden_size, I = c->intermediate_size;
    const linear_shape sh[] = {{3 * H, H, 1}, {H, H, 1}, {I, H, 2}, {H, I, 1}};
    int n_sh = 4;
    size_t wmax = 0, xmax = 0, ymax = 0;
    for (int s = 0; s < n_sh; s++) {
        size_t w = (size_t)sh[s].rows * sh[s].cols, x = (size_t)T * sh[s].cols,
               y = (size_t)T * sh[s].rows;
        if (w > wmax) wmax = w;
        if (x > xmax) xmax = x;
        if (y > ymax) ymax = y;
    }
    float *W = malloc(wmax * sizeof(float)), *X = malloc(xmax * sizeof(float)),
          *Y = malloc(ymax * sizeof(float));
    bc_error err = {{0}};
    bc_threadpool *pool = bc_threadpool_new(threads, &err);
    if (!W || !X || !Y || !pool) {
        printf("prefill refs:     (no memory for the reference GEMMs)\n");
        goto done;
    }
    uint32_t seed = 1;
    for (size_t i = 0; i < wmax; i++) {
        seed = seed * 1664525u + 1013904223u;
        W[i] = (float)(seed >> 9) * 0x1p-23f - 0.5f;
    }
    for (size_t i = 0; i < xmax; i++) X[i] = (float)(i % 13) * 0.1f - 0.6f;
    printf("prefill GEMM refs, fp32, T=%d x one layer's linears ([%d,%d] [%d,%d] 2x[%d,%d] "
           "[%d,%d]), same run:\n", T, 3 * H, H, H, H, I, H, H, I);
    const char *core = bc_blas_core();
    int uses_blas = bc_kernels_have_blas();
    if (core) {
        int own = bc_blas_own_threads();
        double g = reference_gflops(REF_SGEMM, threads, NULL, sh, n_sh, W, X, Y, T);
        printf("  OpenBLAS sgemm, core %-12s %d threads: %6.1f GFLOP/s; model prefill %.2fx of it\n",
               core, threads, g, g > 0 ? model_gflops / g : 0.0);
        if (own != threads) {
            g = reference_gflops(REF_SGEMM, own, NULL, sh, n_sh, W, X, Y, T);
            printf("  OpenBLAS sgemm, its own choice,   %d threads: %6.1f GFLOP/s; model prefill "
                   "%.2fx of it\n", own, g, g > 0 ? model_gflops / g : 0.0);
        } else {
            printf("  (OpenBLAS's own thread choice is also %d)\n", own);
        }
    } else {
        printf("  OpenBLAS: not in this build\n");
    }
    /* our kernel, even where prefill would call OpenBLAS */
    bc_kernels_use_blas(0);
    double g = reference_gflops(REF_OWN_F32, 0, pool, sh, n_sh, W, X, Y, T);
    if (uses_blas) bc_kernels_use_blas(1);
    printf("  own f32 GEMM kernel, %-12s %d threads: %6.1f GFLOP/s; model prefill %.2fx of it\n",
           bc_simd_name(bc_simd_active()), threads, g, g > 0 ? model_gflops / g : 0.0);
    printf("  prefill's GEMM: %s", uses_blas ? "OpenBLAS" : "own kernel");
    if (core && !uses_blas)
        printf(" (OpenBLAS's %s kernel is older than this CPU's SIMD; "
               "OPENBLAS_CORETYPE=SkylakeX picks its AVX-512 kernel)", core);
    printf("\n");
done:
    bc_threadpool_free(pool);
    free(W);
    free(X);
    free(Y);
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

/* bench --tokenizer with the model the configuration names (demo by
 * default, presets expanded), like the other modes. */
static int bench_tokenizer(const bc_options *o) {
    bc_app_config cfg;
    if (bc_app_settings(o, &cfg)) return 2;
    bc_options t = *o;
    t.model = cfg.model;
    int rc = bc_bench_tokenizer(&t);
    bc_app_config_free(&cfg);
    return rc;
}

int bc_mode_bench(const bc_options *o) {
    if (o->bench_tokenizer) return bench_tokenizer(o);
    bc_app_config cfg;
    if (bc_app_settings(o, &cfg)) return 2;
    /* The engine runs on the configured count (-t, else -c FILE, a preset
     * or the user's config, else one per core): the figures printed and the
     * reference measurements must use the same. */
    const int threads = cfg.threads > 0 ? cfg.threads : bc_cpu_count();
    bc_engine *e;
    double load_s;
    int load_rc = bc_app_open_engine(&cfg, &e, &load_s);
    bc_app_config_free(&cfg);
    if (load_rc) return 1;
    /* peak so far = the peak while loading (online quantization must stay
     * near the final footprint) */
    double load_peak_rss = peak_rss_mib();
    bc_engine_info info;
    bc_engine_get_info(e, &info);
    bc_model *m = bc_engine_model(e);
    const bc_model_config *c = bc_model_get_config(m);
    int V = bc_model_vocab(m), rc = 0;
    bc_error err = {{0}};
    const int prompt_tokens = o->prompt_tokens > 0 ? o->prompt_tokens : DEFAULT_PROMPT_TOKENS;
    const int decode_tokens = o->n_predict > 0 ? o->n_predict : DEFAULT_DECODE_TOKENS;
    /* the fastest-window figure needs at least one whole window */
    const int window = decode_tokens < DECODE_WINDOW ? decode_tokens : DECODE_WINDOW;
    if ((long long)prompt_tokens + decode_tokens > bc_model_ctx(m)) {
        fprintf(stderr, "baichuan-chat: bench -p %d -n %d needs a context of %d tokens; the model "
                "has %d\n", prompt_tokens, decode_tokens, prompt_tokens + decode_tokens,
                bc_model_ctx(m));
        bc_engine_free(e);
        return 1;
    }
    int32_t *ids = malloc((size_t)(prompt_tokens + decode_tokens) * sizeof(int32_t));
    float *logits = malloc((size_t)V * sizeof(float));
    if (!ids || !logits) {
        fprintf(stderr, "baichuan-chat: bench: out of memory\n");
        free(ids);
        free(logits);
        bc_engine_free(e);
        return 1;
    }
    uint64_t rng = 12345;   /* fixed pseudo-random prompt over the whole vocabulary */
    for (int i = 0; i < prompt_tokens; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)(3 + (rng >> 33) % (uint64_t)(V - 3));
    }
    double t0 = bc_app_now();
    rc = bc_model_forward(m, ids, prompt_tokens, 0, false, logits, &err);
    double prefill_s = bc_app_now() - t0;
    /* Decode, timed per window of DECODE_WINDOW tokens as well: on a machine
     * shared with other work the fastest window is what the code can do,
     * to be set against the best read-bandwidth pass. */
    double t1 = bc_app_now(), tw = t1, best_window_s = 1e30;
    for (int i = 0; i < decode_tokens && !rc; i++) {
        ids[prompt_tokens + i] = argmax(logits, V);
        rc = bc_model_forward(m, &ids[prompt_tokens + i], 1, prompt_tokens + i, false, logits, &err);
        if ((i + 1) % window == 0) {
            double now = bc_app_now();
            if (now - tw < best_window_s) best_window_s = now - tw;
            tw = now;
        }
    }
    double decode_s = bc_app_now() - t1;
    free(logits);
    free(ids);
    if (rc) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        bc_engine_free(e);
        return 1;
    }
    double rss = peak_rss_mib();   /* before the references allocate anything */
    /* On the GPU the roofline is the device's memory: a device-to-device copy
     * (bytes read + written) over 2 GiB, measured in this run. */
    bool gpu = !strcmp(info.backend, "cuda");
    double bw = 0.0;
    if (gpu) {
        if (bc_cuda_copy_bandwidth((uint64_t)2 << 30, &bw, &err)) bw = 0.0;
        bw /= 1e9;
    } else {
        bc_threadpool *pool = bc_threadpool_new(threads, &err);
        if (pool) bw = measure_read_bandwidth(pool, 5);
        bc_threadpool_free(pool);
    }
    double prefill_tps = prompt_tokens / prefill_s, decode_tps = decode_tokens / decode_s;
    double prefill_gflops = bc_model_prefill_flops(m, prompt_tokens) / prefill_s / 1e9;
    double step_bytes = (double)bc_model_decode_weight_bytes(m);
    double L = c->num_hidden_layers, H = c->hidden_size, I = c->intermediate_size;
    double kv_mib = 2.0 * L * (prompt_tokens + decode_tokens) * H * (gpu ? 2.0 : 4.0) / 1048576.0;
    double weights_mib = (double)info.weight_bytes / 1048576.0;
    /* the same decode step with every weight in f32; lm_head's share of this
     * format's bytes (16-bit unless the model is f32) */
    double f32_step = 4.0 * (L * (4.0 * H * H + 3.0 * H * I + 2.0 * H) + (double)V * H + 2.0 * H);
    double lm_head_bytes = (double)V * H * (!strcmp(info.quant, "f32") ? 4.0 : 2.0);
    printf("model:            %s%s (%d layers, hidden %d, vocab %d)\n", info.model_name,
           info.is_demo ? " [DEMO]" : "", c->num_hidden_layers, c->hidden_size, V);
    printf("backend:          %s, weights %s, %d threads\n", info.backend, info.quant, threads);
    print_load();
    printf("load:             %.2f s, peak RSS while loading %.0f MiB = %.2fx the weights\n",
           load_s, load_peak_rss, load_peak_rss / weights_mib);
    printf("weights:          %s, %.3f GiB in backend storage; %.1f MB read per decoded token "
           "(codes + scales for int8/nf4)\n", info.quant,
           (double)info.weight_bytes / 1073741824.0, step_bytes / 1e6);
    printf("prefill:          %d tokens in %.2f s = %.1f tok/s, %.1f GFLOP/s (flops of the linear "
           "layers over the whole prefill time)\n",
           prompt_tokens, prefill_s, prefill_tps, prefill_gflops);
    if (!gpu) print_prefill_references(c, threads, prompt_tokens, prefill_gflops);
    double best_tps = window / best_window_s;
    const char *bw_name = gpu ? "the GPU device-to-device copy bandwidth"
                              : "the machine's read bandwidth (best of 5 passes)";
    printf("decode:           %d tokens in %.2f s = %.2f tok/s; fastest %d-token window %.2f tok/s\n",
           decode_tokens, decode_s, decode_tps, window, best_tps);
    printf("decode bandwidth: %.1f MB of weights per token x %.2f tok/s = %.1f GB/s = %.0f%% of "
           "%s %.1f GB/s measured now; fastest window %.1f GB/s = %.0f%%\n",
           step_bytes / 1e6, decode_tps, step_bytes * decode_tps / 1e9,
           bw > 0 ? 100.0 * step_bytes * decode_tps / 1e9 / bw : 0.0, bw_name, bw,
           step_bytes * best_tps / 1e9, bw > 0 ? 100.0 * step_bytes * best_tps / 1e9 / bw : 0.0);
    printf("bytes per token:  %.1f MB vs %.1f MB in f32 = %.2fx fewer (the most decode can gain "
           "over f32 at equal bandwidth); lm_head is %.0f MB of it\n",
           step_bytes / 1e6, f32_step / 1e6, f32_step / step_bytes, lm_head_bytes / 1e6);
    char notes[512];
    bc_engine_describe_backend(e, notes, sizeof notes);
    if (notes[0]) printf("backend notes:    %s\n", notes);
    printf("memory:           peak RSS %.0f MiB; weights %.0f MiB + KV cache in use %.0f MiB = "
           "%.0f MiB; peak / that = %.2f\n",
           rss, weights_mib, kv_mib, weights_mib + kv_mib, rss / (weights_mib + kv_mib));
    bc_engine_free(e);
    return 0;
}
