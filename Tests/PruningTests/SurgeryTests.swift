import Foundation
import Model
import Pruning
import Testing

@Suite struct SurgeryTests {
    /// A width-pruned model computes exactly what the original computes with the removed units'
    /// contributions zeroed (o_proj columns of removed heads, down_proj columns of removed neurons).
    @Test(arguments: [false, true])
    func widthSurgeryEqualsZeroedUnits(tied: Bool) throws {
        let c = pruningConfig(tied: tied)
        let m = try randomModel(c, seed: 1)
        let p = m.params.array
        let n0: [Int] = Array(0..<24).filter { $0 % 3 != 1 }
        let b0 = UnitSelection.Block(index: 0, kvHeads: [0, 2, 3], heads: [0, 2, 3], neurons: n0)
        let b1 = UnitSelection.Block(index: 1, kvHeads: [0, 1], heads: [1, 2], neurons: Array(5..<32))
        let b2 = UnitSelection.Block(index: 2, kvHeads: [1], heads: [3, 5], neurons: [0, 4, 19])
        let selection = UnitSelection(blocks: [b0, b1, b2], hiddenChannels: nil)
        let cut = try Surgery.apply(selection, config: c, parameters: p)
        #expect(cut.config.blocks == [BlockShape(heads: 3, kvHeads: 3, mlpHidden: 16), BlockShape(heads: 2, kvHeads: 2, mlpHidden: 27),
                                      BlockShape(heads: 2, kvHeads: 1, mlpHidden: 3)])
        var zeroed = p
        for b in selection.blocks {
            let shape = c.blocks[b.index], D = c.headDim
            let goneHeads = (0..<shape.heads).filter { !b.heads.contains($0) }
            zeroColumns(&zeroed, m.layout, "model.layers.\(b.index).self_attn.o_proj.weight", goneHeads.flatMap { h in (h * D)..<(h * D + D) })
            zeroColumns(&zeroed, m.layout, "model.layers.\(b.index).mlp.down_proj.weight", (0..<shape.mlpHidden).filter { !b.neurons.contains($0) })
        }
        let reference = try LlamaModel(config: c, parameters: zeroed, threads: 1)
        let small = try LlamaModel(config: cut.config, parameters: cut.parameters, threads: 1)
        let tokens = randomIds(2 * 9, vocab: c.vocabSize, seed: 4)
        let d = maxRelativeDifference(logits(reference, tokens, batch: 2, seq: 9), logits(small, tokens, batch: 2, seq: 9))
        #expect(d < 1e-5, "max relative logit difference \(d)")
        // And the surgery really removed parameters.
        #expect(ParameterCounts(cut.config).nonEmbedding < ParameterCounts(c).nonEmbedding)
    }

    /// A depth-pruned model equals the original whose removed blocks add nothing to the residual.
    @Test func depthSurgeryEqualsIdentityBlocks() throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 2)
        var zeroed = m.params.array
        for name in ["model.layers.1.self_attn.o_proj.weight", "model.layers.1.mlp.down_proj.weight"] {
            let e = m.layout[name]!
            for k in e.offset..<(e.offset + e.count) { zeroed[k] = 0 }
        }
        let cut = try Surgery.apply(Surgery.removingBlocks([1], from: c), config: c, parameters: m.params.array)
        #expect(cut.config.blocks == [c.blocks[0], c.blocks[2]])
        let reference = try LlamaModel(config: c, parameters: zeroed, threads: 1)
        let small = try LlamaModel(config: cut.config, parameters: cut.parameters, threads: 1)
        let tokens = randomIds(3 * 7, vocab: c.vocabSize, seed: 5)
        let d = maxRelativeDifference(logits(reference, tokens, batch: 3, seq: 7), logits(small, tokens, batch: 3, seq: 7))
        #expect(d < 1e-5, "max relative logit difference \(d)")
    }

    /// Hidden-channel pruning gives the right shapes everywhere and keeps the chosen values.
    @Test func hiddenChannelSurgeryShapes() throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 3)
        var s = UnitSelection.all(c)
        s.hiddenChannels = [0, 3, 4, 9, 15]
        let cut = try Surgery.apply(s, config: c, parameters: m.params.array)
        #expect(cut.config.hidden == 5)
        let layout = ParameterLayout(cut.config)
        #expect(cut.parameters.count == layout.totalCount)
        let e = layout["model.layers.2.mlp.down_proj.weight"]!
        #expect(e.shape == [5, 20])
        // Row 1 of the new down_proj is row 3 of the old one.
        #expect(Array(cut.parameters[(e.offset + 20)..<(e.offset + 40)]) == Array(m.tensor("model.layers.2.mlp.down_proj.weight")[60..<80]))
        _ = try LlamaModel(config: cut.config, parameters: cut.parameters, threads: 1)
    }

    @Test func invalidSelectionsAreRejected() throws {
        let c = pruningConfig()
        func rejects(_ edit: (inout UnitSelection) -> Void, _ fragment: String) {
            var s = UnitSelection.all(c)
            edit(&s)
            #expect(throws: PruningError.self) { try s.validate(against: c) }
            do { try s.validate(against: c) } catch let e as PruningError { #expect(e.message.contains(fragment), "\(e.message)") } catch {}
        }
        rejects({ $0.blocks[1].heads = [0, 1, 2] }, "same number")          // group 0 keeps 2, group 1 keeps 1
        rejects({ $0.blocks[1].heads = [0, 1] }, "kept KV heads")            // KV head 1 kept without queries
        rejects({ $0.blocks[2].neurons = [] }, "no MLP neurons")
        rejects({ $0.blocks[0].neurons = [3, 2] }, "increasing")
        rejects({ $0.blocks[0].index = 7 }, "block 7")
        rejects({ $0.blocks = [] }, "no block")
    }

    /// A pruned model saves and loads back bit for bit, with its per-block shapes.
    @Test func prunedCheckpointRoundTrips() throws {
        let c = pruningConfig()
        let m = try randomModel(c, seed: 6)
        let scores = UnitScorer.magnitude(config: c, parameters: m.params.array)
        let s = try WidthAllocator.select(scores: scores, config: c, rate: 0.3, allocation: .uniform)
        let cut = try Surgery.apply(s, config: c, parameters: m.params.array)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-surgery-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Checkpoint.save(config: cut.config, parameters: cut.parameters, to: dir)
        let back = try Checkpoint.load(from: dir)
        #expect(back.config == cut.config)
        #expect(back.parameters.map(\.bitPattern) == cut.parameters.map(\.bitPattern))
    }
}
