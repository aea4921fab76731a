import Foundation
import Model
import Pruning
import Testing

/// A rate the model cannot reach is a distinct error, never a smaller result filed as the asked
/// rate (issue 8); rates within one unit still pass.
@Suite struct RateTests {
    func run(_ target: PruningRequest.Target, _ c: LlamaConfig) throws -> PruningOutcome {
        let m = try randomModel(c, seed: 5)
        return try StructuredPruner.run(PruningRequest(target: target, batchSize: 3), config: c, parameters: m.params.array,
                                        calibration: try randomCalibration(vocab: c.vocabSize), threads: 1)
    }

    /// The error a body throws, which must be a PruningError.
    func pruningError(_ body: () throws -> Void) -> PruningError? {
        do { try body() } catch let e as PruningError { return e } catch { Issue.record("not a PruningError: \(error)") }
        return nil
    }

    @Test(arguments: [WidthMethod.magnitude, .wanda, .flap, .bonsai, .saap])
    func anUnreachableWidthRateIsRefused(method: WidthMethod) throws {
        let c = pruningConfig()
        let e = pruningError { _ = try run(.width(method: method, rate: 0.99), c) }
        let most = Double(WidthAllocator.maximumRemovable(c)) / Double(ParameterCounts(c).nonEmbedding)
        #expect(e?.kind == .rateNotMet(asked: 0.99, achievable: most))
        #expect(e?.message == String(format: "width rate 0.990 asked, at most %.3f reachable: width keeps at least one head per KV group and one neuron per block", most))
    }

    /// The most a width rate can remove: every block down to one head per KV group (one head when
    /// heads are not shared) and one neuron.
    @Test func maximumWidthRemovalLeavesTheMinimumShape() {
        let c = pruningConfig()
        let minimal = LlamaConfig(vocabSize: 32, hidden: 16, headDim: 4,
                                  blocks: [BlockShape(heads: 1, kvHeads: 1, mlpHidden: 1), BlockShape(heads: 2, kvHeads: 2, mlpHidden: 1),
                                           BlockShape(heads: 2, kvHeads: 2, mlpHidden: 1)], maxSequence: 32)
        #expect(WidthAllocator.maximumRemovable(c) == ParameterCounts(c).nonEmbedding - ParameterCounts(minimal).nonEmbedding)
    }

    @Test func depthKeepsAtLeastOneBlock() throws {
        let c = LlamaConfig.uniform(vocabSize: 32, hidden: 16, layers: 2, heads: 4, kvHeads: 2, mlpHidden: 24, maxSequence: 32)
        for rate in [0.9, 0.99] {
            let e = pruningError { _ = try run(.depth(method: .blockInfluence, rate: rate), c) }
            #expect(e?.message == String(format: "depth rate %.3f asked, 0.498 reached: depth keeps at least one block, and 0.498 is the most 2 blocks allow", rate))
            if case .rateNotMet(let asked, _) = e?.kind { #expect(asked == rate) } else { Issue.record("kind \(String(describing: e?.kind))") }
        }
        // Nearer to one block than to two: one block is the nearest the model allows; no error.
        #expect(try run(.depth(method: .blockInfluence, rate: 0.7), c).config.blocks.count == 1)
    }

    /// Where the allocator stops: at the nearest block count, unless a limit (the last block,
    /// protected blocks) stops it short of a nearer one.
    @Test func depthLimitsAreNamed() throws {
        let c = LlamaConfig.uniform(vocabSize: 32, hidden: 16, layers: 8, heads: 4, mlpHidden: 24)
        let scores = [5.0, 1.0, 7.0, 0.5, 3.0, 2.0, 9.0, 8.0]
        #expect(try DepthAllocator.select(blockScores: scores, config: c, rate: 0.9).count == 7)  // 7.2 blocks: 7 is nearest
        let last = pruningError { _ = try DepthAllocator.select(blockScores: scores, config: c, rate: 0.95) }  // 7.6: 8 is nearer
        #expect(last?.message.contains("depth keeps at least one block") == true, "\(last?.message ?? "selected")")
        let protected = pruningError { _ = try DepthAllocator.select(blockScores: scores, config: c, rate: 0.5, protected: Set(0..<6)) }
        #expect(protected?.message.hasPrefix("depth rate 0.500 asked, 0.250 reached: the method protects blocks 0, 1, 2, 3, 4, 5, so 0.250") == true,
                "\(protected?.message ?? "selected")")
        if case .rateNotMet = protected?.kind {} else { Issue.record("kind \(String(describing: protected?.kind))") }
    }

    /// The README's pruning table: depth rates 0.15–0.35 on the 2–5-block ladder models land on a
    /// whole block within one unit, and must keep passing.
    @Test(arguments: [2, 3, 4, 5])
    func theLadderDepthRatesStillPass(layers: Int) throws {
        let c = LlamaConfig.uniform(vocabSize: 32, hidden: 16, layers: layers, heads: 4, kvHeads: 2, mlpHidden: 44, maxSequence: 32)
        for rate in [0.15, 0.25, 0.35] {
            for method in DepthMethod.allCases {
                let out = try run(.depth(method: method, rate: rate), c)
                #expect(abs(out.report.rate - rate) < Double(ParameterCounts(c).perBlock[0]) / Double(ParameterCounts(c).nonEmbedding))
            }
        }
    }
}
