"""PyTorch reference of PruneScale's Llama-style model (numerically Hugging Face LlamaForCausalLM).

Plain PyTorch, float32 by default (float64 on request), no dropout, no `transformers`. Biases only
where PruneScale has them (FLAP's compensation): on o_proj with `attention_bias`, on down_proj with
`mlp_bias`.
Module names are chosen so that `named_parameters()` yields Hugging Face's tensor names:

    model.embed_tokens.weight                       [vocab, hidden]
    model.layers.{i}.input_layernorm.weight         [hidden]
    model.layers.{i}.self_attn.q_proj.weight        [heads*hd, hidden]
    model.layers.{i}.self_attn.{k,v}_proj.weight    [kv*hd, hidden]
    model.layers.{i}.self_attn.o_proj.weight        [hidden, heads*hd]
    model.layers.{i}.self_attn.o_proj.bias          [hidden]          (attention_bias only)
    model.layers.{i}.post_attention_layernorm.weight [hidden]
    model.layers.{i}.mlp.{gate,up}_proj.weight      [ff, hidden]
    model.layers.{i}.mlp.down_proj.weight           [hidden, ff]
    model.layers.{i}.mlp.down_proj.bias             [hidden]          (mlp_bias only)
    model.norm.weight                               [hidden]
    lm_head.weight                                  [vocab, hidden]   (absent when tied)

Every block has its own (heads, kv_heads, mlp_hidden); see `Config.from_json` for config.json.
Also here: a dependency-free safetensors reader/writer (`read_safetensors`, `write_safetensors`),
`load(checkpoint_dir)` and `save(model, checkpoint_dir)`.
"""

