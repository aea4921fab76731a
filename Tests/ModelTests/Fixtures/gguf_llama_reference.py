#!/usr/bin/env python3
"""Logits of a llama-architecture GGUF model, computed independently of PruneScale in float64.

    gguf_llama_reference.py MODEL.gguf OUT.bin IDS [IDS ...]

Each IDS is a comma-separated list of token ids, run as its own sequence from position 0. The
file is read with the `gguf` package (GGUFReader), every tensor dequantised with
`gguf.quants.dequantize`, the q/k rows that llama.cpp's converter permuted for interleaved RoPE
put back in Hugging Face's order here, and the Llama forward written out in numpy float64:
embedding, per block RMSNorm → GQA attention with rotate-half RoPE and a causal mask → residual
→ RMSNorm → SwiGLU → residual, final RMSNorm, LM head (the embedding when output.weight is
absent). OUT.bin receives the logits of all sequences, [positions, vocab] each, one after the
other, as little-endian float64.

Needs: pip install gguf numpy
"""
import sys

try:
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
except ImportError as e:
    sys.stderr.write(f"gguf_llama_reference.py needs gguf and numpy ({e}); install them with: pip install gguf numpy\n")
    sys.exit(3)


def main():
    path, out = sys.argv[1], sys.argv[2]
    sequences = [[int(t) for t in arg.split(",")] for arg in sys.argv[3:]]
    reader = GGUFReader(path)

    def meta(key, default=None):
        field = reader.fields.get(key)
        return default if field is None else field.contents()

    assert meta("general.architecture") == "llama", "not a llama model"
    layers = int(meta("llama.block_count"))
    heads = int(meta("llama.attention.head_count"))
    kv_heads = int(meta("llama.attention.head_count_kv", heads))
    hidden = int(meta("llama.embedding_length"))
    head_dim = hidden // heads
    theta = float(meta("llama.rope.freq_base", 10000.0))
    eps = float(meta("llama.attention.layer_norm_rms_epsilon"))

    tensors = {t.name: t for t in reader.tensors}

    def weight(name):
        t = tensors[name]
        # GGUF dims are innermost first; numpy wants them outermost first ([out, in] for linears).
        shape = [int(d) for d in reversed(t.shape)]
        return np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float64).reshape(shape)

    def hf_rows(w, n_heads):
        # llama.cpp stores row (h, 2i + s) for Hugging Face's row (h, s * d/2 + i).
        out_dim, in_dim = w.shape
        return w.reshape(n_heads, out_dim // n_heads // 2, 2, in_dim).swapaxes(1, 2).reshape(out_dim, in_dim)

    def rmsnorm(x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w

    embedding = weight("token_embd.weight")
    head = weight("output.weight") if "output.weight" in tensors else embedding
    blocks = []
    for i in range(layers):
        p = f"blk.{i}."
        blocks.append({
            "attn_norm": weight(p + "attn_norm.weight"),
            "q": hf_rows(weight(p + "attn_q.weight"), heads),
            "k": hf_rows(weight(p + "attn_k.weight"), kv_heads),
            "v": weight(p + "attn_v.weight"),
            "o": weight(p + "attn_output.weight"),
            "ffn_norm": weight(p + "ffn_norm.weight"),
            "gate": weight(p + "ffn_gate.weight"),
            "up": weight(p + "ffn_up.weight"),
            "down": weight(p + "ffn_down.weight"),
        })
    final_norm = weight("output_norm.weight")

    half = head_dim // 2
    inv_freq = theta ** (-np.arange(half, dtype=np.float64) * 2 / head_dim)

    def rope(x, positions):
        # x: [T, n, head_dim]; Hugging Face's rotate-half: pairs (i, i + d/2).
        angles = positions[:, None] * inv_freq[None, :]
        cos = np.concatenate([np.cos(angles)] * 2, axis=-1)[:, None, :]
        sin = np.concatenate([np.sin(angles)] * 2, axis=-1)[:, None, :]
        rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return x * cos + rotated * sin

    results = []
    for ids in sequences:
        T = len(ids)
        positions = np.arange(T, dtype=np.float64)
        x = embedding[np.array(ids)]
        causal = np.triu(np.full((T, T), -np.inf), k=1)
        for b in blocks:
            h = rmsnorm(x, b["attn_norm"])
            q = rope((h @ b["q"].T).reshape(T, heads, head_dim), positions)
            k = rope((h @ b["k"].T).reshape(T, kv_heads, head_dim), positions)
            v = (h @ b["v"].T).reshape(T, kv_heads, head_dim)
            group = heads // kv_heads
            attended = np.empty((T, heads, head_dim))
            for n in range(heads):
                scores = q[:, n, :] @ k[:, n // group, :].T / np.sqrt(head_dim) + causal
                scores -= scores.max(axis=-1, keepdims=True)
                probs = np.exp(scores)
                probs /= probs.sum(axis=-1, keepdims=True)
                attended[:, n, :] = probs @ v[:, n // group, :]
            x = x + attended.reshape(T, heads * head_dim) @ b["o"].T
            h = rmsnorm(x, b["ffn_norm"])
            gate = h @ b["gate"].T
            x = x + ((gate / (1 + np.exp(-gate))) * (h @ b["up"].T)) @ b["down"].T
        results.append(rmsnorm(x, final_norm) @ head.T)
    np.concatenate(results, axis=0).astype("<f8").tofile(out)


if __name__ == "__main__":
    main()
