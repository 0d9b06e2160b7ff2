/* The torch.save container: a ZIP archive (ZIP64 in practice) of stored
 * entries under one top-level folder: <prefix>/data.pkl, <prefix>/data/<key>
 * (one record per storage), <prefix>/version, maybe <prefix>/byteorder.
 * (formats-and-safety §1b.) Only what torch writes is accepted: no compression,
 * no encryption, a single disk, entries lying inside the file without
 * overlapping each other or the central directory. */
#include "checkpoint_internal.h"

#include <stdlib.h>
#include <string.h>

#include "unpickler.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u

typedef struct zip_entry {
    const char *name; /* into the central directory, not NUL-terminated */
    size_t name_len;
    uint64_t header_off; /* local header */
    uint64_t data_off;   /* first data byte */
    uint64_t size;
} zip_entry;

typedef struct zip {
    const uint8_t *buf;
    uint64_t len;
    const char *file;
    bc_error *err;
    zip_entry *e;
    size_t count;
    const char *prefix; /* "archive/" etc., including the '/' */
    size_t prefix_len;
} zip;

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* The end of central directory record: scanned back over at most a 64 KiB
 * comment; its comment must end exactly at the end of the file. */
static int find_eocd(zip *z, uint64_t *at) {
    if (z->len < 22) return bc_errorf(z->err, "%s: too short for a zip archive", z->file);
    uint64_t lo = z->len > 22 + 65535 ? z->len - 22 - 65535 : 0;
    for (uint64_t i = z->len - 22 + 1; i-- > lo;) {
        if (le(z->buf + i, 4) == SIG_EOCD && i + 22 + le(z->buf + i + 20, 2) == z->len) {
            *at = i;
            return 0;
        }
    }
    return bc_errorf(z->err, "%s: no zip end-of-central-directory record (truncated file?)",
                     z->file);
}

/* Reads the directory location, following the ZIP64 locator when a field of
 * the classic record is saturated. `*cd_end_limit` is where the directory
 * must end (the start of the ZIP64 record or of the EOCD). */
static int read_eocd(zip *z, uint64_t *count, uint64_t *cd_off, uint64_t *cd_size,
                     uint64_t *cd_limit) {
    uint64_t e = 0;
    if (find_eocd(z, &e)) return -1;
    const uint8_t *p = z->buf + e;
    uint64_t disk = le(p + 4, 2), cd_disk = le(p + 6, 2), n_disk = le(p + 8, 2);
    *count = le(p + 10, 2);
    *cd_size = le(p + 12, 4);
    *cd_off = le(p + 16, 4);
    *cd_limit = e;
    if (*count == 0xFFFF || *cd_size == 0xFFFFFFFF || *cd_off == 0xFFFFFFFF ||
        n_disk == 0xFFFF || disk == 0xFFFF || cd_disk == 0xFFFF) {
        if (e < 20 || le(z->buf + e - 20, 4) != SIG_LOCATOR64)
            return bc_errorf(z->err, "%s: zip: saturated EOCD without a ZIP64 locator",
                             z->file);
        const uint8_t *loc = z->buf + e - 20;
        uint64_t r = le(loc + 8, 8);
        if (le(loc + 4, 4) != 0 || le(loc + 16, 4) > 1)
            return bc_errorf(z->err, "%s: zip: multi-disk archives are not supported", z->file);
        if (!bc_range_ok(r, 56, e - 20) || le(z->buf + r, 4) != SIG_EOCD64)
            return bc_errorf(z->err, "%s: zip: ZIP64 end-of-central-directory record not "
                                     "found where the locator says", z->file);
        p = z->buf + r;
        disk = le(p + 16, 4);
        cd_disk = le(p + 20, 4);
        n_disk = le(p + 24, 8);
        *count = le(p + 32, 8);
        *cd_size = le(p + 40, 8);
        *cd_off = le(p + 48, 8);
        *cd_limit = r;
    }
    if (disk != 0 || cd_disk != 0 || n_disk != *count)
        return bc_errorf(z->err, "%s: zip: multi-disk archives are not supported", z->file);
    if (!bc_range_ok(*cd_off, *cd_size, *cd_limit))
        return bc_errorf(z->err, "%s: zip: central directory (offset %llu, %llu bytes) lies "
                                 "outside the file", z->file, (unsigned long long)*cd_off,
                         (unsigned long long)*cd_size);
    /* each entry takes at least 46 bytes: caps the count before allocating */
    if (*count > *cd_size / 46 || *count > 4 * (uint64_t)BC_MAX_TENSORS_PER_FILE)
        return bc_errorf(z->err, "%s: zip: implausible entry count %llu", z->file,
                         (unsigned long long)*count);
    return 0;
}

