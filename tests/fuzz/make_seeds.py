#!/usr/bin/python3
"""Copies small seed inputs for the fuzz harnesses out of the generated format
fixtures (tests/data/formats, made by tests/formats/make_fixtures.py with real
torch.save / safetensors). Run from anywhere: tests/fuzz/make_seeds.py

seeds/{safetensors,zip,pickle,index_json} come from tests/data/formats,
seeds/quant_state from tests/data/quant_models/hostile (each torch.save file
re-laid as the harness's header + data.pkl + records, see fuzz_quant_state.c),
seeds/theme from themes/ and seeds/replay_script from the committed scripts;
seeds/session (a file the replay mode saved, plus edge cases) and
seeds/config_json (made-up small configs with the Baichuan2 key set) and
seeds/app_yaml (config/baichuan-chat.yaml and a preset example) are written by
hand. seeds/<harness>/ holds starting points only; inputs a fuzzer crashed on go to
corpus/<harness>/ by hand, with the reader fix that makes them pass."""
import os
import shutil
import struct
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "data", "formats")
MAX_SEED = 4096  # bytes; larger fixtures are left out to keep the fuzzer fast


def out_dir(harness):
    d = os.path.join(HERE, "seeds", harness)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    return d


def copy(harness_dir, rel, name):
    src = os.path.join(FIX, rel)
    if os.path.getsize(src) <= MAX_SEED:
        shutil.copyfile(src, os.path.join(harness_dir, name))


def main():
    st = out_dir("safetensors")
    copy(st, "st_single/model.safetensors", "single.safetensors")
    copy(st, "st_sharded/model-00001-of-00002.safetensors", "shard1.safetensors")
    copy(st, "st_sharded/model-00002-of-00002.safetensors", "shard2.safetensors")
    for f in sorted(os.listdir(os.path.join(FIX, "hostile_st"))):
        copy(st, os.path.join("hostile_st", f), "hostile_" + f)

    zp = out_dir("zip")
    for case in ("bin_untyped", "bin_quant", "bin_proto4", "bin_zipfile"):
        copy(zp, case + "/pytorch_model.bin", case + ".bin")
    for f in ("noncontig.bin", "not_dict.bin", "eval.bin", "truncated.bin", "deflated.bin",
              "byteorder_big.bin"):
        copy(zp, "hostile_bin/" + f, "hostile_" + f)

    pk = out_dir("pickle")
    for rel in ("bin_single/pytorch_model.bin", "bin_quant/pytorch_model.bin",
                "bin_untyped/pytorch_model.bin", "bin_proto4/pytorch_model.bin",
                "hostile_bin/noncontig.bin", "hostile_bin/not_dict.bin",
                "hostile_bin/os_system.bin", "hostile_bin/storage_numel.bin",
                "hostile_bin/huge_memo.bin"):
        with zipfile.ZipFile(os.path.join(FIX, rel)) as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            name = rel.replace("/pytorch_model.bin", "").replace("/", "_").replace(".bin", "")
            with open(os.path.join(pk, name + ".pkl"), "wb") as f:
                f.write(z.read(pkl))

    ix = out_dir("index_json")
    copy(ix, "st_sharded/model.safetensors.index.json", "st_sharded.json")
    copy(ix, "bin_sharded/pytorch_model.bin.index.json", "bin_sharded.json")
    for case in sorted(os.listdir(os.path.join(FIX, "hostile_idx"))):
        copy(ix, "hostile_idx/%s/model.safetensors.index.json" % case, "hostile_%s.json" % case)

    quant_seeds()
    root = os.path.join(HERE, "..", "..")
    th = out_dir("theme")
    for f in sorted(os.listdir(os.path.join(root, "themes"))):
        shutil.copyfile(os.path.join(root, "themes", f), os.path.join(th, f))
    rs = out_dir("replay_script")
    shutil.copyfile(os.path.join(root, "config", "replay-example.yaml"),
                    os.path.join(rs, "replay-example.yaml"))
    shutil.copyfile(os.path.join(root, "tests", "replay", "switch.yaml"),
                    os.path.join(rs, "switch.yaml"))


def quant_record_seed(path, rows=64, cols=64):
    """A torch.save zip as fuzz_quant_state.c reads it: u16 rows-1, u16 cols-1,
    u32 len + data.pkl, then (u8 key_len, key, u32 len, bytes) per record."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl")][0]
        prefix = pkl[: -len("data.pkl")] + "data/"
        out = struct.pack("<HHI", rows - 1, cols - 1, z.getinfo(pkl).file_size) + z.read(pkl)
        for n in names:
            if n.startswith(prefix) and n != prefix:
                key = n[len(prefix):].encode()
                data = z.read(n)
                out += struct.pack("<B", len(key)) + key + struct.pack("<I", len(data)) + data
    return out


def quant_seeds():
    qs = out_dir("quant_state")
    hostile = os.path.join(HERE, "..", "data", "quant_models", "hostile")
    for f in sorted(os.listdir(hostile)):
        if f.endswith(".bin"):
            with open(os.path.join(qs, f[:-4] + ".qs"), "wb") as out:
                out.write(quant_record_seed(os.path.join(hostile, f)))


if __name__ == "__main__":
    main()
