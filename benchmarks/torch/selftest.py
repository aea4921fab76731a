#!/usr/bin/env python3
"""Checks the reference (llama_ref.py) and the parity pipeline independently of the Swift side.

    python3 benchmarks/torch/selftest.py            # prints PASS / FAIL lines, exits 1 on any failure

1. If `transformers` is importable: LlamaForCausalLM on the same weights (half-split RoPE only,
   since HF has no interleaved layout) -> loss and all gradients to 1e-5; one config with
   attention_bias and mlp_bias (random o/down biases, zero q/k/v/gate/up biases).
2. Always: a naive, separately written float64 model (Python loops over sequences, positions,
   heads, key positions and RoPE pairs; scalar math for the angles; explicit log-sum-exp) on tiny
   configs -- vocab 11, hidden 8, two blocks of different shapes with GQA, both RoPE layouts, tied
   and untied, plus a uniform HF-style config without head_dim and one with o_proj and down_proj
   biases. The reference (float32 and float64,
   explicit softmax and SDPA) must match its loss and every gradient (autograd through the loops)
   to 1e-5 relative.
3. A central finite difference of the float64 reference along random directions (checks autograd).
4. End to end: save() a checkpoint and a batch, run parity.py and compare.py as subprocesses; a
   perturbed gradient file must make compare.py fail; malformed inputs must be refused.
"""

import math
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import llama_ref  # noqa: E402
from llama_ref import Config  # noqa: E402

TOL = 1e-5
failures = []


def report(ok, what):
    print(f"{'PASS' if ok else 'FAIL'}  {what}")
    if not ok:
        failures.append(what)


def rel(a, b):
    a, b = a.double(), b.double()
    d = (a - b).norm().item()
    return 0.0 if d == 0 else d / max(b.norm().item(), 1e-300)


# ----------------------------------------------------------------------------- naive model
# Written from the formulas, not from llama_ref: one position at a time.

def naive_rms(x, w, eps):
    ms = sum(x[j] * x[j] for j in range(x.shape[0])) / x.shape[0]
    return x / torch.sqrt(ms + eps) * w


