#!/usr/bin/python3
"""Writes tokenizer test cases for a SentencePiece .model, with the expected
ids and decodes computed by SentencePiece itself (python3-sentencepiece).

  make_cases.py MODEL OUT.cases [--count N] [--seed S] [--big BIG.txt BIG.ids]

Cases file: UTF-8 text, one case per line, fields separated by one TAB:
  # comment
  E <text hex> <ids> <decode hex>   encode(text) == ids; decode(ids) == decode
  D <ids> <decode hex>              decode(ids) == decode
where <text hex>/<decode hex> are the bytes in lower-case hex ("-" when empty),
<ids> are decimal ids separated by single spaces ("-" when none), and a
<decode hex> of "=" means "equals the text". --big also writes a ~1 MiB mixed
text and its ids (one line of space-separated ids) for a throughput-sized case.
Texts are generated here (GB2312 hanzi, words of the GPL-3 text Debian ships,
hand-written phrases); no third-party text is stored.
"""
import argparse
import os
import random
import sys

import sentencepiece as spm

sys.dont_write_bytecode = True  # runs from the source tree at test time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizers import english_words, fields, level1_hanzi  # noqa: E402

TYPE_USER_DEFINED = 4

MODERN = ["今天天气很好", "我们一起去吃饭吧", "请问这个多少钱？", "人工智能正在改变世界。",
          "你好", "谢谢你的帮助！", "这是一个测试句子，用来检查分词器。", "北京是中国的首都",
          "他说：“明天见。”", "数据库连接失败，请稍后重试", "中华人民共和国", "学习编程需要耐心和练习"]
SAMPLES = ["解释一下“温故而知新”", "Hello world", "  leading spaces", "emoji 😀", "\n\n", " Hello",
           "1234567", "你好", "登鹳雀楼->王之涣\n夜雨寄北->", "\U00020000", "\r\n", "<s>hi</s>",
           "<!-- c -->", "----", "\u2581", "<unk>", "</s>", "<reserved_106>你好<reserved_107>"]
CLASSICAL_PARTICLES = "之乎者也矣焉哉而其以于为则所兮曰"
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇨🇳", "❤️", "🧑‍💻", "🙏", "✌🏿", "1️⃣", "🫠", "🦄"]
RARE = ["\U00020000", "\U0002A6D6", "\U00030000", "\u9FFF", "\u3400", "\u4DB5", "\U0001F9FF",
        "\u0800", "\uFFFD", "\U0010FFFD", "\u00A0", "\u200B", "\u3000", "\uFEFF", "é", "ñ", "Ω", "ß"]
INVALID = [b"\xff", b"\xc0\x80", b"\xe4\xbd", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80\x80",
           b"\xf0\x9f\x98", b"\xe2\x96", b"\xfe\xfe", b"\xc3", b"abc\xe4", b"\xe4\xbd\xa0\xe5"]
WS = [" ", "  ", "   ", "\t", "\t\t", "\n", "\r", "\r\n", "\n\n\n", " \t ", "\u3000", "    "]
CODE = ["def f(x):\n    return x * 2\n", "int main(void) {\n\treturn 0;\n}\n",
        "for (size_t i = 0; i < n; i++) a[i] += b[i];", "```python\nprint('hi')\n```",
        "<!DOCTYPE html><html><body><p>Hi</p></body></html>", "SELECT * FROM t WHERE id = 42;",
        "x = [1, 2, 3]  # list", "if (p != NULL && p->next) { free(p); }", "$ ls -la /tmp | grep foo",
        "{\"key\": \"value\", \"n\": 3.14}", "---\ntitle: test\n---", "a->b->c", "i++; j--; k += 1;"]


