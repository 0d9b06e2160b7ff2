#!/usr/bin/python3
"""Writes tests/quant/quant_cases.txt: inputs and expected outputs of the
int8 and NF4 quantizers, for the bit-exact C test (tests/quant/test_quant.c).

The real bitsandbytes package could not be used: its 4-bit quantizer in the
version Baichuan2 relies on (0.41) runs only on CUDA, and the later CPU path
needs a torch 2.x wheel of several hundred MB. So this script re-implements
bitsandbytes 0.41's algorithm with numpy, from its published table and kernel
logic (csrc/kernels.cu and bitsandbytes/functional.py):

  * NF4 code: the published 16 values (functional.get_4bit_type('nf4')).
  * dQuantizeNF4: a value goes to code i when it is above the i-th midpoint
    threshold. The thresholds are derived here from the published table as
    float32((code[i] + code[i+1]) / 2) and checked against the fp32 literals
    in bnb's decision tree (BNB_NF4_THRESHOLDS below).
  * kQuantizeBlockwise (blocksize 64): absmax = max |x| over the block, the
    scale is inv = 1.0f / absmax and the value quantized is x * inv, all fp32;
    an all-zero block gives 0 * inf = NaN, which fails every comparison and
    becomes code 0. Odd n: the missing last element is a 0 in the low nibble.
    bnb is built with --use_fast_math: fp32 subnormals are flushed to zero.
  * Double quantization (quantize_4bit(compress_statistics=True)):
    offset = absmax.mean(); absmax -= offset; quantize_blockwise(absmax,
    blocksize=256) with create_dynamic_map(signed=True, 7, 8) and dQuantize's
    binary search + midpoint rule. The mean is taken as the correctly rounded
    mean (float64 sum / n, then float32); torch's fp32 reduction order is not
    reproducible off the GPU.
  * create_dynamic_map: computed with torch when torch is importable (the
    exact bnb code path) and with a numpy emulation of torch 1.13's float32
    linspace; the two must agree.
  * int8 (kDoubleRowColQuant): absmax per row; factor = 127.0f / absmax;
    q = rintf(x * factor) (round half to even), NaN -> 0, saturated to int8.

Run:  /usr/bin/python3 tests/quant/make_quant_cases.py   (writes next to itself)
"""
import os
from decimal import Decimal
from fractions import Fraction

import numpy as np

F = np.float32
HERE = os.path.dirname(os.path.abspath(__file__))

NF4_CODE = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
    0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0,
]
# The constants of bnb's dQuantizeNF4 decision tree, lowest first.
BNB_NF4_THRESHOLDS = [  # verbatim text of the literals
    "-0.8480964004993439", "-0.6106329262256622", "-0.4599952697753906",
    "-0.33967943489551544", "-0.23460740596055984", "-0.13791173323988914",
    "-0.045525018125772476", "0.03979014977812767", "0.1202552504837513",
    "0.2035212516784668", "0.2920137718319893", "0.3893125355243683",
    "0.5016634166240692", "0.6427869200706482", "0.8614784181118011",
]

NF4_CODE_F32 = np.array(NF4_CODE, dtype=F)


def f32_from_decimal(text):
    """A C/CUDA float literal: the decimal value rounded ONCE to float32
    (going through a double first would round twice and differs by one ulp
    for 4 of the 15 thresholds)."""
    exact = Fraction(Decimal(text))
    guess = F(float(text))
    cands = [np.nextafter(guess, F(-np.inf)), guess, np.nextafter(guess, F(np.inf))]
    best = min(cands, key=lambda c: (abs(Fraction(float(c)) - exact),
                                     int(np.array(c, dtype=F).view(np.uint32)) & 1))
    return F(best)


