/* Fuzz harness: a replay script (app/replay_script.c, bc_replay_script_parse),
 * the YAML that `baichuan-chat replay SCRIPT` runs. */
#include "fuzz.h"
#include "replay.h"

volatile size_t bc_fuzz_replay_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bc_replay_script *s = NULL;
    bc_error err;
    if (bc_replay_script_parse("fuzz-script.yaml", (const char *)data, size, &s, &err) == 0) {
        bc_fuzz_replay_sink += s->n_steps;
        bc_replay_script_free(s);
    }
    return 0;
}
