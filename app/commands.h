/* Slash commands: ONE const table shared by the TUI and `replay`.
 *
 * bc_command_parse() turns "/set temperature 0.7" into a validated
 * bc_command; callers (the TUI, the replay runner) then act on it. A parse
 * failure leaves nothing changed and gives a one-line reason for the status
 * line. */
#ifndef BC_COMMANDS_H
#define BC_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bc_error.h"
#include "sampler.h"

typedef enum bc_command_id {
    BC_CMD_HELP = 0, BC_CMD_NEW, BC_CMD_SYSTEM, BC_CMD_SET, BC_CMD_MODEL, BC_CMD_QUANT,
    BC_CMD_BACKEND, BC_CMD_REGEN, BC_CMD_EDIT, BC_CMD_UNDO, BC_CMD_SAVE, BC_CMD_EXPORT,
    BC_CMD_COPY, BC_CMD_THEME, BC_CMD_STATS, BC_CMD_CLEAR, BC_CMD_HISTORY, BC_CMD_RENAME,
    BC_CMD_QUIT,
} bc_command_id;

/* What the argument must be. */
typedef enum bc_arg_kind {
    BC_ARG_NONE = 0,  /* no argument allowed */
    BC_ARG_TEXT,      /* the rest of the line, required */
    BC_ARG_OPT_TEXT,  /* the rest of the line, may be empty */
    BC_ARG_CHOICE,    /* one word of `choices` */
    BC_ARG_SETTING,   /* KEY VALUE for /set */
} bc_arg_kind;

typedef struct bc_command_spec {
    bc_command_id id;
    const char *name;      /* without the slash */
    bc_arg_kind arg;
    const char *usage;     /* argument synopsis, "" when none */
    const char *help;      /* one line */
    const char *const *choices; /* BC_ARG_CHOICE: NULL-terminated */
} bc_command_spec;

typedef enum bc_setting {
    BC_SET_TEMPERATURE = 0, BC_SET_TOP_K, BC_SET_TOP_P, BC_SET_REPETITION_PENALTY,
    BC_SET_MAX_NEW_TOKENS, BC_SET_SEED,
} bc_setting;

typedef struct bc_command {
    const bc_command_spec *spec;
    char arg[4096];        /* TEXT / CHOICE argument, trimmed ("" when none) */
    bc_setting setting;    /* SET */
    double value;          /* SET: validated number */
    uint64_t seed;         /* SET seed: exact (a double cannot hold every 64-bit seed) */
} bc_command;

/* The table, in help order. */
const bc_command_spec *bc_commands(size_t *count);

/* True when line starts with '/' (a command, not a message). */
bool bc_is_command(const char *line);

/* Parses "/name args". Returns 0, or -1 with a one-line reason in err
 * ("unknown command /foo", "/set top_p: 1.5 is not between 0 and 1"). */
int bc_command_parse(const char *line, bc_command *out, bc_error *err);

/* Applies a parsed /set to sampling parameters. */
void bc_command_apply_setting(const bc_command *c, bc_sampling *s);

/* Applies a parsed /set to configured generation values (app/config.h), so
 * that what was set wins over the model's generation_config.json. */
struct bc_app_generation;
void bc_command_apply_generation(const bc_command *c, struct bc_app_generation *g);

/* "temperature 0.7 · top_k 5 ..." for /stats and the like. */
void bc_sampling_describe(const bc_sampling *s, char *buf, size_t len);

#endif
