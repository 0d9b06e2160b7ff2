/* Which engine a model name gets: the fake one for tests, else the real one. */
#include "fake_engine.h"
#include "worker.h"

/* The real engine (engine.h) behind the function table. `model` must already
 * be a directory or "demo": presets and Hugging Face ids are resolved by the
 * application (app/model_path.h) before it asks the worker to load. */
static int engine_load(const bc_load_params *p, bc_progress_fn progress, void *user, void **out,
                       bc_error *err) {
    bc_engine *e = NULL;
    int rc = bc_engine_load(p, progress, user, &e, err);
    *out = e;
    return rc;
}

static int engine_chat(void *e, const bc_message *msgs, size_t n, const bc_sampling *s,
                       bc_text_fn on_text, void *user, bc_gen_stats *stats, bc_error *err) {
    return bc_engine_chat(e, msgs, n, s, on_text, user, stats, err);
}

static void engine_get_info(const void *e, bc_engine_info *info) { bc_engine_get_info(e, info); }
static void engine_reset(void *e) { bc_engine_reset(e); }
static void engine_free(void *e) { bc_engine_free(e); }
static const bc_generation_config *engine_generation(const void *e) {
    return bc_engine_generation_config(e);
}

static const bc_engine_ops engine_ops = {
    .name = "engine",
    .load = engine_load,
    .chat = engine_chat,
    .get_info = engine_get_info,
    .reset = engine_reset,
    .free = engine_free,
    .generation_config = engine_generation,
};

const bc_engine_ops *bc_worker_ops_for_model(const char *model) {
    if (bc_fake_engine_wanted(model)) return &bc_fake_engine_ops;
    return &engine_ops;
}
