/* The sampling pipeline of sampler.h. Costs per token for a 125,696-id
 * vocabulary: one pass for NaN/temperature, one O(n) selection for top-k,
 * then work proportional to the surviving candidates only (heap pops for
 * top-p), so it stays far below a forward pass. */
#include "sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct bc_sampler {
    int vocab;
    bc_sampling params;
    uint64_t rng[4];      /* xoshiro256** state */
    uint32_t *seen;       /* [vocab] stamp per id: penalised in the current call */
    uint32_t stamp;       /* current call's stamp */
    float *select;        /* [vocab] scratch copy for the top-k selection */
    int32_t *cand_ids;    /* [vocab] surviving ids */
    double *cand_weight;  /* [vocab] exp(score - max) of each candidate */
    int32_t *heap;        /* [vocab] candidate indices, max-heap by weight */
    int32_t *kept_ids;    /* [vocab] output ids */
    float *kept_probs;    /* [vocab] output probabilities */
};

/* ---- random numbers: splitmix64 seeds xoshiro256** ------------------------ */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(bc_sampler *s) {
    uint64_t *st = s->rng;
    uint64_t result = rotl(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double next_unit(bc_sampler *s) {
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

void bc_sampler_reseed(bc_sampler *s, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

/* ---- lifecycle ------------------------------------------------------------ */

void bc_sampler_set_params(bc_sampler *s, const bc_sampling *params) {
    s->params = *params;
}

bc_sampler *bc_sampler_new(int vocab_size, const bc_sampling *params) {
    if (vocab_size <= 0 || !params) return NULL;
    bc_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    size_t n = (size_t)vocab_size;
    s->vocab = vocab_size;
    s->seen = calloc(n, sizeof *s->seen);
    s->select = malloc(n * sizeof *s->select);
    s->cand_ids = malloc(n * sizeof *s->cand_ids);
    s->cand_weight = malloc(n * sizeof *s->cand_weight);
    s->heap = malloc(n * sizeof *s->heap);
    s->kept_ids = malloc(n * sizeof *s->kept_ids);
    s->kept_probs = malloc(n * sizeof *s->kept_probs);
    if (!s->seen || !s->select || !s->cand_ids || !s->cand_weight || !s->heap ||
        !s->kept_ids || !s->kept_probs) {
        bc_sampler_free(s);
        return NULL;
    }
    bc_sampler_set_params(s, params);
    bc_sampler_reseed(s, params->seed);
    return s;
}

void bc_sampler_free(bc_sampler *s) {
    if (!s) return;
    free(s->seen);
    free(s->select);
    free(s->cand_ids);
    free(s->cand_weight);
    free(s->heap);
    free(s->kept_ids);
    free(s->kept_probs);
    free(s);
}

/* ---- pipeline stages ------------------------------------------------------ */

/* Each distinct history id is penalised once, however often it occurs: HF
 * gathers the scores, transforms them and scatters them back. */
static void apply_penalty(bc_sampler *s, float *logits, const int32_t *history, size_t n,
                          float penalty) {
    if (++s->stamp == 0) { /* wrapped after 2^32 calls: forget old stamps */
        memset(s->seen, 0, (size_t)s->vocab * sizeof *s->seen);
        s->stamp = 1;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t id = history[i];
        if (id < 0 || id >= s->vocab || s->seen[id] == s->stamp) continue;
        s->seen[id] = s->stamp;
        float v = logits[id];
        logits[id] = v < 0 ? v * penalty : v / penalty;
    }
}

/* Largest value, lowest id on ties; NaN already replaced by -inf. */
static int argmax(const float *logits, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

static void swap_float(float *a, float *b) {
    float t = *a;
    *a = *b;
    *b = t;
}

/* The k-th largest of a[0..n) (k >= 1), reordering a. Quickselect with a
 * three-way partition so runs of equal scores cannot make it quadratic. */
static float kth_largest(float *a, size_t n, size_t k) {
    size_t lo = 0, hi = n, target = k - 1; /* target index in descending order */
    while (hi - lo > 1) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        float pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t lt = lo, i = lo, gt = hi; /* [lo,lt) > pivot, [lt,gt) == pivot, [gt,hi) < */
        while (i < gt) {
            if (a[i] > pivot)
                swap_float(&a[lt++], &a[i++]);
            else if (a[i] < pivot)
                swap_float(&a[i], &a[--gt]);
            else
                i++;
        }
        if (target < lt)
            hi = lt;
        else if (target >= gt)
            lo = gt;
        else
            return pivot;
    }
    return a[lo];
}

/* Heap order for top-p: larger weight first; among equal weights the higher
 * id first, which is what a stable ascending sort (HF sorts ascending and
 * cuts from the low end) does with ties. */
static bool heap_before(const bc_sampler *s, int32_t a, int32_t b) {
    double wa = s->cand_weight[a], wb = s->cand_weight[b];
    if (wa != wb) return wa > wb;
    return s->cand_ids[a] > s->cand_ids[b];
}

static void sift_down(bc_sampler *s, size_t i, size_t n) {
    int32_t *h = s->heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && heap_before(s, h[l], h[top])) top = l;
        if (r < n && heap_before(s, h[r], h[top])) top = r;
        if (top == i) return;
        int32_t t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

/* Keeps ids in descending probability while the probability mass before
 * them is < top_p. HF's rule "drop where the ascending cumulative sum <=
 * 1 - top_p" is the same set: that sum is 1 minus the mass before the id. */
static size_t apply_top_p(bc_sampler *s, size_t n_cand, double total, float top_p) {
    for (size_t i = 0; i < n_cand; i++) s->heap[i] = (int32_t)i;
    for (size_t i = n_cand / 2; i-- > 0;) sift_down(s, i, n_cand);
    double before = 0.0, threshold = (double)top_p * total;
    size_t kept = 0, n = n_cand;
    while (n > 0 && (kept == 0 || before < threshold)) {
        int32_t c = s->heap[0];
        s->heap[0] = s->heap[--n];
        sift_down(s, 0, n);
        s->kept_ids[kept] = s->cand_ids[c];
        s->kept_probs[kept] = (float)s->cand_weight[c]; /* normalised by the caller */
        before += s->cand_weight[c];
        kept++;
    }
    return kept;
}

static size_t single(bc_sampler *s, int id) {
    s->kept_ids[0] = id;
    s->kept_probs[0] = 1.0f;
    return 1;
}

size_t bc_sampler_candidates(bc_sampler *s, float *logits, const int32_t *history,
                             size_t n_history, const int32_t **ids, const float **probs) {
    const bc_sampling *p = &s->params;
    int n = s->vocab;
    *ids = s->kept_ids;
    *probs = s->kept_probs;
    for (int i = 0; i < n; i++)
        if (isnan(logits[i])) logits[i] = -INFINITY;

    float penalty = p->repetition_penalty;
    if (penalty > 0.0f && penalty != 1.0f && history)
        apply_penalty(s, logits, history, n_history, penalty);

    float t = p->temperature;
    if (!(t > 0.0f)) return single(s, argmax(logits, n));
    if (t != 1.0f)
        for (int i = 0; i < n; i++) logits[i] /= t;

    /* top-k threshold; -inf keeps everything that is not already masked. */
    float floor_score = -INFINITY;
    if (p->top_k > 0 && p->top_k < n) {
        memcpy(s->select, logits, (size_t)n * sizeof *logits);
        floor_score = kth_largest(s->select, (size_t)n, (size_t)p->top_k);
    }
    float max_score = -INFINITY;
    size_t n_cand = 0;
    for (int i = 0; i < n; i++) {
        if (logits[i] < floor_score || logits[i] == -INFINITY) continue;
        s->cand_ids[n_cand++] = i;
        if (logits[i] > max_score) max_score = logits[i];
    }
    if (n_cand == 0 || max_score == INFINITY) return single(s, argmax(logits, n));

    double total = 0.0;
    for (size_t c = 0; c < n_cand; c++) {
        s->cand_weight[c] = exp((double)logits[s->cand_ids[c]] - (double)max_score);
        total += s->cand_weight[c];
    }

    size_t kept;
    if (p->top_p < 1.0f) { /* NaN top_p compares false: off */
        kept = apply_top_p(s, n_cand, total, p->top_p);
        total = 0.0;
        for (size_t k = 0; k < kept; k++) total += s->kept_probs[k];
    } else {
        kept = n_cand;
        for (size_t c = 0; c < n_cand; c++) {
            s->kept_ids[c] = s->cand_ids[c];
            s->kept_probs[c] = (float)s->cand_weight[c];
        }
    }
    for (size_t k = 0; k < kept; k++) s->kept_probs[k] = (float)(s->kept_probs[k] / total);
    return kept;
}

int bc_sampler_sample(bc_sampler *s, float *logits, const int32_t *history,
                      size_t n_history) {
    const int32_t *ids;
    const float *probs;
    size_t n = bc_sampler_candidates(s, logits, history, n_history, &ids, &probs);
    if (n == 1) return ids[0];
    double total = 0.0;
    for (size_t i = 0; i < n; i++) total += probs[i];
    double u = next_unit(s) * total, acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        acc += probs[i];
        if (u < acc) return ids[i];
    }
    return ids[n - 1]; /* u landed in the rounding gap at the very end */
}
