/* Resolving -m/--model: a directory; a Hugging Face id ("baichuan-inc/Baichuan2-7B-Chat")
 * found in the local HF cache ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub:
 * models--ORG--NAME/snapshots/<refs/main>/); or "demo" (returned as is). Presets from
 * the configuration are resolved by the caller before this. */
#ifndef BC_MODEL_PATH_H
#define BC_MODEL_PATH_H

#include "bc_error.h"

/* *dir is malloc'd. A miss says where it looked and how to get the weights. */
int bc_model_resolve(const char *spec, char **dir, bc_error *err);

#endif
