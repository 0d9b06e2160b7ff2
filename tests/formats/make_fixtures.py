#!/usr/bin/python3
"""Writes the checkpoint-format fixtures into tests/data/formats/.

Run by developers (outputs are committed):
    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/pip install safetensors
    /usr/bin/python3 tests/formats/make_fixtures.py

Good files come from the real producers: torch.save (Debian's torch) and
safetensors.torch.save_file. expected.txt lists, for every tensor the C reader
must produce, what torch says it is: dtype, shape, an FNV-1a-64 of its
little-endian bytes and its first and last values.

Hostile files are made by mutating those real outputs (or with Python's pickle
module); the C test asserts each is refused with a specific message.
"""
import collections
import glob
import io
import json
import os
import pickle
import pickletools
import shutil
import struct
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests", "data", "formats")

# safetensors is not packaged by Debian: use the developer's .venv (see above).
for sp in glob.glob(os.path.join(ROOT, ".venv", "lib", "python3*", "site-packages")):
    sys.path.insert(0, sp)
try:
    import safetensors.torch as st
except ImportError:
    sys.exit("needs the safetensors package: see the docstring for the .venv setup")
import torch

DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
      torch.uint8: "U8", torch.int8: "I8", torch.int32: "I32", torch.int64: "I64",
      torch.float64: "F64", torch.bool: "BOOL"}


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def tensor_bytes(t):
    t = t.contiguous()
    if t.numel() == 0:
        return b""
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def tensor_record(name, t):
    flat = t.reshape(-1)
    if t.numel() == 0:
        first = last = 0.0
    else:
        first, last = float(flat[0].item()), float(flat[-1].item())
    return (name, DT[t.dtype], list(t.shape), fnv1a64(tensor_bytes(t)), first, last)


def raw_record(name, dtype, shape, data, first, last):
    return (name, dtype, list(shape), fnv1a64(data), float(first), float(last))


def sample_state_dict(seed, prefix=""):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    sd[prefix + "model.embed_tokens.weight"] = torch.randn(5, 4, generator=g)
    sd[prefix + "model.norm.weight"] = torch.randn(4, generator=g).half()
    sd[prefix + "lm_head.weight"] = torch.randn(5, 4, generator=g).bfloat16()
    sd[prefix + "packed.u8"] = torch.randint(0, 256, (6, 1), generator=g, dtype=torch.uint8)
    sd[prefix + "signed.i8"] = torch.randint(-128, 128, (3,), generator=g, dtype=torch.int8)
    sd[prefix + "scalar"] = torch.tensor(0.0703125)
    sd[prefix + "empty"] = torch.zeros(0, 3)
    return sd


EXPECTED = []  # (case, record)


def expect(case, sd):
    for name, t in sd.items():
        EXPECTED.append((case, tensor_record(name, t)))


