import Foundation
import Model

/// Importance of every width unit, original indices, higher = more important.
public struct WidthScores: Sendable, Equatable, Codable {
    /// `heads[block][queryHead]`.
    public var heads: [[Double]]
    /// `neurons[block][neuron]`.
    public var neurons: [[Double]]

    public init(heads: [[Double]], neurons: [[Double]]) {
        self.heads = heads
        self.neurons = neurons
    }
}

/// How a width rate is spread over the blocks.
public enum WidthAllocation: Sendable, Equatable {
    /// Every block loses the same fraction of its attention (rounded down to whole slots) and its MLP
    /// makes up the rest of the block's share (LLM-Pruner, Wanda-sp, Minitron with a fixed
    /// architecture): scores only compare units within one block.
    case uniform
    /// One ranking over the whole model, after standardising head scores and neuron scores
    /// separately across all blocks (FLAP's adaptive structure search): blocks end up pruned unevenly.
    case global
    /// A rate per block (SAAP's layer-adaptive ratios); the overall rate is still met exactly.
    case perBlock([Double])
}

/// The units a width rate removes, and the exact parameter counts.
///
/// Units and their costs (non-embedding parameters):
///  - an MLP neuron: its gate and up rows and its down column, `3 * hidden`;
///  - attention, when KV heads are shared by `r > 1` query heads: a *slot*, one query head from every
///    KV group at once (each group loses its lowest-scored remaining head), `kvHeads * 2 * headDim *
///    hidden` — this keeps the groups equal, which grouped-query attention needs; KV heads stay;
///  - attention without sharing (`r = 1`): a head with its key and value, `4 * headDim * hidden`.
/// Every block keeps at least one head per KV group and one neuron.
public enum WidthAllocator {
    struct AttentionUnits {
        /// Query heads removed by each successive slot (or head), in removal order.
        var removals: [[Int]]
        var scores: [Double]
        var cost: Int
        /// Whether a removal also drops its KV head (r = 1).
        var dropsKV: Bool
    }

    static func attentionUnits(_ shape: BlockShape, scores: [Double], c: LlamaConfig) -> AttentionUnits {
        let r = shape.heads / shape.kvHeads, D = c.headDim, C = c.hidden
        if r == 1 {
            let order = ascending(scores)
            return AttentionUnits(removals: order.dropLast().map { [$0] }, scores: order.dropLast().map { scores[$0] },
                                  cost: 4 * D * C, dropsKV: true)
        }
        // Per group, heads from least to most important; slot k takes the k-th of every group.
        let groups = (0..<shape.kvHeads).map { g in ascending(Array(scores[(g * r)..<(g * r + r)])).map { g * r + $0 } }
        let removals = (0..<(r - 1)).map { k in groups.map { $0[k] } }
        return AttentionUnits(removals: removals, scores: removals.map { $0.reduce(0) { $0 + scores[$1] } },
                              cost: shape.kvHeads * 2 * D * C, dropsKV: false)
    }

    /// The most non-embedding parameters width pruning can remove: every block down to one head
    /// per KV group (one head and its KV head without sharing) and one MLP neuron.
    public static func maximumRemovable(_ c: LlamaConfig) -> Int {
        c.blocks.reduce(0) { sum, b in
            let a = attentionUnits(b, scores: [Double](repeating: 0, count: b.heads), c: c)
            return sum + a.removals.count * a.cost + (b.mlpHidden - 1) * 3 * c.hidden
        }
    }

    /// Indices sorted by score, ties broken by index (deterministic).
    static func ascending(_ s: [Double]) -> [Int] {
        s.indices.sorted { s[$0] != s[$1] ? s[$0] < s[$1] : $0 < $1 }
    }

