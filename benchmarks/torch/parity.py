#!/usr/bin/env python3
"""Loss and every gradient of a PruneScale checkpoint on one batch, computed by PyTorch.

    python3 benchmarks/torch/parity.py CHECKPOINT_DIR BATCH_FILE OUT_FILE [--float64] [--threads N] [--sdpa]

CHECKPOINT_DIR  config.json + model.safetensors (Hugging Face Llama names; see llama_ref.py).
BATCH_FILE      a safetensors file holding one tensor "tokens", dtype I32 (I64/U16/U8 accepted too),
                shape [B, T+1], row-major. Row b is one sequence: inputs are tokens[b, 0..T-1], targets
                tokens[b, 1..T]. B and T come from the shape; every token must be < vocab_size.
                (safetensors = u64 little-endian header length n, n bytes of JSON
                {"tokens": {"dtype": "I32", "shape": [B, T+1], "data_offsets": [0, 4*B*(T+1)]}},
                padded with spaces to a multiple of 8, then the raw little-endian int32s.)
OUT_FILE        a safetensors file, every tensor F32: "loss" shape [1] (mean cross-entropy over all
                B*T positions, nats) and one gradient per parameter under the parameter's HF name and
                shape (d loss / d weight). With tied embeddings there is no "lm_head.weight" and the
                gradient of "model.embed_tokens.weight" has both contributions.
                Metadata: torch version, dtype, B, T.

--float64 computes in float64 (weights widened exactly from the checkpoint; output still F32): a
more exact reference than float32-vs-float32. --threads defaults to 1 (deterministic sums).
--sdpa uses torch's fused scaled_dot_product_attention instead of the explicit softmax.
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402


def read_batch(path):
    tensors, _ = llama_ref.read_safetensors(path)
    if "tokens" not in tensors:
        raise ValueError(f"{path}: no tensor named 'tokens' (has: {', '.join(tensors) or 'none'})")
    t = tensors["tokens"]
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.dim() != 2 or t.shape[1] < 2:
        raise ValueError(f"{path}: 'tokens' must be an integer [B, T+1] tensor with T >= 1, "
                         f"got {t.dtype} {list(t.shape)}")
    return t.to(torch.int64)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("batch")
    ap.add_argument("out")
    ap.add_argument("--float64", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sdpa", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    dtype = torch.float64 if a.float64 else torch.float32

    try:
        model = llama_ref.load(a.checkpoint, dtype=dtype, sdpa=a.sdpa)
        tokens = read_batch(a.batch)
    except (OSError, ValueError, KeyError) as e:
        print(f"parity: {e}", file=sys.stderr)
        return 2
    V = model.config.vocab
    if tokens.min() < 0 or tokens.max() >= V:
        print(f"parity: tokens range over [{tokens.min()}, {tokens.max()}], vocab is {V}", file=sys.stderr)
        return 2

    loss = model(tokens[:, :-1], tokens[:, 1:])
    loss.backward()
    out = {"loss": loss.detach().reshape(1).float()}
    for name, p in model.named_parameters():
        out[name] = p.grad.float()
    B, T1 = tokens.shape
    llama_ref.write_safetensors(a.out, out, {"format": "prunescale-grads", "torch": torch.__version__,
                                             "dtype": str(dtype), "B": B, "T": T1 - 1})
    print(f"loss {loss.item():.9g}  B={B} T={T1 - 1}  {len(out) - 1} gradients -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
