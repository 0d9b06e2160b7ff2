/* AVX2 / AVX-512 decode (matvec) kernels for int8 and NF4 weights.
 *
 * Decode streams each weight once, so the kernels must turn bytes into fp32
 * products faster than memory delivers them (~10+ GB/s per core here, i.e.
 * ~20 G NF4 weights/s). What limits them is the number of vector uops per
 * weight on the two 512-bit ports, so the loops are built to minimize it:
 *
 * NF4: 64 bytes of codes are loaded as 16 32-bit lanes; vpermps looks only
 *   at the low 4 bits of each lane, so code s of every lane is a shift by 4s
 *   and one 16-entry table lookup away (x is laid out to match, see
 *   quant_kernels_impl.h). Per 16 weights: <= 1 shift, 1 lookup, 1 FMA. The
 *   128 weights of a 64-byte chunk are two NF4 blocks: lanes 0-7 belong to the
 *   first, lanes 8-15 to the second. The chunk's products are summed
 *   unscaled, then added into two accumulators, one per block parity, each
 *   with its block's scale (one FMA each); the final sum takes lanes 0-7 of
 *   the even one and lanes 8-15 of the odd one.
 * int8: 16 codes sign-extended to 32 bits and converted (2 uops), one FMA;
 *   the row's scale multiplies the finished dot product.
 * Both process several rows per pass, so each x vector is loaded once for
 * all of them and the rows' dependency chains interleave.
 *
 * Every function carries its own target attribute; quant_kernels.c only
 * calls them after checking the CPU. */
#include "quant_kernels_impl.h"

#include "quant.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define T512 __attribute__((target("avx512f,avx512bw,avx2,fma")))
#define T256 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

enum { NF4_ROWS = 4, INT8_ROWS = 4 };

/* Software prefetch. A group of R rows is one contiguous stretch of memory
 * read as R interleaved streams, which the hardware prefetchers follow
 * poorly (measured: the 4-row kernels lost a third of their speed without
 * it). So while a group is processed, the next group's bytes are prefetched
 * linearly at the rate this one is consumed: one cache line per row step. */
#define PREFETCH_LINE(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)

/* ---- AVX-512 ------------------------------------------------------------- */

/* The 8 products of one lane group: codes in v, x chunk at xc (8 x 16). */
INLINE T512 __m512 nf4_chunk512(__m512i v, __m512 lut, const float *xc) {
    __m512 s = _mm512_mul_ps(_mm512_permutexvar_ps(v, lut), _mm512_loadu_ps(xc));
    s = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), lut),
                        _mm512_loadu_ps(xc + 16), s);
    s = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 8), lut),
                        _mm512_loadu_ps(xc + 32), s);
    s = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 12), lut),
                        _mm512_loadu_ps(xc + 48), s);
    s = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 16), lut),
                        _mm512_loadu_ps(xc + 64), s);
    s = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 20), lut),
                        _mm512_loadu_ps(xc + 80), s);
    s = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 24), lut),
                        _mm512_loadu_ps(xc + 96), s);
    s = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(v, 28), lut),
                        _mm512_loadu_ps(xc + 112), s);
    return s;
}

/* Scale of block i (index from the first row of the call), plain or
 * double-quantized (dq is a constant after inlining). */
INLINE float scale_at(const bc_nf4_scales *s, int64_t i, const int dq) {
    if (!dq) return s->direct[i];
    return s->tables[(((s->first_block + i) >> 8) & s->table_mask) * 256 + s->code[i]];
}

/* R rows (R and dq are compile-time constants after inlining) in one pass
 * over x; rows and scales start at row0 of the call.
 *
 * Scales: the pass runs in phases of chunks over which every row's even and
 * odd block each stay inside one absmax2 group; within a phase a scale is
 * table[code] with a fixed table per row and parity (for plain absmax the
 * row's scale array), so the inner loop spends no arithmetic on it. */
