/* Fault injection over the loaders and the session store (issue "Hardening",
 * item 4; formats-and-safety.md §3-§4). Every scenario is run once to count
 * the calls it makes to the allocator and to open/read/write/fsync/rename/
 * mmap, then once per call N = 1..total with the N-th call failing. Each run
 * must either fail with a message or succeed with the same result as the
 * clean run, and must release every block it allocated (the live-block count
 * of fault_inject.c returns to its value before the run; LeakSanitizer checks
 * the same in the sanitizer build). For the session store the file on disk
 * must afterwards be byte-identical to the old or to the new version, parse,
 * and no temp file may be left beside it.
 *   test_fault [SCENARIO...]   (default: all; names as printed) */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bc_test.h"
#include "checkpoint.h"
#include "config.h"
#include "fault_inject.h"
#include "model_config.h"
#include "quant.h"
#include "quant_ckpt.h"
#include "session.h"
#include "tokenizer.h"

static char src[1024];  /* BC_SOURCE_DIR */
static char tmpdir[1024];

/* A scenario runs the operation (armed by the caller) and then, disarmed,
 * turns its result into a fingerprint; it returns the operation's status, or
 * BROKEN when the operation left state behind that must never be seen
 * whatever it returned (a torn session file, a temp file left over). */
enum { BROKEN = 2 };
typedef int (*scenario_fn)(uint64_t *fingerprint, bc_error *err);

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* ---- checkpoints ------------------------------------------------------------ */

static uint64_t checkpoint_fingerprint(const bc_checkpoint *ck) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < bc_checkpoint_count(ck); i++) {
        const bc_tensor *t = bc_checkpoint_at(ck, i);
        h = fnv(h, t->name, strlen(t->name));
        h = fnv(h, &t->dtype, sizeof t->dtype);
        h = fnv(h, t->data, (size_t)t->nbytes);
    }
    return h;
}

static int open_checkpoint(const char *rel, bool dir, uint64_t *fp, bc_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", src, rel);
    bc_checkpoint *ck = NULL;
    int rc = dir ? bc_checkpoint_open_dir(path, &ck, err) : bc_checkpoint_open_file(path, &ck, err);
    bc_fault_disarm();
    if (rc == 0) *fp = checkpoint_fingerprint(ck);
    bc_checkpoint_close(ck);
    return rc;
}

static int sc_safetensors(uint64_t *fp, bc_error *err) {
    return open_checkpoint("tests/data/formats/st_single/model.safetensors", false, fp, err);
}
static int sc_safetensors_sharded(uint64_t *fp, bc_error *err) {
    return open_checkpoint("tests/data/formats/st_sharded", true, fp, err);
}
static int sc_bin(uint64_t *fp, bc_error *err) {
    return open_checkpoint("tests/data/formats/bin_single/pytorch_model.bin", false, fp, err);
}
static int sc_bin_sharded(uint64_t *fp, bc_error *err) {
    return open_checkpoint("tests/data/formats/bin_sharded", true, fp, err);
}

/* A bitsandbytes NF4 checkpoint through the quant_state reader. */
static int sc_quant_state(uint64_t *fp, bc_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/data/quant_models/hostile/ok-list.bin", src);
    bc_checkpoint *ck = NULL;
    bc_quant_tensor q;
    uint64_t bytes;
    int rc = bc_checkpoint_open_file(path, &ck, err);
    if (rc == 0) rc = bc_quant_ckpt_read(ck, "m", 64, 64, &q, &bytes, err) == 1 ? 0 : -1;
    bc_fault_disarm();
    if (rc == 0) {
        float w[64 * 64];
        bc_dequantize_nf4(&q.nf4, w);
        *fp = fnv(0xcbf29ce484222325ull, w, sizeof w);
        bc_quant_tensor_free(&q);
    }
    bc_checkpoint_close(ck);
    return rc;
}

/* ---- tokenizer and configuration ------------------------------------------- */

static int sc_tokenizer(uint64_t *fp, bc_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/data/tokenizer/demo.model", src);
    bc_tokenizer *t = NULL;
    int rc = bc_tokenizer_load(path, &t, err);
    bc_fault_disarm();
    if (rc == 0) {
        static const char text[] = "Hello 你好, world! 温故而知新 \xF0\x9F\x99\x8F";
        int32_t *ids = NULL;
        size_t n = 0;
        if (bc_tokenizer_encode(t, text, sizeof text - 1, &ids, &n, err) == 0) {
            *fp = fnv(0xcbf29ce484222325ull, ids, n * sizeof *ids);
            free(ids);
        } else {
            rc = -1;
        }
        bc_tokenizer_free(t);
    }
    return rc;
}

