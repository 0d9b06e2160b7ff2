/* bc_quant: quantized weight formats for the five per-layer linears, their
 * reference quantizers (bit-exact with bitsandbytes 0.41's CUDA kernels, see
 * below) and the CPU kernels that multiply with them.
 *
 * Two formats (baichuan2.md §5, §6.3, §7):
 *   int8  LLM.int8 weight layout: one int8 per weight, fp32 absmax per row.
 *         q[r,c] = rint(w[r,c] * (127 / absmax[r]))  (round half to even)
 *         w ~= q * absmax / 127
 *   nf4   bitsandbytes NF4: the weight is flattened row-major (e = r*cols + c),
 *         cut into blocks of 64, each block scaled by 1/absmax and each value
 *         mapped to the nearest of the 16 NF4 codes; two codes per byte,
 *         element 2k in the HIGH nibble. Optionally the per-block absmax is
 *         itself compressed ("double quantization", compress_statistics=True):
 *         absmax - mean(absmax) quantized in blocks of 256 with bitsandbytes'
 *         signed dynamic 8-bit map.
 *
 * Exactness. The quantizers reproduce the decisions of bitsandbytes 0.41's
 * kQuantizeBlockwise / dQuantizeNF4 / dQuantize / kDoubleRowColQuant: same
 * thresholds (the fp32 constants of dQuantizeNF4's decision tree), same
 * binary search and tie rule for the 8-bit map, same order of float
 * operations (inv = 1/absmax, then x*inv), and the flush-to-zero of fp32
 * subnormals that bitsandbytes' --use_fast_math build applies. Two things
 * cannot be reproduced on a CPU and are documented rather than emulated:
 * the GPU's approximate reciprocal (rcp.approx, within 1 ulp; a code can
 * differ only when x*inv lies within ~1 ulp of a threshold) and the order of
 * torch's fp32 reduction in absmax.mean() (we use the correctly rounded mean).
 *
 * Loader use: bc_quant_tensor_from_rows() takes one tensor straight from the
 * (mmapped) checkpoint bytes in f32/f16/bf16 and never builds a full fp32
 * copy, so a loader can quantize tensor by tensor while streaming. Tensors
 * read from a -4bits checkpoint can be wrapped without copying: fill a
 * bc_quant_nf4 with pointers into the mapping and leave `storage` NULL.
 */
#ifndef BC_QUANT_H
#define BC_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "bc_error.h"
#include "checkpoint.h" /* bc_dtype */

#define BC_NF4_BLOCK 64   /* weights per NF4 block (bnb blocksize) */
#define BC_NF4_BLOCK2 256 /* NF4 blocks per absmax2 block (double quant) */

typedef enum bc_quant_format {
    BC_QUANT_INT8 = 1,
    BC_QUANT_NF4 = 2,
} bc_quant_format;

/* Per-row int8. */
typedef struct bc_quant_int8 {
    int64_t rows, cols;  /* weight shape [rows = out features, cols = in features] */
    int8_t *q;           /* [rows * cols] row-major codes */
    float *absmax;       /* [rows] max |w| of each row (bnb's SCB); 0 for a zero row */
    void *storage;       /* the one allocation behind q/absmax; NULL for a view */
} bc_quant_int8;

/* Blockwise NF4 (bnb quantize_4bit, blocksize 64, quant_type "nf4"). */
typedef struct bc_quant_nf4 {
    int64_t rows, cols;  /* weight shape [rows, cols]; n = rows*cols elements */
    int64_t nblocks;     /* ceil(n / 64) */
    uint8_t *packed;     /* [(n + 1) / 2] element 2k: byte k >> 4, 2k+1: byte k & 15;
                            an odd n leaves the last low nibble as the code of 0 */
    int double_quant;    /* 0: absmax is set; 1: qabsmax/absmax2/offset/code2 are */
    float *absmax;       /* [nblocks] max |w| of each block (double_quant == 0) */
    uint8_t *qabsmax;    /* [nblocks] index into code2 of (absmax - offset) / absmax2 */
    float *absmax2;      /* [ceil(nblocks / 256)] max |absmax - offset| per 256 blocks */
    float offset;        /* mean of the block absmax values */
    float code2[256];    /* signed dynamic map (bnb create_dynamic_map(True, 7, 8)) */
    void *storage;       /* the one allocation behind the arrays; NULL for a view */
} bc_quant_nf4;

