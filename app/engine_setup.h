/* Loading the engine for the headless modes (run, perplexity, bench): -m
 * resolution, load progress on a terminal, the demo notice, errors on stderr. */
#ifndef BC_ENGINE_SETUP_H
#define BC_ENGINE_SETUP_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "engine.h"
#include "options.h"

/* The layered configuration (defaults < user file < -c FILE < options).
 * Errors in a file and unknown keys are reported on stderr; the program goes
 * on with the layers that were fine -- except when the broken file is the
 * -c FILE the user named: then cfg is freed and 2 (the usage exit code) is
 * returned. */
int bc_app_settings(const bc_options *o, bc_app_config *cfg);

/* Loads the model the settings name (preset, directory, HF id or demo) on
 * their backend/quant/threads. Returns 0, or the exit code to use (1) after
 * printing why. *seconds is the wall time of the load. */
int bc_app_open_engine(const bc_app_config *cfg, bc_engine **e, double *seconds);

double bc_app_now(void);   /* monotonic seconds */

/* A seed for sampling when none is configured: different on every call, even
 * in processes started within the same second (getrandom(2), else
 * /dev/urandom, else the clock's nanoseconds mixed with the process id). */
uint64_t bc_app_fresh_seed(void);

#endif
