/* `baichuan-chat run`: one user turn (PROMPT words, or all of stdin), the
 * reply streamed to stdout as it is generated and nothing else on stdout;
 * load time and speeds on stderr. Ctrl-C stops generation (exit 130). */
#include <math.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_setup.h"
#include "model_config.h"
#include "modes.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) { (void)sig; interrupted = 1; }

typedef struct output { int ended_with_newline; size_t bytes; int write_failed; } output;

static int write_text(void *user, const char *utf8, size_t len) {
    output *out = user;
    if (fwrite(utf8, 1, len, stdout) != len) out->write_failed = 1;
    fflush(stdout);
    out->bytes += len;
    out->ended_with_newline = utf8[len - 1] == '\n';
    return interrupted || out->write_failed;
}

/* PROMPT words joined by spaces, or all of stdin less ONE final newline:
 * `echo hi | run` is `run hi`, while any other whitespace the text ends with
 * (blank lines, spaces) is the user's and kept. */
static char *read_prompt(const bc_options *o) {
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    if (o->positional_count > 0) {
        for (int i = 0; i < o->positional_count; i++) {
            size_t n = strlen(o->positional[i]);
            if (len + n + 2 > cap) {
                cap = (len + n + 2) * 2;
                char *t = realloc(s, cap);
                if (!t) { free(s); return NULL; }
                s = t;
            }
            if (i) s[len++] = ' ';
            memcpy(s + len, o->positional[i], n);
            len += n;
        }
    } else {
        size_t got;
        while ((got = fread(s + len, 1, cap - len - 1, stdin)) > 0) {
            len += got;
            if (cap - len - 1 == 0) {
                char *t = realloc(s, cap * 2);
                if (!t) { free(s); return NULL; }
                s = t;
                cap *= 2;
            }
        }
        if (len && s[len - 1] == '\n') len--;
    }
    s[len] = '\0';
    return s;
}

static const char *stop_name(bc_stop_reason r) {
    switch (r) {
    case BC_STOP_EOS: return "end of reply";
    case BC_STOP_LENGTH: return "max new tokens";
    case BC_STOP_CANCELLED: return "interrupted";
    case BC_STOP_CONTEXT: return "context full";
    }
    return "?";
}

/* A reply as long as the context leaves no room for the prompt: say so with
 * both numbers, in the option's terms, before generating (the chat template
 * would refuse it too, in its own terms). */
static bool no_room_for_prompt(const bc_options *o, const bc_engine *e, const bc_sampling *s) {
    bc_engine_info info;
    bc_engine_get_info(e, &info);
    if (s->max_new_tokens < info.context_max) return false;
    fprintf(stderr, "baichuan-chat: %s %d leaves no room for the prompt: the model's context is "
                    "%d tokens (use at most %d)\n",
            o->n_predict != BC_UNSET_INT ? "-n" : "max_new_tokens", s->max_new_tokens,
            info.context_max, info.context_max - 1);
    return true;
}

int bc_mode_run(const bc_options *o) {
    char *prompt = read_prompt(o);
    if (!prompt) { fprintf(stderr, "baichuan-chat: out of memory\n"); return 1; }
    bc_app_config cfg;
    if (bc_app_settings(o, &cfg)) {
        free(prompt);
        return 2;
    }
    bc_engine *e;
    double load_s;
    if (bc_app_open_engine(&cfg, &e, &load_s)) {
        bc_app_config_free(&cfg);
        free(prompt);
        return 1;
    }
    /* Configured and command-line values win over generation_config.json. */
    bc_sampling s;
    bc_app_config_sampling(&cfg, bc_engine_generation_config(e), bc_app_fresh_seed(), &s);
    if (!o->raw && no_room_for_prompt(o, e, &s)) {
        bc_engine_free(e);
        bc_app_config_free(&cfg);
        free(prompt);
        return 1;
    }
    signal(SIGINT, on_sigint);
    output out = {0, 0, 0};
    bc_gen_stats st;
    bc_error err = {{0}};
    int rc;
    if (o->raw) {
        rc = bc_engine_complete(e, prompt, &s, write_text, &out, &st, &err);
    } else {
        bc_message msgs[2];
        size_t n = 0;
        if (cfg.system && *cfg.system) msgs[n++] = (bc_message){BC_ROLE_SYSTEM, cfg.system};
        msgs[n++] = (bc_message){BC_ROLE_USER, prompt};
        rc = bc_engine_chat(e, msgs, n, &s, write_text, &out, &st, &err);
    }
    if (out.bytes && !out.ended_with_newline) fputc('\n', stdout);
    fflush(stdout);
    signal(SIGINT, SIG_DFL);
    int exit_code = 0;
    if (rc) {
        fprintf(stderr, "baichuan-chat: %s\n", err.msg);
        exit_code = 1;
    } else {
        if (st.prompt_tokens_dropped > 0)
            fprintf(stderr, "baichuan-chat: warning: the prompt was cut from %d to %d tokens (its "
                            "start dropped) to leave room for %d new tokens in the model's "
                            "context of %d\n",
                    st.prompt_tokens + st.prompt_tokens_dropped, st.prompt_tokens,
                    s.max_new_tokens, st.context_max);
        fprintf(stderr, "load: %.2f s | prompt: %d tokens (%d prefilled), %.1f tok/s | "
                        "reply: %d tokens, %.1f tok/s | stop: %s\n",
                load_s, st.prompt_tokens, st.prefilled_tokens,
                st.prefill_seconds > 0 ? st.prefilled_tokens / st.prefill_seconds : 0.0,
                st.new_tokens, st.decode_seconds > 0 ? st.new_tokens / st.decode_seconds : 0.0,
                stop_name(st.stop));
        if (out.write_failed) exit_code = 1;
        else if (st.stop == BC_STOP_CANCELLED) exit_code = 130;
    }
    bc_engine_free(e);
    bc_app_config_free(&cfg);
    free(prompt);
    return exit_code;
}
