/* bench_cuda 7b|13b [f16|bf16|int8|nf4]: the CUDA backend on a synthetic Baichuan2 of
 * the real shapes, its random weights generated directly in GPU memory (no
 * 15 GB checkpoint needed; int8 / nf4 linears get random codes and scales of
 * the same size, NF4 double-quantized like an online-quantized model, while
 * embeddings and lm_head stay bf16 as model.c keeps them). Prints, one figure a line:
 *   prefill tokens/s of a 512-token prompt (after one warm-up prefill),
 *   decode tokens/s over 128 tokens at short context (512..639) and at the
 *   end of a 4096-token context (3968..4095),
 *   decode effective bandwidth (weights + KV cache read per token) next to
 *   the device-to-device copy bandwidth measured in the same run,
 *   GPU memory: weights, everything else of the model, and in use on the card.
 * The code path is the one of `baichuan-chat bench --backend cuda`: the same
 * bc_model forward pass over the module's kernels. Exit 77 without a device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "bc_compare.h"
#include "backend_loader.h"
#include "model.h"
#include "model_config.h"
#include "synthetic_model.h"

enum { PROMPT = 512, DECODE = 128, LONG_CTX = 4096 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* DECODE greedy steps from position pos; tokens/s. */
static double decode_run(bc_model *m, int pos, float *logits, int V, bc_error *err) {
    int32_t id = 5;
    double t0 = now();
    for (int i = 0; i < DECODE; i++) {
        if (bc_model_forward(m, &id, 1, pos + i, false, logits, err)) return -1.0;
        id = bc_argmax(logits, V);
    }
    return DECODE / (now() - t0);
}

int main(int argc, char **argv) {
    const char *shape = argc > 1 ? argv[1] : "7b";
    const char *quant = argc > 2 ? argv[2] : "f16";
    /* the shapes and random weights of `-m synthetic:7b|13b` (synthetic_model.h) */
    bc_model_config cfg;
    bc_generation_config gen;
    bc_error err = {{0}};
    char spec[64];
    snprintf(spec, sizeof spec, "synthetic:%s", shape);
    if ((strcmp(shape, "7b") && strcmp(shape, "13b")) || bc_synthetic_config(spec, &cfg, &gen, &err)) {
        fprintf(stderr, "usage: bench_cuda 7b|13b [f16|bf16|int8|nf4]\n");
        return 2;
    }
    bc_cuda_probe_info info;
    if (bc_cuda_probe(&info, &err)) {
        printf("skipped: %s\n", err.msg);
        return 77;
    }
    bc_backend_params bp = {0, BC_STORE_F16};
    if (bc_store_parse(quant, &bp.store) || bp.store == BC_STORE_F32) {
        fprintf(stderr, "bench_cuda: quant must be f16, bf16, int8 or nf4\n");
        return 2;
    }
    double copy_bw = 0.0;
    if (bc_cuda_copy_bandwidth((uint64_t)2 << 30, &copy_bw, &err)) {
        fprintf(stderr, "bench_cuda: %s\n", err.msg);
        return 1;
    }
    bc_backend *be = NULL;
    bc_model *m = NULL;
    bc_synthetic_fill_state fs = {1};
    bc_model_params mp = {.ctx = LONG_CTX, .max_batch = 256};
    double t0 = now();
    if (bc_backend_cuda_new(&bp, &be, &err) ||
        bc_model_new_synthetic(&cfg, be, &mp, bc_synthetic_fill, &fs, NULL, NULL, &m, &err)) {
        fprintf(stderr, "bench_cuda: %s\n", err.msg);
        return 1;
    }
    double build_s = now() - t0;
    int V = cfg.vocab_size;
    float *logits = malloc((size_t)V * sizeof(float));
    int32_t ids[PROMPT];
    for (int i = 0; i < PROMPT; i++) ids[i] = 3 + (int32_t)((i * 2654435761u) % (unsigned)(V - 3));
    int rc = bc_model_forward(m, ids, PROMPT, 0, false, logits, &err);   /* warm-up */
    double t1 = now();
    if (!rc) rc = bc_model_forward(m, ids, PROMPT, 0, false, logits, &err);
    double prefill_tps = PROMPT / (now() - t1);
    double short_tps = rc ? -1 : decode_run(m, PROMPT, logits, V, &err);
    double long_tps = short_tps < 0 ? -1 : decode_run(m, LONG_CTX - DECODE, logits, V, &err);
    if (rc || short_tps < 0 || long_tps < 0) {
        fprintf(stderr, "bench_cuda: %s\n", err.msg);
        return 1;
    }
    bc_backend_memory mem;
    be->iface->memory(be, &mem);
    double w = (double)bc_model_decode_weight_bytes(m);
    /* fp16 K and V of every layer, read once per step */
    double kv_per_pos = 2.0 * cfg.num_hidden_layers * cfg.hidden_size * 2.0;
    double short_bytes = w + kv_per_pos * (PROMPT + DECODE / 2);
    double long_bytes = w + kv_per_pos * (LONG_CTX - DECODE / 2);
    printf("device:            %s (cc %d.%d, %d SMs, %.1f GiB)\n", info.name, info.cc_major,
           info.cc_minor, info.multiprocessors, (double)info.total_bytes / 1073741824.0);
    printf("model:             synthetic %s, weights %s, %.2f GB streamed per token\n", shape,
           quant, w / 1e9);
    printf("build:             %.2f s (random weights generated on the GPU)\n", build_s);
    printf("prefill:           %.0f tok/s (%d tokens, batches of %d)\n", prefill_tps, PROMPT,
           mp.max_batch);
    printf("decode short ctx:  %.1f tok/s  = %.0f GB/s effective\n", short_tps,
           short_tps * short_bytes / 1e9);
    printf("decode ctx 4096:   %.1f tok/s  = %.0f GB/s effective\n", long_tps,
           long_tps * long_bytes / 1e9);
    printf("copy bandwidth:    %.0f GB/s (device to device, read + write, measured now)\n",
           copy_bw / 1e9);
    printf("decode/copy:       %.0f%% (short ctx)\n", 100.0 * short_tps * short_bytes / copy_bw);
    printf("GPU memory:        weights %.2f GiB + model state %.2f GiB; %.2f GiB in use on the "
           "card (+ %.2f GiB of weights in host memory)\n",
           (double)(mem.weight_bytes - mem.host_weight_bytes) / 1073741824.0,
           (double)mem.other_bytes / 1073741824.0,
           (double)(info.total_bytes - mem.free_bytes) / 1073741824.0,
           (double)mem.host_weight_bytes / 1073741824.0);
    char notes[512] = "";
    if (be->iface->describe) be->iface->describe(be, notes, sizeof notes);
    printf("backend notes:     %s\n", notes);
    printf("RESULT %s %s prefill_tok_s=%.0f decode_tok_s=%.1f decode4096_tok_s=%.1f "
           "copy_GBs=%.0f eff_GBs=%.0f\n", shape, quant, prefill_tps, short_tps, long_tps,
           copy_bw / 1e9, short_tps * short_bytes / 1e9);
    free(logits);
    bc_model_free(m);
    be->iface->free(be);
    return 0;
}
