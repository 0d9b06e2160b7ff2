#!/usr/bin/python3
"""Trains the small SentencePiece BPE models the tokenizer tests (and the
built-in demo model) use, into tests/data/tokenizer/:

  demo.model     BPE, vocab 4000, identity normalizer, byte fallback, split digits,
                 no dummy prefix, no whitespace removal, user-defined pieces —
                 shaped like Baichuan2's tokenizer.model.
  default.model  BPE with the proto2-default normalizer flags (add_dummy_prefix and
                 remove_extra_whitespaces on), identity rule, NO byte fallback, so
                 unknown characters become <unk> (consecutive ones joined).
  unused.model   demo.model with some multi-character NORMAL pieces re-typed UNUSED,
                 which makes SentencePiece resegment merged UNUSED pieces.

The training corpus is built here from nothing third-party: GB2312 level-1 hanzi
(via Python's codec) combined into pseudo-words, English words taken from the
GPL-3 text that Debian ships, code-like lines, digits, punctuation and emoji.
Deterministic (fixed seed). Run:  /usr/bin/python3 tests/tokenizer/make_tokenizers.py
"""
import os
import random
import re
import sys
import tempfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "tokenizer")
LICENSE = "/usr/share/common-licenses/GPL-3"

USER_DEFINED = ["<reserved_106>", "<reserved_107>", "\n", "\t", "```", "---",
                "<!--", "-->"]


def level1_hanzi():
    """The 3755 GB2312 level-1 hanzi (rows 16..55), in code order."""
    out = []
    for row in range(0xB0, 0xD8):
        for col in range(0xA1, 0xFF):
            try:
                out.append(bytes([row, col]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return out


def zipf_choice(rng, items, n, s=1.1):
    weights = [1.0 / (i + 1) ** s for i in range(len(items))]
    return rng.choices(items, weights=weights, k=n)


def english_words():
    text = open(LICENSE, encoding="utf-8").read()
    words = re.findall(r"[A-Za-z][a-z]+", text)
    freq = {}
    for w in words:
        freq[w] = freq.get(w, 0) + 1
    return sorted(freq, key=lambda w: -freq[w])


EMOJI = ["😀", "😂", "👍", "🎉", "❤️", "🚀", "🌏", "👨‍👩‍👧", "🇨🇳", "✅", "🔥", "🙏🏽"]
CN_PUNCT = ["，", "。", "、", "；", "：", "？", "！", "“", "”", "（", "）", "《", "》"]


def build_corpus(rng, n_lines):
    hanzi = level1_hanzi()
    rng.shuffle(hanzi)
    # A lexicon of pseudo-words: frequent ones short, Zipf-distributed use.
    lexicon = []
    for i in range(6000):
        length = rng.choices([1, 2, 3, 4], weights=[3, 6, 2, 1])[0]
        lexicon.append("".join(zipf_choice(rng, hanzi, length, 0.9)))
    en = english_words()
    lines = []
    for _ in range(n_lines):
        kind = rng.random()
        if kind < 0.40:    # Chinese prose
            parts = []
            for _ in range(rng.randint(4, 30)):
                parts.append(zipf_choice(rng, lexicon, 1)[0])
                if rng.random() < 0.15:
                    parts.append(rng.choice(CN_PUNCT))
            lines.append("".join(parts) + "。")
        elif kind < 0.70:  # English prose
            ws = zipf_choice(rng, en, rng.randint(3, 25), 1.0)
            s = " ".join(ws)
            lines.append(s[0].upper() + s[1:] + rng.choice([".", ",", "?", "!", ";"]))
        elif kind < 0.80:  # mixed
            parts = []
            for _ in range(rng.randint(3, 12)):
                if rng.random() < 0.5:
                    parts.append(zipf_choice(rng, lexicon, 1)[0])
                else:
                    parts.append(" " + zipf_choice(rng, en, 1)[0] + " ")
            lines.append("".join(parts))
        elif kind < 0.90:  # code-like
            a, b, c = zipf_choice(rng, en, 3, 1.0)
            indent = rng.choice(["", "    ", "        ", "\t"])
            lines.append(rng.choice([
                f"{indent}def {a}_{b}({c}, n=0):",
                f"{indent}return {a}[{rng.randint(0, 99)}] + {b}.{c}()",
                f"{indent}if ({a} != NULL && {b}->{c} >= {rng.randint(0, 9999)}) {{",
                f"{indent}int {a} = {b}({c}, {rng.randint(0, 512)});  // {b} {c}",
                f"{indent}{a}.{b} = \"{c}\"  # {rng.randint(1, 1 << 20)}",
                f"{indent}for (size_t i = 0; i < {a}_len; i++) {b}[i] = {c}[i];",
            ]))
        else:              # numbers, punctuation, emoji
            lines.append(rng.choice([
                f"{rng.randint(0, 10**9)} {rng.random():.4f} -{rng.randint(0, 999)}%",
                f"{rng.randint(1900, 2099)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
                " ".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 5))),
                "".join(rng.choice("!@#$%^&*()[]{}<>/\\|~`'\":;,.?+=_-") for _ in range(rng.randint(2, 12))),
                f"  {rng.choice(en)}   {rng.choice(en)}  ",
            ]))
    return lines


