/* Internal interface between quant_kernels.c (dispatch, drivers, portable C)
 * and quant_matvec_x86.c (AVX2 / AVX-512 decode kernels). Not installed.
 *
 * NF4 x layout ("lane-major"). The SIMD kernels read W's packed bytes as
 * 32-bit lanes: lane j of a vector holds bytes 4j..4j+3, i.e. 8 codes, and
 * the code in bits [4s+3 : 4s] (s = 0..7) is byte 4j + s/2, low nibble for
 * even s (element 2*byte + 1), high nibble for odd s (element 2*byte). A
 * table lookup (vpermps) only looks at the low 4 bits of each lane, so the
 * s-th code of every lane is one shift by 4s away: no unpacking of nibbles
 * into bytes. x is rearranged once per matvec to match: in a chunk of
 * 8 * L elements (L = lanes: 16 for AVX-512, 8 for AVX2)
 *     xl[chunk + s*L + j] = x[chunk + 8j + t(s)],  t = {1,0,3,2,5,4,7,6}
 * and a partial last chunk is padded with zeros. */
#ifndef BC_QUANT_KERNELS_IMPL_H
#define BC_QUANT_KERNELS_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* Rearranges x[cols] into xl (round_up(cols, 8 * lanes) floats). */
void bc_nf4_layout_x(const float *x, int64_t cols, int lanes, float *xl);

/* Where the NF4 kernels find block scales, for rows [0, nrows) of a call.
 * Plain absmax: row r, block b has scale direct[r * nblk + b].
 * Double quantization: its global block index is g = first_block + r * nblk
 * + b and its scale is tables[((g >> 8) & table_mask) * 256 + code[r * nblk
 * + b]]: the caller tabulates, for each absmax2 group (256 blocks) the rows
 * touch, the 256 values code2[q] * absmax2 + offset in a ring of
 * table_mask + 1 tables. The kernels then decode a scale with two loads,
 * inside their loops, where the load ports have room to spare. */
typedef struct bc_nf4_scales {
    const float *direct;     /* plain: [nrows][nblk]; NULL for double quantization */
    const uint8_t *code;     /* dq: [nrows][nblk] 8-bit absmax codes */
    const float *tables;     /* dq: [table_mask + 1][256] */
    int64_t first_block;     /* dq: global block index of code[0] */
    int64_t table_mask;      /* dq: ring size - 1 (ring size a power of two) */
} bc_nf4_scales;

static inline float bc_nf4_scale_at(const bc_nf4_scales *s, int64_t i) {
    if (s->direct) return s->direct[i];
    return s->tables[(((s->first_block + i) >> 8) & s->table_mask) * 256 + s->code[i]];
}

/* Rows of NF4 codes whose blocks do not straddle rows (cols % 64 == 0):
 * packed: the first row's bytes, rows row_bytes (= cols / 2) apart; xl: x in
 * the layout above; y[nrows]. */
void bc_nf4_rows_avx512(const uint8_t *packed, int64_t row_bytes, const float *xl,
                        const bc_nf4_scales *scales, int64_t nblk, int64_t nrows, float *y);
void bc_nf4_rows_avx2(const uint8_t *packed, int64_t row_bytes, const float *xl,
                      const bc_nf4_scales *scales, int64_t nblk, int64_t nrows, float *y);

/* tab[q] = code2[q] * a2 + offset (multiply, then add: two roundings). */
void bc_nf4_scale_table_avx512(const float *code2, float a2, float offset, float *tab);

/* int8 rows: q [nrows][cols], y[r] = (sum_c q[r][c] x[c]) * (absmax[r] / 127). */
void bc_int8_rows_avx512(const int8_t *q, int64_t cols, const float *x, const float *absmax,
                         int64_t nrows, float *y);
void bc_int8_rows_avx2(const int8_t *q, int64_t cols, const float *x, const float *absmax,
                       int64_t nrows, float *y);

#endif
