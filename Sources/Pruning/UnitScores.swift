import Foundation
import Model

/// A weight matrix `[rows, cols]` inside a flat parameter buffer.
struct MatrixView {
    let values: [Float]
    let offset: Int
    let rows: Int
    let cols: Int

    init(_ values: [Float], _ layout: ParameterLayout, _ name: String) {
        guard let e = layout[name] else { preconditionFailure("no tensor \(name)") }
        self.values = values
        offset = e.offset
        rows = e.shape[0]
        cols = e.shape.count > 1 ? e.shape[1] : 1
    }

    @inline(__always) subscript(_ i: Int, _ j: Int) -> Double { Double(values[offset + i * cols + j]) }

    func rowSum(_ i: Int, _ f: (Double) -> Double) -> Double {
        var s = 0.0
        for j in 0..<cols { s += f(self[i, j]) }
        return s
    }

    func colSum(_ j: Int, _ f: (Double) -> Double) -> Double {
        var s = 0.0
        for i in 0..<rows { s += f(self[i, j]) }
        return s
    }
}

/// Scores of heads and neurons for the single-pass width methods.
public enum UnitScorer {
    static func block(_ l: Int, _ s: String) -> String { "model.layers.\(l).\(s)" }

    /// Magnitude: the L2 norm of each unit's coupled weights.
    public static func magnitude(config c: LlamaConfig, parameters p: [Float]) -> WidthScores {
        let layout = ParameterLayout(c), D = c.headDim
        var heads: [[Double]] = [], neurons: [[Double]] = []
        for (l, b) in c.blocks.enumerated() {
            let q = MatrixView(p, layout, block(l, "self_attn.q_proj.weight")), o = MatrixView(p, layout, block(l, "self_attn.o_proj.weight"))
            let k = MatrixView(p, layout, block(l, "self_attn.k_proj.weight")), v = MatrixView(p, layout, block(l, "self_attn.v_proj.weight"))
            let r = b.heads / b.kvHeads
            heads.append((0..<b.heads).map { h in
                var s = 0.0
                for d in 0..<D {
                    s += q.rowSum(h * D + d) { $0 * $0 } + o.colSum(h * D + d) { $0 * $0 }
                    // Without sharing the head takes its key and value with it.
                    if r == 1 { s += k.rowSum(h * D + d) { $0 * $0 } + v.rowSum(h * D + d) { $0 * $0 } }
                }
                return s.squareRoot()
            })
            let g = MatrixView(p, layout, block(l, "mlp.gate_proj.weight")), u = MatrixView(p, layout, block(l, "mlp.up_proj.weight"))
            let dn = MatrixView(p, layout, block(l, "mlp.down_proj.weight"))
            neurons.append((0..<b.mlpHidden).map { j in
                (g.rowSum(j) { $0 * $0 } + u.rowSum(j) { $0 * $0 } + dn.colSum(j) { $0 * $0 }).squareRoot()
            })
        }
        return WidthScores(heads: heads, neurons: neurons)
    }

    /// Wanda-sp: `mean_i |W_out[i, j]| * ||x_j||_2` for the inputs of o_proj and down_proj; a head sums its columns.
    public static func wanda(config c: LlamaConfig, parameters p: [Float], statistics st: CalibrationStatistics) -> WidthScores {
        outputWeighted(config: c, parameters: p) { l, isHead, j, w in
            let stats = isHead ? st.attentionOutput[l] : st.downInput[l]
            return w.colSum(j) { abs($0) } / Double(w.rows) * stats.norm(j)
        }
    }

    /// FLAP fluctuation: `Var_t(x_j) * ||W_out[:, j]||^2`; a head sums its columns.
    public static func flap(config c: LlamaConfig, parameters p: [Float], statistics st: CalibrationStatistics) -> WidthScores {
        outputWeighted(config: c, parameters: p) { l, isHead, j, w in
            let stats = isHead ? st.attentionOutput[l] : st.downInput[l]
            return stats.variance(j) * w.colSum(j) { $0 * $0 }
        }
    }

    /// Minitron: activation importance of neurons and of whole head outputs.
    public static func minitron(config c: LlamaConfig, statistics st: CalibrationStatistics) -> WidthScores {
        WidthScores(heads: st.headActivation, neurons: st.downInput.map { s in (0..<s.width).map { s.minitron($0) } })
    }

