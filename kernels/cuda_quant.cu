/* INT8 / NF4 weights on the GPU, host side: device layout, online
 * quantization while loading, upload of a checkpoint's quantized weight,
 * download (tests), bytes per matvec and the synthetic fill.
 *
 * Online quantization streams the checkpoint tensor through the pinned
 * staging slots of cuda_load.cu, chunk by chunk, and quantizes each chunk
 * on the GPU straight into the tensor's final arrays; the 16-bit (or fp32)
 * weight is never whole on the device. Peak device memory while loading is
 * the final footprint plus the two staging slots, the fp32 block absmax of
 * the tensor in flight (NF4: 1/8 of its packed size, kept for the next
 * tensor) and the prefill tile scratch.
 *
 * NF4 always uses double quantization online (as Baichuan2's quantize(4)
 * and the CPU backend). Its offset is the mean of the block absmax, summed
 * here on the host in quant.c's order (a double accumulator, element 0
 * first), from the absmax downloaded once per tensor: a parallel sum on the
 * GPU would round differently. The signed dynamic map comes from quant.c
 * itself (linked into this module). */
#include <climits>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "cuda_common.cuh"

extern "C" {
#include "quant.h"
}

static size_t align256(size_t x) { return (x + 255) & ~(size_t)255; }
static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- device layout -------------------------------------------------------- */

typedef struct quant_layout {
    size_t codes, absmax, qabsmax, absmax2, code2;   /* byte offsets; SIZE_MAX: absent */
    size_t total;
} quant_layout;

static quant_layout layout_of(bc_store store, int64_t rows, int64_t cols, int double_quant) {
    quant_layout l;
    size_t n = (size_t)(rows * cols);
    l.absmax = l.qabsmax = l.absmax2 = l.code2 = SIZE_MAX;
    l.codes = 0;
    if (store == BC_STORE_INT8) {
        l.absmax = align256(n);
        l.total = align256(l.absmax + (size_t)rows * 4);
        return l;
    }
    size_t nblocks = (size_t)ceil_div((int64_t)n, BC_NF4_BLOCK);
    size_t off = align256((n + 1) / 2);
    if (double_quant) {
        l.qabsmax = off;
        l.absmax2 = align256(off + nblocks);
        l.code2 = align256(l.absmax2 + (size_t)ceil_div((int64_t)nblocks, BC_NF4_BLOCK2) * 4);
        l.total = align256(l.code2 + 256 * 4);
    } else {
        l.absmax = off;
        l.total = align256(off + nblocks * 4);
    }
    return l;
}

static int device_alloc(cuda_ctx *c, void **p, size_t bytes, const char *what, bc_error *err) {
    cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaSuccess) return 0;
    (void)cudaGetLastError();   /* an allocation failure is not sticky */
    *p = NULL;
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    return bc_errorf(err, "cuda backend: out of GPU memory: %s needs %.1f MiB, %.1f MiB free of "
                     "%.1f MiB (%.1f MiB already used by this model; try --quant nf4 or "
                     "--backend cpu)", what, (double)bytes / 1048576.0,
                     (double)free_b / 1048576.0, (double)total_b / 1048576.0,
                     (double)(c->weight_bytes + c->other_bytes) / 1048576.0);
}

/* Grow-only scratch, counted as "other" memory. */
static int reserve(cuda_ctx *c, void **p, size_t *have, size_t need, const char *what,
                   bc_error *err) {
    if (*have >= need) return 0;
    CUDA_TRY_ERR(err, cudaStreamSynchronize(c->stream));   /* the old one may be in use */
    cudaFree(*p);
    c->other_bytes -= *have;
    *have = 0;
    if (device_alloc(c, p, need, what, err)) return -1;
    *have = need;
    c->other_bytes += need;
    return 0;
}

void bc_cuda_quant_free_scratch(cuda_ctx *c) {
    cudaFree(c->deq16);
    cudaFree(c->quant_absmax);
    cudaFree(c->bad_element);
    c->deq16 = NULL;
    c->quant_absmax = NULL;
    c->bad_element = NULL;
    c->deq16_bytes = c->quant_absmax_bytes = 0;
}