    /// Selects the units to keep so that the removed non-embedding parameters are as close to
    /// `rate * nonEmbedding` as neuron granularity allows (within `3 * hidden / 2` unless every
    /// block is already at its minimum).
    public static func select(scores: WidthScores, config c: LlamaConfig, rate: Double, allocation: WidthAllocation) throws -> UnitSelection {
        guard rate >= 0, rate < 1 else { throw PruningError("width rate \(rate) is outside [0, 1)") }
        guard scores.heads.count == c.blocks.count, scores.neurons.count == c.blocks.count,
              zip(scores.heads, c.blocks).allSatisfy({ $0.count == $1.heads }),
              zip(scores.neurons, c.blocks).allSatisfy({ $0.count == $1.mlpHidden }) else {
            throw PruningError("width scores do not match the model's blocks")
        }
        let target = rate * Double(ParameterCounts(c).nonEmbedding)
        let neuronCost = 3 * c.hidden
        let attention = c.blocks.indices.map { attentionUnits(c.blocks[$0], scores: scores.heads[$0], c: c) }
        let neuronOrder = scores.neurons.map(ascending)
        var slots = [Int](repeating: 0, count: c.blocks.count)   // attention units removed per block
        var neurons = [Int](repeating: 0, count: c.blocks.count) // neurons removed per block

        switch allocation {
        case .uniform:
            try fillPerBlock(Array(repeating: rate, count: c.blocks.count), c: c, attention: attention, target: target, slots: &slots, neurons: &neurons)
        case .perBlock(let rates):
            guard rates.count == c.blocks.count, rates.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
                throw PruningError("per-block rates: need \(c.blocks.count) values in [0, 1), got \(rates)")
            }
            try fillPerBlock(rates, c: c, attention: attention, target: target, slots: &slots, neurons: &neurons)
        case .global:
            // Standardise each kind over the whole model so heads and neurons share one scale.
            func z(_ xs: [Double]) -> (Double) -> Double {
                let m = xs.reduce(0, +) / Double(max(1, xs.count))
                let sd = (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(max(1, xs.count))).squareRoot()
                return { sd > 0 ? ($0 - m) / sd : 0 }
            }
            let zh = z(attention.flatMap(\.scores)), zn = z(scores.neurons.flatMap { $0 })
            struct Candidate { var score: Double; var block: Int; var isHead: Bool; var rank: Int }
            var all: [Candidate] = []
            for (l, a) in attention.enumerated() {
                for (k, s) in a.scores.enumerated() { all.append(Candidate(score: zh(s), block: l, isHead: true, rank: k)) }
                for (k, j) in neuronOrder[l].dropLast().enumerated() { all.append(Candidate(score: zn(scores.neurons[l][j]), block: l, isHead: false, rank: k)) }
            }
            // Within a block, units go in their own ascending order; across blocks, by standardised score.
            all.sort { $0.score != $1.score ? $0.score < $1.score : ($0.block, $0.isHead ? 0 : 1, $0.rank) < ($1.block, $1.isHead ? 0 : 1, $1.rank) }
            var removed = 0.0
            for u in all {
                let cost = Double(u.isHead ? attention[u.block].cost : neuronCost)
                guard target - removed >= Double(neuronCost) / 2 else { break }
                guard removed + cost <= target + Double(neuronCost) / 2 else { continue }
                if u.isHead {
                    guard u.rank == slots[u.block] else { continue }
                    slots[u.block] += 1
                } else {
                    guard u.rank == neurons[u.block] else { continue }
                    neurons[u.block] += 1
                }
                removed += cost
            }
        }

        var blocks: [UnitSelection.Block] = []
        for (l, shape) in c.blocks.enumerated() {
            let a = attention[l]
            let gone = Set(a.removals.prefix(slots[l]).flatMap { $0 })
            let heads = (0..<shape.heads).filter { !gone.contains($0) }
            let r = shape.heads / shape.kvHeads
            let kv = a.dropsKV ? heads.map { $0 / r } : Array(0..<shape.kvHeads)
            let goneNeurons = Set(neuronOrder[l].prefix(neurons[l]))
            blocks.append(.init(index: l, kvHeads: kv, heads: heads, neurons: (0..<shape.mlpHidden).filter { !goneNeurons.contains($0) }))
        }
        return UnitSelection(blocks: blocks, hiddenChannels: nil)
    }

    /// Block `l` aims at `rates[l]` of its own parameters: attention units rounded down, the rest in
    /// neurons; then neurons are added or taken back, largest remainders first, until the total
    /// meets the overall target within half a neuron.
    static func fillPerBlock(_ rates: [Double], c: LlamaConfig, attention: [AttentionUnits], target: Double,
                             slots: inout [Int], neurons: inout [Int]) throws {
        let perBlock = ParameterCounts(c).perBlock, neuronCost = Double(3 * c.hidden)
        var fractional = [Double](repeating: 0, count: c.blocks.count)
        var want = [Double](repeating: 0, count: c.blocks.count)
        for l in c.blocks.indices {
            let a = attention[l], units = a.removals.count + 1  // heads per group (r > 1) or heads (r = 1)
            // Rounded down: an attention slot is coarse (under GQA with r = 2 it is half the heads),
            // so attention loses slots only as far as the rate fully covers them; neurons fill the rest.
            slots[l] = min(a.removals.count, Int((rates[l] * Double(units)).rounded(.down)))
            want[l] = rates[l] * Double(perBlock[l])
        }
        // Scale the neuron shares so the blocks' wants add up to the overall target.
        let attentionRemoved = c.blocks.indices.reduce(0.0) { $0 + Double(slots[$1] * attention[$1].cost) }
        let neuronWant = c.blocks.indices.map { max(0, want[$0] - Double(slots[$0] * attention[$0].cost)) }
        let totalNeuronWant = neuronWant.reduce(0, +)
        let neuronsNeeded = max(0, target - attentionRemoved) / neuronCost
        for l in c.blocks.indices {
            let share = totalNeuronWant > 0 ? neuronWant[l] / totalNeuronWant * neuronsNeeded : 0
            let cap = c.blocks[l].mlpHidden - 1
            neurons[l] = min(cap, Int(share.rounded(.down)))
            fractional[l] = share - Double(neurons[l])
        }
        var missing = Int(neuronsNeeded.rounded()) - neurons.reduce(0, +)
        let order = c.blocks.indices.sorted { fractional[$0] != fractional[$1] ? fractional[$0] > fractional[$1] : $0 < $1 }
        var progress = true
        while missing > 0 && progress {
            progress = false
            for l in order where missing > 0 && neurons[l] < c.blocks[l].mlpHidden - 1 {
                neurons[l] += 1
                missing -= 1
                progress = true
            }
        }
    }
}

