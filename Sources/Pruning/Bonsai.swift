import Foundation
import Model
import Randomness

/// Bonsai (Dery et al. 2024, "Everybody Prune Now"): structured width pruning with forward passes only.
///
/// Each round, on the model as pruned so far:
///  1. prior: Wanda-style scores of every unit (one calibration sweep);
///  2. modules: per block, its attention units and its MLP neurons, defined and costed exactly as
///     `WidthAllocator` does (neuron `3 * hidden`; without KV sharing a head with its key and value,
///     `4 * headDim * hidden`; with sharing a *slot*, one query head of every KV group, here the k-th
///     lowest-prior remaining head of each group, `kvHeads * 2 * headDim * hidden`);
///  3. in each module the top `1 - 2p` units by prior (at least the top one, so every block keeps a
///     head per KV group and a neuron) are fixed; the rest are candidates;
///  4. sub-models in antithetic pairs: a mask that drops `p * n + 1` candidates of every module
///     (drawn without replacement with probability proportional to `max(prior) - prior`), then its
///     complement over the candidates; every module is perturbed in the same sub-model, and each
///     sub-model is scored by minus its mean calibration loss (forward passes only);
///  5. one lasso regression of the scores on the 0/1 keep-masks of all candidates (the reference's
///     default "global" scoring model, so coefficients of all modules share one scale), penalty by
///     k-fold cross-validation on Kendall's tau, antithetic pairs kept in one fold;
///  6. candidates go in ascending coefficient order (ties: lower prior first) until this round has
///     removed `p` of the original non-embedding parameters; the last round is trimmed so the total
///     lands on the target within half a neuron's cost, as `WidthAllocator` does.
///
/// Memory: nothing is differentiated, so the model never allocates its (lazy) backward scratch;
/// `model.backwardPasses` stays 0, which the tests assert. Sub-models are evaluated by zeroing the
/// dropped units' output columns (o_proj / down_proj) in the model's own weights, which equals
/// removing them (see SurgeryTests); a copy of only those tensors is kept to restore them. Removed
/// units stay zeroed between rounds instead of being cut out, so later rounds cost as much compute
/// as the first (cutting would save about a quarter of the forwards at rate 0.5; left simple).
/// The model passed in has its original weights again when `select` returns or throws.
///
/// Choices of ours where the reference differs or is silent: the score is minus the mean loss (the
/// reference uses minus perplexity; both order the sub-models alike, and the loss is closer to
/// additive in the units); the lasso is solved to convergence by coordinate descent (the reference
/// runs Adam on an L1-penalised MSE), and where the antithetic design makes columns equal up to sign
/// (a module with two candidates, one dropped) their coefficient is shared equally instead of going
/// to one arbitrary column (see `SparseRegression`); removal ranks raw coefficients, not
/// coefficients per parameter, as the reference does.
public enum Bonsai {
    public struct Options: Sendable, Equatable {
        /// `p`: fraction of the original non-embedding parameters removed per round, and the fraction
        /// of each module's units (plus one) a sub-model drops.
        public var roundFraction = 0.05
        /// Sub-models per round (rounded up to an even number: antithetic pairs).
        public var subModels = 200
        /// Fraction of each module's units fixed by the prior in a round; nil: `1 - 2p` (reference).
        public var priorKeepFraction: Double? = nil
        /// Cross-validation folds for the lasso penalty.
        public var folds = 5
        /// Penalties tried, log-spaced from the largest useful one down to `penaltyRange` times it.
        public var penalties = 12
        public var penaltyRange = 1e-3
        /// Coordinate-descent limit per fit, and its stopping rule: the largest change of the fitted
        /// values in one pass, relative to the spread of the scores (ranks need no more).
        public var maxEpochs = 5_000
        public var tolerance = 1e-6

        public init() {}

        var keepFraction: Double { priorKeepFraction ?? (1 - 2 * roundFraction) }
    }

    public struct Outcome: Sendable {
        public var selection: UnitSelection
        /// The latest lasso coefficient of every unit (original indices): the estimated drop in
        /// calibration loss from keeping it, measured in the round where it was last a candidate (a
        /// slot's coefficient is given to each of its query heads). Units that were never candidates
        /// get the largest coefficient measured: "at least as important as anything measured".
        /// Coefficients of different rounds come from different models, so compare within a round.
        public var scores: WidthScores
        public var rounds: Int
        public var notes: [String]
        /// Forward passes run on the model (calibration sweeps times batches).
        public var forwardPasses: Int
        /// Mean calibration loss of the unpruned model.
        public var calibrationLossBefore: Double
    }