/* A quantized weight of either format, as a loader produces it. */
typedef struct bc_quant_tensor {
    bc_quant_format format;
    bc_quant_int8 int8;  /* valid when format == BC_QUANT_INT8 */
    bc_quant_nf4 nf4;    /* valid when format == BC_QUANT_NF4 */
} bc_quant_tensor;

typedef struct bc_quant_options {
    int double_quant;    /* nf4: compress the block absmax (Baichuan2 uses 1) */
    int via_f16;         /* round every weight to fp16 first, as bnb 0.41's
                            Params4bit.cuda()/Int8Params.cuda() do (.half());
                            a value that overflows fp16 is then an error */
    struct bc_threadpool *pool; /* quantize on these threads (NULL: the caller's) */
} bc_quant_options;

/* The 16 NF4 code values (index = 4-bit code), bnb get_4bit_type('nf4'). */
extern const float bc_nf4_code[16];

/* Index of the NF4 code bnb's dQuantizeNF4 picks for a scaled value x
 * (x = w * (1/absmax)); a NaN gives 0, as on the GPU. */
uint8_t bc_nf4_quantize_value(float x);

/* Fills map[256] with bnb's create_dynamic_map(signed=True,
 * max_exponent_bits=7, total_bits=8), computed with torch's float32 linspace
 * arithmetic; ascending, map[127] = 0, map[255] = 1. */
void bc_quant_dynamic_map(float map[256]);

/* Index bnb's dQuantize<0> (8-bit binary search + midpoint rule) picks for x
 * in an ascending 256-entry map. */
uint8_t bc_quant_map_index(const float map[256], float x);

/* Reference quantizers from fp32 weights [rows, cols] (row-major). Allocate
 * the output (free with bc_quant_*_free). `name` is used in messages.
 * Non-finite weights are rejected. */
int bc_quantize_int8_rows(const float *w, int64_t rows, int64_t cols, const char *name,
                          bc_quant_int8 *out, bc_error *err);
int bc_quantize_nf4(const float *w, int64_t rows, int64_t cols, int double_quant,
                    const char *name, bc_quant_nf4 *out, bc_error *err);

/* The same from raw checkpoint elements of dtype F32, F16 or BF16 (little
 * endian), converting a block / row at a time. */
int bc_quant_tensor_from_rows(bc_quant_format format, const void *src, bc_dtype src_dtype,
                              int64_t rows, int64_t cols, const bc_quant_options *opt,
                              const char *name, bc_quant_tensor *dst, bc_error *err);

/* Dequantized fp32 weights, out[rows * cols]. For double quant each block's
 * absmax is code2[qabsmax] * absmax2 + offset (two fp32 roundings, as bnb). */
void bc_dequantize_int8(const bc_quant_int8 *t, float *out);
void bc_dequantize_nf4(const bc_quant_nf4 *t, float *out);

/* Scale of NF4 block b (its absmax, decoded when double quantized). */
float bc_nf4_block_scale(const bc_quant_nf4 *t, int64_t b);

/* Bytes a matvec reads from the weight: codes plus scales. */
uint64_t bc_quant_int8_bytes(const bc_quant_int8 *t);
uint64_t bc_quant_nf4_bytes(const bc_quant_nf4 *t);

void bc_quant_int8_free(bc_quant_int8 *t);
void bc_quant_nf4_free(bc_quant_nf4 *t);
void bc_quant_tensor_free(bc_quant_tensor *t);

