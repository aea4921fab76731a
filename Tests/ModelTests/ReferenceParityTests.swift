import Foundation
import Model
import Testing

/// The engine against PyTorch: golden numbers from `benchmarks/torch/llama_ref.py` (numerically
/// Hugging Face's LlamaForCausalLM) run in float64 on the tiny configuration, with weights given by
/// a formula both sides evaluate (matrices `0.4 sin(0.7 i + 0.1)`, norms `1 + 0.25 cos(1.3 i)`, `i`
/// the flat index, rounded to float32) and tokens `(7 i + 3) mod 17`, targets `(5 i + 1) mod 17`.
/// Per tensor: the gradient's L2 norm and its dot with `cos(0.3 j)`. This pins the conventions
/// finite differences cannot see: RoPE pairs, GQA head mapping, tied head, HF tensor order.
/// Generator (run from the package root; paste its output into `golden`):
///
///     # Golden numbers for Tests/ModelTests/ReferenceParityTests.swift, from benchmarks/torch/llama_ref.py in float64.
///     import sys, math, torch
///     sys.path.insert(0, 'benchmarks/torch')
///     import llama_ref
///     cases = {
///      'untiedHalfSplit': llama_ref.Config(vocab=17, hidden=8, head_dim=4, blocks=[(2,2,12),(4,2,6)], rope_theta=10000.0, rope_layout='half-split', eps=1e-5, tied=False),
///      'tiedInterleaved': llama_ref.Config(vocab=17, hidden=8, head_dim=4, blocks=[(2,2,12),(4,2,6)], rope_theta=10000.0, rope_layout='interleaved', eps=1e-5, tied=True),
///     }
///     B, T = 2, 5
///     out = []
///     for name, c in cases.items():
///         m = llama_ref.Llama(c).double()
///         shapes = c.shapes(); params = dict(m.named_parameters())
///         off = 0
///         with torch.no_grad():
///             for k, s in shapes.items():
///                 n = math.prod(s)
///                 idx = torch.arange(off, off + n, dtype=torch.float64)
///                 if len(s) == 1: v = 1 + 0.25 * torch.cos(idx * 1.3)
///                 else: v = 0.4 * torch.sin(idx * 0.7 + 0.1)
///                 params[k].copy_(v.float().double().reshape(s))
///                 off += n
///         i = torch.arange(B * T)
///         tok = ((i * 7 + 3) % c.vocab).reshape(B, T); tgt = ((i * 5 + 1) % c.vocab).reshape(B, T)
///         loss = m(tok, tgt); loss.backward()
///         rows = []
///         for k, s in shapes.items():
///             g = params[k].grad.reshape(-1)
///             w = torch.cos(torch.arange(g.numel(), dtype=torch.float64) * 0.3)
///             rows.append(f'            ("{k}", {g.norm().item():.12e}, {(g * w).sum().item():.12e}),')
///         out.append(f'        "{name}": ({loss.item():.12e}, [\n' + '\n'.join(rows) + '\n        ]),')
///     print('\n'.join(out))
@Suite struct ReferenceParityTests {
    static let golden: [String: (loss: Double, tensors: [(String, Double, Double)])] = [
        "untiedHalfSplit": (3.651348654332e+00, [
            ("model.embed_tokens.weight", 5.700472696793e-01, -5.823541574580e-02),
            ("model.layers.0.input_layernorm.weight", 2.894651413296e-01, 3.358702760202e-01),
            ("model.layers.0.self_attn.q_proj.weight", 1.468985814779e-01, 2.071511812665e-01),
            ("model.layers.0.self_attn.k_proj.weight", 1.577373897905e-01, -3.339806859568e-01),
            ("model.layers.0.self_attn.v_proj.weight", 2.840506841297e-01, 7.044698160021e-02),
            ("model.layers.0.self_attn.o_proj.weight", 3.832491156485e-01, 3.670010180396e-01),
            ("model.layers.0.post_attention_layernorm.weight", 2.350434930793e-01, -1.441234464509e-01),
            ("model.layers.0.mlp.gate_proj.weight", 2.423702795858e-01, 2.561720680922e-02),
            ("model.layers.0.mlp.up_proj.weight", 2.173271345570e-01, -1.783533809157e-02),
            ("model.layers.0.mlp.down_proj.weight", 3.228540597323e-01, -1.250787355262e-01),
            ("model.layers.1.input_layernorm.weight", 2.178302086857e-01, -2.199974619911e-01),
            ("model.layers.1.self_attn.q_proj.weight", 9.004923310177e-02, -2.151085826160e-01),
            ("model.layers.1.self_attn.k_proj.weight", 1.170693858213e-01, -7.159838740353e-02),
            ("model.layers.1.self_attn.v_proj.weight", 1.700658530849e-01, 9.324960436237e-03),
            ("model.layers.1.self_attn.o_proj.weight", 4.410904158745e-01, 2.878018764598e-01),
            ("model.layers.1.post_attention_layernorm.weight", 3.670065907508e-02, -4.131448608776e-02),
            ("model.layers.1.mlp.gate_proj.weight", 1.295617996098e-01, 1.298171343888e-01),
            ("model.layers.1.mlp.up_proj.weight", 6.287367689473e-02, -3.575242391085e-02),
            ("model.layers.1.mlp.down_proj.weight", 8.662760885844e-02, 4.353876036353e-03),
            ("model.norm.weight", 5.465806412660e-01, 7.862919951332e-01),
            ("lm_head.weight", 1.053727974030e+00, -3.991389549001e-01),
        ]),
        "tiedInterleaved": (3.408498096367e+00, [
            ("model.embed_tokens.weight", 1.117854697641e+00, 1.960079329057e-02),
            ("model.layers.0.input_layernorm.weight", 2.306436749714e-01, 2.681854361211e-01),
            ("model.layers.0.self_attn.q_proj.weight", 3.656712443966e-01, -4.175659933541e-01),
            ("model.layers.0.self_attn.k_proj.weight", 6.102423074216e-01, -7.853211801172e-01),
            ("model.layers.0.self_attn.v_proj.weight", 2.459728384821e-01, 4.620972915989e-02),
            ("model.layers.0.self_attn.o_proj.weight", 3.207405586800e-01, 1.003832574906e-01),
            ("model.layers.0.post_attention_layernorm.weight", 2.836655783204e-01, -2.728063837232e-01),
            ("model.layers.0.mlp.gate_proj.weight", 2.990173135987e-01, 1.281733678071e-01),
            ("model.layers.0.mlp.up_proj.weight", 2.538497624982e-01, -8.485594394008e-02),
            ("model.layers.0.mlp.down_proj.weight", 4.418806886222e-01, -8.857696602959e-02),
            ("model.layers.1.input_layernorm.weight", 1.289365641705e-01, -9.455800445833e-02),
            ("model.layers.1.self_attn.q_proj.weight", 8.131233201229e-02, 2.372082545474e-02),
            ("model.layers.1.self_attn.k_proj.weight", 1.370416924916e-01, -1.527996352303e-02),
            ("model.layers.1.self_attn.v_proj.weight", 1.042075879003e-01, 3.727069520086e-03),
            ("model.layers.1.self_attn.o_proj.weight", 3.519637446984e-01, 1.023059288180e-01),
            ("model.layers.1.post_attention_layernorm.weight", 1.373177437801e-02, 4.413913602708e-03),
            ("model.layers.1.mlp.gate_proj.weight", 1.294267619546e-01, 1.181570925169e-01),
            ("model.layers.1.mlp.up_proj.weight", 5.989813062744e-02, -4.650257657405e-02),
            ("model.layers.1.mlp.down_proj.weight", 7.624615761694e-02, -3.348970364209e-02),
            ("model.norm.weight", 3.847177018944e-01, 4.951235134048e-01),
        ]),
    ]

