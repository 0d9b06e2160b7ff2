/* Which engine a model name gets: the fake one for tests, else the real one. */
#include "fake_engine.h"
#include "worker.h"

/* The real engine behind the function table (the casts only change the
 * handle's static type). */
static int real_load(const bc_load_params *p, bc_progress_fn progress, void *user, void **out,
                     bc_error *err) {
    bc_engine *e = NULL;
    int rc = bc_engine_load(p, progress, user, &e, err);
    *out = e;
    return rc;
}
static int real_chat(void *e, const bc_message *msgs, size_t n, const bc_sampling *s,
                     bc_text_fn on_text, void *user, bc_gen_stats *stats, bc_error *err) {
    return bc_engine_chat(e, msgs, n, s, on_text, user, stats, err);
}
static void real_info(const void *e, bc_engine_info *info) { bc_engine_get_info(e, info); }
static void real_reset(void *e) { bc_engine_reset(e); }
static void real_free(void *e) { bc_engine_free(e); }

static const bc_engine_ops real_ops = {
    .name = "engine",
    .load = real_load,
    .chat = real_chat,
    .get_info = real_info,
    .reset = real_reset,
    .free = real_free,
};

const bc_engine_ops *bc_worker_ops_for_model(const char *model) {
    if (bc_fake_engine_wanted(model)) return &bc_fake_engine_ops;
    return &real_ops;
}
