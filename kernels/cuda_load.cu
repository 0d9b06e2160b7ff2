/* Weight upload: a checkpoint tensor (host memory, usually an mmapped file)
 * streams to the GPU in row blocks through two pinned staging slots, so the
 * host copies block i+1 out of the page cache while the GPU transfers and
 * converts block i. There is never a full host copy of a tensor.
 *
 *   host: memcpy(mmap -> pinned slot)            (reads the file)
 *   GPU:  cudaMemcpyAsync(pinned -> device slot)  (PCIe / NVLink-C2C)
 *         convert kernel (dtype -> store, x row_scale) -> destination rows
 *
 * When the source dtype is already the storage and nothing is scaled, the
 * pinned slot is copied straight into the destination rows. NormHead's row
 * scales ride in the same slot, after the block's data. */
#include <cstring>

#include "cuda_common.cuh"

/* 16 MiB per slot: large enough that each cudaMemcpyAsync runs at full link
 * speed, small enough that the pinned memory is cheap. */
#define STAGING_MIN_BYTES ((size_t)16 << 20)

void bc_cuda_staging_free(cuda_ctx *c) {
    cuda_staging *s = &c->staging;
    for (int i = 0; i < BC_CUDA_STAGING_SLOTS; i++) {
        if (s->event_made[i]) cudaEventDestroy(s->done[i]);
        if (s->host[i]) cudaFreeHost(s->host[i]);
        if (s->dev[i]) cudaFree(s->dev[i]);
        s->event_made[i] = false;
        s->host[i] = s->dev[i] = NULL;
    }
    s->bytes = 0;
}

/* Makes both slots at least `bytes` large (grown only for very wide rows). */
int bc_cuda_staging_reserve(cuda_ctx *c, size_t bytes, bc_error *err) {
    cuda_staging *s = &c->staging;
    if (s->bytes >= bytes) return 0;
    if (s->bytes) {   /* wait for the old slots before freeing them */
        CUDA_TRY_ERR(err, cudaStreamSynchronize(c->stream));
        bc_cuda_staging_free(c);
    }
    if (bytes < STAGING_MIN_BYTES) bytes = STAGING_MIN_BYTES;
    for (int i = 0; i < BC_CUDA_STAGING_SLOTS; i++) {
        cudaError_t e = cudaMallocHost(&s->host[i], bytes);
        if (e == cudaSuccess) e = cudaMalloc(&s->dev[i], bytes);
        if (e == cudaSuccess) e = cudaEventCreateWithFlags(&s->done[i], cudaEventDisableTiming);
        if (e == cudaSuccess) s->event_made[i] = true;
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            bc_cuda_staging_free(c);
            return bc_errorf(err, "cuda backend: cannot allocate 2 x %.0f MiB of staging memory "
                             "(pinned host + device): %s", (double)bytes / 1048576.0,
                             cudaGetErrorString(e));
        }
    }
    s->bytes = bytes;
    return 0;
}

/* The checkpoint module is not linked into this module: the three dtypes
 * a weight can have are spelled out here. */
static size_t dtype_size(bc_dtype d) { return d == BC_DTYPE_F32 ? 4 : 2; }

static const char *dtype_name(bc_dtype d) {
    switch (d) {
    case BC_DTYPE_F32: return "F32";
    case BC_DTYPE_F16: return "F16";
    case BC_DTYPE_BF16: return "BF16";
    default: return "a non-float type";
    }
}

static bool dtype_ok(bc_dtype d) {
    return d == BC_DTYPE_F32 || d == BC_DTYPE_F16 || d == BC_DTYPE_BF16;
}

/* True when src's elements are bit-for-bit the storage format. */
static bool same_format(bc_dtype d, bc_store s) {
    return (d == BC_DTYPE_F32 && s == BC_STORE_F32) || (d == BC_DTYPE_F16 && s == BC_STORE_F16) ||
           (d == BC_DTYPE_BF16 && s == BC_STORE_BF16);
}