INLINE T512 void nf4_group512(const uint8_t *p, int64_t row_bytes, const float *xl,
                              const bc_nf4_scales *sc, int64_t row0, int64_t nblk, float *y,
                              const int R, const int dq) {
    const __m512 lut = _mm512_loadu_ps(bc_nf4_code);
    __m512 acc_even[NF4_ROWS], acc_odd[NF4_ROWS];
    for (int r = 0; r < R; r++) acc_even[r] = acc_odd[r] = _mm512_setzero_ps();
    int64_t chunks = nblk / 2;
    const uint8_t *code[NF4_ROWS];
    const float *tab_even[NF4_ROWS], *tab_odd[NF4_ROWS];
    for (int64_t c0 = 0; c0 < chunks;) {
        int64_t c1 = chunks;
        for (int r = 0; r < R; r++) {
            if (!dq) { /* one phase: "tables" are the scale arrays, "codes" 0, 1, 2... */
                tab_even[r] = sc->direct + (row0 + r) * nblk;
                tab_odd[r] = tab_even[r] + 1;
                continue;
            }
            code[r] = sc->code + (row0 + r) * nblk;
            int64_t base = sc->first_block + (row0 + r) * nblk;  /* global block of the row */
            int64_t ge = (base + 2 * c0) >> 8, go = (base + 2 * c0 + 1) >> 8;
            tab_even[r] = sc->tables + (ge & sc->table_mask) * 256;
            tab_odd[r] = sc->tables + (go & sc->table_mask) * 256;
            /* first chunk whose even / odd block lies in the following group */
            int64_t ce = ((ge + 1) * 256 - base + 1) / 2, co = ((go + 1) * 256 - base) / 2;
            if (ce < c1) c1 = ce;
            if (co < c1) c1 = co;
        }
        for (int64_t c = c0; c < c1; c++) {
            const float *xc = xl + c * 128;
            for (int r = 0; r < R; r++) {
                const uint8_t *pr = p + r * row_bytes + c * 64;
                PREFETCH_LINE(p + R * row_bytes + (c * R + r) * 64);
                __m512 s = nf4_chunk512(_mm512_loadu_si512(pr), lut, xc);
                float se = dq ? tab_even[r][code[r][2 * c]] : tab_even[r][2 * c];
                float so = dq ? tab_odd[r][code[r][2 * c + 1]] : tab_odd[r][2 * c];
                acc_even[r] = _mm512_fmadd_ps(s, _mm512_set1_ps(se), acc_even[r]);
                acc_odd[r] = _mm512_fmadd_ps(s, _mm512_set1_ps(so), acc_odd[r]);
            }
        }
        c0 = c1;
    }
    if (nblk & 1) { /* one block left: lanes 0-7; x is zero-padded in lanes 8-15 */
        const float *xc = xl + chunks * 128;
        for (int r = 0; r < R; r++) {
            __m512i v = _mm512_maskz_loadu_epi32(0x00ff, p + r * row_bytes + chunks * 64);
            __m512 s = nf4_chunk512(v, lut, xc);
            int64_t i = (row0 + r) * nblk + 2 * chunks;
            acc_even[r] = _mm512_fmadd_ps(s, _mm512_set1_ps(scale_at(sc, i, dq)), acc_even[r]);
        }
    }
    for (int r = 0; r < R; r++)
        y[r] = _mm512_reduce_add_ps(_mm512_mask_blend_ps(0xff00, acc_even[r], acc_odd[r]));
}

/* tab[q] = code2[q] * a2 + offset for q < 256: a multiply, then an add (two
 * roundings, as bnb's dequantization; ISO C mode does not fuse them). */
T512 void bc_nf4_scale_table_avx512(const float *code2, float a2, float offset, float *tab) {
    const __m512 va2 = _mm512_set1_ps(a2), voff = _mm512_set1_ps(offset);
    for (int q = 0; q < 256; q += 16)
        _mm512_storeu_ps(tab + q, _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(code2 + q), va2),
                                                voff));
}

static T512 void nf4_rows512(const uint8_t *packed, int64_t row_bytes, const float *xl,
                             const bc_nf4_scales *sc, int64_t nblk, int64_t nrows, float *y,
                             const int dq) {
    int64_t r = 0;
    for (; r + NF4_ROWS <= nrows; r += NF4_ROWS)
        nf4_group512(packed + r * row_bytes, row_bytes, xl, sc, r, nblk, y + r, NF4_ROWS, dq);
    for (; r < nrows; r++)
        nf4_group512(packed + r * row_bytes, row_bytes, xl, sc, r, nblk, y + r, 1, dq);
}

