import Foundation
import Model
import Pruning
import Randomness
import Testing

@Suite struct AllocationTests {
    func randomScores(_ c: LlamaConfig, seed: UInt64) -> WidthScores {
        var rng = SeededRandom(seed: seed)
        return WidthScores(heads: c.blocks.map { b in (0..<b.heads).map { _ in rng.uniform() } },
                           neurons: c.blocks.map { b in (0..<b.mlpHidden).map { _ in rng.uniform() } })
    }

    /// Every allocation meets the target within one neuron's worth of parameters, and the result is a
    /// valid model.
    @Test(arguments: [0.05, 0.15, 0.25, 0.35, 0.5])
    func widthRatesAreHit(rate: Double) throws {
        let ladderLike = LlamaConfig.uniform(vocabSize: 256, hidden: 160, layers: 5, heads: 10, kvHeads: 2, mlpHidden: 432)
        for c in [pruningConfig(), ladderLike] {
            let scores = randomScores(c, seed: 9)
            let before = ParameterCounts(c).nonEmbedding
            for allocation in [WidthAllocation.uniform, .global, .perBlock(c.blocks.indices.map { rate * (0.6 + 0.2 * Double($0 % 3)) })] {
                let s = try WidthAllocator.select(scores: scores, config: c, rate: rate, allocation: allocation)
                try s.validate(against: c)
                let after = ParameterCounts(s.config(from: c)).nonEmbedding
                let removed = Double(before - after), target = rate * Double(before)
                #expect(abs(removed - target) <= Double(3 * c.hidden), "\(allocation) rate \(rate): removed \(removed), target \(target)")
            }
        }
    }

    /// Uniform allocation removes the lowest-scored neurons of each block, and the lowest-scored head
    /// of each KV group.
    @Test func lowestScoredUnitsGo() throws {
        let c = pruningConfig()
        let scores = randomScores(c, seed: 4)
        let s = try WidthAllocator.select(scores: scores, config: c, rate: 0.3, allocation: .uniform)
        for b in s.blocks {
            let kept = Set(b.neurons), all = scores.neurons[b.index]
            let gone = all.indices.filter { !kept.contains($0) }
            #expect(!gone.isEmpty)
            #expect(gone.map { all[$0] }.max()! <= kept.map { all[$0] }.min()!)
            let shape = c.blocks[b.index], r = shape.heads / shape.kvHeads
            if r > 1 {
                for g in 0..<shape.kvHeads {
                    let members = Array((g * r)..<(g * r + r)), keptHere = members.filter { b.heads.contains($0) }
                    let goneHere = members.filter { !b.heads.contains($0) }
                    if let worstKept = keptHere.map({ scores.heads[b.index][$0] }).min(), let bestGone = goneHere.map({ scores.heads[b.index][$0] }).max() {
                        #expect(bestGone <= worstKept)
                    }
                }
            }
        }
    }

    @Test func depthRemovesLowestBlocksClosestToTarget() throws {
        let c = LlamaConfig.uniform(vocabSize: 32, hidden: 16, layers: 8, heads: 4, mlpHidden: 24)
        let scores = [5.0, 1.0, 7.0, 0.5, 3.0, 2.0, 9.0, 8.0]
        #expect(try DepthAllocator.select(blockScores: scores, config: c, rate: 0.25) == [3, 1])
        #expect(try DepthAllocator.select(blockScores: scores, config: c, rate: 0.3) == [3, 1])        // 2.4 blocks: 2 is closer
        #expect(try DepthAllocator.select(blockScores: scores, config: c, rate: 0.35) == [3, 1, 5])    // 2.8 blocks: 3
        #expect(try DepthAllocator.select(blockScores: scores, config: c, rate: 0.01) == [3])          // at least one
        #expect(try DepthAllocator.select(blockScores: scores, config: c, rate: 0.25, protected: [3]) == [1, 5])
        #expect(throws: PruningError.self) { try DepthAllocator.select(blockScores: scores, config: c, rate: 1.2) }
    }
}