    /// LLM-Pruner's vector-wise first-order Taylor: `|sum over the unit's coupled weights of w * g|`.
    public static func taylor(config c: LlamaConfig, gradients t: CalibrationGradients) -> WidthScores {
        let terms = groupTerms(config: c, gradients: t)
        return WidthScores(heads: terms.heads.map { $0.map { abs($0.sum) } }, neurons: terms.neurons.map { $0.map { abs($0.sum) } })
    }

    /// Per unit, `sum w*g` (vector-wise) and `sum |w*g|` (element-wise) over its coupled weights.
    public struct GroupTerm: Sendable { public var sum: Double; public var sumAbs: Double }

    public static func groupTerms(config c: LlamaConfig, gradients t: CalibrationGradients) -> (heads: [[GroupTerm]], neurons: [[GroupTerm]]) {
        let layout = ParameterLayout(c), D = c.headDim, p = t.parameters, g = t.gradients
        func row(_ name: String, _ i: Int, into acc: inout GroupTerm) {
            let e = layout[name]!, cols = e.shape[1], base = e.offset + i * cols
            for j in 0..<cols { let x = Double(p[base + j]) * Double(g[base + j]); acc.sum += x; acc.sumAbs += abs(x) }
        }
        func col(_ name: String, _ j: Int, into acc: inout GroupTerm) {
            let e = layout[name]!, rows = e.shape[0], cols = e.shape[1]
            for i in 0..<rows { let k = e.offset + i * cols + j; let x = Double(p[k]) * Double(g[k]); acc.sum += x; acc.sumAbs += abs(x) }
        }
        var heads: [[GroupTerm]] = [], neurons: [[GroupTerm]] = []
        for (l, b) in c.blocks.enumerated() {
            let r = b.heads / b.kvHeads
            heads.append((0..<b.heads).map { h in
                var acc = GroupTerm(sum: 0, sumAbs: 0)
                for d in 0..<D {
                    row(block(l, "self_attn.q_proj.weight"), h * D + d, into: &acc)
                    col(block(l, "self_attn.o_proj.weight"), h * D + d, into: &acc)
                    if r == 1 {
                        row(block(l, "self_attn.k_proj.weight"), h * D + d, into: &acc)
                        row(block(l, "self_attn.v_proj.weight"), h * D + d, into: &acc)
                    }
                }
                return acc
            })
            neurons.append((0..<b.mlpHidden).map { j in
                var acc = GroupTerm(sum: 0, sumAbs: 0)
                row(block(l, "mlp.gate_proj.weight"), j, into: &acc)
                row(block(l, "mlp.up_proj.weight"), j, into: &acc)
                col(block(l, "mlp.down_proj.weight"), j, into: &acc)
                return acc
            })
        }
        return (heads, neurons)
    }

    /// Scores built from the output projection's columns (o_proj for heads, down_proj for neurons).
    static func outputWeighted(config c: LlamaConfig, parameters p: [Float],
                               _ column: (_ block: Int, _ isHead: Bool, _ column: Int, _ weight: MatrixView) -> Double) -> WidthScores {
        let layout = ParameterLayout(c), D = c.headDim
        var heads: [[Double]] = [], neurons: [[Double]] = []
        for (l, b) in c.blocks.enumerated() {
            let o = MatrixView(p, layout, block(l, "self_attn.o_proj.weight")), dn = MatrixView(p, layout, block(l, "mlp.down_proj.weight"))
            heads.append((0..<b.heads).map { h in (0..<D).reduce(0.0) { $0 + column(l, true, h * D + $1, o) } })
            neurons.append((0..<b.mlpHidden).map { column(l, false, $0, dn) })
        }
        return WidthScores(heads: heads, neurons: neurons)
    }

    /// Taylor+ block importance: `sum |w * g|` over every weight of the block.
    public static func taylorPlusBlocks(config c: LlamaConfig, gradients t: CalibrationGradients) -> [Double] {
        let layout = ParameterLayout(c)
        var scores = [Double](repeating: 0, count: c.blocks.count)
        for e in layout.entries where e.name.hasPrefix("model.layers.") {
            let l = Int(e.name.dropFirst("model.layers.".count).prefix { $0 != "." })!
            for k in e.offset..<(e.offset + e.count) { scores[l] += abs(Double(t.parameters[k]) * Double(t.gradients[k])) }
        }
        return scores
    }
}
