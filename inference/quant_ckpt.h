/* bc_quant_ckpt: quantized linears as bitsandbytes serializes them in a
 * checkpoint, read and validated against the model's config
 * (baichuan2.md §6.3, §7). Three layouts, told apart by their keys; for a
 * module P (e.g. "model.layers.0.self_attn.W_pack"):
 *
 *  nf4, bitsandbytes 0.41 list (the Baichuan2-*-Chat-4bits files):
 *     P.weight.data (or P.weight)   uint8, (n+1)/2 packed codes
 *     P.weight.quant_state          [qabsmax, Size([out, in]), dtype, 64,
 *                                    [offset, [absmax2, code2, 256, False,
 *                                              float32, None, None]],
 *                                    'nf4', nf4_code]
 *     which the unpickler flattens to P.weight.quant_state.0, .1, .4.1.0, ...
 *     (without double quantization item 0 is the fp32 absmax and item 4 None);
 *  nf4, bitsandbytes >= 0.41.3 save_pretrained:
 *     P.weight (uint8 packed), P.weight.absmax, P.weight.quant_map,
 *     P.weight.nested_absmax, P.weight.nested_quant_map and
 *     P.weight.quant_state.bitsandbytes__nf4 (uint8 bytes of a JSON object:
 *     quant_type, blocksize, dtype, shape, nested_blocksize, nested_dtype,
 *     nested_offset);
 *  int8, bitsandbytes save_pretrained of Linear8bitLt (LLM.int8 row format):
 *     P.weight (int8 [out, in]), P.SCB (fp32 [out], the row absmax) and
 *     optionally P.weight_format (0 = row-major; the GPU tile layouts are
 *     refused).
 *
 * Every length, shape, block size, code table and scale is checked; a
 * mismatch is an error naming the file and the tensor. The packed codes are
 * taken as they are (never re-quantized). */
#ifndef BC_QUANT_CKPT_H
#define BC_QUANT_CKPT_H

#include <stdint.h>

#include "bc_error.h"
#include "checkpoint.h"
#include "quant.h"

/* The quantization a checkpoint's keys show: BC_QUANT_NF4 when any weight is
 * stored in a 4-bit layout, BC_QUANT_INT8 when any has an SCB, else 0. */
int bc_quant_ckpt_format(const bc_checkpoint *ck);

/* Reads the linear `module`, [rows, cols] by the config. Returns 1 and an
 * owned copy in *out (free with bc_quant_tensor_free) when the checkpoint
 * holds it quantized, 0 when it is a plain tensor (module.weight, left to the
 * caller), -1 with a message when a quantized form is malformed.
 * *source_bytes: bytes of the packed data tensor (for load progress). The
 * checkpoint pages of the tensors read are released afterwards. */
int bc_quant_ckpt_read(const bc_checkpoint *ck, const char *module, int64_t rows,
                       int64_t cols, bc_quant_tensor *out, uint64_t *source_bytes,
                       bc_error *err);

/* Bytes of the packed data tensor of a quantized `module`, 0 when it has no
 * quantized form (same accounting as bc_quant_ckpt_read). */
uint64_t bc_quant_ckpt_source_bytes(const bc_checkpoint *ck, const char *module);

#endif
