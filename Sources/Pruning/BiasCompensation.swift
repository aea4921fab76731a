import Foundation
import Model

/// FLAP's bias compensation: a removed input channel `j` of o_proj or down_proj is replaced by its
/// calibration mean, which the output projection turns into a constant, `W[:, j] * mean(x_j)`, added
/// to the projection's output bias. Exact on average over the calibration tokens, and free at run time.
public enum BiasCompensation {
    /// The config and parameters with o_proj and down_proj output biases (existing biases kept,
    /// new ones zero).
    public static func withOutputBiases(config c: LlamaConfig, parameters p: [Float], attention: Bool, mlp: Bool) -> (config: LlamaConfig, parameters: [Float]) {
        var nc = c
        nc.attentionBias = c.attentionBias || attention
        nc.mlpBias = c.mlpBias || mlp
        guard nc != c else { return (c, p) }
        let old = ParameterLayout(c), new = ParameterLayout(nc)
        var out = [Float](repeating: 0, count: new.totalCount)
        for e in new.entries {
            guard let o = old[e.name] else { continue }  // a new bias: zero
            for k in 0..<e.count { out[e.offset + k] = p[o.offset + k] }
        }
        return (nc, out)
    }

    /// The bias each surviving block's o_proj and down_proj gains from the units `selection` removes,
    /// `sum over removed input columns j of W[:, j] * mean(x_j)`, in the original model's terms.
    public static func compensation(config c: LlamaConfig, parameters p: [Float], selection: UnitSelection,
                                    statistics st: CalibrationStatistics) -> (attention: [[Double]], mlp: [[Double]]) {
        let layout = ParameterLayout(c), D = c.headDim, C = c.hidden
        var attention: [[Double]] = [], mlp: [[Double]] = []
        for b in selection.blocks {
            let shape = c.blocks[b.index]
            let keptCols = Set(b.heads.flatMap { h in (h * D)..<(h * D + D) })
            let goneCols = (0..<(shape.heads * D)).filter { !keptCols.contains($0) }
            let goneNeurons = Set(0..<shape.mlpHidden).subtracting(b.neurons).sorted()
            func bias(_ name: String, _ cols: [Int], _ s: ChannelStatistics) -> [Double] {
                let e = layout[name]!, n = e.shape[1]
                return (0..<C).map { i in cols.reduce(0.0) { $0 + Double(p[e.offset + i * n + $1]) * s.mean($1) } }
            }
            attention.append(bias("model.layers.\(b.index).self_attn.o_proj.weight", goneCols, st.attentionOutput[b.index]))
            mlp.append(bias("model.layers.\(b.index).mlp.down_proj.weight", goneNeurons, st.downInput[b.index]))
        }
        return (attention, mlp)
    }

    /// Bias parameters the compensation adds to the pruned model (none where a bias already exists).
    public static func addedParameters(_ selection: UnitSelection, config c: LlamaConfig) -> Int {
        let removesHeads = selection.blocks.contains { $0.heads.count < c.blocks[$0.index].heads }
        let removesNeurons = selection.blocks.contains { $0.neurons.count < c.blocks[$0.index].mlpHidden }
        let kinds = (removesHeads && !c.attentionBias ? 1 : 0) + (removesNeurons && !c.mlpBias ? 1 : 0)
        return kinds * c.hidden * selection.blocks.count
    }

    /// Surgery plus compensation: the pruned model with output biases holding the removed units' means.
    public static func apply(_ selection: UnitSelection, config c: LlamaConfig, parameters p: [Float],
                             statistics st: CalibrationStatistics) throws -> (config: LlamaConfig, parameters: [Float]) {
        let removesHeads = selection.blocks.contains { $0.heads.count < c.blocks[$0.index].heads }
        let removesNeurons = selection.blocks.contains { $0.neurons.count < c.blocks[$0.index].mlpHidden }
        let comp = compensation(config: c, parameters: p, selection: selection, statistics: st)
        let biased = withOutputBiases(config: c, parameters: p, attention: removesHeads, mlp: removesNeurons)
        var cut = try Surgery.apply(selection, config: biased.config, parameters: biased.parameters)
        let layout = ParameterLayout(cut.config)
        for (newIndex, _) in selection.blocks.enumerated() {
            for (name, values) in [("self_attn.o_proj.bias", comp.attention[newIndex]), ("mlp.down_proj.bias", comp.mlp[newIndex])] {
                guard let e = layout["model.layers.\(newIndex).\(name)"] else { continue }
                for i in 0..<e.count { cut.parameters[e.offset + i] += Float(values[i]) }
            }
        }
        return cut
    }
}
