#include "file_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bc_read_stream(FILE *f, const char *name, size_t max_bytes, char **data, size_t *len,
                   bc_error *err) {
    *data = NULL;
    *len = 0;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) return bc_errorf(err, "%s: out of memory", name);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max_bytes) {
            free(buf);
            return bc_errorf(err, "%s: larger than the %zu bytes this input may have", name,
                             max_bytes);
        }
        if (got == 0) break;
        if (n == cap) {   /* grow geometrically; +1 keeps room for the NUL */
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) {
                free(buf);
                return bc_errorf(err, "%s: out of memory (%zu bytes read)", name, n);
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        free(buf);
        return bc_errorf(err, "%s: read error", name);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int bc_read_file(const char *path, size_t max_bytes, char **data, size_t *len, bc_error *err) {
    if (!strcmp(path, "-")) return bc_read_stream(stdin, "stdin", max_bytes, data, len, err);
    FILE *f = fopen(path, "rb");
    if (!f) {
        *data = NULL;
        *len = 0;
        return bc_errorf(err, "%s: %s", path, strerror(errno));
    }
    int rc = bc_read_stream(f, path, max_bytes, data, len, err);
    fclose(f);
    return rc;
}
