/* Synthetic models of the real Baichuan2 shapes (synthetic_model.h). */
#include "synthetic_model.h"

#include <stdlib.h>
#include <string.h>

#include "backend_loader.h"   /* bc_cuda_fill_uniform */
#include "checkpoint.h"

typedef struct preset {
    const char *name;
    int hidden, intermediate, layers, heads;
    bc_position_kind position;
} preset;

/* 7B and 13B as in their config.json (baichuan2.md §1); tiny for tests. */
static const preset PRESETS[] = {
    {"7b", 4096, 11008, 32, 32, BC_POS_ROPE},
    {"13b", 5120, 13696, 40, 40, BC_POS_ALIBI},
    {"tiny", 256, 688, 2, 4, BC_POS_ROPE},
};

enum { SYNTHETIC_VOCAB = 125696, SYNTHETIC_CTX = 4096 };

static const char PREFIX[] = "synthetic:";

bool bc_synthetic_is_spec(const char *spec) {
    return spec && strncmp(spec, PREFIX, sizeof PREFIX - 1) == 0;
}

int bc_synthetic_config(const char *spec, bc_model_config *cfg, bc_generation_config *gen,
                        bc_error *err) {
    const char *size = bc_synthetic_is_spec(spec) ? spec + sizeof PREFIX - 1 : "";
    const preset *p = NULL;
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
        if (!strcmp(size, PRESETS[i].name)) p = &PRESETS[i];
    if (!p)
        return bc_errorf(err, "model \"%s\": unknown synthetic model (synthetic:7b, "
                              "synthetic:13b or synthetic:tiny)", spec ? spec : "");
    memset(cfg, 0, sizeof *cfg);
    cfg->hidden_size = p->hidden;
    cfg->intermediate_size = p->intermediate;
    cfg->num_hidden_layers = p->layers;
    cfg->num_attention_heads = p->heads;
    cfg->position = p->position;
    cfg->vocab_size = SYNTHETIC_VOCAB;
    cfg->model_max_length = cfg->max_position_embeddings = SYNTHETIC_CTX;
    cfg->rms_norm_eps = 1e-6f;
    bc_generation_config_defaults(gen);
    return 0;
}

/* Rows made on the host per tensor_load call would need the whole tensor in
 * f32 at once (2 GiB for 7B's lm_head); tensor_load takes whole tensors, so
 * the host path makes the tensor in one buffer. xorshift64* is plenty for
 * weights nobody reads. */
static float uniform(uint64_t *s, float a) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    uint64_t r = *s * 0x2545F4914F6CDD1Dull;
    return ((float)(r >> 40) * 0x1p-24f * 2.0f - 1.0f) * a;
}

static int fill_on_host(bc_backend *be, bc_btensor *t, int64_t rows, int64_t cols, bool norm,
                        uint64_t seed, float a, bc_error *err) {
    size_t n = (size_t)rows * (size_t)cols;
    float *v = malloc(n * sizeof(float));
    if (!v) return bc_errorf(err, "synthetic model: out of memory for a [%lld, %lld] weight",
                             (long long)rows, (long long)cols);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) v[i] = norm ? 1.0f : uniform(&s, a);
    bc_tensor src = {.name = "synthetic", .dtype = BC_DTYPE_F32, .ndim = 2,
                     .shape = {rows, cols}, .data = v, .nbytes = (uint64_t)n * 4u,
                     .file = "synthetic model"};
    int rc = be->iface->tensor_load(be, t, &src, NULL, NULL, NULL, err);
    free(v);
    return rc;
}

int bc_synthetic_fill(void *user, bc_backend *be, bc_btensor *t, int64_t rows, int64_t cols,
                      bool norm, bc_error *err) {
    bc_synthetic_fill_state *f = user;
    const float a = 0.03f;
    uint64_t seed = ++f->seed;
    if (!strcmp(be->iface->name(be), "cuda"))   /* made on the GPU, nothing crosses the bus */
        return norm ? bc_cuda_fill_uniform(be, t, 0, 1.0f, 1.0f, err)
                    : bc_cuda_fill_uniform(be, t, seed, -a, a, err);
    return fill_on_host(be, t, rows, cols, norm, seed, a, err);
}
