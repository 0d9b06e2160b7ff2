/* Causal multi-head attention over an fp16 KV cache, fp32 math.
 *
 * 1. kv_write: K and V of the n new rows (fp32, from qkv) -> fp16 cache rows
 *    pos0 .. pos0+n-1.
 * 2. attend: one block per (head, key split, query row). A split covers
 *    `kps` consecutive keys; the block computes the scores q.k * 1/sqrt(d)
 *    - slope*(p - t) (ALiBi, fp32) into shared memory, their max and
 *    exp-sum, and the unnormalised weighted sum of V. With one split the
 *    block writes the normalised output directly; with several ("split-K",
 *    flash-decoding) it writes (max, sum, o[d]) partials and
 * 3. combine rescales the partials of each (row, head) by exp(m_s - M).
 * Long contexts thus spread over many SMs even for a single decode token.
 * The partials live in the model's `scores` scratch tensor. */
#include <cmath>

#include "cuda_common.cuh"
#include "k_types.cuh"

enum { ATT_THREADS = 128, ATT_MAX_HEAD_DIM = 256, ATT_MIN_KPS = 256, ATT_MAX_KPS = 8192 };

__global__ void kv_write_kernel(const float *__restrict__ qkv, __half *__restrict__ kc,
                                __half *__restrict__ vc, int H, int pos0,
                                const int32_t *__restrict__ pos_dev) {
    if (pos_dev) pos0 = *pos_dev;   /* a recorded decode step */
    int i = blockIdx.x;
    const float *row = qkv + (int64_t)i * 3 * H;
    __half *k = kc + (int64_t)(pos0 + i) * H, *v = vc + (int64_t)(pos0 + i) * H;
    for (int j = threadIdx.x; j < H; j += blockDim.x) {
        k[j] = __float2half_rn(row[H + j]);
        v[j] = __float2half_rn(row[2 * H + j]);
    }
}

struct att_args {
    const float *qkv;      /* [n, 3H] */
    const __half *kc, *vc; /* [ctx, H] */
    const float *slopes;   /* [n_heads] or NULL */
    float *out;            /* [n, H] */
    float *partial;        /* [n, n_heads, splits, d + 2] when splits > 1 */
    const int32_t *pos_dev; /* a recorded decode step: pos0 is read here */
    int H, d, pos0, kps, splits;
    float scale;
};

/* Dynamic shared memory: q[d] then s[kps]. */
__global__ void __launch_bounds__(ATT_THREADS) attend_kernel(att_args a) {
    extern __shared__ float sh[];
    float *q = sh, *s = sh + a.d;
    int h = blockIdx.x, split = blockIdx.y, i = blockIdx.z;
    int n_heads = gridDim.x;
    int p = (a.pos_dev ? *a.pos_dev : a.pos0) + i;   /* this query's position */
    int t0 = split * a.kps;
    int t1 = min(t0 + a.kps, p + 1);          /* keys [t0, t1) */
    float *part = a.partial
        ? a.partial + (((int64_t)i * n_heads + h) * a.splits + split) * (a.d + 2) : NULL;
    if (t0 >= t1) {                           /* past the causal edge: empty partial */
        if (part && threadIdx.x == 0) { part[0] = -INFINITY; part[1] = 0.0f; }
        if (part)
            for (int j = threadIdx.x; j < a.d; j += blockDim.x) part[2 + j] = 0.0f;
        return;
    }
    const float *qg = a.qkv + (int64_t)i * 3 * a.H + (int64_t)h * a.d;
    for (int j = threadIdx.x; j < a.d; j += blockDim.x) q[j] = qg[j];
    __syncthreads();
    float slope = a.slopes ? a.slopes[h] : 0.0f;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    /* scores: a warp per key, lanes across the head dimension */
    for (int t = t0 + warp; t < t1; t += nwarps) {
        const __half *k = a.kc + (int64_t)t * a.H + (int64_t)h * a.d;
        float dot = 0.0f;
        for (int j = lane; j < a.d; j += 32) dot += q[j] * __half2float(k[j]);
        dot = bc_warp_sum(dot);
        if (lane == 0) s[t - t0] = dot * a.scale - slope * (float)(p - t);
    }
    __syncthreads();
    int len = t1 - t0;
    float m = -INFINITY;
    for (int k = threadIdx.x; k < len; k += blockDim.x) m = fmaxf(m, s[k]);
    m = bc_block_max(m);
    float l = 0.0f;
    for (int k = threadIdx.x; k < len; k += blockDim.x) {
        float e = expf(s[k] - m);
        s[k] = e;
        l += e;
    }
    l = bc_block_sum(l);   /* its barriers also publish s[] */
    /* weighted sum of V: a thread per output dimension (coalesced rows) */
    for (int j = threadIdx.x; j < a.d; j += blockDim.x) {
        const __half *v = a.vc + (int64_t)t0 * a.H + (int64_t)h * a.d + j;
        float o0 = 0.0f, o1 = 0.0f;
        int k = 0;
        for (; k + 1 < len; k += 2) {
            o0 += s[k] * __half2float(v[(int64_t)k * a.H]);
            o1 += s[k + 1] * __half2float(v[(int64_t)(k + 1) * a.H]);
        }
        if (k < len) o0 += s[k] * __half2float(v[(int64_t)k * a.H]);
        float o = o0 + o1;
        if (part) part[2 + j] = o;
        else a.out[(int64_t)i * a.H + (int64_t)h * a.d + j] = o / l;
    }
    if (part && threadIdx.x == 0) { part[0] = m; part[1] = l; }
}

