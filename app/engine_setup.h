/* Loading the engine for the headless modes (run, perplexity, bench): -m
 * resolution, load progress on a terminal, the demo notice, errors on stderr. */
#ifndef BC_ENGINE_SETUP_H
#define BC_ENGINE_SETUP_H

#include <stdbool.h>

#include "engine.h"
#include "options.h"

/* Returns 0, or the exit code to use (1) after printing why. *seconds is the
 * wall time of the load. */
int bc_app_load_engine(const bc_options *o, bc_engine **e, double *seconds);

double bc_app_now(void);   /* monotonic seconds */

#endif