/* ZIP64 extended information (id 0x0001): the saturated fields, in order. */
static int zip64_extra(zip *z, const uint8_t *x, uint64_t xlen, uint64_t *usize,
                       uint64_t *csize, uint64_t *off, const char *name, int nlen) {
    int want_u = *usize == 0xFFFFFFFF, want_c = *csize == 0xFFFFFFFF, want_o = *off == 0xFFFFFFFF;
    if (!want_u && !want_c && !want_o) return 0;
    for (uint64_t i = 0; i + 4 <= xlen;) {
        uint64_t id = le(x + i, 2), n = le(x + i + 2, 2);
        if (n > xlen - i - 4) break;
        if (id == 1) {
            const uint8_t *f = x + i + 4;
            uint64_t need = 8 * (uint64_t)(want_u + want_c + want_o);
            if (n < need) break;
            if (want_u) { *usize = le(f, 8); f += 8; }
            if (want_c) { *csize = le(f, 8); f += 8; }
            if (want_o) *off = le(f, 8);
            return 0;
        }
        i += 4 + n;
    }
    return bc_errorf(z->err, "%s: zip entry %.*s: missing or short ZIP64 extra field", z->file,
                     nlen, name);
}

static int read_entry(zip *z, uint64_t *pos, uint64_t cd_end, zip_entry *out) {
    if (!bc_range_ok(*pos, 46, cd_end) || le(z->buf + *pos, 4) != SIG_CENTRAL)
        return bc_errorf(z->err, "%s: zip: bad central directory entry at %llu", z->file,
                         (unsigned long long)*pos);
    const uint8_t *c = z->buf + *pos;
    uint64_t flags = le(c + 8, 2), method = le(c + 10, 2), csize = le(c + 20, 4),
             usize = le(c + 24, 4), nlen = le(c + 28, 2), xlen = le(c + 30, 2),
             clen = le(c + 32, 2), off = le(c + 42, 4);
    if (!bc_range_ok(*pos + 46, nlen + xlen + clen, cd_end))
        return bc_errorf(z->err, "%s: zip: central directory entry runs past the directory",
                         z->file);
    const char *name = (const char *)c + 46;
    if (nlen == 0 || memchr(name, '\0', nlen))
        return bc_errorf(z->err, "%s: zip: entry with an empty name or a NUL in it", z->file);
    if (zip64_extra(z, c + 46 + nlen, xlen, &usize, &csize, &off, name, (int)nlen)) return -1;
    if (flags & 1)
        return bc_errorf(z->err, "%s: zip entry %.*s is encrypted", z->file, (int)nlen, name);
    if (method != 0)
        return bc_errorf(z->err, "%s: zip entry %.*s is compressed (method %llu); torch.save "
                                 "writes stored entries only", z->file, (int)nlen, name,
                         (unsigned long long)method);
    if (csize != usize)
        return bc_errorf(z->err, "%s: zip entry %.*s: stored sizes differ", z->file, (int)nlen,
                         name);
    if (!bc_range_ok(off, 30, z->len) || le(z->buf + off, 4) != SIG_LOCAL)
        return bc_errorf(z->err, "%s: zip entry %.*s: no local header at offset %llu", z->file,
                         (int)nlen, name, (unsigned long long)off);
    const uint8_t *l = z->buf + off;
    uint64_t lnlen = le(l + 26, 2), lxlen = le(l + 28, 2);
    if (le(l + 8, 2) != method || lnlen != nlen || !bc_range_ok(off + 30, lnlen, z->len) ||
        memcmp(l + 30, name, nlen) != 0)
        return bc_errorf(z->err, "%s: zip entry %.*s: local header disagrees with the central "
                                 "directory", z->file, (int)nlen, name);
    uint64_t data = off + 30 + lnlen + lxlen; /* cannot wrap: all terms < 2^33 + len */
    if (!bc_range_ok(data, usize, z->len))
        return bc_errorf(z->err, "%s: zip entry %.*s: data (offset %llu, %llu bytes) runs past "
                                 "the end of the file", z->file, (int)nlen, name,
                         (unsigned long long)data, (unsigned long long)usize);
    *out = (zip_entry){name, (size_t)nlen, off, data, usize};
    *pos += 46 + nlen + xlen + clen;
    return 0;
}

