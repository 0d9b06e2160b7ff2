#!/usr/bin/python3
"""Writes the quantized-checkpoint fixtures of the `quant` suite into
tests/data/quant_models/ (committed, together with this script), and their
expected values.

The model. A random tiny model predicts every token about equally badly, so
its perplexity barely moves whatever is done to its weights, and a
"within 5%" check on it could not fail. So the base model is TRAINED here
(torch, a few hundred Adam steps, fixed seeds): a 2-layer Baichuan2-shaped
(RoPE, NormHead) byte-level model, hidden 64 (a multiple of the NF4 block),
on an English paragraph; perplexity is measured on a DIFFERENT sentence, so
it reflects what the model learnt about English rather than memorisation.
Its weights then have the spread of trained weights (outliers, per-row
scales) that quantization error depends on. Token ids are the text's bytes
(vocab 256), so no tokenizer is needed: the C test feeds ids.

Directories (each: config.json, pytorch_model.bin, expected.txt):
  trained-f16     the dense model, fp16 (torch.save)
  nf4-list        -Chat-4bits layout: P.weight.data (uint8 [n/2, 1]) and
                  P.weight.quant_state, the bitsandbytes 0.41 list
                  [qabsmax, Size, float16, 64, [offset, [absmax2, code2, 256,
                  False, float32, None, None]], 'nf4', nf4_code]
                  (baichuan2.md 6.3), plus quantization_config in config.json
  nf4-packed      the newer save_pretrained layout: P.weight, .absmax,
                  .quant_map, .nested_absmax, .nested_quant_map and
                  .quant_state.bitsandbytes__nf4 (JSON bytes)
  int8-scb        bitsandbytes' 8-bit save_pretrained: P.weight int8 + P.SCB
                  + P.weight_format
The codes come from the numpy re-implementation of bitsandbytes in
tests/quant/make_quant_cases.py (quantize_nf4 with double quantization,
quantize_int8) applied to the fp16 weights, exactly what bnb does to an fp16
model. Norms, embed_tokens and lm_head stay fp16, as upstream.

Expected values (float64 numpy forward pass of tests/model/reference.py on
the DEQUANTIZED weights; dequantization in fp32 like the C kernels, not
rounded to fp16 as bnb's dequantize_4bit would):
  prompt ids, the last LOGIT_ROWS rows of logits (logits.f32),
  perplexity of the held-out text for the dense f32 weights and for the
  nf4 / int8 quantized ones.

hostile/: single-module checkpoints (one [64, 64] linear "m") for the
checkpoint reader: real torch.save outputs of the list / packed / int8
layouts, valid ones and mutations (wrong lengths, absmax count mismatch,
shape not matching, unknown globals, ...); cases.txt lists each file with
the text its error message must contain ("ok" for valid ones).

Run:  /usr/bin/python3 tests/quant/make_4bit_models.py
"""
import collections
import json
import os
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "model"))
import make_quant_cases as mq  # noqa: E402

try:
    from reference import forward  # noqa: E402
except ImportError:
    # reference.py imports safetensors for its own fixtures; only its forward
    # pass is used here, so a stand-in module is enough without the .venv.
    import types
    sys.modules["safetensors"] = types.ModuleType("safetensors")
    sys.modules["safetensors.torch"] = types.ModuleType("safetensors.torch")
    from reference import forward  # noqa: E402

OUT = os.path.join(ROOT, "tests", "data", "quant_models")
VOCAB, HIDDEN, HEADS, LAYERS, INTER, CTX = 256, 64, 4, 2, 128, 256
LOGIT_ROWS = 4
TRAIN_TEXT = (
    "The quick brown fox jumps over the lazy dog. A large language model reads "
    "text one token at a time and learns to predict the next one. When the "
    "weights are stored in four bits, every block of sixty-four numbers shares "
    "one scale, and the model should still know which letter comes next. "
    "Quantization trades a little accuracy for a lot of memory, so a model "
    "that needed a large machine can run on a small one. "
    "She reads the book in the morning and writes a letter in the evening. "
    "We can still see the small boat on the water, next to the long bridge. "
    "Every time the model reads a word, it has to guess what the next word will be. "
)
EVAL_TEXT = "A small model that reads the text should still predict the next letter well."
PROMPT_TEXT = "The model reads one token at a time."
LINEARS = ["self_attn.W_pack", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
           "mlp.down_proj"]


def ids_of(text):
    b = text.encode("ascii")
    assert max(b) < VOCAB
    return list(b)


