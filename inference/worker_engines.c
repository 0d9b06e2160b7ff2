/* Which engine a model name gets: the fake one for tests, else the real one. */
#include "fake_engine.h"
#include "worker.h"

/* Until the real engine is linked in, any other model fails to load with a
 * clear message (the worker then keeps the previous model). */
static int unbuilt_load(const bc_load_params *p, bc_progress_fn progress, void *user,
                        void **out, bc_error *err) {
    (void)progress;
    (void)user;
    *out = NULL;
    return bc_errorf(err, "%s: the inference engine is not part of this build "
                     "(use the model 'fake')", p->model ? p->model : "?");
}

static const bc_engine_ops unbuilt_ops = {
    .name = "engine",
    .load = unbuilt_load,
};

const bc_engine_ops *bc_worker_ops_for_model(const char *model) {
    if (bc_fake_engine_wanted(model)) return &bc_fake_engine_ops;
    return &unbuilt_ops;
}