import ctypes
import json
import math
import os
import struct
import sys
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------- safetensors

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "U16": torch.uint16, "U32": torch.uint32, "U64": torch.uint64, "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def read_safetensors(path):
    """Returns ({name: tensor}, metadata dict). Tensors own their memory (copied out of the file)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} runs past the end of the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable safetensors header: {e}") from None
    meta = header.pop("__metadata__", None) or {}
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, info in header.items():
        dt = _DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        shape = [int(s) for s in info["shape"]]
        begin, end = info["data_offsets"]
        count = math.prod(shape)
        itemsize = torch.empty((), dtype=dt).element_size()
        if end - begin != count * itemsize or end > len(data) or begin < 0:
            raise ValueError(f"{path}: tensor {name}: byte range [{begin}, {end}) does not fit "
                             f"shape {shape} {info['dtype']} in a data section of {len(data)} bytes")
        if count == 0:
            out[name] = torch.empty(shape, dtype=dt)
        else:
            out[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=dt).reshape(shape).clone()
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (any dtype of the table, little-endian, C order), atomically."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        b = ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""  # no numpy needed
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- config


@dataclass
class Config:
    vocab: int
    hidden: int
    head_dim: int
    blocks: list = field(default_factory=list)  # [(heads, kv_heads, mlp_hidden)]
    rope_theta: float = 10000.0
    rope_layout: str = "half-split"  # or "interleaved"
    eps: float = 1e-5
    tied: bool = False
    attention_bias: bool = False  # o_proj has a bias (HF's flag; q/k/v biases must be zero)
    mlp_bias: bool = False  # down_proj has a bias (HF's flag; gate/up biases must be zero)

    @staticmethod
    def uniform(vocab, hidden, layers, heads, mlp_hidden, kv_heads=None, **kw):
        return Config(vocab, hidden, hidden // heads, [(heads, kv_heads or heads, mlp_hidden)] * layers, **kw)

    @staticmethod
    def from_json(d):
        """Hugging Face LlamaConfig keys, plus PruneScale's optional
        "prunescale_blocks": [{"heads", "kv_heads", "mlp_hidden"}] and "prunescale_rope_layout"."""
        if d.get("hidden_act", "silu") != "silu":
            raise ValueError(f"config: hidden_act {d['hidden_act']!r} is not supported (silu only)")
        if d.get("rope_scaling") is not None:
            raise ValueError(f"config: rope_scaling {d['rope_scaling']!r} is not supported")
        hidden = int(d["hidden_size"])
        pb = d.get("prunescale_blocks")
        if pb is not None:
            def pick(b, *keys):
                for k in keys:
                    if k in b:
                        return int(b[k])
                raise ValueError(f"config: prunescale_blocks entry {b} lacks {keys[0]}")
            blocks = [(pick(b, "heads"), pick(b, "kv_heads", "kvHeads"), pick(b, "mlp_hidden", "mlpHidden")) for b in pb]
            if "num_hidden_layers" in d and int(d["num_hidden_layers"]) != len(blocks):
                raise ValueError(f"config: num_hidden_layers {d['num_hidden_layers']} but {len(blocks)} prunescale_blocks")
        else:
            heads = int(d["num_attention_heads"])
            kv = int(d.get("num_key_value_heads") or heads)
            blocks = [(heads, kv, int(d["intermediate_size"]))] * int(d["num_hidden_layers"])
        if d.get("head_dim"):
            head_dim = int(d["head_dim"])
        else:
            heads = int(d["num_attention_heads"])
            if hidden % heads:
                raise ValueError(f"config: no head_dim and hidden_size {hidden} is not a multiple of {heads} heads")
            head_dim = hidden // heads
        layout = d.get("prunescale_rope_layout", "half-split")
        if layout not in ("half-split", "interleaved"):
            raise ValueError(f"config: prunescale_rope_layout {layout!r} (want half-split or interleaved)")
        c = Config(vocab=int(d["vocab_size"]), hidden=hidden, head_dim=head_dim, blocks=blocks,
                   rope_theta=float(d.get("rope_theta", 10000.0)), rope_layout=layout,
                   eps=float(d.get("rms_norm_eps", 1e-6)),  # HF's default when the key is absent
                   tied=bool(d.get("tie_word_embeddings", False)),
                   attention_bias=bool(d.get("attention_bias", False)), mlp_bias=bool(d.get("mlp_bias", False)))
        c.validate()
        return c

    def to_json(self):
        h0, kv0, ff0 = self.blocks[0]
        d = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
             "vocab_size": self.vocab, "hidden_size": self.hidden, "head_dim": self.head_dim,
             "num_hidden_layers": len(self.blocks), "num_attention_heads": h0, "num_key_value_heads": kv0,
             "intermediate_size": ff0, "rope_theta": self.rope_theta, "rms_norm_eps": self.eps,
             "tie_word_embeddings": self.tied, "attention_bias": self.attention_bias, "mlp_bias": self.mlp_bias,
             "rope_scaling": None, "torch_dtype": "float32"}
        if any(b != self.blocks[0] for b in self.blocks):
            d["prunescale_blocks"] = [{"heads": h, "kv_heads": kv, "mlp_hidden": ff} for h, kv, ff in self.blocks]
        if self.rope_layout != "half-split":
            d["prunescale_rope_layout"] = self.rope_layout
        return d

    def validate(self):
        if self.head_dim % 2:
            raise ValueError(f"config: head_dim {self.head_dim} must be even for RoPE")
        for i, (h, kv, ff) in enumerate(self.blocks):
            if min(h, kv, ff) <= 0 or h % kv:
                raise ValueError(f"config: block {i}: heads {h}, kv_heads {kv}, mlp_hidden {ff} are not valid")

    def shapes(self):
        """{HF name: shape}, in PruneScale's ParameterLayout order."""
        s = {"model.embed_tokens.weight": [self.vocab, self.hidden]}
        for i, (h, kv, ff) in enumerate(self.blocks):
            p, hd = f"model.layers.{i}.", self.head_dim
            s[p + "input_layernorm.weight"] = [self.hidden]
            s[p + "self_attn.q_proj.weight"] = [h * hd, self.hidden]
            s[p + "self_attn.k_proj.weight"] = [kv * hd, self.hidden]
            s[p + "self_attn.v_proj.weight"] = [kv * hd, self.hidden]
            s[p + "self_attn.o_proj.weight"] = [self.hidden, h * hd]
            if self.attention_bias:
                s[p + "self_attn.o_proj.bias"] = [self.hidden]
            s[p + "post_attention_layernorm.weight"] = [self.hidden]
            s[p + "mlp.gate_proj.weight"] = [ff, self.hidden]
            s[p + "mlp.up_proj.weight"] = [ff, self.hidden]
            s[p + "mlp.down_proj.weight"] = [self.hidden, ff]
            if self.mlp_bias:
                s[p + "mlp.down_proj.bias"] = [self.hidden]
        s["model.norm.weight"] = [self.hidden]
        if not self.tied:
            s["lm_head.weight"] = [self.vocab, self.hidden]
        return s

    def zero_biases(self):
        """{HF name: shape} of the biases HF's Llama adds with attention_bias (q, k, v) and mlp_bias
        (gate, up) that this model does not have: written as zeros, accepted only as zeros."""
        s = {}
        for i, (h, kv, ff) in enumerate(self.blocks):
            p, hd = f"model.layers.{i}.", self.head_dim
            if self.attention_bias:
                s[p + "self_attn.q_proj.bias"] = [h * hd]
                s[p + "self_attn.k_proj.bias"] = [kv * hd]
                s[p + "self_attn.v_proj.bias"] = [kv * hd]
            if self.mlp_bias:
                s[p + "mlp.gate_proj.bias"] = [ff]
                s[p + "mlp.up_proj.bias"] = [ff]
        return s