# ------------------------------------------------------------- training ---

def torch_forward(p, ids):
    """Baichuan2 (RoPE) forward in torch, for training only."""
    T, H, nh = ids.shape[0], HIDDEN, HEADS
    d = H // nh

    def rms(x, w):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-6) * w

    pos = torch.arange(T, dtype=torch.float32)
    inv = 1.0 / (10000.0 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = pos[:, None] * inv[None]
    cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None]
    sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None]

    def rope(x):
        h = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin

    mask = torch.full((T, T), float("-inf")).triu(1)
    h = p["model.embed_tokens.weight"][ids]
    for n in range(LAYERS):
        q = f"model.layers.{n}."
        a = rms(h, p[q + "input_layernorm.weight"])
        qkv = a @ p[q + "self_attn.W_pack.weight"].T
        qq, kk, vv = (qkv[:, i * H:(i + 1) * H].reshape(T, nh, d) for i in range(3))
        qq, kk = rope(qq), rope(kk)
        s = torch.einsum("ihd,jhd->hij", qq, kk) / d ** 0.5 + mask
        o = torch.einsum("hij,jhd->ihd", s.softmax(-1), vv).reshape(T, H)
        h = h + o @ p[q + "self_attn.o_proj.weight"].T
        m = rms(h, p[q + "post_attention_layernorm.weight"])
        g = m @ p[q + "mlp.gate_proj.weight"].T
        u = m @ p[q + "mlp.up_proj.weight"].T
        h = h + (torch.nn.functional.silu(g) * u) @ p[q + "mlp.down_proj.weight"].T
    h = rms(h, p["model.norm.weight"])
    lm = torch.nn.functional.normalize(p["lm_head.weight"], dim=1)
    return h @ lm.T


