/* The built-in demo model (see demo_model.h). */
#include "demo_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    DEMO_HIDDEN = 128,
    DEMO_HEADS = 4,
    DEMO_LAYERS = 2,
    DEMO_INTERMEDIATE = 352,
    DEMO_CTX = 1024,
    DEMO_SEED = 20230906,   /* fixed: the demo behaves the same everywhere */
};

/* splitmix64: a tiny, well-mixed generator; enough for random weights. */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-a, a). */
static float uniform(uint64_t *s, float a) {
    return a * (2.0f * (float)((next_u64(s) >> 40) * (1.0 / 16777216.0)) - 1.0f);
}

static int add_random(bc_checkpoint *ck, const char *name, int64_t rows, int64_t cols,
                      float amplitude, uint64_t *rng, bc_error *err) {
    int64_t n = (rows ? rows : 1) * cols;   /* rows == 0: a vector */
    float *v = malloc((size_t)n * sizeof(float));
    if (!v) return bc_errorf(err, "demo model: out of memory");
    for (int64_t i = 0; i < n; i++) v[i] = amplitude ? uniform(rng, amplitude) : 1.0f;
    int64_t shape2[2] = {rows, cols}, shape1[1] = {cols};
    int rc = rows ? bc_checkpoint_add_copy(ck, name, BC_DTYPE_F32, 2, shape2, v, err)
                  : bc_checkpoint_add_copy(ck, name, BC_DTYPE_F32, 1, shape1, v, err);
    free(v);
    return rc;
}

static void demo_config(int vocab_size, bc_model_config *cfg, bc_generation_config *gen) {
    memset(cfg, 0, sizeof *cfg);
    cfg->hidden_size = DEMO_HIDDEN;
    cfg->intermediate_size = DEMO_INTERMEDIATE;
    cfg->num_hidden_layers = DEMO_LAYERS;
    cfg->num_attention_heads = DEMO_HEADS;
    cfg->vocab_size = vocab_size;
    cfg->model_max_length = DEMO_CTX;
    cfg->max_position_embeddings = DEMO_CTX;
    cfg->rms_norm_eps = 1e-6f;
    cfg->position = BC_POS_ROPE;
    cfg->bos_token_id = 1;
    cfg->eos_token_id = 2;
    cfg->pad_token_id = 0;
    strcpy(cfg->torch_dtype, "float32");
    /* Baichuan2-Chat's sampling defaults (baichuan2.md 4.3), with a
     * max_new_tokens that leaves 768 of the 1024 positions for the prompt. */
    memset(gen, 0, sizeof *gen);
    gen->user_token_id = 195;
    gen->assistant_token_id = 196;
    gen->eos_token_id = 2;
    gen->max_new_tokens = 256;
    gen->temperature = 0.3f;
    gen->top_k = 5;
    gen->top_p = 0.85f;
    gen->repetition_penalty = 1.05f;
    gen->do_sample = true;
}

int bc_demo_model_build(int vocab_size, bc_model_config *cfg, bc_generation_config *gen,
                        bc_checkpoint **out, bc_error *err) {
    if (vocab_size <= 0) return bc_errorf(err, "demo model: bad vocabulary size %d", vocab_size);
    demo_config(vocab_size, cfg, gen);
    bc_checkpoint *ck = bc_checkpoint_new_memory();
    if (!ck) return bc_errorf(err, "demo model: out of memory");
    uint64_t rng = DEMO_SEED;
    const int64_t H = DEMO_HIDDEN, I = DEMO_INTERMEDIATE, V = vocab_size;
    /* Amplitudes ~ 1/sqrt(fan_in) keep activations of order one. */
    const float aH = 1.7f / sqrtf((float)H), aI = 1.7f / sqrtf((float)I);
    char name[96];
    int rc = add_random(ck, "model.embed_tokens.weight", V, H, 1.0f, &rng, err);
    for (int l = 0; l < DEMO_LAYERS && !rc; l++) {
#define T(suffix, rows, cols, amp) \
        if (!rc) { snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, suffix); \
                   rc = add_random(ck, name, rows, cols, amp, &rng, err); }
        T("input_layernorm", 0, H, 0.0f)
        T("self_attn.W_pack", 3 * H, H, aH)
        T("self_attn.o_proj", H, H, aH)
        T("post_attention_layernorm", 0, H, 0.0f)
        T("mlp.gate_proj", I, H, aH)
        T("mlp.up_proj", I, H, aH)
        T("mlp.down_proj", H, I, aI)
#undef T
    }
    if (!rc) rc = add_random(ck, "model.norm.weight", 0, H, 0.0f, &rng, err);
    if (!rc) rc = add_random(ck, "lm_head.weight", V, H, 1.0f, &rng, err);
    if (rc) { bc_checkpoint_close(ck); return -1; }
    *out = ck;
    return 0;
}

/* Written at build time by embed_file.py from tests/data/tokenizer/demo.model. */
extern const unsigned char bc_demo_tokenizer_bytes[];
extern const size_t bc_demo_tokenizer_size;

const unsigned char *bc_demo_tokenizer_data(size_t *len) {
    *len = bc_demo_tokenizer_size;
    return bc_demo_tokenizer_size ? bc_demo_tokenizer_bytes : NULL;
}
