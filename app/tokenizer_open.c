#include "tokenizer_open.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "demo_model.h"
#include "model_config.h"
#include "model_path.h"
#include "synthetic_model.h"

int bc_tokenizer_open_model(const char *spec, bc_tokenizer **t, bc_error *err) {
    *t = NULL;
    if (!spec || !*spec) return bc_errorf(err, "no model given: use -m DIR (or -m FILE.model)");
    /* Synthetic models are made with the demo tokenizer (engine.c): theirs
     * is the same, once the size is known to be one of theirs. */
    if (bc_synthetic_is_spec(spec)) {
        bc_model_config cfg;
        bc_generation_config gen;
        if (bc_synthetic_config(spec, &cfg, &gen, err)) return -1;
    }
    if (!strcmp(spec, "demo") || bc_synthetic_is_spec(spec)) {
        size_t len;
        const unsigned char *bytes = bc_demo_tokenizer_data(&len);
        if (!bytes) return bc_errorf(err, "this build has no demo tokenizer");
        return bc_tokenizer_load_memory(bytes, len, "demo tokenizer", t, err);
    }
    /* A .model file names the tokenizer itself; anything else is a model
     * (directory, Hugging Face id) whose tokenizer.model we read. */
    struct stat st;
    if (stat(spec, &st) == 0 && !S_ISDIR(st.st_mode)) return bc_tokenizer_load(spec, t, err);
    char *dir = NULL;
    if (bc_model_resolve(spec, &dir, err)) return -1;
    size_t n = strlen(dir) + sizeof "/tokenizer.model";
    char *path = malloc(n);
    if (!path) {
        free(dir);
        return bc_errorf(err, "out of memory");
    }
    snprintf(path, n, "%s/tokenizer.model", dir);
    int rc = bc_tokenizer_load(path, t, err);
    free(path);
    free(dir);
    return rc;
}
