#!/usr/bin/python3
"""Writes seeds/tokenizer_model/tiny.model: a small SentencePiece BPE model
(byte fallback, identity normalizer, one user-defined piece) trained by the
real SentencePiece trainer, so the tokenizer_model fuzzer starts from a valid
ModelProto of a few KB. Run from anywhere: tests/fuzz/make_tok_seed.py"""
import os
import tempfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    out = os.path.join(HERE, "seeds", "tokenizer_model")
    os.makedirs(out, exist_ok=True)
    text = "hello world\nthe quick brown fox jumps over the lazy dog\n你好，世界\n" * 20
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # relative names only: no machine paths end up in trainer_spec
        with open("t.txt", "w", encoding="utf-8") as f:
            f.write(text)
        spm.SentencePieceTrainer.train(
            input="t.txt", model_prefix="tiny", vocab_size=300, model_type="bpe",
            byte_fallback=True, normalization_rule_name="identity", character_coverage=1.0,
            user_defined_symbols=["<reserved_106>"], minloglevel=2)
        with open("tiny.model", "rb") as f:
            data = f.read()
        os.chdir(old)
    with open(os.path.join(out, "tiny.model"), "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
