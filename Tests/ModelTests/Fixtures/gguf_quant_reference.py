#!/usr/bin/env python3
"""Random ggml tensors of every type PruneScale dequantises, and their values per the reference.

    gguf_quant_reference.py OUT_DIR

Writes OUT_DIR/quants.gguf with the `gguf` package's own writer (GGUFWriter), one tensor per
case, and OUT_DIR/expected.bin: each tensor's values as dequantised by `gguf.quants.dequantize`
(the reference Python port of ggml's dequantisers), little-endian float64, in the order of
OUT_DIR/expected.json ([{"name", "type", "count", "offset"}], offset in values).

Cases per type: blocks of uniformly random bytes (every bit pattern of the codes, 6-bit scales
and mins), with the half-float scales drawn from random finite halves (subnormals included), so
the arithmetic never meets inf - inf; F32/F16/BF16 take random bit patterns, NaN and inf
included. Q8_0, Q4_0 and Q4_1 also get blocks quantised by gguf's quantiser from normal values.

Needs: pip install gguf numpy
"""
import json
import os
import sys

try:
    import numpy as np
    from gguf import GGUFWriter, GGMLQuantizationType as Q
    from gguf.constants import GGML_QUANT_SIZES
    from gguf.quants import dequantize, quantize
except ImportError as e:
    sys.stderr.write(f"gguf_quant_reference.py needs gguf and numpy ({e}); install them with: pip install gguf numpy\n")
    sys.exit(3)

# Byte offsets of the half-float scale fields inside one block, per type.
HALF_FIELDS = {
    Q.Q8_0: [0], Q.Q4_0: [0], Q.Q4_1: [0, 2],
    Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
}


def finite_halves(rng, n):
    h = rng.integers(0, 1 << 16, size=n, dtype=np.uint32)
    # Exponent 0x1F is inf/NaN: clear its top bit, keeping sign, mantissa and the other exponent bits.
    bad = ((h >> 10) & 0x1F) == 0x1F
    h[bad] &= ~np.uint32(0x4000)
    return h.astype(np.uint16)


def random_blocks(rng, qtype, rows, blocks_per_row):
    elements, size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows * blocks_per_row, size), dtype=np.uint8)
    for at in HALF_FIELDS[qtype]:
        raw[:, at:at + 2] = finite_halves(rng, rows * blocks_per_row).view(np.uint8).reshape(-1, 2)
    return raw.reshape(rows, blocks_per_row * size)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240607)
    cases = []  # (name, qtype, raw uint8 rows)

    bits32 = rng.integers(0, 1 << 32, size=(8, 64), dtype=np.uint64).astype(np.uint32)
    bits32[0, :6] = [0x7F800000, 0xFF800000, 0x7FC00000, 0x00000001, 0x80000000, 0x3F800000]
    cases.append(("f32", Q.F32, bits32.view(np.uint8)))
    bits16 = rng.integers(0, 1 << 16, size=(8, 64), dtype=np.uint32).astype(np.uint16)
    bits16[0, :6] = [0x7C00, 0xFC00, 0x7E00, 0x0001, 0x8000, 0x03FF]
    cases.append(("f16", Q.F16, bits16.view(np.uint8)))
    cases.append(("bf16", Q.BF16, rng.integers(0, 1 << 16, size=(8, 64), dtype=np.uint32).astype(np.uint16).view(np.uint8)))

    for qtype, blocks in [(Q.Q8_0, 8), (Q.Q4_0, 8), (Q.Q4_1, 8), (Q.Q4_K, 2), (Q.Q5_K, 2), (Q.Q6_K, 2)]:
        cases.append((qtype.name.lower() + "_random", qtype, random_blocks(rng, qtype, 16, blocks)))
    for qtype in [Q.Q8_0, Q.Q4_0, Q.Q4_1]:
        values = rng.normal(0, 0.05, size=(12, 256)).astype(np.float32)
        values[0, :32] = 0  # an all-zero block (d = 0)
        cases.append((qtype.name.lower() + "_quantised", qtype, quantize(values, qtype)))

    writer = GGUFWriter(os.path.join(out, "quants.gguf"), arch="quant-test")
    manifest, expected = [], []
    offset = 0
    for name, qtype, raw in cases:
        raw = np.ascontiguousarray(raw, dtype=np.uint8)
        writer.add_tensor(name, raw, raw_dtype=qtype)
        with np.errstate(invalid="ignore"):  # NaN bit patterns are part of the F32/F16/BF16 cases
            values = np.asarray(dequantize(raw, qtype), dtype=np.float32).astype(np.float64).ravel()
        manifest.append({"name": name, "type": qtype.name, "count": int(values.size), "offset": offset})
        expected.append(values)
        offset += values.size
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    np.concatenate(expected).astype("<f8").tofile(os.path.join(out, "expected.bin"))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(manifest, f)


if __name__ == "__main__":
    main()
