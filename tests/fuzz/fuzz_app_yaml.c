/* Fuzz harness: the application's YAML config (app/config.c), layered over
 * the built-in defaults as a user's config.yaml or -c FILE would be. */
#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_app_config c;
    bc_error err;
    if (bc_app_config_defaults(&c) != 0) return 0;
    bc_app_config_apply_text(&c, "fuzz.yaml", (const char *)data, size, &err);
    bc_app_config_free(&c);
    return 0;
}
