/* A decode step as one CUDA graph, recorded once per model and replayed.
 *
 * Why: a 7B decode step is ~450 small kernels. Launched one by one, each
 * costs the host a few microseconds and leaves the GPU a gap between
 * dependent kernels; at 4 ms per token on an H100 that is a tenth of the
 * time. A graph launch costs one call.
 *
 * How it stays valid from token to token without re-recording: everything a
 * step's kernels read is at a fixed address (the model's tensors, its KV
 * cache), except the token id and the position. Those two live in step_dev,
 * filled by the graph's first node, a copy from the pinned step_host that
 * step_begin writes before each launch. While recording, the embedding,
 * RoPE, KV-write and attention launchers pass step_dev to their kernels
 * (bc_cuda_step_id / bc_cuda_step_pos), and attention sizes its grid for the
 * whole cache so that later, longer contexts fit the same graph.
 *
 * The caller (model.c) reads the logits synchronously after every step, so
 * step_host is never rewritten while a launched graph may still read it.
 * Anything that goes wrong while setting up a recording turns graphs off for
 * this backend and the step runs kernel by kernel: slower, never wrong. */
#include <cstdlib>
#include <cstring>

#include "cuda_common.cuh"

/* Turns graphs off after a failure that is not the model's fault (capture
 * unsupported, out of memory for the graph): the error is cleared so that
 * it does not poison the backend. */
static void graphs_off(cuda_ctx *c) {
    (void)cudaGetLastError();
    c->graphs = false;
    c->recording = false;
    if (c->graph) cudaGraphExecDestroy(c->graph);
    c->graph = NULL;
    c->graph_key = NULL;
}

static bool step_buffers(cuda_ctx *c) {
    if (c->step_host) return true;
    if (cudaMallocHost((void **)&c->step_host, 2 * sizeof(int32_t)) != cudaSuccess) {
        c->step_host = NULL;
        return false;
    }
    if (cudaMalloc((void **)&c->step_dev, 2 * sizeof(int32_t)) != cudaSuccess) {
        cudaFreeHost(c->step_host);
        c->step_host = NULL;
        c->step_dev = NULL;
        return false;
    }
    return true;
}

int bc_cuda_step_begin(cuda_ctx *c, const void *key, int32_t id, int pos) {
    if (c->failed || !c->graphs || !key) return BC_STEP_DIRECT;
    if (!step_buffers(c)) { graphs_off(c); return BC_STEP_DIRECT; }
    c->step_host[0] = id;
    c->step_host[1] = pos;
    if (c->graph && c->graph_key == key) {
        if (!CUDA_OK(c, cudaGraphLaunch(c->graph, c->stream))) return BC_STEP_DIRECT;
        c->graph_replays++;
        return BC_STEP_REPLAYED;
    }
    if (c->graph) cudaGraphExecDestroy(c->graph);   /* another model's step */
    c->graph = NULL;
    c->graph_key = NULL;
    /* Relaxed: a call that is not capturable somewhere in an op must not
     * invalidate the capture or fail the backend; we would rather record. */
    if (cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed) != cudaSuccess) {
        graphs_off(c);
        return BC_STEP_DIRECT;
    }
    if (cudaMemcpyAsync(c->step_dev, c->step_host, 2 * sizeof(int32_t), cudaMemcpyHostToDevice,
                        c->stream) != cudaSuccess) {
        cudaGraph_t g = NULL;
        cudaStreamEndCapture(c->stream, &g);
        if (g) cudaGraphDestroy(g);
        graphs_off(c);
        return BC_STEP_DIRECT;
    }
    c->recording = true;
    c->graph_key = key;
    return BC_STEP_RECORDING;
}

int bc_cuda_step_end(cuda_ctx *c) {
    if (!c->recording) return 0;
    c->recording = false;
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    if (c->capture_broken && e == cudaSuccess) e = cudaErrorStreamCaptureInvalidated;
    c->capture_broken = false;
    if (c->failed) {   /* an op refused its arguments: status() reports it */
        if (g) cudaGraphDestroy(g);
        c->graph_key = NULL;
        return 0;
    }
    cudaGraphExec_t exec = NULL;
    if (e == cudaSuccess) e = cudaGraphInstantiate(&exec, g, 0);
    if (g) cudaGraphDestroy(g);   /* the instance keeps what it needs */
    if (e != cudaSuccess) {
        graphs_off(c);
        return -1;                 /* nothing ran: the caller runs the step directly */
    }
    c->graph = exec;
    if (cudaGraphLaunch(c->graph, c->stream) != cudaSuccess) {
        graphs_off(c);   /* the step did not run: the caller runs it directly */
        return -1;
    }
    c->graph_recordings++;
    return 0;
}

void bc_cuda_step_forget(cuda_ctx *c, const void *key) {
    if (!key || c->graph_key != key) return;
    if (c->graph) cudaGraphExecDestroy(c->graph);
    c->graph = NULL;
    c->graph_key = NULL;
}

void bc_cuda_graph_free(cuda_ctx *c) {
    if (c->graph) cudaGraphExecDestroy(c->graph);
    c->graph = NULL;
    if (c->step_host) cudaFreeHost(c->step_host);
    if (c->step_dev) cudaFree(c->step_dev);
    c->step_host = NULL;
    c->step_dev = NULL;
}
