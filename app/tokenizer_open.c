#include "tokenizer_open.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int bc_tokenizer_open_model(const char *spec, bc_tokenizer **t, bc_error *err) {
    *t = NULL;
    if (!spec || !*spec) return bc_errorf(err, "no model given: use -m DIR (or -m FILE.model)");
    /* TODO: resolve spec with bc_model_resolve() (app/model_path.h) first, so
     * that Hugging Face ids and "demo" work here too. */
    struct stat st;
    if (stat(spec, &st) != 0) return bc_errorf(err, "%s: %s", spec, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return bc_tokenizer_load(spec, t, err);
    size_t n = strlen(spec) + sizeof "/tokenizer.model";
    char *path = malloc(n);
    if (!path) return bc_errorf(err, "out of memory");
    snprintf(path, n, "%s/tokenizer.model", spec);
    int rc = bc_tokenizer_load(path, t, err);
    free(path);
    return rc;
}