# bnb's thresholds are the float64 midpoints of neighbouring codes, written out
# with 16-17 significant digits and compiled as fp32 literals.
_mid = [(NF4_CODE[i] + NF4_CODE[i + 1]) / 2.0 for i in range(15)]
assert _mid == [float(t) for t in BNB_NF4_THRESHOLDS], "midpoints of the published table != bnb constants"
THRESH = np.array([f32_from_decimal(t) for t in BNB_NF4_THRESHOLDS], dtype=F)

FLT_MIN = F(np.finfo(F).tiny)


def ftz(x):
    x = F(x)
    return F(np.copysign(F(0), x)) if abs(x) < FLT_MIN else x


def nf4_index(x):
    # number of thresholds strictly below x; NaN compares false everywhere
    return int(np.count_nonzero(F(x) > THRESH))


def fdiv(a, b):
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return F(F(a) / F(b))


def fmul(a, b):
    with np.errstate(invalid="ignore", over="ignore"):
        return F(F(a) * F(b))


# ---- create_dynamic_map ------------------------------------------------------

def torch_linspace_f32(start, end, n, vec=8):
    """torch 1.13 CPU linspace (AVX2 build): fma-contracted chunk bases,
    vectorized chunks of 8 (element k = base + k*step, two roundings)."""
    start, end = F(start), F(end)
    step = F(F(end - start) / F(n - 1))
    half = n // 2

    def base(i):
        if i < half:
            return F(np.float64(start) + np.float64(step) * i)
        return F(np.float64(end) - np.float64(step) * (n - i - 1))

    out = [None] * n
    i = 0
    while i <= n - 2 * vec:
        for _ in range(2):
            b = base(i)
            for k in range(vec):
                out[i + k] = F(b + F(F(k) * step))
            i += vec
    while i < n:
        out[i] = base(i)
        i += 1
    return np.array(out, dtype=F)


def dynamic_map_numpy():
    data = []
    for i in range(7):
        b = torch_linspace_f32(0.1, 1.0, 2 ** i + 1)
        means = (b[:-1] + b[1:]) / F(2)
        s = F(10.0 ** (i - 6))
        data += list(s * means)
        data += list(F(-s) * means)
    data += [F(0), F(1)]
    return np.sort(np.array(data, dtype=F))