/// How many and which blocks a depth rate removes.
public enum DepthAllocator {
    /// Removes blocks from least to most important (skipping `protected`) while that brings the
    /// removed parameters closer to `rate * nonEmbedding`; at least one block when `rate > 0`,
    /// never the last remaining one.
    ///
    /// When one of those limits (the last block, the protected ones) stops it although removing
    /// another block would come closer to the rate, the rate is out of reach: a
    /// `PruningError.Kind.rateNotMet` says which limit, rather than a model pruned less than asked.
    public static func select(blockScores: [Double], config c: LlamaConfig, rate: Double, protected: Set<Int> = []) throws -> Set<Int> {
        guard rate >= 0, rate < 1 else { throw PruningError("depth rate \(rate) is outside [0, 1)") }
        guard blockScores.count == c.blocks.count else { throw PruningError("depth scores: \(blockScores.count) for \(c.blocks.count) blocks") }
        let counts = ParameterCounts(c), target = rate * Double(counts.nonEmbedding)
        let order = WidthAllocator.ascending(blockScores).filter { !protected.contains($0) }
        var removed = Set<Int>(), total = 0.0
        for l in order where removed.count < c.blocks.count - 1 {
            let next = total + Double(counts.perBlock[l])
            let better = abs(next - target) < abs(total - target)
            guard better || (removed.isEmpty && rate > 0) else { break }
            removed.insert(l)
            total = next
        }
        // Stopped by a limit rather than by the target: no block left that it may remove.
        let limited = removed.count == order.count || removed.count >= c.blocks.count - 1
        let rest = c.blocks.indices.filter { !removed.contains($0) }
        if limited, let smallest = rest.map({ Double(counts.perBlock[$0]) }).min(), abs(total + smallest - target) < abs(total - target) {
            let n = Double(counts.nonEmbedding)
            let reached = String(format: "%.3f", total / n), asked = String(format: "%.3f", rate)
            if removed.count == c.blocks.count - 1 {
                let most = (counts.perBlock.reduce(0, +) - counts.perBlock.min()!)
                throw PruningError(rateNotMet: rate, achievable: Double(most) / n,
                                   "depth rate \(asked) asked, \(reached) reached: depth keeps at least one block, and \(String(format: "%.3f", Double(most) / n)) is the most \(c.blocks.count) block\(c.blocks.count == 1 ? "" : "s") allow")
            }
            let kept = protected.sorted()
            let most = c.blocks.indices.filter { !protected.contains($0) }.map { counts.perBlock[$0] }.reduce(0, +)
            throw PruningError(rateNotMet: rate, achievable: Double(most) / n,
                               "depth rate \(asked) asked, \(reached) reached: the method protects block\(kept.count == 1 ? "" : "s") \(kept.map(String.init).joined(separator: ", ")), so \(String(format: "%.3f", Double(most) / n)) is the most the other blocks allow")
        }
        return removed
    }
}