/* Allocates t's arrays (once) and the prefill tile scratch for its shape. */
static int quant_alloc(cuda_ctx *c, bc_btensor *t, int double_quant, const char *name,
                       bc_error *err) {
    if (t->q.loaded || t->d)
        return bc_errorf(err, "tensor %s: loaded twice", name);
    int64_t tile = bc_cuda_quant_tile_rows(t->rows, t->cols);
    if (reserve(c, &c->deq16, &c->deq16_bytes, (size_t)(tile * t->cols) * 2,
                "the quantized prefill tile", err))
        return -1;
    bool nf4 = t->store == BC_STORE_NF4;
    quant_layout l = layout_of(t->store, t->rows, t->cols, nf4 && double_quant);
    char what[160];
    snprintf(what, sizeof what, "tensor %s ([%lld, %lld] in %s)", name, (long long)t->rows,
             (long long)t->cols, bc_cuda_store_name(t->store));
    if (device_alloc(c, &t->d, l.total, what, err)) return -1;
    char *base = (char *)t->d;
    t->bytes = l.total;
    t->q.double_quant = nf4 && double_quant;
    t->q.nblocks = nf4 ? ceil_div(t->rows * t->cols, BC_NF4_BLOCK) : 0;
    t->q.codes = base + l.codes;
    t->q.absmax = l.absmax != SIZE_MAX ? (float *)(base + l.absmax) : NULL;
    t->q.qabsmax = l.qabsmax != SIZE_MAX ? (uint8_t *)(base + l.qabsmax) : NULL;
    t->q.absmax2 = l.absmax2 != SIZE_MAX ? (float *)(base + l.absmax2) : NULL;
    t->q.code2 = l.code2 != SIZE_MAX ? (float *)(base + l.code2) : NULL;
    if (t->weight) c->weight_bytes += t->bytes; else c->other_bytes += t->bytes;
    return 0;
}

/* ---- online quantization -------------------------------------------------- */

static size_t dtype_bytes(bc_dtype d) { return d == BC_DTYPE_F32 ? 4 : 2; }

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) { int64_t t = a % b; a = b; b = t; }
    return a;
}

/* The element behind a non-finite report, read back from the source for the
 * message (the reference's wording). */