T512 void bc_nf4_rows_avx512(const uint8_t *packed, int64_t row_bytes, const float *xl,
                             const bc_nf4_scales *scales, int64_t nblk, int64_t nrows,
                             float *y) {
    if (scales->direct) nf4_rows512(packed, row_bytes, xl, scales, nblk, nrows, y, 0);
    else nf4_rows512(packed, row_bytes, xl, scales, nblk, nrows, y, 1);
}

INLINE T512 void int8_group512(const int8_t *q, int64_t cols, const float *x,
                               const float *absmax, float *y, const int R) {
    __m512 a0[INT8_ROWS], a1[INT8_ROWS];
    for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= cols; k += 32) {
        __m512 x0 = _mm512_loadu_ps(x + k), x1 = _mm512_loadu_ps(x + k + 16);
        for (int r = 0; r < R; r++) {
            const int8_t *qr = q + r * cols + k;
            if ((k & 63) == 0) PREFETCH_LINE(q + R * cols + (k / 64 * R + r) * 64);
            __m512i i0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qr));
            __m512i i1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(qr + 16)));
            a0[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), x0, a0[r]);
            a1[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1), x1, a1[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        float dot = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
        for (int64_t i = k; i < cols; i++) dot += (float)q[r * cols + i] * x[i];
        y[r] = dot * (absmax[r] * (1.0f / 127.0f));
    }
}

T512 void bc_int8_rows_avx512(const int8_t *q, int64_t cols, const float *x,
                              const float *absmax, int64_t nrows, float *y) {
    int64_t r = 0;
    for (; r + INT8_ROWS <= nrows; r += INT8_ROWS)
        int8_group512(q + r * cols, cols, x, absmax + r, y + r, INT8_ROWS);
    for (; r < nrows; r++) int8_group512(q + r * cols, cols, x, absmax + r, y + r, 1);
}

/* ---- AVX2 + FMA ------------------------------------------------------------ */

INLINE T256 float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* vpermps has 8 entries on AVX2: look the code up in both halves of the
 * table and pick by its bit 3, moved into the sign bit by a left shift. */
#define NF4_LOOKUP256(v, s)                                                                \
    _mm256_blendv_ps(_mm256_permutevar8x32_ps(lut_lo, _mm256_srli_epi32(v, 4 * (s))),     \
                     _mm256_permutevar8x32_ps(lut_hi, _mm256_srli_epi32(v, 4 * (s))),     \
                     _mm256_castsi256_ps(_mm256_slli_epi32(v, 28 - 4 * (s))))

/* One block (32 bytes = 8 lanes x 8 codes) against its x chunk (8 x 8). */
INLINE T256 __m256 nf4_block256(__m256i v, __m256 lut_lo, __m256 lut_hi, const float *xc) {
    __m256 s = _mm256_mul_ps(NF4_LOOKUP256(v, 0), _mm256_loadu_ps(xc));
    s = _mm256_fmadd_ps(NF4_LOOKUP256(v, 1), _mm256_loadu_ps(xc + 8), s);
    s = _mm256_fmadd_ps(NF4_LOOKUP256(v, 2), _mm256_loadu_ps(xc + 16), s);
    s = _mm256_fmadd_ps(NF4_LOOKUP256(v, 3), _mm256_loadu_ps(xc + 24), s);
    s = _mm256_fmadd_ps(NF4_LOOKUP256(v, 4), _mm256_loadu_ps(xc + 32), s);
    s = _mm256_fmadd_ps(NF4_LOOKUP256(v, 5), _mm256_loadu_ps(xc + 40), s);
    s = _mm256_fmadd_ps(NF4_LOOKUP256(v, 6), _mm256_loadu_ps(xc + 48), s);
    s = _mm256_fmadd_ps(NF4_LOOKUP256(v, 7), _mm256_loadu_ps(xc + 56), s);
    return s;
}

/* Two rows per pass: AVX2 has 16 ymm registers. */
enum { NF4_ROWS_AVX2 = 2 };

