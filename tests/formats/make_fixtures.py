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


# --------------------------------------------------------------------- torch

def torch_state_dict(seed):
    sd = sample_state_dict(seed)
    base = torch.arange(20, dtype=torch.float32) * 0.25
    sd["view.slice"] = base[5:10]               # storage offset 5, shared storage
    sd["view.block"] = base[10:20].view(2, 5)   # same storage again, offset 10
    sd["mask.bool"] = torch.tensor([True, False, True])
    sd["big.f64"] = torch.tensor([1.5, -2.25], dtype=torch.float64)
    return sd


def save_bytes(obj, **kw):
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def zip_rewrite(blob, replace=None, drop=(), add=None, deflate=(), prefix=None):
    """Rewrites a torch.save archive with Python's zipfile (plain ZIP, stored)."""
    src = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    old_prefix = src.namelist()[0].split("/")[0] + "/"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            rel = info.filename[len(old_prefix):]
            if rel in drop:
                continue
            data = (replace or {}).get(rel, src.read(info.filename))
            info = zipfile.ZipInfo((prefix or old_prefix) + rel, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if rel in deflate else zipfile.ZIP_STORED
            dst.writestr(info, data)  # fixed time stamp: reproducible fixtures
        for rel, data in (add or {}).items():
            dst.writestr(zipfile.ZipInfo((prefix or old_prefix) + rel,
                                         date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def pkl_of(blob):
    z = zipfile.ZipFile(io.BytesIO(blob))
    return z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])


def flat_records(name, v, out):
    """The C reader's flattening of non-tensor values (unpickler.h)."""
    if v is None:
        return
    if isinstance(v, torch.Tensor):
        out.append(tensor_record(name, v))
    elif isinstance(v, torch.Size):
        data = struct.pack("<%dq" % len(v), *v)
        out.append(raw_record(name, "I64", [len(v)], data, v[0], v[-1]))
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            flat_records(f"{name}.{i}", x, out)
    elif isinstance(v, bool):
        out.append(raw_record(name, "BOOL", [], bytes([v]), int(v), int(v)))
    elif isinstance(v, int):
        out.append(raw_record(name, "I64", [], struct.pack("<q", v), v, v))
    elif isinstance(v, float):
        out.append(raw_record(name, "F64", [], struct.pack("<d", v), v, v))
    elif isinstance(v, str):
        b = v.encode()
        out.append(raw_record(name, "U8", [len(b)], b, b[0], b[-1]))
    elif isinstance(v, torch.dtype):
        b = str(v).replace("torch.", "").encode()
        out.append(raw_record(name, "U8", [len(b)], b, b[0], b[-1]))
    else:
        raise TypeError(type(v))


class UntypedTensor:
    """Pickles as torch >= 2 can write a tensor over an untyped storage."""
    def __init__(self, nbytes, shape):
        self.nbytes, self.shape = nbytes, shape

    def __reduce__(self):
        stride = (self.shape[1], 1)
        return (torch._utils._rebuild_tensor_v2,
                (StorageRef(self.nbytes), 0, self.shape, stride, False, collections.OrderedDict()))


class StorageRef:
    def __init__(self, nbytes):
        self.nbytes = nbytes


class UntypedPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", torch.UntypedStorage, "0", "cpu", obj.nbytes)
        return None


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def pickle_ops(pkl):
    return [(op.name, arg, pos) for op, arg, pos in pickletools.genops(pkl)]


def splice(pkl, pos, old_len, new):
    return pkl[:pos] + new + pkl[pos + old_len:]


def make_torch_fixtures():
    d = fresh(os.path.join(OUT, "bin_single"))
    sd = torch_state_dict(5)
    single = save_bytes(sd)
    open(os.path.join(d, "pytorch_model.bin"), "wb").write(single)
    expect("bin_single", sd)

    d = fresh(os.path.join(OUT, "bin_sharded"))
    a, b = sample_state_dict(6, "a."), torch_state_dict(7)
    torch.save(a, os.path.join(d, "pytorch_model-00001-of-00002.bin"))
    torch.save(b, os.path.join(d, "pytorch_model-00002-of-00002.bin"))
    wm = {k: "pytorch_model-00001-of-00002.bin" for k in a}
    wm.update({k: "pytorch_model-00002-of-00002.bin" for k in b})
    index_json(os.path.join(d, "pytorch_model.bin.index.json"), wm, total_size(a) + total_size(b))
    expect("bin_sharded", a)
    expect("bin_sharded", b)

    # pickle protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL
    d = fresh(os.path.join(OUT, "bin_proto4"))
    sd = torch_state_dict(8)
    torch.save(sd, os.path.join(d, "pytorch_model.bin"), pickle_protocol=4)
    expect("bin_proto4", sd)

    # a plain (non-ZIP64) archive with another folder name and a byteorder record
    d = fresh(os.path.join(OUT, "bin_zipfile"))
    open(os.path.join(d, "pytorch_model.bin"), "wb").write(
        zip_rewrite(single, prefix="pytorch_model/", add={"byteorder": b"little"}))
    expect("bin_zipfile", torch_state_dict(5))

    # -4bits-like: a quant_state list beside a packed uint8 weight, and a Parameter
    d = fresh(os.path.join(OUT, "bin_quant"))
    g = torch.Generator().manual_seed(9)
    qsd = collections.OrderedDict()
    qsd["l.weight"] = torch.randint(0, 256, (16, 1), generator=g, dtype=torch.uint8)
    qsd["l.weight.quant_state"] = [
        torch.randint(0, 256, (2,), generator=g, dtype=torch.uint8), torch.Size([4, 8]),
        torch.float16, 64,
        [torch.tensor(0.0704), [torch.randn(1, generator=g), torch.randn(256, generator=g),
                                256, False, torch.float32, None, None]],
        "nf4", torch.randn(16, generator=g)]
    qsd["norm.weight"] = torch.nn.Parameter(torch.randn(4, generator=g).half(),
                                            requires_grad=False)
    torch.save(qsd, os.path.join(d, "pytorch_model.bin"))
    recs = []
    for k, v in qsd.items():
        flat_records(k, v.detach() if isinstance(v, torch.Tensor) else v, recs)
    EXPECTED.extend(("bin_quant", r) for r in recs)

    # a tensor over torch.UntypedStorage (hand-built pickle, real archive around it)
    d = fresh(os.path.join(OUT, "bin_untyped"))
    u8 = torch.randint(0, 256, (3, 4), generator=g, dtype=torch.uint8)
    buf = io.BytesIO()
    UntypedPickler(buf, protocol=2).dump(collections.OrderedDict(raw=UntypedTensor(12, (3, 4))))
    open(os.path.join(d, "pytorch_model.bin"), "wb").write(
        zip_rewrite(save_bytes({"raw": u8}), replace={"data.pkl": buf.getvalue()}))
    EXPECTED.append(("bin_untyped", tensor_record("raw", u8)))

    make_torch_hostile(single)


def make_torch_hostile(single):
    d = fresh(os.path.join(OUT, "hostile_bin"))

    def write(name, blob):
        open(os.path.join(d, name), "wb").write(blob)

    def with_pkl(pkl):
        return zip_rewrite(single, replace={"data.pkl": pkl})

    pkl = pkl_of(single)
    ops = pickle_ops(pkl)
    write("truncated.bin", single[:len(single) // 2])
    write("deflated.bin", zip_rewrite(single, deflate={"data/0"}))
    write("os_system.bin", with_pkl(pickle.dumps(
        collections.OrderedDict(w=Evil(os.system, "echo pwned")), protocol=2)))
    write("eval.bin", with_pkl(pickle.dumps(
        collections.OrderedDict(w=Evil(eval, "1+1")), protocol=2)))
    write("unknown_global.bin", with_pkl(pickle.dumps(
        collections.OrderedDict(w=collections.Counter("ab")), protocol=2)))
    write("stack_underflow.bin", with_pkl(pickle.PROTO + b"\x02" + pickle.REDUCE + pickle.STOP))
    write("deep_nesting.bin", with_pkl(pickle.PROTO + b"\x02" + pickle.MARK * 100000 +
                                       pickle.STOP))
    write("unterminated.bin", with_pkl(pkl[:-1]))
    # the first BINGET becomes a LONG_BINGET of a huge memo index
    name, arg, pos = next(o for o in ops if o[0] == "BINGET")
    write("huge_memo.bin", with_pkl(splice(pkl, pos, 2, pickle.LONG_BINGET +
                                           struct.pack("<I", 0xFFFFFF00))))
    # the first storage claims 10000 elements (the int right before its TUPLE)
    first_persid = next(i for i, o in enumerate(ops) if o[0] == "BINPERSID")
    tup = max(i for i in range(first_persid) if ops[i][0] == "TUPLE")
    num = max(i for i in range(tup) if ops[i][0] in ("BININT1", "BININT2", "BININT"))
    n_op, n_arg, n_pos = ops[num]
    n_len = ops[num + 1][2] - n_pos
    write("storage_numel.bin", with_pkl(splice(pkl, n_pos, n_len,
                                               pickle.BININT + struct.pack("<i", 10000))))
    # the first tensor's storage offset (the int right after BINPERSID) moves past the end
    o_op, o_arg, o_pos = ops[first_persid + 1]
    o_len = ops[first_persid + 2][2] - o_pos
    write("offset_past_end.bin", with_pkl(splice(pkl, o_pos, o_len,
                                                 pickle.BININT + struct.pack("<i", 1000))))
    write("noncontig.bin", save_bytes({"t": torch.arange(20.).view(4, 5).t()}))
    write("legacy.bin", save_bytes(collections.OrderedDict(a=torch.ones(2)),
                                   _use_new_zipfile_serialization=False))
    write("byteorder_big.bin", zip_rewrite(single, add={"byteorder": b"big"}))
    write("missing_record.bin", zip_rewrite(single, drop={"data/1"}))
    write("not_dict.bin", save_bytes([torch.ones(2)]))


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
