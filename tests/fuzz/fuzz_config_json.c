/* Fuzz harness: a model's config.json and generation_config.json (the same
 * bytes through both readers; libyaml document API + bc_yaml typed getters).
 * The input is passed without a terminating NUL, as the API allows. */
#include "fuzz.h"
#include "model_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_model_config cfg;
    bc_generation_config gen;
    bc_error err;
    bc_model_config_parse("fuzz.config.json", (const char *)data, size, &cfg, &err);
    bc_generation_config_defaults(&gen);
    bc_generation_config_parse("fuzz.generation_config.json", (const char *)data, size, &gen,
                               &err);
    return 0;
}
