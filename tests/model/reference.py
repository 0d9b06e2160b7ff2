#!/usr/bin/python3
"""Float64 reference forward pass of Baichuan2, written from the specification
(docs: baichuan2.md section 2), independent of the C engine, plus the expected
values of the `model` suite for every directory under tests/data/models/.

Per model directory it writes
  expected.txt   prompt ids, their 32-token greedy continuation, perplexity
  logits<k>.f32  full logits [LOGIT_ROWS, vocab] of the last LOGIT_ROWS positions
                 of prompt k (little-endian f32; the last rows only, to keep the
                 committed files small)
Token ids come from SentencePiece on the directory's tokenizer.model.

Weights are read with the producers' own readers (torch.load, the safetensors
package), so run it where make_models.py runs (see there for the .venv).
"""
import glob
import json
import math
import os
import sys

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
for sp in glob.glob(os.path.join(ROOT, ".venv", "lib", "python3*", "site-packages")):
    sys.path.insert(0, sp)
import safetensors.torch  # noqa: E402
import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402

MODELS = os.path.join(ROOT, "tests", "data", "models")
PROMPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "你好，今天天气怎么样？ 1234",
]
GREEDY_TOKENS = 32
LOGIT_ROWS = 3
PERPLEXITY_CTX = 16
PERPLEXITY_TEXT = (
    "Baichuan 2 is a family of large language models trained from scratch on "
    "2.6 trillion tokens. 它在多个权威的中文、英文和多语言基准上取得了同尺寸最好的效果。 "
    "for (int i = 0; i < n; i++) sum += x[i];\n"
)


# ---------------------------------------------------------------- weights ---

def load_weights(d):
    tensors = {}
    if os.path.exists(os.path.join(d, "model.safetensors")):
        tensors = safetensors.torch.load_file(os.path.join(d, "model.safetensors"))
    elif os.path.exists(os.path.join(d, "pytorch_model.bin.index.json")):
        with open(os.path.join(d, "pytorch_model.bin.index.json")) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        for fn in files:
            tensors.update(torch.load(os.path.join(d, fn), map_location="cpu"))
    else:
        tensors = torch.load(os.path.join(d, "pytorch_model.bin"), map_location="cpu")
    return {k: v.to(torch.float64).numpy() for k, v in tensors.items()}


# ---------------------------------------------------------- forward pass ---

def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def apply_rope(x, positions):
    """x: [T, heads, d]; NeoX rotate_half with theta 10000 over the full head dim."""
    d = x.shape[-1]
    inv_freq = 1.0 / (10000.0 ** (np.arange(0, d, 2, dtype=np.float64) / d))
    ang = positions[:, None].astype(np.float64) * inv_freq[None, :]
    emb = np.concatenate([ang, ang], axis=-1)[:, None, :]
    return x * np.cos(emb) + rotate_half(x) * np.sin(emb)


def get_interleave(n):
    """Baichuan2-13B's ALiBi slopes (_get_interleave)."""
    def power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start ** i for i in range(n)]
    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + get_interleave(2 * closest)[0::2][: n - closest]


def forward(w, cfg, ids):
    """Logits [T, vocab] of the token ids, every position (no cache)."""
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    d, eps, T = H // nh, cfg["rms_norm_eps"], len(ids)
    alibi = cfg.get("position_embedding") == "alibi"
    pos = np.arange(T)
    causal = np.where(pos[None, :] <= pos[:, None], 0.0, -np.inf)     # [i, j]
    if alibi:
        slopes = np.array(get_interleave(nh))
        bias = -slopes[:, None, None] * (pos[:, None] - pos[None, :])[None]  # [h, i, j]
    h = w["model.embed_tokens.weight"][np.array(ids)]
    for n in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{n}."
        a = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        qkv = a @ w[p + "self_attn.W_pack.weight"].T
        q, k, v = (qkv[:, i * H:(i + 1) * H].reshape(T, nh, d) for i in range(3))
        if not alibi:
            q, k = apply_rope(q, pos), apply_rope(k, pos)
        scores = np.einsum("ihd,jhd->hij", q, k) / math.sqrt(d) + causal[None]
        if alibi:
            scores = scores + bias
        scores = scores - scores.max(axis=-1, keepdims=True)
        prob = np.exp(scores)
        prob /= prob.sum(axis=-1, keepdims=True)
        attn = np.einsum("hij,jhd->ihd", prob, v).reshape(T, H)
        h = h + attn @ w[p + "self_attn.o_proj.weight"].T
        m = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        g = m @ w[p + "mlp.gate_proj.weight"].T
        u = m @ w[p + "mlp.up_proj.weight"].T
        h = h + (g / (1.0 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
    h = rms_norm(h, w["model.norm.weight"], eps)
    lm = w["lm_head.weight"]
    lm = lm / np.maximum(np.linalg.norm(lm, axis=1, keepdims=True), 1e-12)   # NormHead
    return h @ lm.T


def greedy(w, cfg, ids, n):
    """n argmax tokens after ids; also the smallest top-1/top-2 logit gap seen."""
    seq, min_gap = list(ids), float("inf")
    for _ in range(n):
        last = forward(w, cfg, seq)[-1]
        top2 = np.sort(last)[-2:]
        min_gap = min(min_gap, top2[1] - top2[0])
        seq.append(int(np.argmax(last)))
    return seq[len(ids):], min_gap


def perplexity(w, cfg, ids, ctx):
    """Consecutive windows of ctx tokens; in each, every token after the first
    is scored given the window's earlier tokens. exp(mean negative log-lik)."""
    nll, count = 0.0, 0
    for start in range(0, len(ids), ctx):
        win = ids[start:start + ctx]
        if len(win) < 2:
            break
        logits = forward(w, cfg, win)
        for i in range(1, len(win)):
            row = logits[i - 1]
            mx = row.max()
            logz = mx + math.log(np.exp(row - mx).sum())
            nll += logz - row[win[i]]
            count += 1
    return math.exp(nll / count), count


def main():
    with open(os.path.join(MODELS, "perplexity.txt"), "w", encoding="utf-8") as f:
        f.write(PERPLEXITY_TEXT)
    for d in sorted(glob.glob(os.path.join(MODELS, "*", "config.json"))):
        d = os.path.dirname(d)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
        w = load_weights(d)
        lines = ["# expected values from tests/model/reference.py (float64 numpy)"]
        gaps = []
        for k, text in enumerate(PROMPTS):
            ids = sp.encode(text)
            logits = forward(w, cfg, ids)
            logits[-LOGIT_ROWS:].astype("<f4").tofile(os.path.join(d, f"logits{k}.f32"))
            cont, gap = greedy(w, cfg, ids, GREEDY_TOKENS)
            gaps.append(gap)
            lines.append(f"prompt {k} {len(ids)} " + " ".join(map(str, ids)))
            lines.append(f"logit_rows {k} {LOGIT_ROWS}")
            lines.append(f"greedy {k} {len(cont)} " + " ".join(map(str, cont)))
        ppl_ids = sp.encode(PERPLEXITY_TEXT)
        ppl, scored = perplexity(w, cfg, ppl_ids, PERPLEXITY_CTX)
        lines.append(f"perplexity {PERPLEXITY_CTX} {len(ppl_ids)} {scored} {ppl:.12g}")
        with open(os.path.join(d, "expected.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{os.path.basename(d)}: perplexity {ppl:.9g} over {scored} tokens; "
              f"smallest greedy top-2 gap {min(gaps):.3g}")


if __name__ == "__main__":
    main()