# ----------------------------------------------------------------------------- model


def rope_tables(T, head_dim, theta, dtype):
    """cos, sin of angle[t, i] = t * theta^(-2i/hd), i < hd/2; computed in float64, then cast."""
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * theta ** (-2.0 * i / head_dim)[None, :]
    return ang.cos().to(dtype), ang.sin().to(dtype)


def apply_rope(x, cos, sin, layout):
    """x [..., T, hd]; rotates pairs (i, i+hd/2) ("half-split") or (2i, 2i+1) ("interleaved") by angle[t, i]."""
    if layout == "half-split":
        a, b = x.chunk(2, dim=-1)
        return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cos - b * sin, b * cos + a * sin), dim=-1).flatten(-2)


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Attention(nn.Module):
    def __init__(self, c, heads, kv):
        super().__init__()
        self.h, self.kv, self.hd, self.layout = heads, kv, c.head_dim, c.rope_layout
        self.q_proj = nn.Linear(c.hidden, heads * c.head_dim, bias=False)
        self.k_proj = nn.Linear(c.hidden, kv * c.head_dim, bias=False)
        self.v_proj = nn.Linear(c.hidden, kv * c.head_dim, bias=False)
        self.o_proj = nn.Linear(heads * c.head_dim, c.hidden, bias=c.attention_bias)

    def forward(self, x, cos, sin, sdpa):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.hd).transpose(1, 2)   # [B, H, T, hd]
        k = self.k_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)  # [B, KV, T, hd]
        v = self.v_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin, self.layout), apply_rope(k, cos, sin, self.layout)
        if self.kv != self.h:  # query head h reads kv head h // (H / KV)
            k = k.repeat_interleave(self.h // self.kv, dim=1)
            v = v.repeat_interleave(self.h // self.kv, dim=1)
        if sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.hd))
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            y = att.masked_fill(causal, float("-inf")).softmax(dim=-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.h * self.hd))