static int sc_model_config(uint64_t *fp, bc_error *err) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/tests/data/models/rope-shards-f32", src);
    bc_model_config cfg;
    bc_generation_config gen;
    memset(&cfg, 0, sizeof cfg);
    memset(&gen, 0, sizeof gen);
    int rc = bc_model_config_load(dir, &cfg, &gen, err);
    bc_fault_disarm();
    if (rc == 0) *fp = fnv(fnv(0xcbf29ce484222325ull, &cfg, sizeof cfg), &gen, sizeof gen);
    return rc;
}

static int sc_app_config(uint64_t *fp, bc_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/fuzz/seeds/app_yaml/presets.yaml", src);
    bc_app_config c;
    int rc = bc_app_config_defaults(&c);
    if (rc != 0) {
        bc_fault_disarm();
        bc_errorf(err, "bc_app_config_defaults failed");
        return -1;
    }
    rc = bc_app_config_apply_file(&c, path, false, err);
    bc_fault_disarm();
    if (rc == 0) {
        const bc_preset *p = bc_app_config_preset(&c, "13b-gpu");
        *fp = p ? fnv(0xcbf29ce484222325ull, p->model, strlen(p->model)) : 1;
    }
    bc_app_config_free(&c);
    return rc;
}

/* ---- the session store ------------------------------------------------------- */

static char session_path[1200];
static char *old_bytes, *new_bytes;
static size_t old_len, new_len;
static bc_session *new_session; /* the old one plus a reply */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = malloc(1 << 20);
    size_t n = b ? fread(b, 1, 1 << 20, f) : 0;
    fclose(f);
    *len = n;
    return b;
}

static int session_setup(void) {
    snprintf(session_path, sizeof session_path, "%s/sessions/s.yaml", tmpdir);
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/sessions", tmpdir);
    mkdir(dir, 0700);
    bc_error err;
    bc_session *s = bc_session_new(dir, &err);
    if (!s) return -1;
    free(s->path);
    s->path = strdup(session_path);
    s->created = 1700000000;
    bc_session_add(s, BC_ROLE_SYSTEM, "You are a concise assistant.", &err);
    bc_session_add(s, BC_ROLE_USER, "你好\nsecond line: \"quoted\"", &err);
    bc_session_add(s, BC_ROLE_ASSISTANT, "Hello! 温故而知新", &err);
    for (size_t i = 0; i < s->n; i++) s->msgs[i].time = 1700000000 + (time_t)i;
    if (bc_session_save(s, NULL, &err)) return -1;
    old_bytes = slurp(session_path, &old_len);
    bc_session_add(s, BC_ROLE_USER, "And a longer question, with: colons # and hashes", &err);
    int i = bc_session_add(s, BC_ROLE_ASSISTANT, "A reply\n\n  indented\ntrailing   ", &err);
    bc_sampling p = {.temperature = 0.3f, .top_k = 5, .top_p = 0.85f,
                     .repetition_penalty = 1.05f, .max_new_tokens = 64, .seed = 42};
    bc_session_set_meta(s, (size_t)i, "demo", "cpu", "f32", &p, "eos");
    for (size_t k = 0; k < s->n; k++) s->msgs[k].time = 1700000000 + (time_t)k;
    char other[1300];
    snprintf(other, sizeof other, "%s/new.yaml", tmpdir);
    if (bc_session_save(s, other, &err)) return -1;
    new_bytes = slurp(other, &new_len);
    unlink(other);
    new_session = s;
    return old_bytes && new_bytes && (old_len != new_len || memcmp(old_bytes, new_bytes, old_len)) ? 0 : -1;
}

/* Files in the sessions directory (a left-over temp file is a second one). */
static int session_dir_entries(void) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/sessions", tmpdir);
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static int restore_old(void) {
    bc_error err;
    return bc_write_file_atomic(session_path, old_bytes, old_len, &err);
}

/* fingerprint: 1 = the old file is on disk, 2 = the new one; 0 = anything else. */
static int sc_session_save(uint64_t *fp, bc_error *err) {
    int rc = bc_session_save(new_session, session_path, err);
    bc_fault_disarm();
    size_t len;
    char *now = slurp(session_path, &len);
    uint64_t state = 0;
    if (now && len == old_len && !memcmp(now, old_bytes, len)) state = 1;
    if (now && len == new_len && !memcmp(now, new_bytes, len)) state = 2;
    free(now);
    bc_session *back = NULL;
    bc_error lerr;
    if (state && bc_session_load(session_path, &back, &lerr) == 0 &&
        back->n == (state == 1 ? 3u : 5u))
        state += 10; /* and it parses, with every message */
    bc_session_free(back);
    int entries = session_dir_entries();
    *fp = state;
    restore_old();
    if (entries != 1) {
        bc_errorf(err, "%d files in the sessions directory after the save (a temp file left?)", entries);
        return BROKEN;
    }
    if (state != 11 && state != 12) {
        bc_errorf(err, "the file on disk is neither the old nor the new complete version");
        return BROKEN;
    }
    if (rc == 0 && state != 12) {
        bc_errorf(err, "save reported success but the file is not the new version");
        return BROKEN;
    }
    return rc;
}