def fresh(path):
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def index_json(path, weight_map, total):
    with open(path, "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def total_size(sd):
    return sum(t.numel() * t.element_size() for t in sd.values())


# ---------------------------------------------------------------- safetensors

def make_safetensors_good():
    d = fresh(os.path.join(OUT, "st_single"))
    sd = sample_state_dict(1)
    st.save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    expect("st_single", sd)

    d = fresh(os.path.join(OUT, "st_sharded"))
    a, b = sample_state_dict(2, "a."), sample_state_dict(3, "b.")
    st.save_file(a, os.path.join(d, "model-00001-of-00002.safetensors"), metadata={"format": "pt"})
    st.save_file(b, os.path.join(d, "model-00002-of-00002.safetensors"))
    wm = {k: "model-00001-of-00002.safetensors" for k in a}
    wm.update({k: "model-00002-of-00002.safetensors" for k in b})
    index_json(os.path.join(d, "model.safetensors.index.json"), wm, total_size(a) + total_size(b))
    expect("st_sharded", a)
    expect("st_sharded", b)


def st_split(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def st_join(header_text, data):
    h = header_text.encode()
    return struct.pack("<Q", len(h)) + h + data


def make_safetensors_hostile():
    d = fresh(os.path.join(OUT, "hostile_st"))
    good = os.path.join(OUT, "st_single", "model.safetensors")
    raw = open(good, "rb").read()
    hdr, data = st_split(good)
    names = [k for k in hdr if k != "__metadata__"]
    by_off = sorted(names, key=lambda k: hdr[k]["data_offsets"][0])

    def write(name, blob):
        open(os.path.join(d, name), "wb").write(blob)

    # overlap: the last tensor starts 4 bytes inside the one before it
    h = json.loads(json.dumps(hdr))
    t = h[by_off[-1]]
    t["data_offsets"] = [t["data_offsets"][0] - 4, t["data_offsets"][1] - 4]
    write("overlap.safetensors", st_join(json.dumps(h), data))
    # out of range: the last tensor grows past the end of the data
    h = json.loads(json.dumps(hdr))
    last = h[by_off[-1]]
    last["shape"] = [last["shape"][0] + 100] + last["shape"][1:]
    per_row = (last["data_offsets"][1] - last["data_offsets"][0]) // (last["shape"][0] - 100)
    last["data_offsets"][1] += 100 * per_row
    write("out_of_range.safetensors", st_join(json.dumps(h), data))
    # header length larger than the file
    write("header_too_big.safetensors", struct.pack("<Q", len(raw) + 1000) + raw[8:])
    # header length above the 100 MB cap
    write("header_cap.safetensors", struct.pack("<Q", 200_000_000) + raw[8:])
    # shape whose product wraps to 8 elements modulo 2**64
    h = json.loads(json.dumps(hdr))
    t = h[by_off[0]]
    t["shape"] = [2 ** 62, 4, 2]
    write("shape_overflow.safetensors", st_join(json.dumps(h), data))
    # the same name twice (json.dumps cannot write that: join two objects' members)
    h = json.loads(json.dumps(hdr))
    members = [json.dumps(k) + ":" + json.dumps(v) for k, v in h.items()]
    members.append(json.dumps(by_off[0]) + ":" + json.dumps(h[by_off[0]]))
    write("duplicate_name.safetensors", st_join("{" + ",".join(members) + "}", data))
    # trailing bytes after the last tensor
    write("trailing.safetensors", raw + b"\0" * 16)
    # a dtype outside the closed set, and one we do not support
    h = json.loads(json.dumps(hdr))
    h[by_off[0]]["dtype"] = "Q7"
    write("unknown_dtype.safetensors", st_join(json.dumps(h), data))
    # __metadata__ with a non-string value
    h = json.loads(json.dumps(hdr))
    h["__metadata__"] = {"format": 1}
    write("metadata_not_string.safetensors", st_join(json.dumps(h), data))
    # a header that is not an object
    write("not_object.safetensors", st_join(json.dumps([1, 2]), data))
    # YAML features that JSON does not have (an alias)
    h = json.loads(json.dumps(hdr))
    txt = json.dumps(h).replace('{"dtype"', '&x {"dtype"', 1)
    write("yaml_anchor.safetensors", st_join(txt, data))


def make_index_hostile():
    src = os.path.join(OUT, "st_sharded")
    idx = json.load(open(os.path.join(src, "model.safetensors.index.json")))

    def variant(name, mutate, drop=None):
        d = fresh(os.path.join(OUT, "hostile_idx", name))
        for f in os.listdir(src):
            if f != drop and f.endswith(".safetensors"):
                shutil.copy(os.path.join(src, f), d)
        j = json.loads(json.dumps(idx))
        mutate(j["weight_map"])
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump(j, f)

    first = next(iter(idx["weight_map"]))

    def dotdot(wm):
        wm[first] = "../model-00001-of-00002.safetensors"

    def absolute(wm):
        wm[first] = "/etc/passwd"

    def wrong_shard(wm):
        wm[first] = "model-00002-of-00002.safetensors"

    def missing_tensor(wm):
        wm["a.not.there"] = "model-00001-of-00002.safetensors"

    def unlisted(wm):
        del wm[first]

    variant("dotdot", dotdot)
    variant("absolute", absolute)
    variant("wrong_shard", wrong_shard)
    variant("missing_tensor", missing_tensor)
    variant("unlisted", unlisted)
    variant("missing_shard", lambda wm: None, drop="model-00002-of-00002.safetensors")
    # the same tensor in two shards
    d = fresh(os.path.join(OUT, "hostile_idx", "duplicate_across_shards"))
    # shard 1 = {x, y}, shard 2 = {y, z}; the map sends y to shard 1
    a = sample_state_dict(4, "a.")
    names = list(a)
    one = collections.OrderedDict((k, a[k]) for k in names[:4])
    two = collections.OrderedDict((k, a[k]) for k in names[3:])
    st.save_file(one, os.path.join(d, "model-00001-of-00002.safetensors"))
    st.save_file(two, os.path.join(d, "model-00002-of-00002.safetensors"))
    wm = {k: "model-00001-of-00002.safetensors" for k in one}
    wm.update({k: "model-00002-of-00002.safetensors" for k in names[4:]})
    index_json(os.path.join(d, "model.safetensors.index.json"), wm, total_size(a))


# ---------------------------------------------------------------------- main

def write_expected():
    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.write("# case name dtype ndim dims... fnv1a64 first last  "
                "(written by tests/formats/make_fixtures.py from torch)\n")
        for case, (name, dt, shape, h, first, last) in EXPECTED:
            dims = " ".join(str(s) for s in shape)
            f.write(f"{case} {name} {dt} {len(shape)}{' ' + dims if dims else ''} "
                    f"{h:016x} {first!r} {last!r}\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    make_safetensors_good()
    make_safetensors_hostile()
    make_index_hostile()
    if "make_torch_fixtures" in globals():
        make_torch_fixtures()
    write_expected()


if __name__ == "__main__":
    main()