def naive_rope(v, t, theta, layout):
    """v: one head vector [hd] at position t; returns the rotated vector."""
    hd = v.shape[0]
    out = [None] * hd
    for j in range(hd // 2):
        angle = t * theta ** (-2.0 * j / hd)
        c, s = math.cos(angle), math.sin(angle)
        a, b = (j, j + hd // 2) if layout == "half-split" else (2 * j, 2 * j + 1)
        out[a] = v[a] * c - v[b] * s
        out[b] = v[a] * s + v[b] * c
    return torch.stack(out)


def naive_loss(P, c, tokens):
    B, T = tokens.shape[0], tokens.shape[1] - 1
    hd = c.head_dim
    total = 0.0
    for bi in range(B):
        xs = [P["model.embed_tokens.weight"][int(tokens[bi, t])] for t in range(T)]
        for li, (H, KV, FF) in enumerate(c.blocks):
            p = f"model.layers.{li}."
            hs = [naive_rms(x, P[p + "input_layernorm.weight"], c.eps) for x in xs]
            q = [P[p + "self_attn.q_proj.weight"] @ h for h in hs]
            k = [P[p + "self_attn.k_proj.weight"] @ h for h in hs]
            v = [P[p + "self_attn.v_proj.weight"] @ h for h in hs]
            group = H // KV
            outs = [[None] * H for _ in range(T)]
            for head in range(H):
                g = head // group
                for t in range(T):
                    qt = naive_rope(q[t][head * hd:(head + 1) * hd], t, c.rope_theta, c.rope_layout)
                    scores = []
                    for s in range(t + 1):  # causal: keys 0..t
                        ks = naive_rope(k[s][g * hd:(g + 1) * hd], s, c.rope_theta, c.rope_layout)
                        scores.append(sum(qt[j] * ks[j] for j in range(hd)) / math.sqrt(hd))
                    m = max(float(sc.detach()) for sc in scores)
                    e = [torch.exp(sc - m) for sc in scores]
                    z = sum(e)
                    outs[t][head] = sum((e[s] / z) * v[s][g * hd:(g + 1) * hd] for s in range(t + 1))
            for t in range(T):
                xs[t] = xs[t] + P[p + "self_attn.o_proj.weight"] @ torch.cat(outs[t])
                if c.attention_bias:
                    xs[t] = xs[t] + P[p + "self_attn.o_proj.bias"]
            for t in range(T):
                h = naive_rms(xs[t], P[p + "post_attention_layernorm.weight"], c.eps)
                gate = P[p + "mlp.gate_proj.weight"] @ h
                up = P[p + "mlp.up_proj.weight"] @ h
                act = torch.stack([gate[j] / (1 + torch.exp(-gate[j])) * up[j] for j in range(FF)])
                xs[t] = xs[t] + P[p + "mlp.down_proj.weight"] @ act
                if c.mlp_bias:
                    xs[t] = xs[t] + P[p + "mlp.down_proj.bias"]
        head_w = P["model.embed_tokens.weight"] if c.tied else P["lm_head.weight"]
        for t in range(T):
            logits = head_w @ naive_rms(xs[t], P["model.norm.weight"], c.eps)
            m = float(logits.detach().max())
            lse = m + torch.log(sum(torch.exp(logits[j] - m) for j in range(c.vocab)))
            total = total + (lse - logits[int(tokens[bi, t + 1])])
    return total / (B * T)


# ----------------------------------------------------------------------------- fixtures

def random_weights(c, seed):
    g = torch.Generator().manual_seed(seed)
    W = {}
    for n, shape in c.shapes().items():
        if n.endswith(".bias"):
            W[n] = 0.3 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif len(shape) == 1:
            W[n] = 1.0 + 0.3 * torch.randn(shape, generator=g, dtype=torch.float64)
        else:
            W[n] = torch.randn(shape, generator=g, dtype=torch.float64) * (0.8 / math.sqrt(shape[1]))
    # Round to float32 so every model sees identical weights.
    return {n: w.float().double() for n, w in W.items()}


def tiny_configs():
    blocks = [(4, 2, 12), (2, 1, 5)]  # different shapes, GQA in both (groups 2 and 2)
    out = []
    for layout in ("half-split", "interleaved"):
        for tied in (False, True):
            out.append((f"per-block {layout} {'tied' if tied else 'untied'}",
                        Config(vocab=11, hidden=8, head_dim=4, blocks=blocks, rope_theta=10000.0,
                               rope_layout=layout, eps=1e-5, tied=tied)))
    hf = {"vocab_size": 11, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
          "num_key_value_heads": 1, "intermediate_size": 6, "rope_theta": 500.0, "rms_norm_eps": 1e-6}
    out.append(("uniform HF-style config (no head_dim, GQA 2:1, theta 500)", Config.from_json(hf)))
    out.append(("per-block half-split untied, o_proj and down_proj biases",
                Config(vocab=11, hidden=8, head_dim=4, blocks=blocks, eps=1e-5, attention_bias=True, mlp_bias=True)))
    return out


def grads_of(model, tokens):
    model.zero_grad(set_to_none=True)
    loss = model(tokens[:, :-1], tokens[:, 1:])
    loss.backward()
    return loss.detach(), {n: p.grad.detach().clone() for n, p in model.named_parameters()}


# ----------------------------------------------------------------------------- checks

def check_against_naive():
    for label, c in tiny_configs():
        # Config survives a config.json round trip.
        report(Config.from_json(c.to_json()) == c, f"config.json round trip: {label}")
        W = random_weights(c, seed=len(label))
        g = torch.Generator().manual_seed(7)
        tokens = torch.randint(0, c.vocab, (2, 6), generator=g)  # B 2, T 5
        P = {n: w.clone().requires_grad_(True) for n, w in W.items()}
        nl = naive_loss(P, c, tokens)
        nl.backward()
        ng = {n: P[n].grad for n in P}
        for dtype in (torch.float32, torch.float64):
            for sdpa in (False, True):
                m = llama_ref.model_from_tensors(c, W, dtype=dtype, sdpa=sdpa)
                loss, gr = grads_of(m, tokens)
                errs = {n: rel(gr[n], ng[n]) for n in ng}
                worst = max(errs, key=errs.get)
                lerr = abs(loss.item() - nl.item()) / abs(nl.item())
                ok = set(gr) == set(ng) and lerr <= TOL and errs[worst] <= TOL
                report(ok, f"reference vs naive, {label}, {str(dtype)[6:]}, {'sdpa' if sdpa else 'math'}: "
                           f"loss {loss.item():.6f} (rel {lerr:.1e}), worst grad rel {errs[worst]:.1e} ({worst})")


def check_finite_differences():
    c = tiny_configs()[1][1]  # per-block half-split tied
    W = random_weights(c, seed=3)
    m = llama_ref.model_from_tensors(c, W, dtype=torch.float64)
    tokens = torch.randint(0, c.vocab, (2, 7), generator=torch.Generator().manual_seed(1))
    _, gr = grads_of(m, tokens)
    params = dict(m.named_parameters())
    g = torch.Generator().manual_seed(5)
    worst = 0.0
    for _ in range(4):
        d = {n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in params.items()}
        analytic = sum((gr[n] * d[n]).sum().item() for n in params)
        eps, vals = 1e-5, []
        with torch.no_grad():
            for sgn in (1, -1):
                for n, p in params.items():
                    p.copy_(W[n] + sgn * eps * d[n])
                vals.append(m(tokens[:, :-1], tokens[:, 1:]).item())
            for n, p in params.items():
                p.copy_(W[n])
        numeric = (vals[0] - vals[1]) / (2 * eps)
        worst = max(worst, abs(numeric - analytic) / abs(analytic))
    report(worst < 1e-7, f"finite differences, float64 reference, 4 random directions: worst rel {worst:.1e}")


def check_transformers():
    try:
        import transformers  # noqa: F401
        from transformers import LlamaConfig, LlamaForCausalLM
    except Exception:
        print("skip  transformers is not importable: the naive loop model is the independent check")
        return
    cases = [tiny_configs()[4]] + [
        (f"uniform half-split, head_dim 4 != hidden/heads, GQA 4:2, {'tied' if tied else 'untied'}",
         Config(vocab=11, hidden=8, head_dim=4, blocks=[(4, 2, 12)] * 2, eps=1e-5, tied=tied)) for tied in (False, True)] + [
        ("uniform half-split, attention_bias and mlp_bias (random o/down biases, zero q/k/v/gate/up biases)",
         Config(vocab=11, hidden=8, head_dim=4, blocks=[(4, 2, 12)] * 2, eps=1e-5, attention_bias=True, mlp_bias=True))]
    for label, c in cases:  # HF has neither interleaved RoPE nor per-block shapes
        h, kv, ff = c.blocks[0]
        hc = LlamaConfig(vocab_size=c.vocab, hidden_size=c.hidden, head_dim=c.head_dim, num_hidden_layers=len(c.blocks),
                         num_attention_heads=h, num_key_value_heads=kv, intermediate_size=ff, rope_theta=c.rope_theta,
                         rms_norm_eps=c.eps, tie_word_embeddings=c.tied, attention_dropout=0.0,
                         attention_bias=c.attention_bias, mlp_bias=c.mlp_bias, attn_implementation="eager")
        hf = LlamaForCausalLM(hc).double().eval()
        W = random_weights(c, seed=11)
        sd = {n: w for n, w in W.items()}
        if c.tied:
            sd["lm_head.weight"] = W["model.embed_tokens.weight"]
        sd.update({n: torch.zeros(shape, dtype=torch.float64) for n, shape in c.zero_biases().items()})
        res = hf.load_state_dict(sd, strict=False)
        missing = [n for n in res.missing_keys if "rotary_emb" not in n]
        if missing or res.unexpected_keys:
            report(False, f"transformers state dict: missing {missing}, unexpected {res.unexpected_keys}")
            continue
        tokens = torch.randint(0, c.vocab, (2, 6), generator=torch.Generator().manual_seed(2))
        out = hf(input_ids=tokens[:, :-1])
        logits = out.logits
        hl = torch.nn.functional.cross_entropy(logits.reshape(-1, c.vocab), tokens[:, 1:].reshape(-1))
        hl.backward()
        hg = {n: p.grad for n, p in hf.named_parameters() if p.grad is not None}
        m = llama_ref.model_from_tensors(c, W, dtype=torch.float64)
        loss, gr = grads_of(m, tokens)
        worst = max(rel(gr[n], hg[n]) for n in gr)
        ok = abs(loss.item() - hl.item()) / abs(hl.item()) <= TOL and worst <= TOL
        report(ok, f"reference vs transformers LlamaForCausalLM, {label}: worst grad rel {worst:.1e}")


def run(args):
    return subprocess.run([sys.executable] + args, capture_output=True, text=True)


def check_pipeline():
    with tempfile.TemporaryDirectory() as tmp:
        for label, c in [tiny_configs()[0], tiny_configs()[3], tiny_configs()[5]]:
            W = random_weights(c, seed=21)
            ckpt = os.path.join(tmp, "ckpt")
            llama_ref.save(llama_ref.model_from_tensors(c, W), ckpt)
            tokens = torch.randint(0, c.vocab, (3, 5), generator=torch.Generator().manual_seed(4)).to(torch.int32)
            batch = os.path.join(tmp, "batch.safetensors")
            llama_ref.write_safetensors(batch, {"tokens": tokens})
            # Naive float64 gradients as the "other side".
            P = {n: w.clone().requires_grad_(True) for n, w in W.items()}
            nl = naive_loss(P, c, tokens.long())
            nl.backward()
            naive_file = os.path.join(tmp, "naive.safetensors")
            llama_ref.write_safetensors(naive_file, {"loss": nl.detach().reshape(1).float(),
                                                     **{n: P[n].grad.float() for n in P}})
            for extra in ([], ["--float64"], ["--sdpa", "--threads", "2"]):
                out = os.path.join(tmp, "torch.safetensors")
                r = run([os.path.join(HERE, "parity.py"), ckpt, batch, out] + extra)
                ok = r.returncode == 0
                if ok:
                    r2 = run([os.path.join(HERE, "compare.py"), out, naive_file, "--tol", str(TOL)])
                    ok = r2.returncode == 0
                    detail = r2.stdout.strip().splitlines()[-1]
                else:
                    detail = r.stderr.strip()[-300:]
                report(ok, f"parity.py {' '.join(extra) or '(float32)'} + compare.py vs naive, {label}: {detail}")
            # compare.py must fail on a perturbed file, a missing tensor and a shape change.
            good, _ = llama_ref.read_safetensors(naive_file)
            bad = dict(good)
            name = "model.layers.1.mlp.up_proj.weight"
            bad[name] = good[name] * (1 + 1e-3)
            bad_file = os.path.join(tmp, "bad.safetensors")
            llama_ref.write_safetensors(bad_file, bad)
            r = run([os.path.join(HERE, "compare.py"), bad_file, naive_file])
            report(r.returncode == 1 and name in r.stdout, f"compare.py fails on a 1e-3 perturbation ({label})")
            bad = dict(good)
            del bad["model.norm.weight"]
            llama_ref.write_safetensors(bad_file, bad)
            r = run([os.path.join(HERE, "compare.py"), naive_file, bad_file])
            report(r.returncode == 1, f"compare.py fails on a missing tensor ({label})")
        # Malformed inputs are refused with exit 2 and a message.
        bad_batch = os.path.join(tmp, "float.safetensors")
        llama_ref.write_safetensors(bad_batch, {"tokens": torch.zeros(2, 3)})
        r = run([os.path.join(HERE, "parity.py"), ckpt, bad_batch, os.path.join(tmp, "x")])
        report(r.returncode == 2 and "integer" in r.stderr, "parity.py refuses a float token tensor")
        llama_ref.write_safetensors(bad_batch, {"tokens": torch.full((2, 3), 11, dtype=torch.int32)})
        r = run([os.path.join(HERE, "parity.py"), ckpt, bad_batch, os.path.join(tmp, "x")])
        report(r.returncode == 2 and "vocab" in r.stderr, "parity.py refuses out-of-vocabulary tokens")
        # The last checkpoint has biases: zero q/k/v/gate/up biases load, a non-zero one is refused.
        saved, meta = llama_ref.read_safetensors(os.path.join(ckpt, "model.safetensors"))
        report("model.layers.1.self_attn.q_proj.bias" in saved, "save() writes the zero q/k/v/gate/up biases HF expects")
        bad = dict(saved)
        bad["model.layers.1.self_attn.q_proj.bias"] = bad["model.layers.1.self_attn.q_proj.bias"] + 0.5
        llama_ref.write_safetensors(os.path.join(ckpt, "model.safetensors"), bad, meta)
        r = run([os.path.join(HERE, "parity.py"), ckpt, batch, os.path.join(tmp, "x")])
        report(r.returncode == 2 and "q_proj.bias" in r.stderr, "parity.py refuses a non-zero q_proj.bias")
        with open(os.path.join(ckpt, "model.safetensors"), "r+b") as f:
            f.truncate(200)
        r = run([os.path.join(HERE, "parity.py"), ckpt, batch, os.path.join(tmp, "x")])
        report(r.returncode == 2 and "parity:" in r.stderr, "parity.py refuses a truncated checkpoint")
        # safetensors round trip of several dtypes.
        ts = {"a": torch.randn(3, 2), "b": torch.arange(5, dtype=torch.int32), "c": torch.randn(4).double(),
              "d": torch.randn(2, 2).bfloat16(), "e": torch.zeros(0, 3)}
        path = os.path.join(tmp, "rt.safetensors")
        llama_ref.write_safetensors(path, ts, {"k": "v"})
        back, meta = llama_ref.read_safetensors(path)
        ok = meta == {"k": "v"} and all(back[n].dtype == t.dtype and torch.equal(back[n], t) for n, t in ts.items())
        report(ok, "safetensors write/read round trip (F32, I32, F64, BF16, empty)")


def main():
    torch.set_num_threads(1)
    check_transformers()
    check_against_naive()
    check_finite_differences()
    check_pipeline()
    if failures:
        print(f"FAIL: {len(failures)} check(s) failed")
        return 1
    print("PASS: all checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
