import Foundation
import Model
import Training
import TextData

/// What a base model is, as far as results depend on it: a ladder size (its shape and
/// pre-training settings) or a checkpoint (its path and the hash of its files).
public struct BaseIdentity: Sendable, Codable, Equatable {
    public var name: String
    public var kind: String
    /// Ladder: the size's config.json and pre-training settings; checkpoint: the files' SHA-256.
    public var fingerprint: String
    public var nonEmbedding: Int
}

/// The pruning a cell applies (nil for the control).
public struct CellPruning: Sendable, Codable, Equatable {
    public var structure: String
    public var method: String
    /// Target rate; for N:M the masked share of the block matrices (N/M).
    public var rate: Double?
    public var pattern: String?
    public var options: [String: String]
    public var calibrationWindows: Int
    public var batch: Int
    public var seed: UInt64
    public var corpus: String

    enum CodingKeys: String, CodingKey {
        case structure, method, rate, pattern, options, calibrationWindows = "calibration_windows", batch, seed, corpus
    }
}

/// A cell's resolved configuration: everything its numbers depend on, and nothing else (not the
/// code version, not paths of the store). Its hash is the cell's identity.
public struct CellConfig: Sendable, Codable, Equatable {
    public var base: BaseIdentity
    public var pruning: CellPruning?
    public var protocolKind: PostTrainProtocol
    /// The post-training run (curve protocol) or the longest budget's trunk (loss-at-budget).
    public var training: TrainingSettings
    /// Loss-at-budget: the budgets, each annealed on its own decay branch.
    public var budgets: [Int]?
    public var corpus: String
    public var split: DataSplit

    enum CodingKeys: String, CodingKey {
        case base, pruning, protocolKind = "protocol", training, budgets, corpus, split
    }

    /// Canonical JSON (sorted keys), hashed into the id.
    public func canonicalJSON() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try! e.encode(self)
    }
}

/// One unit of the grid: a base, a pruning (or none), a seed, post-trained and evaluated.
public struct Cell: Sendable, Equatable {
    public var id: String
    public var config: CellConfig
    public var seed: UInt64 { config.training.seed }
    public var base: String { config.base.name }
    public var structure: String { config.pruning?.structure ?? "control" }
    public var method: String { config.pruning?.method ?? "none" }
    public var rate: Double { config.pruning?.rate ?? 0 }
    public var pattern: String? { config.pruning?.pattern }
    /// The pruning family the laws are fitted per: `structure:method`, or `control`.
    public var family: String { config.pruning.map { "\($0.structure):\($0.method)" } ?? "control" }

    public init(config: CellConfig) {
        self.config = config
        id = String(SHA256.hex(config.canonicalJSON()).prefix(16))
    }

    /// A readable name: base, structure, method, rate or pattern, seed.
    public var label: String {
        guard let p = config.pruning else { return "\(base)/control/s\(seed)" }
        let r = p.pattern ?? String(format: "%.2f", p.rate ?? 0)
        return "\(base)/\(p.structure)/\(p.method)/\(r)/s\(seed)"
    }

    /// Labels carried into every exported record.
    public var labels: [String: String] {
        ["base": base, "structure": structure, "method": method, "rate": Self.number(rate), "pattern": pattern ?? "",
         "seed": "\(seed)", "cell": id, "family": family, "protocol": config.protocolKind.rawValue]
    }

    static func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)" }
}

/// Turns a spec and its resolved bases into the grid of cells.
public enum CellPlanner {
    /// `corpus`: the corpus's identity (`ExperimentRunner.corpusIdentity`), not its path.
    public static func cells(_ spec: ExperimentSpec, bases: [BaseIdentity], corpus: String) -> [Cell] {
        var out: [Cell] = []
        let r = spec.posttrain
        for base in bases {
            var prunings: [CellPruning?] = spec.pruning.control ? [nil] : []
            for e in spec.pruning.entries {
                for method in e.methods {
                    func make(_ structure: String, rate: Double?, pattern: String?) -> CellPruning {
                        CellPruning(structure: structure, method: method, rate: rate, pattern: pattern, options: e.options,
                                    calibrationWindows: spec.pruning.calibrationWindows, batch: spec.pruning.batch, seed: spec.pruning.seed,
                                    corpus: corpus)
                    }
                    switch e.kind {
                    case .depth(let rates): prunings += rates.map { make("depth", rate: $0, pattern: nil) }
                    case .width(let rates): prunings += rates.map { make("width", rate: $0, pattern: nil) }
                    case .pattern(let p): prunings.append(make("n:m", rate: Double(p.n) / Double(p.m), pattern: "\(p.n):\(p.m)"))
                    }
                }
            }
            for pruning in prunings {
                for seed in r.seeds {
                    out.append(Cell(config: config(r, base: base, pruning: pruning, seed: seed, corpus: corpus)))
                }
            }
        }
        return out
    }

    static func config(_ r: PostTrainRecipe, base: BaseIdentity, pruning: CellPruning?, seed: UInt64, corpus: String) -> CellConfig {
        let budget = r.budget(nonEmbedding: base.nonEmbedding)
        var s = TrainingSettings(tokens: budget)
        s.batchSize = r.batch
        s.sequenceLength = r.sequenceLength
        s.accumulate = r.accumulate
        s.learningRate = r.learningRate
        s.schedule = r.protocolKind == .lossAtBudget ? .wsd : r.schedule
        s.warmupSteps = r.warmup
        s.decayFraction = r.decayFraction
        s.minLRFraction = r.minLRFraction
        s.weightDecay = r.weightDecay
        s.clip = r.clip
        s.seed = seed
        s.evalTokens = r.evalTokens
        s.evalPoints = r.evalPoints
        s.saveEvery = r.checkpoints > 0 ? max(1, s.totalSteps / r.checkpoints) : 0
        var budgets: [Int]?
        if r.protocolKind == .lossAtBudget {
            // Budgets at the log-spaced evaluation points (whole steps); the trunk is the longest one.
            // A branch forks where its decay starts; it must start after the warmup for the trunk's
            // prefix to be exactly the branch's own schedule.
            budgets = s.evalSteps.filter { $0 - max(1, Int((Double($0) * r.decayFraction).rounded())) >= r.warmup }.map { $0 * s.tokensPerStep }
            s.evalAt = [budget]
        }
        return CellConfig(base: base, pruning: pruning, protocolKind: r.protocolKind, training: s, budgets: budgets, corpus: corpus, split: r.split)
    }
}
