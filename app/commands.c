/* The slash-command table and its parser. */
#include "commands.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static const char *const QUANTS[] = {"auto", "f32", "bf16", "f16", "int8", "nf4", NULL};
static const char *const BACKENDS[] = {"auto", "cpu", "cuda", NULL};

static const bc_command_spec COMMANDS[] = {
    {BC_CMD_HELP, "help", BC_ARG_NONE, "", "list keys and commands", NULL},
    {BC_CMD_NEW, "new", BC_ARG_NONE, "", "start a new conversation", NULL},
    {BC_CMD_SYSTEM, "system", BC_ARG_OPT_TEXT, "TEXT", "set the system prompt (empty: clear it)", NULL},
    {BC_CMD_SET, "set", BC_ARG_SETTING, "KEY VALUE",
     "temperature|top_k|top_p|repetition_penalty|max_new_tokens|seed", NULL},
    {BC_CMD_MODEL, "model", BC_ARG_TEXT, "NAME|DIR", "load another model, keep the conversation", NULL},
    {BC_CMD_QUANT, "quant", BC_ARG_CHOICE, "auto|f32|bf16|f16|int8|nf4", "reload with this weight format", QUANTS},
    {BC_CMD_BACKEND, "backend", BC_ARG_CHOICE, "auto|cpu|cuda", "reload on this backend", BACKENDS},
    {BC_CMD_REGEN, "regen", BC_ARG_NONE, "", "answer the last message again", NULL},
    {BC_CMD_EDIT, "edit", BC_ARG_NONE, "", "put the last user message back into the input line", NULL},
    {BC_CMD_UNDO, "undo", BC_ARG_NONE, "", "remove the last exchange", NULL},
    {BC_CMD_SAVE, "save", BC_ARG_OPT_TEXT, "[FILE]", "save the conversation (YAML), also to FILE", NULL},
    {BC_CMD_EXPORT, "export", BC_ARG_TEXT, "FILE.md", "write the conversation as Markdown", NULL},
    {BC_CMD_COPY, "copy", BC_ARG_NONE, "", "copy the last reply to the clipboard (OSC 52)", NULL},
    {BC_CMD_THEME, "theme", BC_ARG_TEXT, "NAME", "dark, light, high-contrast, mono or a file", NULL},
    {BC_CMD_STATS, "stats", BC_ARG_NONE, "", "model, speed and context of the last reply", NULL},
    {BC_CMD_CLEAR, "clear", BC_ARG_NONE, "", "clear the screen's transcript (the file keeps it)", NULL},
    {BC_CMD_HISTORY, "history", BC_ARG_NONE, "", "show or hide the saved conversations", NULL},
    {BC_CMD_RENAME, "rename", BC_ARG_TEXT, "TITLE", "rename this conversation", NULL},
    {BC_CMD_QUIT, "quit", BC_ARG_NONE, "", "leave", NULL},
};

const bc_command_spec *bc_commands(size_t *count) {
    *count = sizeof COMMANDS / sizeof COMMANDS[0];
    return COMMANDS;
}

bool bc_is_command(const char *line) { return line && line[0] == '/'; }

static const struct {
    const char *name;
    bc_setting id;
    double lo, hi;
    bool integer;
} SETTINGS[] = {
    {"temperature", BC_SET_TEMPERATURE, 0, 100, false},
    {"top_k", BC_SET_TOP_K, 0, 1e9, true},
    {"top_p", BC_SET_TOP_P, 0, 1, false},
    {"repetition_penalty", BC_SET_REPETITION_PENALTY, 0.01, 100, false},
    {"max_new_tokens", BC_SET_MAX_NEW_TOKENS, 1, 1048576, true},
    {"seed", BC_SET_SEED, 0, 18446744073709551615.0, true},
};

/* Copies s with the surrounding blanks removed. */
static void trim_copy(char *dst, size_t cap, const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

static int parse_setting(bc_command *c, bc_error *err) {
    char key[64] = "", val[128] = "", extra[8] = "";
    int got = sscanf(c->arg, "%63s %127s %7s", key, val, extra);
    if (got != 2) return bc_errorf(err, "usage: /set KEY VALUE (KEY: temperature, top_k, top_p, "
                                        "repetition_penalty, max_new_tokens, seed)");
    if (!strcmp(key, "seed")) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(val, &end, 10);
        if (errno || *end || end == val || val[0] == '-')
            return bc_errorf(err, "/set seed: '%s' is not a whole number from 0 to 18446744073709551615", val);
        c->setting = BC_SET_SEED;
        c->seed = v;
        c->value = (double)v;
        return 0;
    }
    for (size_t i = 0; i < sizeof SETTINGS / sizeof SETTINGS[0]; i++) {
        if (strcmp(key, SETTINGS[i].name)) continue;
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (errno || *end || end == val || !isfinite(v))
            return bc_errorf(err, "/set %s: '%s' is not a number", key, val);
        if (SETTINGS[i].integer && v != floor(v))
            return bc_errorf(err, "/set %s: '%s' is not a whole number", key, val);
        if (v < SETTINGS[i].lo || v > SETTINGS[i].hi)
            return bc_errorf(err, "/set %s: %s is not between %.15g and %.15g", key, val,
                             SETTINGS[i].lo, SETTINGS[i].hi);
        c->setting = SETTINGS[i].id;
        c->value = v;
        return 0;
    }
    return bc_errorf(err, "/set: unknown setting '%s' (temperature, top_k, top_p, "
                          "repetition_penalty, max_new_tokens, seed)", key);
}