static int sc_session_load(uint64_t *fp, bc_error *err) {
    bc_session *s = NULL;
    int rc = bc_session_load(session_path, &s, err);
    bc_fault_disarm();
    if (rc == 0) {
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i < s->n; i++) h = fnv(h, s->msgs[i].content, strlen(s->msgs[i].content) + 1);
        *fp = h;
        bc_session_free(s);
    }
    return rc;
}

/* ---- the driver ------------------------------------------------------------------ */

typedef struct scenario {
    const char *name;
    scenario_fn run;
    bool persist; /* every call from the N-th on fails (a disk that stays full) */
} scenario;

static const scenario SCENARIOS[] = {
    {"safetensors", sc_safetensors, false},
    {"safetensors-sharded", sc_safetensors_sharded, false},
    {"bin", sc_bin, false},
    {"bin-sharded", sc_bin_sharded, false},
    {"quant-state", sc_quant_state, false},
    {"tokenizer", sc_tokenizer, false},
    {"model-config", sc_model_config, false},
    {"app-config", sc_app_config, false},
    {"session-save", sc_session_save, false},
    {"session-save-persistent", sc_session_save, true},
    {"session-load", sc_session_load, false},
};

static void run_scenario(const scenario *sc) {
    uint64_t want = 0, got;
    bc_error err;
    /* Twice clean: the first run may fill lazy caches (still reachable). */
    for (int warm = 0; warm < 2; warm++) {
        bc_error_clear(&err);
        bc_fault_arm(BC_FAULT_ALL, 0, false);
        int rc = sc->run(&want, &err);
        bc_fault_disarm();
        if (rc != 0 || want == 0) {
            CHECK(0, "%s: clean run works (%s)", sc->name, err.msg);
            return;
        }
    }
    bc_fault_arm(BC_FAULT_ALL, 0, false);
    size_t live0 = bc_fault_live_blocks();
    sc->run(&got, &err);
    unsigned long total = bc_fault_calls();
    if (getenv("BC_FAULT_DEBUG"))
        for (unsigned c = 1; c < BC_FAULT_ALL; c <<= 1) {
            bc_fault_arm(c, 0, false);
            sc->run(&got, &err);
            printf("# %s: class %#x: %lu calls\n", sc->name, c, bc_fault_calls());
        }
    size_t live_clean = bc_fault_live_blocks();
    unsigned long failed_ok = 0, survived = 0, bad = 0, leaked = 0;
    char first_bad[600] = "";
    for (unsigned long n = 1; n <= total; n++) {
        bc_error_clear(&err);
        got = 0;
        size_t before = bc_fault_live_blocks();
        bc_fault_arm(BC_FAULT_ALL, n, sc->persist);
        int rc = sc->run(&got, &err);
        bc_fault_disarm();
        bool fired = bc_fault_fired();
        bool ok = rc == BROKEN ? false : rc != 0 ? err.msg[0] != '\0' : got == want;
        if (rc != 0 && !fired) ok = false; /* failed although nothing was injected */
        if (bc_fault_live_blocks() != before) {
            leaked++;
            ok = false;
        }
        if (ok && rc != 0) failed_ok++;
        else if (ok) survived++;
        else if (bad++ == 0)
            snprintf(first_bad, sizeof first_bad, "N=%lu: rc %d, fired %d, result %s, live %zu -> %zu: %.*s",
                     n, rc, fired, got == want ? "same" : "different", before,
                     bc_fault_live_blocks(), (int)sizeof first_bad / 2, err.msg);
    }
    CHECK(live_clean == live0, "%s: a clean run releases every block (%zu -> %zu)", sc->name,
          live0, live_clean);
    CHECK(total > 0 && bad == 0,
          "%s: %lu injection points: %lu reported errors, %lu recovered with the same result, "
          "%lu wrong, %lu leaked%s%s", sc->name, total, failed_ok, survived, bad, leaked,
          bad ? "; first: " : "", first_bad);
}

int main(int argc, char **argv) {
    const char *s = getenv("BC_SOURCE_DIR");
    snprintf(src, sizeof src, "%s", s && *s ? s : ".");
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/bc-fault-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        CHECK(0, "mkdtemp %s", tmpdir);
        return bc_test_done();
    }
    CHECK(session_setup() == 0, "session store: old and new versions written");
    for (size_t i = 0; i < sizeof SCENARIOS / sizeof *SCENARIOS; i++) {
        bool want = argc < 2;
        for (int a = 1; a < argc; a++) want |= !strcmp(argv[a], SCENARIOS[i].name);
        if (want) run_scenario(&SCENARIOS[i]);
    }
    bc_session_free(new_session);
    free(old_bytes);
    free(new_bytes);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
    return bc_test_done();
}