/* ---- CPU kernels (quant_kernels.c) ---------------------------------------
 * y = W x with fp32 accumulation; each weight block is dequantized in
 * registers, never into a full copy.
 *
 * The *_rows functions compute output rows [row_begin, row_end) on the
 * calling thread, so an engine can drive them from its own thread pool
 * (kern's bc_threadpool_run: one item = one row chunk). The plain forms split
 * rows over n_threads pthreads (n_threads <= 1: the caller only). */

typedef enum bc_quant_simd {
    BC_QUANT_SIMD_AUTO = 0,   /* the best the CPU supports */
    BC_QUANT_SIMD_SCALAR,     /* portable C */
    BC_QUANT_SIMD_AVX2,       /* AVX2 + FMA */
    BC_QUANT_SIMD_AVX512,     /* AVX-512F/BW */
} bc_quant_simd;

/* Selects the kernel path for all later calls (tests force each path).
 * Returns the path in use: a request the CPU cannot run falls back to the
 * best supported one below it. */
bc_quant_simd bc_quant_set_simd(bc_quant_simd want);
bc_quant_simd bc_quant_get_simd(void);
const char *bc_quant_simd_name(bc_quant_simd s);

void bc_matvec_int8_rows(const bc_quant_int8 *w, const float *x, float *y,
                         int64_t row_begin, int64_t row_end);
/* Allocates its scratch per call; the engine uses the _scratch form. */
void bc_matvec_nf4_rows(const bc_quant_nf4 *w, const float *x, float *y,
                        int64_t row_begin, int64_t row_end);
/* The same with caller-owned scratch of bc_quant_matvec_scratch_floats(cols)
 * floats (x rearranged for the SIMD kernels, tables of double-quantized block
 * scales): the decode loop allocates nothing. */
size_t bc_quant_matvec_scratch_floats(int64_t cols);
void bc_matvec_nf4_rows_scratch(const bc_quant_nf4 *w, const float *x, float *y,
                                int64_t row_begin, int64_t row_end, float *scratch);
/* Decode as the engine runs it: rows split over the pool in chunks (a few
 * per thread, handed out dynamically). scratch: bc_threadpool_size(pool)
 * blocks of scratch_floats >= bc_quant_matvec_scratch_floats(cols) floats
 * (unused for int8, may be NULL then). */
void bc_matvec_quant_pool(struct bc_threadpool *pool, const bc_quant_tensor *w,
                          const float *x, float *y, float *scratch, size_t scratch_floats);
int bc_matvec_int8(const bc_quant_int8 *w, const float *x, float *y, int n_threads,
                   bc_error *err);
int bc_matvec_nf4(const bc_quant_nf4 *w, const float *x, float *y, int n_threads,
                  bc_error *err);

/* Prefill: Y[m, rows] = X[m, cols] W^T. Tiles of W are dequantized into
 * `scratch` (bc_quant_matmul_scratch_floats(cols) floats per thread) and
 * multiplied in fp32. */
size_t bc_quant_matmul_scratch_floats(int64_t cols);
void bc_matmul_int8_rows(const bc_quant_int8 *w, const float *X, int64_t m, float *Y,
                         int64_t row_begin, int64_t row_end, float *scratch);
void bc_matmul_nf4_rows(const bc_quant_nf4 *w, const float *X, int64_t m, float *Y,
                        int64_t row_begin, int64_t row_end, float *scratch);
/* Dequantizes rows [row0, row0 + nrows) into dst[nrows, cols] (fp32, the
 * same values the kernels above multiply with): fp32 panels for the GEMM. */
void bc_dequant_int8_rows(const bc_quant_int8 *w, int64_t row0, int64_t nrows, float *dst);
void bc_dequant_nf4_rows(const bc_quant_nf4 *w, int64_t row0, int64_t nrows, float *dst);
int bc_matmul_int8(const bc_quant_int8 *w, const float *X, int64_t m, float *Y,
                   int n_threads, bc_error *err);
int bc_matmul_nf4(const bc_quant_nf4 *w, const float *X, int64_t m, float *Y,
                  int n_threads, bc_error *err);

#endif