def dynamic_map_torch():
    import torch  # bnb 0.41 functional.create_dynamic_map, verbatim logic
    data = []
    for i in range(7):
        fraction_items = int(2 ** (i + 7 - 7) + 1)
        boundaries = torch.linspace(0.1, 1, fraction_items)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(7 - 1) + i)) * means).tolist()
        data += (-(10 ** (-(7 - 1) + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    data.sort()
    return torch.Tensor(data).numpy()


DYNMAP = dynamic_map_numpy()
try:
    _t = dynamic_map_torch()
    assert (_t == DYNMAP).all(), "numpy emulation of create_dynamic_map != torch"
    print("create_dynamic_map: numpy emulation matches torch")
except ImportError:
    print("torch not importable: using the numpy emulation of create_dynamic_map")


def dquantize(code, x):
    """bnb kernels.cu dQuantize<0>, line by line."""
    x = F(x)
    pivot, upper_pivot, lower_pivot = 127, 255, 0
    lower, upper = F(-1.0), F(1.0)
    val = code[pivot]
    i = 64
    while i > 0:
        if x > val:
            lower_pivot, lower = pivot, val
            pivot += i
        else:
            upper_pivot, upper = pivot, val
            pivot -= i
        val = code[pivot]
        i >>= 1
    if upper_pivot == 255:
        upper = code[upper_pivot]
    if lower_pivot == 0:
        lower = code[lower_pivot]
    if x > val:
        midpoint = F(F(upper + val) * F(0.5))
        return upper_pivot if x > midpoint else pivot
    midpoint = F(F(lower + val) * F(0.5))
    return lower_pivot if x < midpoint else pivot


# ---- quantizers ----------------------------------------------------------------

def quantize_nf4(w, double_quant):
    n = w.size
    flat = w.reshape(-1)
    nblocks = (n + 63) // 64
    packed = bytearray((n + 1) // 2)
    absmax = np.zeros(nblocks, dtype=F)
    for b in range(nblocks):
        v = [ftz(t) for t in flat[b * 64:(b + 1) * 64]]
        am = F(0)
        for t in v:
            am = max(am, F(abs(t)))
        inv = ftz(fdiv(1.0, am))
        if len(v) % 2:
            v.append(F(0))
        for j in range(0, len(v), 2):
            hi = nf4_index(ftz(fmul(v[j], inv)))
            lo = nf4_index(ftz(fmul(v[j + 1], inv)))
            packed[b * 32 + j // 2] = hi << 4 | lo
        absmax[b] = am
    out = {"packed": bytes(packed), "absmax": absmax}
    if double_quant:
        offset = F(np.sum(absmax.astype(np.float64)) / nblocks)
        centred = np.array([ftz(F(a - offset)) for a in absmax], dtype=F)
        nb2 = (nblocks + 255) // 256
        q = bytearray(nblocks)
        absmax2 = np.zeros(nb2, dtype=F)
        for b2 in range(nb2):
            c = centred[b2 * 256:(b2 + 1) * 256]
            am2 = F(np.max(np.abs(c)))
            inv = ftz(fdiv(1.0, am2))
            for k, t in enumerate(c):
                q[b2 * 256 + k] = dquantize(DYNMAP, ftz(fmul(t, inv)))
            absmax2[b2] = am2
        out.update(qabsmax=bytes(q), absmax2=absmax2, offset=offset)
        scales = np.array([F(F(DYNMAP[q[b]] * absmax2[b // 256]) + offset)
                           for b in range(nblocks)], dtype=F)
    else:
        scales = absmax
    deq = np.zeros(n, dtype=F)
    for e in range(n):
        byte = packed[e // 2]
        code = (byte & 15) if (e & 1) else (byte >> 4)
        deq[e] = F(NF4_CODE_F32[code] * scales[e // 64])
    out["dequant"] = deq
    return out


def quantize_int8(w):
    rows, cols = w.shape
    q = np.zeros((rows, cols), dtype=np.int8)
    absmax = np.zeros(rows, dtype=F)
    deq = np.zeros((rows, cols), dtype=F)
    for r in range(rows):
        v = [ftz(t) for t in w[r]]
        am = F(0)
        for t in v:
            am = max(am, F(abs(t)))
        factor = fdiv(127.0, am)
        for c, t in enumerate(v):
            p = ftz(fmul(t, factor))
            if np.isnan(p):
                q[r, c] = 0
            else:
                q[r, c] = int(max(-128.0, min(127.0, float(np.rint(p)))))
        absmax[r] = am
        scale = F(am * F(F(1.0) / F(127.0)))
        deq[r] = q[r].astype(F) * scale
    return {"q": q.tobytes(), "scale": absmax, "dequant": deq.reshape(-1)}


# ---- inputs -----------------------------------------------------------------------

def to_bf16_bits(x):
    """float32 -> bf16 bits, round to nearest even (torch .bfloat16())."""
    u = np.asarray(x, dtype=F).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(F)


def lcg_f16_bits(seed, n):
    """Deterministic fp16 inputs that the C test regenerates instead of reading
    (keeps the fixture small): x = x*1664525 + 1013904223 mod 2^32; sign from
    bit 31, exponent 6 + bits 8..10, mantissa bits 16..25."""
    x = seed & 0xFFFFFFFF
    out = np.zeros(n, dtype=np.uint16)
    for i in range(n):
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = ((x >> 16) & 0x8000) | ((6 + ((x >> 8) & 7)) << 10) | ((x >> 16) & 0x3FF)
    return out


def encode_input(dtype, values):
    """Returns (raw words as hex, float32 values the quantizer sees)."""
    values = np.asarray(values).reshape(-1)
    if dtype == "f32":
        a = np.asarray(values, dtype=F)
        return "".join("%08x" % u for u in a.view(np.uint32)), a
    if dtype == "f16":
        a = np.asarray(values, dtype=np.float16)
        return "".join("%04x" % u for u in a.view(np.uint16)), a.astype(F)
    bits = to_bf16_bits(values)
    return "".join("%04x" % u for u in bits), bf16_bits_to_f32(bits)


def hexf(a):
    return " ".join("%08x" % u for u in np.asarray(a, dtype=F).reshape(-1).view(np.uint32))


def nf4_edge_values(rng, n):
    """bf16-friendly edge cases: zero block, subnormals, -0, ties, tiny blocks."""
    v = (rng.standard_normal(n) * 0.03).astype(F)
    v[0:64] = 0.0                         # block 0: all zero
    v[64:128] = 1e-39                     # block 1: fp32 subnormals only (flushed)
    v[64:128:3] = -3e-39
    v[70] = -0.0
    v[128:192] = rng.standard_normal(64) * 1e-3
    v[130] = 0.25                         # absmax tie: +0.25 and -0.25
    v[131] = -0.25
    v[132] = -0.0
    v[133] = 2e-39                        # subnormal next to normal values
    v[192:256] = np.linspace(-1, 1, 64)   # absmax 1: values over the whole code range
    return v


def midpoint_values():
    """f32 values sitting exactly on bnb's thresholds and one ulp either side,
    in blocks whose absmax is a power of two (x * inv is then exact)."""
    out = []
    for scale in (1.0, 2.0, 0.5):
        blk = [F(1.0) * F(scale)]
        for t in THRESH:
            for u in (t, np.nextafter(t, F(-2)), np.nextafter(t, F(2))):
                blk.append(F(u) * F(scale))
        blk += [F(-0.0), F(-1.0) * F(scale), F(0.0)]
        blk += [F(0.0)] * (64 - len(blk))
        out += blk[:64]
    return np.array(out, dtype=F)


def int8_tie_values(rng, cols):
    """Rows whose factor is exactly 1 (absmax 127), so w*factor hits .5 ties."""
    rows = []
    r = [F(127.0)] + [F(k + 0.5) for k in range(-6, 6)] + [F(-0.0), F(0.0)]
    r += list((rng.standard_normal(cols - len(r)) * 40).astype(F))
    rows.append(r[:cols])
    rows.append([F(0.0)] * cols)                            # zero row
    rows.append([F(-0.0)] * (cols - 1) + [F(3.0)])           # one value, rest -0
    return np.array(rows, dtype=F)


def write_case(out, name, fmt, dtype, rows, cols, values, double_quant=0, via_f16=0,
               expect_error=False, lcg_seed=None):
    if lcg_seed is not None:
        seen = lcg_f16_bits(lcg_seed, rows * cols).view(np.float16).astype(F)
    else:
        raw, seen = encode_input(dtype, values)
    out.append("case %s" % name)
    out.append("format %s" % fmt)
    out.append("dtype %s" % dtype)
    out.append("shape %d %d" % (rows, cols))
    out.append("double_quant %d" % double_quant)
    out.append("via_f16 %d" % via_f16)
    out.append("input_lcg %d" % lcg_seed if lcg_seed is not None else "input " + raw)
    out.append("expect_error %d" % (1 if expect_error else 0))
    if not expect_error:
        w = seen.reshape(rows, cols)
        if via_f16:
            w = w.astype(np.float16).astype(F)
        if fmt == "nf4":
            r = quantize_nf4(w, double_quant)
            out.append("packed " + r["packed"].hex())
            if double_quant:
                out.append("qabsmax " + r["qabsmax"].hex())
                out.append("absmax2 " + hexf(r["absmax2"]))
                out.append("offset " + hexf([r["offset"]]))
            else:
                out.append("absmax " + hexf(r["absmax"]))
        else:
            r = quantize_int8(w)
            out.append("q " + r["q"].hex())
            out.append("scale " + hexf(r["scale"]))
        if rows * cols <= 4096:
            out.append("dequant " + hexf(r["dequant"]))
    out.append("end")


def main():
    rng = np.random.default_rng(20240601)
    out = ["# generated by tests/quant/make_quant_cases.py; do not edit",
           "dynmap " + hexf(DYNMAP),
           "nf4code " + hexf(NF4_CODE_F32),
           "nf4thresh " + hexf(THRESH)]

    w = rng.standard_normal(4 * 192) * 0.02
    write_case(out, "nf4_f16_random", "nf4", "f16", 4, 192, w)
    write_case(out, "nf4_f16_random_dq", "nf4", "f16", 4, 192, w, double_quant=1)

    e = nf4_edge_values(rng, 5 * 77)
    write_case(out, "nf4_bf16_edges_odd", "nf4", "bf16", 5, 77, e)
    write_case(out, "nf4_bf16_edges_odd_dq", "nf4", "bf16", 5, 77, e, double_quant=1)

    m = midpoint_values()
    write_case(out, "nf4_f32_midpoints", "nf4", "f32", 3, 64, m)

    # 260 blocks: two absmax2 blocks, the second partial; a block whose absmax
    # equals the mean, and blocks with equal absmax (ties in the centred map).
    # (inputs regenerated by the test from an LCG)
    write_case(out, "nf4_f16_dq_260_blocks", "nf4", "f16", 65, 256, None, double_quant=1,
               lcg_seed=12345)
    write_case(out, "int8_f16_lcg", "int8", "f16", 64, 96, None, lcg_seed=777)
    # every block the same absmax: centred values all 0, absmax2 = 0
    flat = np.tile(np.linspace(-0.5, 0.5, 64, dtype=F), 4)
    write_case(out, "nf4_f16_dq_constant", "nf4", "f16", 4, 64, flat, double_quant=1)
    write_case(out, "nf4_f32_tiny_odd", "nf4", "f32", 1, 3, np.array([0.3, -0.7, 0.1], F))

    rows = np.concatenate([int8_tie_values(rng, 50), (rng.standard_normal((3, 50)) * 0.05)])
    write_case(out, "int8_f32_ties", "int8", "f32", 6, 50, rows.astype(F))
    wi = rng.standard_normal(7 * 33) * 0.02
    wi[5 * 33:6 * 33] = 0.0
    write_case(out, "int8_f16_random", "int8", "f16", 7, 33, wi)
    wb = rng.standard_normal(4 * 40) * 0.5
    wb[3] = 1e-39
    write_case(out, "int8_bf16", "int8", "bf16", 4, 40, wb)
    # via_f16: f32 values that change when rounded to fp16 (bnb's .half())
    wv = (rng.standard_normal(3 * 64) * 0.01).astype(F)
    wv[0] = F(1.0 + 2.0 ** -11)   # tie: rounds to even (1.0)
    wv[1] = F(3e-8)               # fp16 subnormal
    write_case(out, "int8_f32_via_f16", "int8", "f32", 3, 64, wv, via_f16=1)
    write_case(out, "nf4_f32_via_f16", "nf4", "f32", 3, 64, wv, via_f16=1, double_quant=1)

    bad = np.zeros(2 * 64, dtype=F)
    bad[77] = np.inf
    write_case(out, "err_inf_f16", "nf4", "f16", 2, 64, bad, expect_error=True)
    bad[77] = np.nan
    write_case(out, "err_nan_bf16", "int8", "bf16", 2, 64, bad, expect_error=True)
    big16 = np.zeros(64, dtype=F)
    big16[9] = 1e5
    write_case(out, "err_f16_overflow", "nf4", "bf16", 1, 64, big16, via_f16=1,
               expect_error=True)

    path = os.path.join(HERE, "quant_cases.txt")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    main()