static const char *nonfinite_kind(const bc_tensor *src, uint64_t e) {
    float v;
    if (src->dtype == BC_DTYPE_F32) {
        memcpy(&v, (const char *)src->data + e * 4, 4);
        return std::isnan(v) ? "NaN" : "infinite";
    }
    uint16_t h;
    memcpy(&h, (const char *)src->data + e * 2, 2);
    bool nan = src->dtype == BC_DTYPE_BF16 ? (h & 0x7f80u) == 0x7f80u && (h & 0x7fu)
                                           : (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
    return nan ? "NaN" : "infinite";
}

int bc_cuda_quant_load_online(cuda_ctx *c, bc_btensor *t, const bc_tensor *src,
                              const float *row_scale, bc_load_progress_fn progress, void *user,
                              bc_error *err) {
    if (row_scale)
        return bc_errorf(err, "tensor %s: row scaling is not supported for quantized storage",
                         src->name);
    bool nf4 = t->store == BC_STORE_NF4;
    if (quant_alloc(c, t, 1, src->name, err)) return -1;
    int64_t rows = t->rows, cols = t->cols;
    if (nf4) {
        float map[256];
        bc_quant_dynamic_map(map);
        CUDA_TRY_ERR(err, cudaMemcpyAsync(t->q.code2, map, sizeof map, cudaMemcpyHostToDevice,
                                          c->stream));
        if (reserve(c, (void **)&c->quant_absmax, &c->quant_absmax_bytes,
                    (size_t)t->q.nblocks * 4, "the NF4 block absmax", err))
            return -1;
    }
    if (!c->bad_element) {
        if (device_alloc(c, (void **)&c->bad_element, sizeof *c->bad_element,
                         "a flag", err))
            return -1;
        c->other_bytes += sizeof *c->bad_element;
    }
    CUDA_TRY_ERR(err, cudaMemsetAsync(c->bad_element, 0xff, sizeof *c->bad_element, c->stream));

    /* NF4 chunks start on a block: rows per chunk a multiple of 64/gcd(cols, 64). */
    int64_t align_rows = nf4 ? BC_NF4_BLOCK / gcd64(cols, BC_NF4_BLOCK) : 1;
    size_t row_bytes = (size_t)cols * dtype_bytes(src->dtype);
    if (bc_cuda_staging_reserve(c, (size_t)align_rows * row_bytes + 512, err)) return -1;
    cuda_staging *s = &c->staging;
    int64_t block_rows = (int64_t)((s->bytes - 256) / row_bytes);
    block_rows -= block_rows % align_rows;
    float *absmax = nf4 ? c->quant_absmax : t->q.absmax;
    const unsigned char *base = (const unsigned char *)src->data;
    uint64_t done = 0, reported = 0;
    int slot = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += block_rows, slot ^= 1) {
        int64_t nr = rows - r0 < block_rows ? rows - r0 : block_rows;
        size_t bytes = (size_t)nr * row_bytes;
        if (!CUDA_OK(c, cudaEventSynchronize(s->done[slot]))) break;
        memcpy(s->host[slot], base + (size_t)r0 * row_bytes, bytes);
        if (!CUDA_OK(c, cudaMemcpyAsync(s->dev[slot], s->host[slot], bytes,
                                        cudaMemcpyHostToDevice, c->stream)))
            break;
        if (nf4)
            bc_cuda_quantize_nf4_chunk(c, s->dev[slot], src->dtype, nr * cols, r0 * cols,
                                       (uint8_t *)t->q.codes, absmax, c->bad_element);
        else
            bc_cuda_quantize_int8_rows(c, s->dev[slot], src->dtype, nr, cols, r0,
                                       (int8_t *)t->q.codes, absmax, c->bad_element);
        if (c->failed || !CUDA_OK(c, cudaEventRecord(s->done[slot], c->stream))) break;
        done += bytes;
        if (progress && (done - reported >= (64u << 20) || r0 + nr >= rows)) {
            progress(user, done);
            reported = done;
        }
    }
    if (c->failed) return bc_errorf(err, "tensor %s: %s", src->name, c->failure);

    unsigned long long bad = ULLONG_MAX;
    CUDA_TRY_ERR(err, cudaMemcpyAsync(&bad, c->bad_element, sizeof bad, cudaMemcpyDeviceToHost,
                                      c->stream));
    float *host_absmax = NULL;
    if (nf4) {
        host_absmax = (float *)malloc((size_t)t->q.nblocks * 4);
        if (!host_absmax) return bc_errorf(err, "tensor %s: out of host memory", src->name);
        cudaError_t e = cudaMemcpyAsync(host_absmax, absmax, (size_t)t->q.nblocks * 4,
                                        cudaMemcpyDeviceToHost, c->stream);
        if (e != cudaSuccess) free(host_absmax);
        CUDA_TRY_ERR(err, e);
    }
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) free(host_absmax);
    CUDA_TRY_ERR(err, e);
    if (bad != ULLONG_MAX) {
        free(host_absmax);
        return bc_errorf(err, "tensor %s: element [%lld, %lld] is %s; quantization needs finite "
                         "weights", src->name, (long long)(bad / (uint64_t)cols),
                         (long long)(bad % (uint64_t)cols), nonfinite_kind(src, bad));
    }
    if (nf4) {
        /* quant.c nf4_double_quant: the same sum, the same division */
        double sum = 0.0;
        for (int64_t b = 0; b < t->q.nblocks; b++) sum += host_absmax[b];
        t->q.offset = (float)(sum / (double)t->q.nblocks);
        free(host_absmax);
        bc_cuda_nf4_double_quant(c, absmax, t->q.nblocks, t->q.offset, t->q.code2, t->q.qabsmax,
                                 t->q.absmax2);
        if (c->failed) return bc_errorf(err, "tensor %s: %s", src->name, c->failure);
    }
    t->q.loaded = true;
    return 0;
}

/* ---- a quantized checkpoint weight, as it is --------------------------------- */

