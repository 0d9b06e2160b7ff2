#!/usr/bin/python3
"""Writes a ~1.3B-parameter random Baichuan2-architecture model (RoPE, hidden
2048, 16 layers, 16 heads, intermediate 5632, the full 125,696 vocabulary) as
a bf16 model.safetensors, for `baichuan-chat bench -m DIR`. About 2.7 GB:
never commit it; write it into build/ or /tmp.

    /usr/bin/python3 tests/model/make_bench_model.py OUTDIR

tokenizer.model: the real Baichuan2 tokenizer from ../shared/baichuan2/ when
present, else the project's demo tokenizer (bench feeds token ids directly, so
only the loader looks at it). Needs the safetensors package (.venv, see
tests/model/make_models.py).
"""
import glob
import json
import os
import shutil
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
for sp in glob.glob(os.path.join(ROOT, ".venv", "lib", "python3*", "site-packages")):
    sys.path.insert(0, sp)
try:
    import safetensors.torch
except ImportError:
    sys.exit("needs the safetensors package: see tests/model/make_models.py")
import torch

HIDDEN, LAYERS, HEADS, INTER, VOCAB, CTX = 2048, 16, 16, 5632, 125696, 4096


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(2023)

    def rand(rows, cols, std):
        t = torch.empty(rows, cols, dtype=torch.float32)
        t.normal_(0.0, std, generator=gen)
        return t.to(torch.bfloat16)

    w = {"model.embed_tokens.weight": rand(VOCAB, HIDDEN, 1.0)}
    for n in range(LAYERS):
        p = f"model.layers.{n}."
        w[p + "input_layernorm.weight"] = torch.ones(HIDDEN, dtype=torch.bfloat16)
        w[p + "self_attn.W_pack.weight"] = rand(3 * HIDDEN, HIDDEN, HIDDEN ** -0.5)
        w[p + "self_attn.o_proj.weight"] = rand(HIDDEN, HIDDEN, HIDDEN ** -0.5)
        w[p + "post_attention_layernorm.weight"] = torch.ones(HIDDEN, dtype=torch.bfloat16)
        w[p + "mlp.gate_proj.weight"] = rand(INTER, HIDDEN, HIDDEN ** -0.5)
        w[p + "mlp.up_proj.weight"] = rand(INTER, HIDDEN, HIDDEN ** -0.5)
        w[p + "mlp.down_proj.weight"] = rand(HIDDEN, INTER, INTER ** -0.5)
    w["model.norm.weight"] = torch.ones(HIDDEN, dtype=torch.bfloat16)
    w["lm_head.weight"] = rand(VOCAB, HIDDEN, 1.0)
    safetensors.torch.save_file(w, os.path.join(out, "model.safetensors"),
                                metadata={"format": "pt"})
    cfg = {"architectures": ["BaichuanForCausalLM"], "model_type": "baichuan",
           "hidden_size": HIDDEN, "intermediate_size": INTER, "num_hidden_layers": LAYERS,
           "num_attention_heads": HEADS, "vocab_size": VOCAB, "rms_norm_eps": 1e-6,
           "model_max_length": CTX, "max_position_embeddings": CTX,
           "position_embedding": "rope", "torch_dtype": "bfloat16",
           "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
           "tie_word_embeddings": False, "hidden_act": "silu"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    real = os.path.join(ROOT, "..", "shared", "baichuan2", "13B-Chat", "tokenizer.model")
    demo = os.path.join(ROOT, "tests", "data", "tokenizer", "demo.model")
    shutil.copyfile(real if os.path.exists(real) else demo, os.path.join(out, "tokenizer.model"))
    params = sum(t.numel() for t in w.values())
    print(f"{out}: {params / 1e9:.2f} B parameters, "
          f"{os.path.getsize(os.path.join(out, 'model.safetensors')) / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