/* One block per (head, row): merges the splits' partials. */
__global__ void combine_kernel(const float *__restrict__ partial, float *__restrict__ out, int H,
                               int d, int splits) {
    int h = blockIdx.x, i = blockIdx.y, n_heads = gridDim.x;
    const float *base = partial + ((int64_t)i * n_heads + h) * splits * (d + 2);
    float M = -INFINITY;
    for (int s = 0; s < splits; s++) M = fmaxf(M, base[(int64_t)s * (d + 2)]);
    float L = 0.0f;
    for (int s = 0; s < splits; s++) {
        const float *ps = base + (int64_t)s * (d + 2);
        if (ps[1] > 0.0f) L += expf(ps[0] - M) * ps[1];
    }
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float o = 0.0f;
        for (int s = 0; s < splits; s++) {
            const float *ps = base + (int64_t)s * (d + 2);
            if (ps[1] > 0.0f) o += expf(ps[0] - M) * ps[2 + j];
        }
        out[(int64_t)i * H + (int64_t)h * d + j] = o / L;
    }
}

void bc_cuda_attention(cuda_ctx *c, const bc_btensor *qkv, bc_btensor *k_cache,
                       bc_btensor *v_cache, const bc_btensor *slopes, int n, int pos0,
                       int n_heads, int head_dim, bc_btensor *scores, bc_btensor *out) {
    if (n <= 0) return;
    int H = n_heads * head_dim;
    if (k_cache->store != BC_STORE_F16 || v_cache->store != BC_STORE_F16 || k_cache->cols != H ||
        qkv->cols != 3 * (int64_t)H || out->cols != H || pos0 < 0 || pos0 + n > k_cache->rows ||
        head_dim > ATT_MAX_HEAD_DIM || head_dim < 1) {
        bc_cuda_fail(c, "cuda backend: attention: %d rows at %d, %d heads x %d, cache [%lld, %lld] "
                     "%s: shapes do not match (head_dim at most %d)", n, pos0, n_heads, head_dim,
                     (long long)k_cache->rows, (long long)k_cache->cols,
                     bc_cuda_store_name(k_cache->store), ATT_MAX_HEAD_DIM);
        return;
    }
    kv_write_kernel<<<n, 256, 0, c->stream>>>((const float *)qkv->d, (__half *)k_cache->d,
                                              (__half *)v_cache->d, H, pos0,
                                              bc_cuda_step_pos(c));
    if (!LAUNCHED(c, "kv_write")) return;

    /* Keys per split: the smallest power of two >= ATT_MIN_KPS whose
     * partials fit the scratch (one split needs no scratch at all). A
     * recorded decode step is replayed at later positions: its grid covers
     * the whole cache, and the splits past the query's position return at
     * once (empty partials). */
    int keys = c->recording ? (int)k_cache->rows : pos0 + n;
    int64_t room = scores->rows * scores->cols;
    int kps = ATT_MIN_KPS, splits;
    for (;;) {
        splits = (keys + kps - 1) / kps;
        int64_t need = (int64_t)n * n_heads * splits * (head_dim + 2);
        if (splits == 1 || need <= room) break;
        if (kps >= ATT_MAX_KPS) {
            bc_cuda_fail(c, "cuda backend: attention scratch of %lld floats is too small for %d "
                         "rows over %d keys", (long long)room, n, keys);
            return;
        }
        kps *= 2;
    }
    if (splits == 1) kps = keys;   /* one block per (row, head) covers every key */
    att_args a;
    a.qkv = (const float *)qkv->d;
    a.kc = (const __half *)k_cache->d;
    a.vc = (const __half *)v_cache->d;
    a.slopes = slopes ? (const float *)slopes->d : NULL;
    a.out = (float *)out->d;
    a.partial = splits > 1 ? (float *)scores->d : NULL;
    a.pos_dev = bc_cuda_step_pos(c);
    a.H = H; a.d = head_dim; a.pos0 = pos0; a.kps = kps; a.splits = splits;
    a.scale = 1.0f / sqrtf((float)head_dim);
    size_t shmem = (size_t)(head_dim + kps) * sizeof(float);
    if (shmem > 48 * 1024) {
        bc_cuda_fail(c, "cuda backend: attention over %d keys in one block needs %zu bytes of "
                     "shared memory", kps, shmem);
        return;
    }
    dim3 grid((unsigned)n_heads, (unsigned)splits, (unsigned)n);
    attend_kernel<<<grid, ATT_THREADS, shmem, c->stream>>>(a);
    if (!LAUNCHED(c, "attend") || splits == 1) return;
    combine_kernel<<<dim3((unsigned)n_heads, (unsigned)n), 128, 0, c->stream>>>(
        a.partial, a.out, H, head_dim, splits);
    LAUNCHED(c, "attention_combine");
}
