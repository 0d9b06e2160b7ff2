/* Replays stored fuzz inputs through a harness without libFuzzer (the
 * fuzz-corpus suite): every file of every directory on the command line is
 * read into a heap block of exactly its size and passed to
 * LLVMFuzzerTestOneInput. A regression shows up as a crash, or as an ASan /
 * UBSan report in the sanitizer build. Prints TAP, one line per file.
 *   replay_<harness> DIR...   (a missing directory counts as empty) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 0 on success; *buf is malloc'd with exactly *len bytes (1 when empty). */
static int read_whole(const char *path, uint8_t **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (!b) break;
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *nb = realloc(b, cap * 2);
        if (!nb) { free(b); b = NULL; break; }
        b = nb;
        cap *= 2;
    }
    int bad = !b || ferror(f);
    fclose(f);
    if (bad) { free(b); return -1; }
    /* exact-size copy so a read one past the end is an ASan error */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) { free(b); return -1; }
    memcpy(exact, b, n);
    free(b);
    *buf = exact;
    *len = n;
    return 0;
}

int main(int argc, char **argv) {
    int count = 0, failed = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            printf("# %s: no such directory (nothing to replay)\n", argv[a]);
            continue;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue; /* also README-like dotfiles */
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                char **nn = realloc(names, cap * sizeof *nn);
                if (!nn) return 1;
                names = nn;
            }
            names[n++] = strdup(de->d_name);
        }
        closedir(d);
        if (n) qsort(names, n, sizeof *names, cmp_names);
        for (size_t i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], names[i]);
            uint8_t *buf;
            size_t len;
            count++;
            if (read_whole(path, &buf, &len)) {
                failed++;
                printf("not ok %d - %s: cannot read\n", count, path);
            } else {
                fflush(stdout); /* a crash below leaves the file name on record */
                fprintf(stderr, "replaying %s (%zu bytes)\n", path, len);
                LLVMFuzzerTestOneInput(buf, len);
                free(buf);
                printf("ok %d - %s (%zu bytes)\n", count, path, len);
            }
            free(names[i]);
        }
        free(names);
    }
    printf("1..%d\n", count);
    return failed ? 1 : 0;
}