/* Commands whose argument may be a file or directory: "~/" means $HOME
 * there, as in the configuration (a shell would have expanded it). */
static bool takes_path(bc_command_id id) {
    return id == BC_CMD_SAVE || id == BC_CMD_EXPORT || id == BC_CMD_THEME || id == BC_CMD_MODEL;
}

static int expand_arg_home(bc_command *c, bc_error *err) {
    char *full = bc_expand_home(c->arg);
    if (!full) return bc_errorf(err, "/%s: out of memory", c->spec->name);
    int too_long = strlen(full) >= sizeof c->arg;
    if (!too_long) snprintf(c->arg, sizeof c->arg, "%s", full);
    free(full);
    return too_long ? bc_errorf(err, "/%s: the path is too long", c->spec->name) : 0;
}

int bc_command_parse(const char *line, bc_command *out, bc_error *err) {
    memset(out, 0, sizeof *out);
    if (!bc_is_command(line)) return bc_errorf(err, "not a command");
    const char *name = line + 1;
    size_t nlen = strcspn(name, " \t\n");
    const bc_command_spec *spec = NULL;
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strlen(COMMANDS[i].name) == nlen && !strncmp(COMMANDS[i].name, name, nlen))
            spec = &COMMANDS[i];
    if (!spec) return bc_errorf(err, "unknown command /%.*s (try /help)", (int)(nlen > 40 ? 40 : nlen), name);
    out->spec = spec;
    trim_copy(out->arg, sizeof out->arg, name + nlen);
    if (takes_path(spec->id) && expand_arg_home(out, err)) return -1;
    switch (spec->arg) {
    case BC_ARG_NONE:
        if (out->arg[0]) return bc_errorf(err, "/%s takes no argument", spec->name);
        return 0;
    case BC_ARG_OPT_TEXT: return 0;
    case BC_ARG_TEXT:
        if (!out->arg[0]) return bc_errorf(err, "usage: /%s %s", spec->name, spec->usage);
        return 0;
    case BC_ARG_CHOICE:
        for (const char *const *c = spec->choices; *c; c++)
            if (!strcmp(*c, out->arg)) return 0;
        return bc_errorf(err, "/%s: '%s' is not one of %s", spec->name, out->arg, spec->usage);
    case BC_ARG_SETTING: return parse_setting(out, err);
    }
    return 0;
}

void bc_command_apply_setting(const bc_command *c, bc_sampling *s) {
    switch (c->setting) {
    case BC_SET_TEMPERATURE: s->temperature = (float)c->value; break;
    case BC_SET_TOP_K: s->top_k = (int)c->value; break;
    case BC_SET_TOP_P: s->top_p = (float)c->value; break;
    case BC_SET_REPETITION_PENALTY: s->repetition_penalty = (float)c->value; break;
    case BC_SET_MAX_NEW_TOKENS: s->max_new_tokens = (int)c->value; break;
    case BC_SET_SEED: s->seed = c->seed; break;
    }
}

void bc_command_apply_generation(const bc_command *c, bc_app_generation *g) {
    switch (c->setting) {
    case BC_SET_TEMPERATURE: g->temperature = (float)c->value; break;
    case BC_SET_TOP_K: g->top_k = (int)c->value; break;
    case BC_SET_TOP_P: g->top_p = (float)c->value; break;
    case BC_SET_REPETITION_PENALTY: g->repetition_penalty = (float)c->value; break;
    case BC_SET_MAX_NEW_TOKENS: g->max_new_tokens = (int)c->value; break;
    case BC_SET_SEED:
        g->seed = c->seed;
        g->seed_set = true;
        break;
    }
}

void bc_sampling_describe(const bc_sampling *s, char *buf, size_t len) {
    snprintf(buf, len, "temperature %g, top_k %d, top_p %g, repetition_penalty %g, "
             "max_new_tokens %d, seed %llu", s->temperature, s->top_k, s->top_p,
             s->repetition_penalty, s->max_new_tokens, (unsigned long long)s->seed);
}