INLINE T256 void nf4_group256(const uint8_t *p, int64_t row_bytes, const float *xl,
                              const bc_nf4_scales *sc, int64_t row0, int64_t nblk, float *y,
                              const int R, const int dq) {
    const __m256 lut_lo = _mm256_loadu_ps(bc_nf4_code);
    const __m256 lut_hi = _mm256_loadu_ps(bc_nf4_code + 8);
    __m256 acc[NF4_ROWS_AVX2];
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nblk; b++) {
        for (int r = 0; r < R; r++) {
            if ((b & 1) == 0) PREFETCH_LINE(p + R * row_bytes + (b / 2 * R + r) * 64);
            __m256i v = _mm256_loadu_si256((const __m256i *)(p + r * row_bytes + b * 32));
            __m256 s = nf4_block256(v, lut_lo, lut_hi, xl + b * 64);
            float scale = scale_at(sc, (row0 + r) * nblk + b, dq);
            acc[r] = _mm256_fmadd_ps(s, _mm256_set1_ps(scale), acc[r]);
        }
    }
    for (int r = 0; r < R; r++) y[r] = hsum256(acc[r]);
}

static T256 void nf4_rows256(const uint8_t *packed, int64_t row_bytes, const float *xl,
                             const bc_nf4_scales *sc, int64_t nblk, int64_t nrows, float *y,
                             const int dq) {
    int64_t r = 0;
    for (; r + NF4_ROWS_AVX2 <= nrows; r += NF4_ROWS_AVX2)
        nf4_group256(packed + r * row_bytes, row_bytes, xl, sc, r, nblk, y + r,
                     NF4_ROWS_AVX2, dq);
    for (; r < nrows; r++)
        nf4_group256(packed + r * row_bytes, row_bytes, xl, sc, r, nblk, y + r, 1, dq);
}

T256 void bc_nf4_rows_avx2(const uint8_t *packed, int64_t row_bytes, const float *xl,
                           const bc_nf4_scales *scales, int64_t nblk, int64_t nrows, float *y) {
    if (scales->direct) nf4_rows256(packed, row_bytes, xl, scales, nblk, nrows, y, 0);
    else nf4_rows256(packed, row_bytes, xl, scales, nblk, nrows, y, 1);
}

INLINE T256 void int8_group256(const int8_t *q, int64_t cols, const float *x,
                               const float *absmax, float *y, const int R) {
    __m256 a0[INT8_ROWS], a1[INT8_ROWS];
    for (int r = 0; r < R; r++) a0[r] = a1[r] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= cols; k += 16) {
        __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
        for (int r = 0; r < R; r++) {
            const int8_t *qr = q + r * cols + k;
            if ((k & 63) == 0) PREFETCH_LINE(q + R * cols + (k / 64 * R + r) * 64);
            __m256i i0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)qr));
            __m256i i1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(qr + 8)));
            a0[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i0), x0, a0[r]);
            a1[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i1), x1, a1[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        float dot = hsum256(_mm256_add_ps(a0[r], a1[r]));
        for (int64_t i = k; i < cols; i++) dot += (float)q[r * cols + i] * x[i];
        y[r] = dot * (absmax[r] * (1.0f / 127.0f));
    }
}

T256 void bc_int8_rows_avx2(const int8_t *q, int64_t cols, const float *x,
                            const float *absmax, int64_t nrows, float *y) {
    int64_t r = 0;
    for (; r + INT8_ROWS <= nrows; r += INT8_ROWS)
        int8_group256(q + r * cols, cols, x, absmax + r, y + r, INT8_ROWS);
    for (; r < nrows; r++) int8_group256(q + r * cols, cols, x, absmax + r, y + r, 1);
}

#endif /* x86-64 */

/* ---- x layout (any architecture) ---------------------------------------------- */

void bc_nf4_layout_x(const float *x, int64_t cols, int lanes, float *xl) {
    static const int t[8] = {1, 0, 3, 2, 5, 4, 7, 6};
    int64_t chunk = 8 * (int64_t)lanes;
    for (int64_t c0 = 0; c0 < cols; c0 += chunk)
        for (int s = 0; s < 8; s++)
            for (int j = 0; j < lanes; j++) {
                int64_t e = c0 + 8 * j + t[s];
                xl[c0 + s * lanes + j] = e < cols ? x[e] : 0.0f;
            }
}