    @Test(arguments: [("untiedHalfSplit", false, RopeLayout.halfSplit), ("tiedInterleaved", true, .interleaved)])
    func lossAndGradientsMatchPyTorch(name: String, tied: Bool, rope: RopeLayout) throws {
        let config = tinyConfig(tied: tied, rope: rope)
        let layout = ParameterLayout(config)
        var weights = [Float](repeating: 0, count: layout.totalCount)
        for e in layout.entries {
            for i in e.offset..<(e.offset + e.count) {
                weights[i] = e.isNorm ? Float(1 + 0.25 * cos(Double(i) * 1.3)) : Float(0.4 * sin(Double(i) * 0.7 + 0.1))
            }
        }
        let model = try LlamaModel(config: config, parameters: weights, threads: 2)
        let tokens = (0..<10).map { Int32(($0 * 7 + 3) % 17) }, targets = (0..<10).map { Int32(($0 * 5 + 1) % 17) }
        model.zeroGrad()
        let loss = model.forward(tokens: tokens, targets: targets, batch: 2, seqLen: 5)
        model.backward()
        let ref = Self.golden[name]!
        #expect(abs(Double(loss) - ref.loss) / ref.loss < 1e-5, "loss \(loss) vs \(ref.loss)")
        #expect(ref.tensors.map(\.0) == layout.entries.map(\.name))
        for (tensor, norm, dotRef) in ref.tensors {
            let g = model.gradient(tensor).map(Double.init)
            let w = g.indices.map { cos(Double($0) * 0.3) }
            let gNorm = g.map { $0 * $0 }.reduce(0, +).squareRoot()
            let wNorm = w.map { $0 * $0 }.reduce(0, +).squareRoot()
            let d = zip(g, w).map(*).reduce(0, +)
            #expect(abs(gNorm - norm) <= 1e-4 * norm, "\(name) \(tensor): |grad| \(gNorm) vs \(norm)")
            #expect(abs(d - dotRef) <= 1e-4 * norm * wNorm, "\(name) \(tensor): grad . w \(d) vs \(dotRef)")
        }
    }
}