class Gen:
    def __init__(self, rng, model_path):
        self.rng = rng
        self.hanzi = level1_hanzi()
        self.en = english_words()
        self.sp = spm.SentencePieceProcessor(model_file=model_path)
        self.user_defined = []
        data = open(model_path, "rb").read()
        for field, wire, _raw, payload in fields(data):
            if field == 1 and wire == 2:
                piece, ptype = None, 1
                for f, _w, _r, p in fields(payload):
                    if f == 1:
                        piece = p
                    elif f == 3:
                        ptype = p
                if ptype == TYPE_USER_DEFINED:
                    self.user_defined.append(piece)

    def classical(self):
        r = self.rng
        lines = []
        n = r.choice([4, 5, 7])
        for _ in range(r.randint(1, 4)):
            line = "".join(r.choice(self.hanzi[:1500]) for _ in range(n - 1))
            line += r.choice(CLASSICAL_PARTICLES)
            lines.append(line + r.choice(["，", "。", "；", "？", "！"]))
        return "".join(lines)

    def modern(self):
        r = self.rng
        parts = [r.choice(MODERN)]
        for _ in range(r.randint(0, 3)):
            parts.append(r.choice([r.choice(MODERN), "".join(r.choices(self.hanzi, k=r.randint(1, 6))),
                                   r.choice("，。、；：？！（）《》“”")]))
        return "".join(parts)

    def english(self):
        r = self.rng
        ws = r.choices(self.en[:800], k=r.randint(1, 14))
        s = " ".join(ws)
        if r.random() < 0.5:
            s = s[0].upper() + s[1:]
        return s + r.choice(["", ".", ",", "!", "?", " ", "'s", "..."])

    def mixed(self):
        r = self.rng
        out = []
        for _ in range(r.randint(2, 6)):
            out.append(r.choice([self.modern, self.english, self.digits, self.emoji, self.ws])())
        return "".join(out)

    def digits(self):
        r = self.rng
        return r.choice([str(r.randint(0, 10 ** r.randint(1, 20))), f"{r.random() * 1000:.3f}",
                         f"{r.randint(1900, 2100)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
                         "０１２３４５６７８９"[: r.randint(1, 10)], f"第{r.randint(1, 999)}章",
                         "".join(r.choice("0123456789") for _ in range(r.randint(1, 40)))])

    def ws(self):
        r = self.rng
        return "".join(r.choices(WS, k=r.randint(1, 4)))

    def emoji(self):
        return "".join(self.rng.choices(EMOJI, k=self.rng.randint(1, 4)))

    def rare(self):
        r = self.rng
        return "".join(r.choice([r.choice(RARE), r.choice(self.hanzi), "a", " "]) for _ in range(r.randint(1, 6)))

    def code(self):
        return self.rng.choice(CODE)

    def padded(self):
        r = self.rng
        base = r.choice([self.english, self.modern, self.code])()
        return r.choice(WS[:6]) + base + r.choice(WS[:8])

    def pieces_soup(self):
        """Random vocabulary pieces glued together: exercises many merges."""
        r = self.rng
        n = self.sp.get_piece_size()
        out = []
        for _ in range(r.randint(1, 8)):
            i = r.randrange(n)
            if self.sp.is_control(i) or self.sp.is_unknown(i) or self.sp.is_byte(i):
                continue
            out.append(self.sp.id_to_piece(i).replace("\u2581", " "))
        return "".join(out)

    def user_defined_case(self):
        r = self.rng
        p = r.choice(self.user_defined).decode("utf-8", "surrogateescape")
        return r.choice(["", "x", " ", "你", "-", p]) + p + r.choice(["", "y", " ", "好", ">", p])

    def text(self):
        kinds = [self.classical, self.modern, self.english, self.mixed, self.digits, self.ws,
                 self.emoji, self.rare, self.code, self.padded, self.pieces_soup]
        return self.rng.choice(kinds)()


def hexs(b):
    return b.hex() if b else "-"


def idstr(ids):
    return " ".join(map(str, ids)) if ids else "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--big", nargs=2, metavar=("TEXT", "IDS"))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    g = Gen(rng, a.model)
    sp = g.sp

    texts = [b""] + [s.encode() for s in SAMPLES] + INVALID
    texts += [p for p in g.user_defined]                         # every user-defined piece alone
    texts += [("a" + p.decode("utf-8", "surrogateescape") + "b").encode("utf-8", "surrogateescape")
              for p in g.user_defined[:50]]
    texts += [w.encode() for w in WS] + [(" " + w + " ").encode() for w in WS]
    texts += [e.encode() for e in EMOJI] + [c.encode() for c in RARE] + [c.encode() for c in CODE]
    while len(texts) < a.count:
        r = rng.random()
        if r < 0.08 and g.user_defined:
            s = g.user_defined_case().encode("utf-8", "surrogateescape")
        elif r < 0.12:  # invalid UTF-8 spliced into text
            t = g.text().encode()
            k = rng.randint(0, len(t))
            s = t[:k] + rng.choice(INVALID) + t[k:]
        elif r < 0.14:  # raw random bytes
            s = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
        else:
            s = g.text().encode()
        texts.append(s)

    n_pieces = sp.get_piece_size()
    byte_ids = [i for i in range(n_pieces) if sp.is_byte(i)]
    special = [i for i in range(n_pieces) if sp.is_control(i) or sp.is_unknown(i)]
    ws_ids = [i for i in range(n_pieces) if sp.id_to_piece(i).startswith("\u2581")]
    with open(a.out, "w", encoding="ascii") as f:
        f.write(f"# {os.path.basename(a.model)}: SentencePiece {spm.__version__}, seed {a.seed}\n")
        for t in texts:
            ids = sp.encode(t) if t else []
            dec = sp.decode(ids).encode("utf-8", "surrogateescape")
            f.write(f"E\t{hexs(t)}\t{idstr(ids)}\t{'=' if dec == t else hexs(dec)}\n")
        for _ in range(max(200, a.count // 8)):  # decode-only: ids no encoder would produce
            ids = []
            for _ in range(rng.randint(1, 10)):
                r = rng.random()
                if r < 0.35 and byte_ids:
                    ids.append(rng.choice(byte_ids))
                elif r < 0.5 and special:
                    ids.append(rng.choice(special))
                elif r < 0.65 and ws_ids:
                    ids.append(rng.choice(ws_ids))
                else:
                    ids.append(rng.randrange(n_pieces))
            f.write(f"D\t{idstr(ids)}\t{hexs(sp.decode(ids).encode('utf-8', 'surrogateescape'))}\n")

    if a.big:
        parts, size = [], 0
        while size < (1 << 20):
            s = g.text() + rng.choice(["\n", " ", "", "\n\n", "。"])
            parts.append(s)
            size += len(s.encode())
        big = "".join(parts).encode()
        open(a.big[0], "wb").write(big)
        with open(a.big[1], "w", encoding="ascii") as f:
            f.write(idstr(sp.encode(big)) + "\n")


if __name__ == "__main__":
    main()
