#!/usr/bin/env python3
"""Writes a small Llama checkpoint the way transformers' save_pretrained does, without torch.

    make_hf_llama.py OUT_DIR [--dtype float32|float16] [--tied]

The weights go through the Python `safetensors` package (the reference writer) with metadata
{"format": "pt"}; config.json carries the keys transformers 4.x writes for a LlamaConfig, sorted and
indented as it writes them. Tied embeddings: no lm_head.weight, as save_pretrained drops shared
tensors. Values are exact in float16 and derived from the tensor name, so CheckpointInteropTests
recomputes them: element i of tensor `name` is ((7 i + 13 s) mod 101 - 50) / 64 with
s = (sum of the name's UTF-8 bytes) mod 97.

Needs: pip install safetensors numpy
"""
import json
import os
import sys

try:
    import numpy as np
    from safetensors.numpy import save_file
except ImportError as e:
    sys.stderr.write(f"make_hf_llama.py needs numpy and safetensors ({e}); install them with: pip install safetensors numpy\n")
    sys.exit(3)

VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, MLP = 256, 64, 2, 4, 2, 96
HEAD_DIM = HIDDEN // HEADS


def values(name, shape, dtype):
    s = sum(name.encode()) % 97
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    return ((((7 * i + 13 * s) % 101) - 50) / 64.0).astype(dtype).reshape(shape)


def main():
    args = sys.argv[1:]
    out = args[0]
    dtype = args[args.index("--dtype") + 1] if "--dtype" in args else "float32"
    tied = "--tied" in args
    np_dtype = {"float32": np.float32, "float16": np.float16}[dtype]

    # state_dict order of LlamaForCausalLM (the safetensors writer sorts anyway).
    shapes = {"model.embed_tokens.weight": (VOCAB, HIDDEN)}
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        shapes[p + "self_attn.q_proj.weight"] = (HEADS * HEAD_DIM, HIDDEN)
        shapes[p + "self_attn.k_proj.weight"] = (KV_HEADS * HEAD_DIM, HIDDEN)
        shapes[p + "self_attn.v_proj.weight"] = (KV_HEADS * HEAD_DIM, HIDDEN)
        shapes[p + "self_attn.o_proj.weight"] = (HIDDEN, HEADS * HEAD_DIM)
        shapes[p + "mlp.gate_proj.weight"] = (MLP, HIDDEN)
        shapes[p + "mlp.up_proj.weight"] = (MLP, HIDDEN)
        shapes[p + "mlp.down_proj.weight"] = (HIDDEN, MLP)
        shapes[p + "input_layernorm.weight"] = (HIDDEN,)
        shapes[p + "post_attention_layernorm.weight"] = (HIDDEN,)
    shapes["model.norm.weight"] = (HIDDEN,)
    if not tied:
        shapes["lm_head.weight"] = (VOCAB, HIDDEN)

    os.makedirs(out, exist_ok=True)
    save_file({n: values(n, s, np_dtype) for n, s in shapes.items()},
              os.path.join(out, "model.safetensors"), metadata={"format": "pt"})

    config = {
        "_name_or_path": "fixture/tiny-llama",
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": HEAD_DIM,
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": MLP,
        "max_position_embeddings": 512,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "num_key_value_heads": KV_HEADS,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": tied,
        "torch_dtype": dtype,
        "transformers_version": "4.46.3",
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
    with open(os.path.join(out, "generation_config.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps({"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2,
                            "transformers_version": "4.46.3"}, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