static int upload(cuda_ctx *c, void *dst, const void *src, size_t bytes, bc_error *err) {
    if (!bytes) return 0;
    CUDA_TRY_ERR(err, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
    return 0;
}

int bc_cuda_quant_upload(cuda_ctx *c, bc_btensor *t, const bc_quant_tensor *q, bc_error *err) {
    bool int8 = q->format == BC_QUANT_INT8;
    bc_store want = int8 ? BC_STORE_INT8 : BC_STORE_NF4;
    if (q->format != BC_QUANT_INT8 && q->format != BC_QUANT_NF4)
        return bc_errorf(err, "cuda backend: unknown quantized format %d", (int)q->format);
    int64_t rows = int8 ? q->int8.rows : q->nf4.rows, cols = int8 ? q->int8.cols : q->nf4.cols;
    if (t->store != want)
        return bc_errorf(err, "cuda backend: a %s weight cannot go into %s storage",
                         bc_cuda_store_name(want), bc_cuda_store_name(t->store));
    if (rows != t->rows || cols != t->cols)
        return bc_errorf(err, "cuda backend: quantized weight [%lld, %lld] for a [%lld, %lld] "
                         "tensor", (long long)rows, (long long)cols, (long long)t->rows,
                         (long long)t->cols);
    size_t n = (size_t)(rows * cols);
    if (int8) {
        if (!q->int8.q || !q->int8.absmax)
            return bc_errorf(err, "cuda backend: int8 weight without codes or scales");
        if (quant_alloc(c, t, 0, "(quantized checkpoint weight)", err)) return -1;
        if (upload(c, t->q.codes, q->int8.q, n, err) ||
            upload(c, t->q.absmax, q->int8.absmax, (size_t)rows * 4, err))
            return -1;
    } else {
        const bc_quant_nf4 *w = &q->nf4;
        int64_t nblocks = ceil_div((int64_t)n, BC_NF4_BLOCK);
        if (w->nblocks != nblocks || !w->packed ||
            (w->double_quant ? !w->qabsmax || !w->absmax2 : !w->absmax))
            return bc_errorf(err, "cuda backend: nf4 weight [%lld, %lld] has %lld blocks or "
                             "missing arrays", (long long)rows, (long long)cols,
                             (long long)w->nblocks);
        if (quant_alloc(c, t, w->double_quant, "(quantized checkpoint weight)", err)) return -1;
        if (upload(c, t->q.codes, w->packed, (n + 1) / 2, err)) return -1;
        if (w->double_quant) {
            t->q.offset = w->offset;
            if (upload(c, t->q.qabsmax, w->qabsmax, (size_t)nblocks, err) ||
                upload(c, t->q.absmax2, w->absmax2,
                       (size_t)ceil_div(nblocks, BC_NF4_BLOCK2) * 4, err) ||
                upload(c, t->q.code2, w->code2, sizeof w->code2, err))
                return -1;
        } else if (upload(c, t->q.absmax, w->absmax, (size_t)nblocks * 4, err)) {
            return -1;
        }
    }
    /* q's host memory is the caller's and freed right after: wait for the copies */
    CUDA_TRY_ERR(err, cudaStreamSynchronize(c->stream));
    t->q.loaded = true;
    return 0;
}

/* ---- download (tests): the layout bc_quant_*_free expects ------------------- */

static int download(cuda_ctx *c, void *dst, const void *src, size_t bytes, bc_error *err) {
    if (!bytes) return 0;
    CUDA_TRY_ERR(err, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    return 0;
}

int bc_cuda_quant_download(cuda_ctx *c, const bc_btensor *t, bc_quant_tensor *out,
                           bc_error *err) {
    memset(out, 0, sizeof *out);
    if (!bc_cuda_store_quantized(t->store) || !t->q.loaded)
        return bc_errorf(err, "cuda backend: download of a tensor that holds no quantized weight");
    int64_t rows = t->rows, cols = t->cols;
    size_t n = (size_t)(rows * cols);
    if (t->store == BC_STORE_INT8) {
        size_t qbytes = align64(n);
        char *mem = (char *)malloc(qbytes + (size_t)rows * 4);
        if (!mem) return bc_errorf(err, "out of host memory");
        out->format = BC_QUANT_INT8;
        bc_quant_int8 *w = &out->int8;
        w->rows = rows; w->cols = cols; w->storage = mem;
        w->q = (int8_t *)mem;
        w->absmax = (float *)(mem + qbytes);
        if (download(c, w->q, t->q.codes, n, err) ||
            download(c, w->absmax, t->q.absmax, (size_t)rows * 4, err)) {
            bc_quant_tensor_free(out);
            return -1;
        }
    } else {
        int64_t nblocks = t->q.nblocks, nb2 = ceil_div(nblocks, BC_NF4_BLOCK2);
        size_t packed = align64((n + 1) / 2);
        size_t rest = t->q.double_quant ? align64((size_t)nblocks) + (size_t)nb2 * 4
                                        : (size_t)nblocks * 4;
        char *mem = (char *)malloc(packed + rest);
        if (!mem) return bc_errorf(err, "out of host memory");
        out->format = BC_QUANT_NF4;
        bc_quant_nf4 *w = &out->nf4;
        w->rows = rows; w->cols = cols; w->nblocks = nblocks; w->storage = mem;
        w->packed = (uint8_t *)mem;
        w->double_quant = t->q.double_quant;
        int rc = download(c, w->packed, t->q.codes, (n + 1) / 2, err);
        if (w->double_quant) {
            w->qabsmax = (uint8_t *)(mem + packed);
            w->absmax2 = (float *)(mem + packed + align64((size_t)nblocks));
            w->offset = t->q.offset;
            if (!rc) rc = download(c, w->qabsmax, t->q.qabsmax, (size_t)nblocks, err);
            if (!rc) rc = download(c, w->absmax2, t->q.absmax2, (size_t)nb2 * 4, err);
            if (!rc) rc = download(c, w->code2, t->q.code2, sizeof w->code2, err);
        } else {
            w->absmax = (float *)(mem + packed);
            if (!rc) rc = download(c, w->absmax, t->q.absmax, (size_t)nblocks * 4, err);
        }
        if (rc) { bc_quant_tensor_free(out); return -1; }
    }
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) bc_quant_tensor_free(out);
    CUDA_TRY_ERR(err, e);
    return 0;
}

uint64_t bc_cuda_quant_matvec_bytes(const bc_btensor *t) {
    uint64_t n = (uint64_t)t->rows * (uint64_t)t->cols;
    if (t->store == BC_STORE_INT8) return n + (uint64_t)t->rows * 4u;
    uint64_t nblocks = (n + BC_NF4_BLOCK - 1) / BC_NF4_BLOCK;
    uint64_t bytes = (n + 1) / 2;
    if (t->q.loaded && !t->q.double_quant) return bytes + nblocks * 4u;
    return bytes + nblocks + (nblocks + BC_NF4_BLOCK2 - 1) / BC_NF4_BLOCK2 * 4u;
}

/* ---- synthetic weights ------------------------------------------------------ */

/* Random codes; every scale near `scale` (int8: absmax = scale; nf4 double
 * quant: code2[q] * 0.1*scale + scale, within +-10% of scale). */
int bc_cuda_quant_fill_random(cuda_ctx *c, bc_btensor *t, uint64_t seed, float scale,
                              bc_error *err) {
    if (quant_alloc(c, t, 1, "(synthetic)", err)) return -1;
    size_t n = (size_t)(t->rows * t->cols);
    if (t->store == BC_STORE_INT8) {
        bc_cuda_fill_bytes(c, t->q.codes, n, seed);
        bc_cuda_fill_f32(c, t->q.absmax, (size_t)t->rows, scale);
    } else {
        float map[256];
        bc_quant_dynamic_map(map);
        CUDA_TRY_ERR(err, cudaMemcpyAsync(t->q.code2, map, sizeof map, cudaMemcpyHostToDevice,
                                          c->stream));
        /* the host map must outlive the copy */
        CUDA_TRY_ERR(err, cudaStreamSynchronize(c->stream));
        bc_cuda_fill_bytes(c, t->q.codes, (n + 1) / 2, seed);
        bc_cuda_fill_bytes(c, t->q.qabsmax, (size_t)t->q.nblocks, seed ^ 0x5bd1e995u);
        bc_cuda_fill_f32(c, t->q.absmax2, (size_t)ceil_div(t->q.nblocks, BC_NF4_BLOCK2),
                         0.1f * scale);
        t->q.offset = scale;
    }
    if (c->failed) return bc_errorf(err, "%s", c->failure);
    t->q.loaded = true;
    return 0;
}
