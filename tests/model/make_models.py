#!/usr/bin/python3
"""Writes the small random Baichuan2 model directories of the `model` suite
into tests/data/models/ (committed, together with this script).

Each directory is what the real Hugging Face repos hold, only tiny:
config.json, generation_config.json, tokenizer.model (the project's demo
tokenizer, tests/data/tokenizer/demo.model) and the weights, written by the
real producers: torch.save (Debian's torch 1.13) for pytorch_model.bin and
its sharded form, the `safetensors` package for model.safetensors.

Variants cover both position schemes (RoPE; ALiBi with 6 heads, not a power
of two), the three containers, and bf16 / fp16 / fp32 storage. Sizes are as
small as the demo tokenizer's vocabulary allows (embed_tokens and lm_head are
[vocab, hidden] each).

safetensors is not packaged by Debian, so run this once with a venv:
    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/pip install safetensors
    /usr/bin/python3 tests/model/make_models.py
then tests/model/reference.py computes the expected values.
"""
import glob
import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
for sp in glob.glob(os.path.join(ROOT, ".venv", "lib", "python3*", "site-packages")):
    sys.path.insert(0, sp)
try:
    import safetensors.torch
except ImportError:
    sys.exit("needs the safetensors package: see the docstring for the .venv setup")
import sentencepiece as spm
import torch

OUT = os.path.join(ROOT, "tests", "data", "models")
TOKENIZER = os.path.join(ROOT, "tests", "data", "tokenizer", "demo.model")

# name, position, hidden, heads, layers, intermediate, container, dtype, seed
FIXTURES = [
    ("rope-safetensors-bf16", "rope", 32, 4, 2, 88, "safetensors", torch.bfloat16, 11),
    ("alibi6-bin-f16", "alibi", 24, 6, 2, 64, "bin", torch.float16, 12),
    ("rope-shards-f32", "rope", 8, 2, 2, 24, "bin-sharded", torch.float32, 13),
]
MODEL_MAX_LENGTH = 128


def make_weights(vocab, hidden, layers, inter, seed):
    """Random float32 weights, shaped like baichuan2.md 6.2."""
    rng = np.random.default_rng(seed)

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    w = {"model.embed_tokens.weight": normal((vocab, hidden), 1.0)}
    for n in range(layers):
        p = f"model.layers.{n}."
        # Norm weights away from 1 so that forgetting them shows.
        w[p + "input_layernorm.weight"] = (1.0 + normal((hidden,), 0.2))
        w[p + "self_attn.W_pack.weight"] = normal((3 * hidden, hidden), hidden ** -0.5)
        w[p + "self_attn.o_proj.weight"] = normal((hidden, hidden), hidden ** -0.5)
        w[p + "post_attention_layernorm.weight"] = (1.0 + normal((hidden,), 0.2))
        w[p + "mlp.gate_proj.weight"] = normal((inter, hidden), hidden ** -0.5)
        w[p + "mlp.up_proj.weight"] = normal((inter, hidden), hidden ** -0.5)
        w[p + "mlp.down_proj.weight"] = normal((hidden, inter), inter ** -0.5)
    w["model.norm.weight"] = (1.0 + normal((hidden,), 0.2))
    # Rows of very different norms: NormHead must normalise them.
    row_scale = np.exp(rng.uniform(-2.0, 2.0, size=(vocab, 1))).astype(np.float32)
    w["lm_head.weight"] = normal((vocab, hidden), 1.0) * row_scale
    return w


def write_config(d, pos, vocab, hidden, heads, layers, inter, dtype):
    cfg = {
        "architectures": ["BaichuanForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_baichuan.BaichuanConfig",
                     "AutoModelForCausalLM": "modeling_baichuan.BaichuanForCausalLM"},
        "tokenizer_class": "BaichuanTokenizer",
        "model_type": "baichuan",
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "vocab_size": vocab,
        "rms_norm_eps": 1e-06,
        "model_max_length": MODEL_MAX_LENGTH,
        "hidden_act": "silu",
        "initializer_range": 0.02,
        "torch_dtype": {torch.bfloat16: "bfloat16", torch.float16: "float16",
                        torch.float32: "float32"}[dtype],
        "tie_word_embeddings": False,
        "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        "use_cache": True,
        "position_embedding": pos,
        "transformers_version": "4.29.2",
    }
    if pos == "rope":
        cfg["max_position_embeddings"] = MODEL_MAX_LENGTH
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    gen = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
           "user_token_id": 195, "assistant_token_id": 196, "max_new_tokens": 32,
           "temperature": 0.3, "top_k": 5, "top_p": 0.85, "repetition_penalty": 1.05,
           "do_sample": True, "transformers_version": "4.29.2"}
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump(gen, f, indent=2)


def write_weights(d, tensors, container):
    if container == "safetensors":
        safetensors.torch.save_file(tensors, os.path.join(d, "model.safetensors"),
                                    metadata={"format": "pt"})
    elif container == "bin":
        torch.save(tensors, os.path.join(d, "pytorch_model.bin"))
    else:  # two shards + index, split like HF does (whole tensors per shard)
        names = list(tensors)
        half = len(names) // 2
        shards = [names[:half], names[half:]]
        index = {"metadata": {"total_size": sum(t.numel() * t.element_size()
                                                for t in tensors.values())},
                 "weight_map": {}}
        for i, part in enumerate(shards):
            fname = f"pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin"
            torch.save({k: tensors[k] for k in part}, os.path.join(d, fname))
            for k in part:
                index["weight_map"][k] = fname
        with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
            json.dump(index, f, indent=2)


def main():
    vocab = spm.SentencePieceProcessor(model_file=TOKENIZER).get_piece_size()
    for name, pos, hidden, heads, layers, inter, container, dtype, seed in FIXTURES:
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        w = make_weights(vocab, hidden, layers, inter, seed)
        tensors = {k: torch.from_numpy(v).to(dtype).contiguous() for k, v in w.items()}
        write_config(d, pos, vocab, hidden, heads, layers, inter, dtype)
        write_weights(d, tensors, container)
        # One tokenizer for every fixture: a relative link, not a copy.
        os.symlink(os.path.relpath(TOKENIZER, d), os.path.join(d, "tokenizer.model"))
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"{name}: vocab {vocab}, {size} bytes")


if __name__ == "__main__":
    main()