static int cmp_header_off(const void *a, const void *b) {
    const zip_entry *x = a, *y = b;
    return x->header_off < y->header_off ? -1 : x->header_off > y->header_off;
}

static int cmp_entry_name(const void *a, const void *b) {
    const zip_entry *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static int read_directory(zip *z) {
    uint64_t count, cd_off, cd_size, cd_limit;
    if (read_eocd(z, &count, &cd_off, &cd_size, &cd_limit)) return -1;
    if (count == 0) return bc_errorf(z->err, "%s: zip archive is empty", z->file);
    z->e = calloc((size_t)count, sizeof *z->e);
    if (!z->e) return bc_errorf(z->err, "%s: out of memory", z->file);
    uint64_t pos = cd_off;
    for (uint64_t i = 0; i < count; i++) {
        if (read_entry(z, &pos, cd_off + cd_size, &z->e[i])) return -1;
        z->count++;
    }
    /* the first entry names the archive folder (as torch's reader does) */
    const char *slash = memchr(z->e[0].name, '/', z->e[0].name_len);
    if (!slash)
        return bc_errorf(z->err, "%s: zip: first entry %.*s has no top-level folder; not a "
                                 "torch.save archive", z->file, (int)z->e[0].name_len,
                         z->e[0].name);
    z->prefix = z->e[0].name;
    z->prefix_len = (size_t)(slash - z->e[0].name) + 1;
    /* entries must not overlap each other or the central directory */
    qsort(z->e, z->count, sizeof *z->e, cmp_header_off);
    for (size_t i = 0; i < z->count; i++) {
        uint64_t end = z->e[i].data_off + z->e[i].size;
        uint64_t next = i + 1 < z->count ? z->e[i + 1].header_off : cd_off;
        if (end > next)
            return bc_errorf(z->err, "%s: zip entry %.*s overlaps the next entry or the "
                                     "central directory", z->file, (int)z->e[i].name_len,
                             z->e[i].name);
    }
    qsort(z->e, z->count, sizeof *z->e, cmp_entry_name);
    for (size_t i = 1; i < z->count; i++)
        if (!cmp_entry_name(&z->e[i - 1], &z->e[i]))
            return bc_errorf(z->err, "%s: zip: duplicate entry %.*s", z->file,
                             (int)z->e[i].name_len, z->e[i].name);
    return 0;
}

/* Entry <prefix><a><b> (b may be NULL). */
static const zip_entry *find(const zip *z, const char *a, const char *b, size_t b_len) {
    char name[512];
    size_t al = strlen(a);
    if (z->prefix_len + al + b_len >= sizeof name) return NULL;
    memcpy(name, z->prefix, z->prefix_len);
    memcpy(name + z->prefix_len, a, al);
    if (b_len) memcpy(name + z->prefix_len + al, b, b_len);
    zip_entry key = {name, z->prefix_len + al + b_len, 0, 0, 0};
    return bsearch(&key, z->e, z->count, sizeof key, cmp_entry_name);
}

static int find_record(void *ctx, const char *key, size_t key_len, const uint8_t **data,
                       uint64_t *size, bc_error *err) {
    zip *z = ctx;
    const zip_entry *e = find(z, "data/", key, key_len);
    if (!e || memchr(key, '/', key_len))
        return bc_errorf(err, "%s: storage record %.*sdata/%.*s not in the archive", z->file,
                         (int)z->prefix_len, z->prefix, (int)(key_len > 64 ? 64 : key_len), key);
    *data = z->buf + e->data_off;
    *size = e->size;
    return 0;
}

int bc_torch_parse(bc_checkpoint *ck, const uint8_t *buf, uint64_t len, const char *file,
                   bc_error *err) {
    zip z = {.buf = buf, .len = len, .file = file, .err = err};
    int rc = -1;
    if (read_directory(&z)) goto done;
    const zip_entry *bo = find(&z, "byteorder", NULL, 0);
    if (bo && !(bo->size == 6 && memcmp(buf + bo->data_off, "little", 6) == 0)) {
        bc_errorf(err, "%s: byteorder record is not \"little\" (big-endian checkpoints are not "
                       "supported)", file);
        goto done;
    }
    const zip_entry *pkl = find(&z, "data.pkl", NULL, 0);
    if (!pkl) {
        bc_errorf(err, "%s: no %.*sdata.pkl in the archive; not a torch.save file", file,
                  (int)z.prefix_len, z.prefix);
        goto done;
    }
    rc = bc_unpickle_state_dict(ck, buf + pkl->data_off, pkl->size, find_record, &z, file, err);
done:
    free(z.e);
    return rc;
}