    /// One prunable unit of a module.
    struct Unit {
        var block: Int
        var isAttention: Bool
        /// Original query heads (attention) or the original neuron.
        var members: [Int]
        var cost: Int
        var prior: Double
    }

    struct Module {
        /// Ascending prior (ties by position); the last `units.count - candidates` are fixed.
        var units: [Unit]
        var candidates: Int
        var drop: Int
    }

    public static func select(model: LlamaModel, calibration cal: CalibrationSet, batchSize: Int, rate: Double, seed: UInt64,
                              options o: Options = .init(), log: (String) -> Void = { _ in }) throws -> Outcome {
        let c = model.config, D = c.headDim, C = c.hidden, L = c.blocks.count
        guard rate >= 0, rate < 1 else { throw PruningError("bonsai: width rate \(rate) is outside [0, 1)") }
        guard o.roundFraction > 0, o.roundFraction < 0.5 else { throw PruningError("bonsai: round fraction \(o.roundFraction) is outside (0, 0.5)") }
        guard o.keepFraction >= 0, o.keepFraction < 1 else { throw PruningError("bonsai: prior keep fraction \(o.keepFraction) is outside [0, 1)") }
        guard o.subModels >= 2 else { throw PruningError("bonsai: need at least 2 sub-models per round, got \(o.subModels)") }
        guard o.folds >= 2, o.penalties >= 1, o.penaltyRange > 0, o.penaltyRange <= 1, o.maxEpochs > 0, o.tolerance > 0 else {
            throw PruningError("bonsai: need folds >= 2, penalties >= 1, penalty range in (0, 1], a positive epoch limit and tolerance")
        }
        guard batchSize > 0 else { throw PruningError("bonsai: batch size must be positive") }
        guard cal.sequenceLength <= c.maxSequence else {
            throw PruningError("bonsai: calibration windows of \(cal.sequenceLength) exceed the model's \(c.maxSequence) positions")
        }

        let counts = ParameterCounts(c), N0 = Double(counts.nonEmbedding)
        let target = rate * N0, neuronCost = 3 * C, tolerance = Double(neuronCost) / 2
        let pairs = (o.subModels + 1) / 2
        let expectedRounds = max(1, Int((rate / o.roundFraction - 1e-9).rounded(.up)))
        let maxRounds = 4 * expectedRounds + 10
        let passesBefore = model.forwardPasses

        // The only tensors a sub-model touches; restored whatever happens.
        let oNames = (0..<L).map { "model.layers.\($0).self_attn.o_proj.weight" }
        let downNames = (0..<L).map { "model.layers.\($0).mlp.down_proj.weight" }
        let originalO = oNames.map(model.tensor), originalDown = downNames.map(model.tensor)
        func install(_ heads: [[Int]], _ neurons: [[Int]]) {
            for l in 0..<L {
                let oe = model.layout[oNames[l]]!, de = model.layout[downNames[l]]!
                let po = model.params.pointer + oe.offset, pd = model.params.pointer + de.offset
                originalO[l].withUnsafeBufferPointer { po.update(from: $0.baseAddress!, count: oe.count) }
                originalDown[l].withUnsafeBufferPointer { pd.update(from: $0.baseAddress!, count: de.count) }
                let hd = oe.shape[1], f = de.shape[1]
                for h in heads[l] { for i in 0..<C { for d in 0..<D { po[i * hd + h * D + d] = 0 } } }
                for j in neurons[l] { for i in 0..<C { pd[i * f + j] = 0 } }
            }
        }
        defer { install(Array(repeating: [], count: L), Array(repeating: [], count: L)) }

        var removedHeads = c.blocks.map { [Bool](repeating: false, count: $0.heads) }
        var removedNeurons = c.blocks.map { [Bool](repeating: false, count: $0.mlpHidden) }
        var headScore = c.blocks.map { [Double?](repeating: nil, count: $0.heads) }
        var neuronScore = c.blocks.map { [Double?](repeating: nil, count: $0.mlpHidden) }
        func removedLists() -> ([[Int]], [[Int]]) {
            (removedHeads.map { flags in flags.indices.filter { flags[$0] } }, removedNeurons.map { flags in flags.indices.filter { flags[$0] } })
        }

        var removed = 0.0, round = 0, notes: [String] = [], lossBefore = Double.nan
        while target - removed >= tolerance {
            round += 1
            let rounds = max(round, expectedRounds)  // for progress lines only
            guard round <= maxRounds else { throw PruningError("bonsai: no convergence to rate \(rate) after \(maxRounds) rounds") }
            // At least one neuron's worth, so a tiny model with a tiny p still moves.
            let budget = min(max(o.roundFraction * N0, Double(neuronCost)), target - removed)

            // 1. Prior on the model as pruned so far.
            let (gh, gn) = removedLists()
            install(gh, gn)
            log("bonsai round \(round)/\(rounds): prior (Wanda) on the current model")
            let stats = CalibrationStatistics.collect(model, calibration: cal, batchSize: batchSize)
            if round == 1 { lossBefore = stats.loss }
            let prior = UnitScorer.wanda(config: c, parameters: model.params.array, statistics: stats)

            // 2-3. Modules, candidates.
            var modules: [Module] = []
            for l in 0..<L {
                let shape = c.blocks[l], r = shape.heads / shape.kvHeads
                var attention: [Unit]
                if r == 1 {
                    let alive = (0..<shape.heads).filter { !removedHeads[l][$0] }
                    attention = alive.map { Unit(block: l, isAttention: true, members: [$0], cost: 4 * D * C, prior: prior.heads[l][$0]) }
                } else {
                    // Slot k: the k-th lowest-prior remaining head of every KV group (groups stay equal).
                    let groups = (0..<shape.kvHeads).map { g in
                        let alive = ((g * r)..<(g * r + r)).filter { !removedHeads[l][$0] }
                        return WidthAllocator.ascending(alive.map { prior.heads[l][$0] }).map { alive[$0] }
                    }
                    let perGroup = groups.map(\.count).min() ?? 0
                    attention = (0..<perGroup).map { k in
                        let members = groups.map { $0[k] }.sorted()
                        return Unit(block: l, isAttention: true, members: members, cost: shape.kvHeads * 2 * D * C,
                                    prior: members.reduce(0) { $0 + prior.heads[l][$1] })
                    }
                }
                let neurons = (0..<shape.mlpHidden).filter { !removedNeurons[l][$0] }
                    .map { Unit(block: l, isAttention: false, members: [$0], cost: neuronCost, prior: prior.neurons[l][$0]) }
                for units in [attention, neurons] {
                    let sorted = WidthAllocator.ascending(units.map(\.prior)).map { units[$0] }
                    let n = sorted.count
                    // At least the top unit stays fixed: every block keeps a head per group and a neuron.
                    let fixed = max(1, Int(Double(n) * o.keepFraction + 1e-9))
                    let candidates = max(0, n - fixed)
                    let drop = min(candidates, Int(o.roundFraction * Double(n) + 1e-9) + 1)
                    modules.append(Module(units: sorted, candidates: candidates, drop: drop))
                }
            }
            // Global candidate columns.
            var columns: [(module: Int, unit: Int)] = []
            for (m, mod) in modules.enumerated() { for u in 0..<mod.candidates { columns.append((m, u)) } }
            guard !columns.isEmpty else { throw PruningError("bonsai: no removable unit left before reaching rate \(rate)") }
            var columnOf: [[Int]] = modules.map { Array(repeating: -1, count: $0.candidates) }
            for (k, col) in columns.enumerated() { columnOf[col.module][col.unit] = k }

            // 4. Antithetic sub-models.
            var rng = SeededRandom(seed: seed, stream: round)
            var masks: [[Double]] = [], scores: [Double] = [], fold: [Int] = []
            let total = 2 * pairs
            for p in 0..<pairs {
                var dropped = [[Bool]]()  // per module, per candidate
                for mod in modules {
                    var flag = [Bool](repeating: false, count: mod.candidates)
                    guard mod.drop > 0 else { dropped.append(flag); continue }
                    let top = mod.units.last!.prior
                    var weight = (0..<mod.candidates).map { max(0, top - mod.units[$0].prior) }
                    for _ in 0..<mod.drop {
                        let open = (0..<mod.candidates).filter { !flag[$0] }
                        let sum = open.reduce(0.0) { $0 + weight[$1] }
                        var pick = open.last!
                        if sum > 0 {
                            var u = rng.uniform() * sum
                            for j in open { u -= weight[j]; if u < 0 { pick = j; break } }
                        } else {
                            pick = open[Int(rng.next() % UInt64(open.count))]
                        }
                        flag[pick] = true
                        weight[pick] = 0
                    }
                    dropped.append(flag)
                }
                for complement in [false, true] {
                    var heads = gh, neurons = gn
                    var mask = [Double](repeating: 0, count: columns.count)
                    for (m, mod) in modules.enumerated() {
                        for u in 0..<mod.candidates {
                            let gone = dropped[m][u] != complement
                            if gone {
                                let unit = mod.units[u]
                                if unit.isAttention { heads[unit.block] += unit.members } else { neurons[unit.block] += unit.members }
                            } else {
                                mask[columnOf[m][u]] = 1
                            }
                        }
                    }
                    install(heads, neurons)
                    let loss = model.calibrationLoss(cal, batchSize: batchSize)
                    let i = 2 * p + (complement ? 2 : 1)
                    // Every 10th: a line per sub-model would drown a log file.
                    if i % 10 == 0 || i == total {
                        log(String(format: "bonsai round %d/%d: sub-model %d/%d loss %.4f", round, rounds, i, total, loss))
                    }
                    masks.append(mask)
                    scores.append(loss.isFinite ? -loss : -1e30)
                    fold.append(p % o.folds)
                }
            }
            install(gh, gn)

            // 5. Lasso on the keep-masks, penalty by cross-validated Kendall tau.
            let design = SparseRegression.Design(rows: masks)
            let grid = SparseRegression.penaltyGrid(design, scores, count: o.penalties, range: o.penaltyRange)
            let cv = SparseRegression.crossValidated(design, scores, fold: fold, penalties: grid, tolerance: o.tolerance, maxEpochs: o.maxEpochs)
            let beta = cv.fit.coefficients

            // 6. Remove in ascending coefficient order within this round's budget.
            let order = columns.indices.sorted { a, b in
                let ua = modules[columns[a].module].units[columns[a].unit], ub = modules[columns[b].module].units[columns[b].unit]
                if beta[a] != beta[b] { return beta[a] < beta[b] }
                if ua.prior != ub.prior { return ua.prior < ub.prior }
                return a < b
            }
            var taken = 0.0, heads = 0, neurons = 0
            for k in order {
                let unit = modules[columns[k].module].units[columns[k].unit]
                for m in unit.members {
                    if unit.isAttention { headScore[unit.block][m] = beta[k] } else { neuronScore[unit.block][m] = beta[k] }
                }
                guard budget - taken >= tolerance else { continue }
                guard taken + Double(unit.cost) <= budget + tolerance else { continue }
                for m in unit.members {
                    if unit.isAttention { removedHeads[unit.block][m] = true } else { removedNeurons[unit.block][m] = true }
                }
                taken += Double(unit.cost)
                if unit.isAttention { heads += 1 } else { neurons += 1 }
            }
            guard taken > 0 else { throw PruningError("bonsai: round \(round) could remove nothing; rate \(rate) is out of reach") }
            removed += taken
            let note = String(format: "round %d: loss %.4f before; %d sub-models, %d candidates; lasso penalty %.3g (%d of %d on the grid), CV tau %.3f over %d folds, %d non-zero; removed %d attention units and %d neurons (%.0f parameters, total %.4f of %.0f)",
                              round, stats.loss, total, columns.count, cv.fit.penalty, cv.best + 1, grid.count, cv.meanTau[cv.best], cv.folds,
                              beta.filter { $0 != 0 }.count, heads, neurons, taken, removed / N0, N0)
            notes.append(note)
            log("bonsai " + note)
        }

        // Selection in original indices.
        var blocks: [UnitSelection.Block] = []
        for (l, shape) in c.blocks.enumerated() {
            let r = shape.heads / shape.kvHeads
            let heads = (0..<shape.heads).filter { !removedHeads[l][$0] }
            let kv = r == 1 ? heads : Array(0..<shape.kvHeads)
            blocks.append(.init(index: l, kvHeads: kv, heads: heads, neurons: (0..<shape.mlpHidden).filter { !removedNeurons[l][$0] }))
        }
        let selection = UnitSelection(blocks: blocks, hiddenChannels: nil)
        try selection.validate(against: c)
        let measured = (headScore.flatMap { $0 } + neuronScore.flatMap { $0 }).compactMap { $0 }
        let ceiling = measured.max() ?? 0
        let scores = WidthScores(heads: headScore.map { $0.map { $0 ?? ceiling } }, neurons: neuronScore.map { $0.map { $0 ?? ceiling } })
        if round == 0 {
            lossBefore = model.calibrationLoss(cal, batchSize: batchSize)
            notes.append("rate \(rate) needs no round: nothing removed")
        }
        return Outcome(selection: selection, scores: scores, rounds: round, notes: notes,
                       forwardPasses: model.forwardPasses - passesBefore, calibrationLossBefore: lossBefore)
    }
}