def train():
    torch.manual_seed(1234)
    p = {"model.embed_tokens.weight": torch.randn(VOCAB, HIDDEN)}
    for n in range(LAYERS):
        q = f"model.layers.{n}."
        p[q + "input_layernorm.weight"] = torch.ones(HIDDEN)
        p[q + "self_attn.W_pack.weight"] = torch.randn(3 * HIDDEN, HIDDEN) * HIDDEN ** -0.5
        p[q + "self_attn.o_proj.weight"] = torch.randn(HIDDEN, HIDDEN) * HIDDEN ** -0.5
        p[q + "post_attention_layernorm.weight"] = torch.ones(HIDDEN)
        p[q + "mlp.gate_proj.weight"] = torch.randn(INTER, HIDDEN) * HIDDEN ** -0.5
        p[q + "mlp.up_proj.weight"] = torch.randn(INTER, HIDDEN) * HIDDEN ** -0.5
        p[q + "mlp.down_proj.weight"] = torch.randn(HIDDEN, INTER) * INTER ** -0.5
    p["model.norm.weight"] = torch.ones(HIDDEN)
    p["lm_head.weight"] = torch.randn(VOCAB, HIDDEN)
    for v in p.values():
        v.requires_grad_(True)
    # NormHead bounds the logits by |h| ~ sqrt(H): a learnt final norm scale
    # gives the model room to become confident.
    # Early stopping on the held-out sentence: the weights kept are those of
    # the step where the model generalised best, before it memorised.
    opt = torch.optim.AdamW(p.values(), lr=3e-3, weight_decay=0.1)
    ids = torch.tensor(ids_of(TRAIN_TEXT))
    held = torch.tensor(ids_of(EVAL_TEXT))
    best, best_step, kept = float("inf"), 0, None
    for step in range(300):
        logits = torch_forward(p, ids[:-1])
        loss = torch.nn.functional.cross_entropy(logits, ids[1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            held_loss = torch.nn.functional.cross_entropy(torch_forward(p, held[:-1]), held[1:])
        if held_loss.item() < best:
            best, best_step = held_loss.item(), step
            kept = {k: v.detach().clone() for k, v in p.items()}
    print(f"training: kept step {best_step}: held-out perplexity {np.exp(best):.2f} "
          f"(train perplexity at the end {np.exp(loss.item()):.2f})")
    return {k: v.to(torch.float16) for k, v in kept.items()}


# ------------------------------------------------------------ layouts ---

def nf4_of(w16):
    """numpy bnb quantize_4bit(compress_statistics=True) of an fp16 [out, in]."""
    return mq.quantize_nf4(w16.float().numpy().astype(np.float32), True)


def list_quant_state(q, shape, nested=True):
    """bitsandbytes 0.41's quant_state list (functional.quantize_4bit)."""
    code = torch.tensor(mq.NF4_CODE_F32)
    if not nested:
        return [torch.tensor(q["absmax"]), torch.Size(shape), torch.float16, 64, None, "nf4", code]
    state2 = [torch.tensor(q["absmax2"]), torch.tensor(mq.DYNMAP), 256, False, torch.float32,
              None, None]
    return [torch.tensor(np.frombuffer(q["qabsmax"], dtype=np.uint8).copy()),
            torch.Size(shape), torch.float16, 64,
            [torch.tensor(np.float32(q["offset"])), state2], "nf4", code]


def packed_tensor(q):
    return torch.tensor(np.frombuffer(q["packed"], dtype=np.uint8).copy()).reshape(-1, 1)


def add_list_layout(sd, prefix, q, shape, nested=True, data_key=".weight.data"):
    sd[prefix + data_key] = packed_tensor(q)
    sd[prefix + ".weight.quant_state"] = list_quant_state(q, shape, nested)


def add_packed_layout(sd, prefix, q, shape, nested=True):
    """bnb >= 0.41.3 Linear4bit._save_to_state_dict / QuantState.as_dict(packed=True)."""
    sd[prefix + ".weight"] = packed_tensor(q)
    meta = {"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": list(shape)}
    if nested:
        sd[prefix + ".weight.absmax"] = torch.tensor(np.frombuffer(q["qabsmax"], dtype=np.uint8).copy())
        meta.update(nested_blocksize=256, nested_dtype="float32",
                    nested_offset=float(np.float32(q["offset"])))
    else:
        sd[prefix + ".weight.absmax"] = torch.tensor(q["absmax"])
    sd[prefix + ".weight.quant_map"] = torch.tensor(mq.NF4_CODE_F32)
    if nested:
        sd[prefix + ".weight.nested_absmax"] = torch.tensor(q["absmax2"])
        sd[prefix + ".weight.nested_quant_map"] = torch.tensor(mq.DYNMAP)
    sd[prefix + ".weight.quant_state.bitsandbytes__nf4"] = torch.tensor(
        list(json.dumps(meta).encode("utf-8")), dtype=torch.uint8)


def add_int8_layout(sd, prefix, q8, shape):
    """bnb Linear8bitLt._save_to_state_dict: weight = CB (int8), SCB, weight_format."""
    sd[prefix + ".weight"] = torch.tensor(np.frombuffer(q8["q"], dtype=np.int8).copy()).reshape(shape)
    sd[prefix + ".SCB"] = torch.tensor(q8["scale"])
    sd[prefix + ".weight_format"] = torch.tensor(0, dtype=torch.uint8)


# ---------------------------------------------------------------- files ---

def write_config(d, quantization_config=None):
    cfg = {
        "architectures": ["BaichuanForCausalLM"], "model_type": "baichuan",
        "hidden_size": HIDDEN, "intermediate_size": INTER, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "vocab_size": VOCAB, "rms_norm_eps": 1e-06,
        "model_max_length": CTX, "max_position_embeddings": CTX, "hidden_act": "silu",
        "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
        "pad_token_id": 0, "torch_dtype": "float16", "position_embedding": "rope",
        "transformers_version": "4.29.2",
    }
    if quantization_config:
        cfg["quantization_config"] = quantization_config
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def perplexity(w, ids):
    cfg = {"hidden_size": HIDDEN, "num_attention_heads": HEADS, "rms_norm_eps": 1e-6,
           "num_hidden_layers": LAYERS, "position_embedding": "rope"}
    logits = forward(w, cfg, ids[:-1])
    mx = logits.max(axis=1, keepdims=True)
    logz = (mx + np.log(np.exp(logits - mx).sum(axis=1, keepdims=True)))[:, 0]
    nll = logz - logits[np.arange(len(ids) - 1), ids[1:]]
    return float(np.exp(nll.mean()))


def reference_logits(w, ids):
    cfg = {"hidden_size": HIDDEN, "num_attention_heads": HEADS, "rms_norm_eps": 1e-6,
           "num_hidden_layers": LAYERS, "position_embedding": "rope"}
    return forward(w, cfg, ids)


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write_expected(d, w, ppl_lines):
    ids = ids_of(PROMPT_TEXT)
    reference_logits(w, ids)[-LOGIT_ROWS:].astype("<f4").tofile(os.path.join(d, "logits.f32"))
    lines = ["# expected values from tests/quant/make_4bit_models.py (float64 numpy forward "
             "of tests/model/reference.py)",
             f"prompt {len(ids)} " + " ".join(map(str, ids)),
             f"logit_rows {LOGIT_ROWS}"] + ppl_lines
    with open(os.path.join(d, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    base = train()
    dense64 = {k: v.double().numpy() for k, v in base.items()}
    names = [f"model.layers.{n}.{m}" for n in range(LAYERS) for m in LINEARS]
    nf4 = {m: nf4_of(base[m + ".weight"]) for m in names}
    int8 = {m: mq.quantize_int8(base[m + ".weight"].float().numpy()) for m in names}

    def dequantized(q):
        w = dict(dense64)
        for m in names:
            w[m + ".weight"] = q[m]["dequant"].reshape(base[m + ".weight"].shape).astype(np.float64)
        return w

    w_nf4, w_int8 = dequantized(nf4), dequantized(int8)
    eval_ids = ids_of(EVAL_TEXT)
    ppl = {"f32": perplexity(dense64, eval_ids), "nf4": perplexity(w_nf4, eval_ids),
           "int8": perplexity(w_int8, eval_ids)}
    print("held-out perplexity (float64 reference):",
          ", ".join(f"{k} {v:.6f}" for k, v in ppl.items()))
    ppl_lines = [f"eval {len(eval_ids)} " + " ".join(map(str, eval_ids))] + \
                [f"perplexity {k} {v:.12g}" for k, v in ppl.items()]

    os.makedirs(OUT, exist_ok=True)
    plain = [k for k in base if not any(k == m + ".weight" for m in names)]
    qcfg = {"load_in_4bit": True, "load_in_8bit": False, "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_use_double_quant": True, "bnb_4bit_compute_dtype": "float16"}

    d = fresh(os.path.join(OUT, "trained-f16"))
    write_config(d)
    torch.save(collections.OrderedDict((k, v.contiguous()) for k, v in base.items()),
               os.path.join(d, "pytorch_model.bin"))
    write_expected(d, dense64, ppl_lines)

    for name, add in (("nf4-list", add_list_layout), ("nf4-packed", add_packed_layout)):
        d = fresh(os.path.join(OUT, name))
        write_config(d, qcfg)
        sd = collections.OrderedDict((k, base[k]) for k in plain)
        for m in names:
            add(sd, m, nf4[m], tuple(base[m + ".weight"].shape))
        torch.save(sd, os.path.join(d, "pytorch_model.bin"))
        write_expected(d, w_nf4, ppl_lines)

    d = fresh(os.path.join(OUT, "int8-scb"))
    write_config(d, {"load_in_8bit": True, "llm_int8_threshold": 6.0})
    sd = collections.OrderedDict((k, base[k]) for k in plain)
    for m in names:
        add_int8_layout(sd, m, int8[m], tuple(base[m + ".weight"].shape))
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    write_expected(d, w_int8, ppl_lines)

    make_hostile()
    for d in sorted(os.listdir(OUT)):
        p = os.path.join(OUT, d)
        if os.path.isdir(p):
            size = sum(os.path.getsize(os.path.join(p, f)) for f in os.listdir(p))
            print(f"{d}: {size} bytes")


# -------------------------------------------------------------- hostile ---

def make_hostile():
    """One [64, 64] module "m" per file (the reader is called with that
    shape); each mutation starts from a real torch.save state dict."""
    d = fresh(os.path.join(OUT, "hostile"))
    g = torch.Generator().manual_seed(5)
    w = (torch.randn(64, 64, generator=g) * 0.05).half()
    q = nf4_of(w)
    qp = mq.quantize_nf4(w.float().numpy(), False)
    q8 = mq.quantize_int8(w.float().numpy())
    cases = []

    def save(name, sd, expect):
        torch.save(sd, os.path.join(d, name + ".bin"))
        cases.append(f"{name} {expect}")

    def list_sd(nested=True, data_key=".weight.data"):
        sd = collections.OrderedDict()
        add_list_layout(sd, "m", q if nested else qp, (64, 64), nested, data_key)
        return sd

    def packed_sd(nested=True):
        sd = collections.OrderedDict()
        add_packed_layout(sd, "m", q if nested else qp, (64, 64), nested)
        return sd

    save("ok-list", list_sd(), "ok")
    save("ok-list-plain", list_sd(False), "ok")
    save("ok-list-weight-key", list_sd(data_key=".weight"), "ok")
    save("ok-packed", packed_sd(), "ok")
    save("ok-packed-plain", packed_sd(False), "ok")
    sd = collections.OrderedDict()
    add_int8_layout(sd, "m", q8, (64, 64))
    save("ok-int8", sd, "ok")

    sd = list_sd(); sd["m.weight.quant_state"][0] = sd["m.weight.quant_state"][0][:-1]
    save("qabsmax-count", sd, "m.weight.quant_state.0")
    sd = list_sd(); sd["m.weight.quant_state"][4][1][0] = torch.zeros(2)
    save("absmax2-count", sd, "m.weight.quant_state.4.1.0")
    sd = list_sd(); sd["m.weight.quant_state"][1] = torch.Size([128, 32])
    save("shape-mismatch", sd, "does not match [64, 64]")
    sd = list_sd(); sd["m.weight.data"] = sd["m.weight.data"][:-2]
    save("data-length", sd, "m.weight.data")
    sd = list_sd(); sd["m.weight.quant_state"][3] = 128
    save("blocksize", sd, "blocksize must be 64")
    sd = list_sd(); sd["m.weight.quant_state"][5] = "fp4"
    save("fp4", sd, "fp4 is not supported")
    sd = list_sd(); sd["m.weight.quant_state"][6] = sd["m.weight.quant_state"][6] * 0.5
    save("code-table", sd, "not the NF4 value")
    sd = list_sd(); sd["m.weight.quant_state"][2] = torch.device("cpu")
    save("unknown-global", sd, "refused global torch")
    sd = list_sd(); sd["m.weight.quant_state"][4][0] = torch.tensor(float("nan"))
    save("offset-nan", sd, "offset must be a finite float")
    sd = list_sd(); sd["m.weight.quant_state"] = sd["m.weight.quant_state"][:6]
    save("list-short", sd, "m.weight.quant_state.6 is missing")
    sd = list_sd(); sd["m.weight.quant_state"][4][1][1] = torch.zeros(255)
    save("code2-length", sd, "m.weight.quant_state.4.1.1")
    sd = list_sd(); sd["m.weight.quant_state"][4][1][0] = torch.tensor([float("inf")])
    save("absmax2-inf", sd, "not finite")
    sd = list_sd(); sd["m.weight.quant_state"][4][1][2] = 128
    save("nested-blocksize", sd, "nested blocksize must be 256")
    sd = list_sd(); del sd["m.weight.quant_state"]
    save("state-missing", sd, "m.weight.quant_state")

    def with_json(meta_edit):
        sd = packed_sd()
        meta = json.loads(bytes(sd["m.weight.quant_state.bitsandbytes__nf4"].tolist()))
        text = meta_edit(meta)
        sd["m.weight.quant_state.bitsandbytes__nf4"] = torch.tensor(
            list(text.encode("utf-8")), dtype=torch.uint8)
        return sd

    save("json-shape", with_json(lambda m: json.dumps(dict(m, shape=[64, 65]))),
         "does not match [64, 64]")
    save("json-broken", with_json(lambda m: json.dumps(m)[:-5]), "bitsandbytes__nf4")
    save("json-blocksize", with_json(lambda m: json.dumps(dict(m, blocksize=32))), "blocksize")
    sd = packed_sd(); sd["m.weight.absmax"] = sd["m.weight.absmax"][:10]
    save("packed-absmax-count", sd, "m.weight.absmax")
    sd = packed_sd(); del sd["m.weight.nested_absmax"]
    save("packed-nested-missing", sd, "m.weight.nested_absmax is missing")
    sd = collections.OrderedDict(); add_int8_layout(sd, "m", q8, (64, 64))
    sd["m.SCB"] = sd["m.SCB"][:63]
    save("scb-count", sd, "m.SCB")
    sd = collections.OrderedDict(); add_int8_layout(sd, "m", q8, (64, 64))
    sd["m.weight_format"] = torch.tensor(1, dtype=torch.uint8)
    save("int8-col32", sd, "weight_format 0")
    sd = collections.OrderedDict(); add_int8_layout(sd, "m", q8, (64, 64))
    sd["m.weight"] = sd["m.weight"].reshape(32, 128)
    save("int8-shape", sd, "expected I8 [64, 64]")
    with open(os.path.join(d, "cases.txt"), "w") as f:
        f.write("# file (without .bin) and the text the reader's error must contain; "
                "written by tests/quant/make_4bit_models.py\n" + "\n".join(cases) + "\n")


if __name__ == "__main__":
    main()