class MLP(nn.Module):
    def __init__(self, c, ff):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden, ff, bias=False)
        self.up_proj = nn.Linear(c.hidden, ff, bias=False)
        self.down_proj = nn.Linear(ff, c.hidden, bias=c.mlp_bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c, heads, kv, ff):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden, c.eps)
        self.self_attn = Attention(c, heads, kv)
        self.post_attention_layernorm = RMSNorm(c.hidden, c.eps)
        self.mlp = MLP(c, ff)

    def forward(self, x, cos, sin, sdpa):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, sdpa)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    def __init__(self, c, sdpa=False):
        super().__init__()
        self.config, self.sdpa = c, sdpa
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(c.vocab, c.hidden)
        self.model.layers = nn.ModuleList(Block(c, h, kv, ff) for h, kv, ff in c.blocks)
        self.model.norm = RMSNorm(c.hidden, c.eps)
        self.lm_head = None if c.tied else nn.Linear(c.hidden, c.vocab, bias=False)
        self._rope = {}

    def init_weights(self, std=0.02, generator=None):
        """Matrices ~ N(0, std), norm weights 1, biases 0 (the benchmarks' init; parity loads weights instead)."""
        with torch.no_grad():
            for n, p in self.named_parameters():
                if n.endswith(".bias"):
                    p.zero_()
                elif p.dim() == 1:
                    p.fill_(1.0)
                else:
                    p.normal_(0.0, std, generator=generator)
        return self

    def rope(self, T, dtype):
        key = (T, dtype)
        if key not in self._rope:
            self._rope[key] = rope_tables(T, self.config.head_dim, self.config.rope_theta, dtype)
        return self._rope[key]

    def forward(self, idx, targets=None):
        """idx [B, T] int64 -> logits [B, T, vocab], or the mean cross-entropy if targets are given."""
        x = self.model.embed_tokens(idx)
        cos, sin = self.rope(idx.shape[1], x.dtype)
        for block in self.model.layers:
            x = block(x, cos, sin, self.sdpa)
        x = self.model.norm(x)
        head = self.model.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        logits = F.linear(x, head)
        if targets is None:
            return logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# ----------------------------------------------------------------------------- checkpoints

_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)  # buffers some old HF checkpoints carry


def model_from_tensors(c, tensors, dtype=torch.float32, sdpa=False, strict_extra=False):
    """Builds a Llama with weights from {HF name: tensor}; shapes must match exactly."""
    m = Llama(c, sdpa=sdpa).to(dtype)
    expected = c.shapes()
    missing = [n for n in expected if n not in tensors]
    if missing:
        raise ValueError(f"checkpoint lacks {len(missing)} tensor(s): {', '.join(missing[:5])}")
    zero = c.zero_biases()
    for n, shape in zero.items():
        if n in tensors and (list(tensors[n].shape) != shape or bool((tensors[n] != 0).any())):
            raise ValueError(f"tensor {n}: must be zeros of shape {shape} (only o_proj and down_proj may have biases)")
    extra = [n for n in tensors if n not in expected and n not in zero and not n.endswith(_IGNORED_SUFFIXES)
             and not (c.tied and n == "lm_head.weight")]
    if extra:
        msg = f"checkpoint has {len(extra)} tensor(s) the config does not use: {', '.join(extra[:5])}"
        if strict_extra:
            raise ValueError(msg)
        print(f"warning: {msg}", file=sys.stderr)
    params = dict(m.named_parameters())
    assert set(params) == set(expected), (sorted(params), sorted(expected))
    with torch.no_grad():
        for n, shape in expected.items():
            t = tensors[n]
            if list(t.shape) != shape:
                raise ValueError(f"tensor {n}: shape {list(t.shape)}, config wants {shape}")
            params[n].copy_(t)  # converts to the model's dtype
    return m


def load(checkpoint_dir, dtype=torch.float32, sdpa=False):
    """Reads CHECKPOINT_DIR/config.json and CHECKPOINT_DIR/model.safetensors."""
    with open(os.path.join(checkpoint_dir, "config.json")) as f:
        c = Config.from_json(json.load(f))
    tensors, _ = read_safetensors(os.path.join(checkpoint_dir, "model.safetensors"))
    return model_from_tensors(c, tensors, dtype=dtype, sdpa=sdpa)


def save(m, checkpoint_dir):
    """Writes config.json and model.safetensors (F32) the way PruneScale and HF lay them out."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    with open(os.path.join(checkpoint_dir, "config.json"), "w") as f:
        json.dump(m.config.to_json(), f, indent=2)
    tensors = {n: p.detach().float() for n, p in m.named_parameters()}
    tensors.update({n: torch.zeros(shape) for n, shape in m.config.zero_biases().items()})  # for HF's loader
    write_safetensors(os.path.join(checkpoint_dir, "model.safetensors"), tensors, {"format": "pt"})