def train(corpus_path, prefix, **extra):
    args = dict(input=corpus_path, model_prefix=prefix, model_type="bpe",
                vocab_size=4000, character_coverage=0.9995,
                normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2,
                pad_id=-1, max_sentencepiece_length=16, num_threads=2,
                minloglevel=2)
    args.update(extra)
    spm.SentencePieceTrainer.train(**args)
    os.remove(prefix + ".vocab")


# --- a minimal protobuf rewriter for unused.model (python3-protobuf is not needed) ---

def read_varint(buf, pos):
    shift = value = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def varint(value):
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fields(buf):
    """Yields (field, wire, raw_bytes_of_whole_field, payload) for a message."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = read_varint(buf, pos)
            payload = val
        elif wire == 1:
            payload = buf[pos:pos + 8]
            pos += 8
        elif wire == 5:
            payload = buf[pos:pos + 4]
            pos += 4
        elif wire == 2:
            n, pos = read_varint(buf, pos)
            payload = buf[pos:pos + n]
            pos += n
        else:
            raise ValueError("wire type %d" % wire)
        yield field, wire, buf[start:pos], payload


def make_unused(src, dst):
    data = open(src, "rb").read()
    out = bytearray()
    n_normal_multi = 0
    for field, wire, raw, payload in fields(data):
        if field == 1 and wire == 2:
            piece, ptype = None, 1
            for f, w, r, p in fields(payload):
                if f == 1:
                    piece = p.decode("utf-8")
                elif f == 3:
                    ptype = p
            if ptype == 1 and len(piece) >= 2:
                n_normal_multi += 1
                if n_normal_multi % 5 == 0:
                    sub = bytearray()
                    for f, w, r, p in fields(payload):
                        if f != 3:
                            sub += r
                    sub += b"\x18" + varint(5)  # type = UNUSED
                    out += b"\x0a" + varint(len(sub)) + sub
                    continue
        out += raw
    open(dst, "wb").write(bytes(out))


def scrub(path):
    """Drops trainer_spec.input (1) and .model_prefix (2): they hold the paths
    of the machine that trained the model, which the repository must not."""
    data = open(path, "rb").read()
    out = bytearray()
    for field, wire, raw, payload in fields(data):
        if field == 2 and wire == 2:
            spec = b"".join(r for f, _w, r, _p in fields(payload) if f not in (1, 2))
            out += b"\x12" + varint(len(spec)) + spec
        else:
            out += raw
    open(path, "wb").write(bytes(out))


def main():
    rng = random.Random(20240611)
    os.makedirs(OUT, exist_ok=True)
    lines = build_corpus(rng, 40000)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        train(corpus, os.path.join(OUT, "demo"), byte_fallback=True, split_digits=True,
              add_dummy_prefix=False, remove_extra_whitespaces=False,
              allow_whitespace_only_pieces=True, user_defined_symbols=USER_DEFINED)
        train(corpus, os.path.join(OUT, "default"), vocab_size=3000,
              character_coverage=0.995)
    scrub(os.path.join(OUT, "demo.model"))
    scrub(os.path.join(OUT, "default.model"))
    make_unused(os.path.join(OUT, "demo.model"), os.path.join(OUT, "unused.model"))
    for name in ("demo", "default", "unused"):
        path = os.path.join(OUT, name + ".model")
        sp = spm.SentencePieceProcessor(model_file=path)
        print(f"{path}: {os.path.getsize(path)} bytes, {sp.get_piece_size()} pieces",
              file=sys.stderr)


if __name__ == "__main__":
    main()