int bc_cuda_tensor_load(cuda_ctx *c, bc_btensor *t, const bc_tensor *src, const float *row_scale,
                        bc_load_progress_fn progress, void *user, bc_error *err) {
    if (!dtype_ok(src->dtype))
        return bc_errorf(err, "tensor %s: dtype %s is not supported (expected F32, F16 or BF16)",
                         src->name, dtype_name(src->dtype));
    int64_t numel = 1;
    for (int k = 0; k < src->ndim; k++) numel *= src->shape[k];   /* validated by the reader */
    if (numel != t->rows * t->cols || src->nbytes != (uint64_t)numel * dtype_size(src->dtype))
        return bc_errorf(err, "tensor %s: %lld elements, expected %lld", src->name,
                         (long long)numel, (long long)(t->rows * t->cols));
    if (bc_cuda_store_quantized(t->store))   /* int8 / nf4: quantized on the GPU */
        return bc_cuda_quant_load_online(c, t, src, row_scale, progress, user, err);
    size_t es = dtype_size(src->dtype);
    size_t row_bytes = (size_t)t->cols * es;
    /* at least one row of data + its scale, 256-byte aligned parts, plus
     * the 256 bytes that block_rows below leaves aside */
    size_t min_slot = ((row_bytes + sizeof(float) + 255) & ~(size_t)255) + 512;
    if (bc_cuda_staging_reserve(c, min_slot, err)) return -1;
    cuda_staging *s = &c->staging;
    bool direct = same_format(src->dtype, t->store) && !row_scale;
    /* rows per block: data, then (when scaling) one float per row */
    size_t per_row = row_bytes + (row_scale ? sizeof(float) : 0);
    size_t block_rows = (s->bytes - 256) / per_row;
    if (block_rows < 1) block_rows = 1;
    size_t dst_row_bytes = (size_t)t->cols * bc_cuda_store_size(t->store);
    const unsigned char *base = (const unsigned char *)src->data;
    uint64_t done = 0, reported = 0;
    int slot = 0;
    for (int64_t r0 = 0; r0 < t->rows; r0 += (int64_t)block_rows, slot ^= 1) {
        size_t rows = (size_t)(t->rows - r0) < block_rows ? (size_t)(t->rows - r0) : block_rows;
        size_t data_bytes = rows * row_bytes;
        size_t scale_off = (data_bytes + 255) & ~(size_t)255;
        /* the slot is free once its previous block's copy and kernel ended */
        if (!CUDA_OK(c, cudaEventSynchronize(s->done[slot]))) break;
        unsigned char *host = (unsigned char *)s->host[slot];
        memcpy(host, base + (size_t)r0 * row_bytes, data_bytes);
        if (row_scale) memcpy(host + scale_off, row_scale + r0, rows * sizeof(float));
        char *dst = (char *)t->d + (size_t)r0 * dst_row_bytes;
        if (direct) {
            /* a host table's rows are host memory too: let unified
             * addressing tell the copy's direction */
            cudaMemcpyKind kind = t->host ? cudaMemcpyDefault : cudaMemcpyHostToDevice;
            if (!CUDA_OK(c, cudaMemcpyAsync(dst, host, data_bytes, kind, c->stream))) break;
        } else {
            size_t up = row_scale ? scale_off + rows * sizeof(float) : data_bytes;
            if (!CUDA_OK(c, cudaMemcpyAsync(s->dev[slot], host, up, cudaMemcpyHostToDevice,
                                            c->stream)))
                break;
            const float *dscale =
                row_scale ? (const float *)((char *)s->dev[slot] + scale_off) : NULL;
            bc_cuda_convert_rows(c, s->dev[slot], src->dtype, dst, t->store, dscale,
                                 (int64_t)rows, t->cols);
            if (c->failed) break;
        }
        if (!CUDA_OK(c, cudaEventRecord(s->done[slot], c->stream))) break;
        done += data_bytes;
        if (progress && (done - reported >= (64u << 20) || r0 + (int64_t)rows >= t->rows)) {
            progress(user, done);
            reported = done;
        }
    }
    /* No synchronize here: the GPU reads only our pinned slots, never the
     * caller's (mmapped) memory, so the next tensor's host copy overlaps this
     * one's tail. Later faults surface through iface->status after loading. */
    if (c->failed) return bc_errorf(err, "tensor %s: %s", src->name, c->failure);
    return 0;
}
