import Foundation
import Model
import Tensor

/// What `run --dry-run` prints: every cell with its state, tokens, FLOPs and the minutes they
/// take at the speed this machine shows for the base (its stored cells' mean, else a two-step
/// probe of the base's shape).
public struct CostEstimate: Sendable, Encodable {
    public struct Row: Sendable, Encodable {
        public var id: String
        public var label: String
        public var state: String
        public var trainTokens: Int
        public var evalTokens: Int
        public var flops: Double
        public var minutes: Double
        enum CodingKeys: String, CodingKey {
            case id, label, state, flops, minutes, trainTokens = "train_tokens", evalTokens = "eval_tokens"
        }
    }
    public var cells: [Row]
    public var pretrain: [String: Double]
    public var minutesLeft: Double
    public var tokensPerSecond: [String: Double]

    enum CodingKeys: String, CodingKey {
        case cells, pretrain = "pretrain_minutes", minutesLeft = "minutes_left", tokensPerSecond = "tokens_per_second"
    }

    /// Training FLOPs per token: 6 per weight (forward and backward) plus the attention products.
    static func flopsPerToken(_ c: LlamaConfig, seq: Int) -> Double {
        let p = Double(ParameterCounts(c).nonEmbedding + c.vocabSize * c.hidden)
        let attention = c.blocks.reduce(0.0) { $0 + 12 * Double(seq) * Double($1.heads * c.headDim) / 2 }
        return 6 * p + attention
    }

    public static func make(_ plan: RunPlan, threads: Int = Parallel.defaultThreads) throws -> CostEstimate {
        let statuses = try ExperimentRunner.status(plan)
        let store = FileManager.default.fileExists(atPath: plan.store.appendingPathComponent(ResultStore.fileName).path)
            ? try ResultStore(directory: plan.store) : nil
        let r = plan.spec.posttrain
        var speed: [String: Double] = [:]
        for b in plan.bases {
            let mine = plan.cells.filter { $0.base == b.identity.name }.map(\.id)
            if let s = try store?.meanTokensPerSecond(cells: mine) { speed[b.identity.name] = s; continue }
            speed[b.identity.name] = try probe(b.config, batch: r.batch, seq: min(r.sequenceLength, b.config.maxSequence), threads: threads)
        }
        var rows: [Row] = []
        var left = 0.0
        for (cell, status) in zip(plan.cells, statuses) {
            let base = plan.bases.first { $0.identity.name == cell.base }!
            let s = cell.config.training
            let train = (cell.config.budgets.map { b in b.max()! + b.dropLast().reduce(0) { $0 + Int(Double($1) * s.decayFraction) } }) ?? s.totalSteps * s.tokensPerStep
            let points = cell.config.budgets?.count ?? s.evalSteps.count
            let eval = (points + 1) * s.evalTokens
            let shrink = cell.structure == "depth" || cell.structure == "width" ? 1 - cell.rate : 1
            let fpt = flopsPerToken(base.config, seq: s.sequenceLength) * shrink
            let tps = speed[cell.base] ?? 1
            let minutes = (Double(train) + Double(eval) / 3) * shrink / tps / 60
            rows.append(Row(id: cell.id, label: cell.label, state: status.state.rawValue, trainTokens: train, evalTokens: eval,
                            flops: fpt * Double(train) + fpt / 3 * Double(eval), minutes: minutes))
            if status.state != .done { left += minutes }
        }
        var pretrain: [String: Double] = [:]
        for (name, size) in plan.basesToPretrain {
            let tps = try probe(size.config, batch: size.settings.batchSize, seq: size.settings.sequenceLength, threads: threads)
            pretrain[name] = Double(size.settings.tokens) / tps / 60
            left += pretrain[name]!
        }
        return CostEstimate(cells: rows, pretrain: pretrain, minutesLeft: left, tokensPerSecond: speed)
    }

    /// Training tokens per second of a randomly initialised model of this shape (second of two steps).
    static func probe(_ config: LlamaConfig, batch: Int, seq: Int, threads: Int) throws -> Double {
        let model = try LlamaModel(config: config, seed: 0, initStd: 0.02, threads: threads)
        let tokens = (0..<(batch * seq)).map { Int32($0 % config.vocabSize) }
        var seconds = 0.0
        for k in 0..<2 {
            let t0 = ProcessInfo.processInfo.systemUptime
            model.zeroGrad()
            _ = model.forward(tokens: tokens, targets: tokens, batch: batch, seqLen: seq)
            model.backward(lossScale: 1)
            if k == 1 { seconds = ProcessInfo.processInfo.systemUptime - t0 }
        }
        return Double(batch * seq) / max(seconds, 1e-6)
    }
}
