/* The fake engine: a stand-in for bc_engine behind bc_engine_ops, kept for
 * good as the TUI tests' backend. It needs no weights and is deterministic.
 *
 * Selected by a model name "fake" / "fake:VARIANT", or for any model when the
 * environment has BC_FAKE_ENGINE=1. Knobs (environment):
 *   BC_FAKE_DELAY_MS  pause before each piece of text (default 15)
 *   BC_FAKE_LOAD_MS   length of the simulated load, with progress (default 300)
 *   BC_FAKE_REPLY     the reply text (default: an echo of the last user
 *                     message followed by CJK, an emoji and a code block)
 * Variants: "fake:fail" fails to load; "fake:slow" loads for 3 s.
 * Triggers in the last user message: FAKE_LONG gives a 60-line reply,
 * FAKE_ERROR fails after a few pieces.
 *
 * Text is sent in pieces of 1, 2, 3 and 5 bytes in turn, so UTF-8 characters
 * are split across pieces on purpose (the worker must join them). A non-zero
 * return from the text callback stops it before the next piece. */
#ifndef BC_FAKE_ENGINE_H
#define BC_FAKE_ENGINE_H

#include <stdbool.h>

#include "worker.h"

extern const bc_engine_ops bc_fake_engine_ops;

/* True for "fake", "fake:..." or when BC_FAKE_ENGINE is set (not "0"). */
bool bc_fake_engine_wanted(const char *model);

#endif
