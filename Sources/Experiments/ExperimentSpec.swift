import Foundation
import Persistence
import Pruning
import ScalingLaw
import LossRecords
import Training
import TextData
import Yams

/// An experiment: which base models to prune, how, how to post-train each pruned model, which
/// laws to fit to the curves and which budgets to plan. Read from YAML (`experiments/*.yaml`,
/// every key documented in `experiments/README.md`); every problem is `file:line:column: problem`
/// before any work starts.
public struct ExperimentSpec: Sendable {
    public var file: String
    public var name: String
    /// Store and report folder (relative to the current directory).
    public var output: String
    /// The ladder spec that base names refer to.
    public var ladder: String
    public var corpus: String
    public var bases: [BaseSpec]
    public var pruning: PruningGrid
    public var posttrain: PostTrainRecipe
    public var fit: FitSettings
    public var plans: [PlanSpec]
}

public enum BaseSpec: Sendable, Equatable {
    /// A size of the ladder spec: pre-trained by the run when its folder holds no finished run.
    case ladder(name: String)
    /// A checkpoint folder (ours or a Hugging Face Llama folder).
    case checkpoint(name: String, path: String)
    /// A pretrained model: a `.gguf` file or a model name (`smollm2`, fetched into the cache).
    case model(name: String, reference: String)

    public var name: String {
        switch self {
        case .ladder(let n), .checkpoint(let n, _), .model(let n, _): n
        }
    }
}

/// One row of the pruning grid: a structure with methods × rates, or an N:M pattern × methods.
public struct GridEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case depth(rates: [Double])
        case width(rates: [Double])
        case pattern(NMPattern)
    }
    public var kind: Kind
    public var methods: [String]
    public var options: [String: String]
}

public struct PruningGrid: Sendable, Equatable {
    public var entries: [GridEntry] = []
    /// An unpruned cell per base, post-trained with the same recipe: the reference for recovery.
    public var control = true
    public var calibrationWindows = 32
    public var batch = 8
    public var seed: UInt64 = 0
}

/// How a cell's points are measured.
public enum PostTrainProtocol: String, Sendable, Codable, CaseIterable {
    /// One run per cell, evaluated along the way (the P2 paper's protocol).
    case curve
    /// A warmup-stable-decay trunk with a decay branch at every budget: each point is a run
    /// annealed for exactly that budget.
    case lossAtBudget = "loss-at-budget"
}

/// How every cell is post-trained and evaluated.
public struct PostTrainRecipe: Sendable, Equatable, Codable {
    /// Budget in tokens, or per non-embedding parameter of the base (exactly one is set).
    public var tokens: Double?
    public var tokensPerParam: Double?
    /// Log-spaced evaluations from one step to the budget; the loss right after pruning (0 tokens) is always recorded.
    public var evalPoints = 12
    public var protocolKind: PostTrainProtocol = .curve
    public var learningRate = 3e-4
    public var schedule: ScheduleKind = .constant
    public var warmup = 0
    public var decayFraction = 0.2
    public var minLRFraction = 0.1
    public var weightDecay = 0.1
    public var batch = 16
    public var sequenceLength = 256
    public var accumulate = 1
    public var clip = 1.0
    public var evalTokens = 65_536
    public var seeds: [UInt64] = [0]
    public var split: DataSplit = .posttrain
    /// Checkpoints per run for resuming (evenly spaced); 0: only the end.
    public var checkpoints = 10

    enum CodingKeys: String, CodingKey {
        case tokens, tokensPerParam = "tokens_per_param", evalPoints = "eval_points", protocolKind = "protocol"
        case learningRate = "lr", schedule, warmup, decayFraction = "decay_fraction", minLRFraction = "min_lr_fraction"
        case weightDecay = "weight_decay", batch, sequenceLength = "seq", accumulate, clip, evalTokens = "eval_tokens", seeds, split, checkpoints
    }

    /// The budget for a base of `nonEmbedding` parameters.
    public func budget(nonEmbedding: Int) -> Int {
        if let tokens { return Int(tokens.rounded()) }
        return Int((tokensPerParam! * Double(nonEmbedding)).rounded(.up))
    }
}

public struct FitSettings: Sendable, Equatable {
    public var laws = ["p2", "p2-nodelta", "p2-additive"]
    public var holdouts: [String] = ["tokens=0.2", "n0=max", "rho=max"]
    public var starts = 16
    public var bootstrap = 100
    public var seed: UInt64 = 0
    public var confidence = 0.95
    public var space: FitSpace = .linear
    public var objective: Objective = .lsq
    /// How the bootstrap replicates are made (`prunescale fit --interval`).
    public var interval: IntervalMethod = FitOptions().interval
    /// Fit each pruning family (structure and method) on its own, as the paper does.
    public var perFamily = true
}

/// A budget to plan for a target model, under one criterion.
public struct PlanSpec: Sendable, Equatable {
    public var label: String
    public var target: PlanTarget
    public var criterion: PlanCriterion
    /// Which family's fit plans it (nil: the pooled fit of every pruned cell).
    public var family: String?
}

extension ExperimentSpec {
    public static func load(path: String) throws -> ExperimentSpec {
        let text: String
        do { text = try TextInput.read(path) } catch { throw ExperimentSpecError(file: path, "\(error)") }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> ExperimentSpec {
        let root = try SpecNodes.compose(text, file: file)
        return try SpecParser(nodes: SpecNodes(file: file)).spec(root)
    }
}

/// Walks the spec's YAML tree into an `ExperimentSpec`.
struct SpecParser {
    let nodes: SpecNodes
    var file: String { nodes.file }

    func spec(_ root: Node) throws -> ExperimentSpec {
        let top = try nodes.mapping(root, "the spec", allowed: ["name", "output", "ladder", "corpus", "bases", "pruning", "posttrain", "fit", "plans"])
        let name = try top["name"].map { try nodes.string($0, "name") } ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), !name.isEmpty, !name.hasPrefix(".") else {
            throw nodes.fail(top["name"], "'name' must be a plain name (letters, digits, - _ .), got '\(name)'")
        }
        let output = try nodes.string(try nodes.required(top, "output", in: root, "the spec"), "output")
        let ladder = try top["ladder"].map { try nodes.string($0, "ladder") } ?? "experiments/ladder.yaml"
        let corpus = try top["corpus"].map { try nodes.string($0, "corpus") } ?? "shakespeare"
        let basesNode = try nodes.required(top, "bases", in: root, "the spec")
        let bases = try nodes.list(basesNode, "bases").map(base)
        guard !bases.isEmpty else { throw nodes.fail(basesNode, "'bases' lists no model") }
        var seen = Set<String>()
        for (b, n) in zip(bases, nodes.list(basesNode, "bases")) where !seen.insert(b.name).inserted {
            throw nodes.fail(n, "base '\(b.name)' is listed twice")
        }
        let pruning = try top["pruning"].map(grid) ?? PruningGrid()
        let posttrain = try recipe(try nodes.required(top, "posttrain", in: root, "the spec"))
        let fit = try top["fit"].map(fitSettings) ?? FitSettings()
        let plans = try top["plans"].map { try nodes.list($0, "plans").enumerated().map { try plan($1, index: $0) } } ?? []
        return ExperimentSpec(file: file, name: name, output: output, ladder: ladder, corpus: corpus, bases: bases,
                              pruning: pruning, posttrain: posttrain, fit: fit, plans: plans)
    }

    func base(_ node: Node) throws -> BaseSpec {
        if case .scalar = node { return .ladder(name: try nodes.string(node, "bases")) }
        let m = try nodes.mapping(node, "a base", allowed: ["size", "checkpoint", "model", "name"])
        guard [m["size"], m["checkpoint"], m["model"]].compactMap({ $0 }).count <= 1 else {
            throw nodes.fail(node, "a base is one of a ladder 'size', a 'checkpoint' folder or a 'model', not several")
        }
        if let size = m["size"] { return .ladder(name: try nodes.string(size, "size")) }
        if let model = m["model"] {
            let reference = try nodes.string(model, "model")
            let name = try m["name"].map { try nodes.string($0, "name") } ?? URL(fileURLWithPath: reference).deletingPathExtension().lastPathComponent
            return .model(name: name, reference: reference)
        }
        guard let path = m["checkpoint"] else {
            throw nodes.fail(node, "a base needs 'size' (a ladder size), 'checkpoint' (a folder) or 'model' (a .gguf file or a model name)")
        }
        let p = try nodes.string(path, "checkpoint")
        let name = try m["name"].map { try nodes.string($0, "name") } ?? URL(fileURLWithPath: p).lastPathComponent
        return .checkpoint(name: name, path: p)
    }

    func grid(_ node: Node) throws -> PruningGrid {
        let m = try nodes.mapping(node, "pruning", allowed: ["grid", "control", "calibration_windows", "batch", "seed"])
        var g = PruningGrid()
        if let c = m["control"] { g.control = try nodes.bool(c, "control") }
        if let c = m["calibration_windows"] { g.calibrationWindows = try nodes.int(c, "calibration_windows", min: 1, max: 100_000) }
        if let b = m["batch"] { g.batch = try nodes.int(b, "batch", min: 1, max: 4096) }
        if let s = m["seed"] { g.seed = UInt64(try nodes.int(s, "seed")) }
        g.entries = try m["grid"].map { try nodes.list($0, "grid").map(entry) } ?? []
        return g
    }

    func entry(_ node: Node) throws -> GridEntry {
        let m = try nodes.mapping(node, "a grid entry", allowed: ["structure", "pattern", "methods", "method", "rates", "rate", "options"])
        guard let methodsNode = m["methods"] ?? m["method"] else { throw nodes.fail(node, "a grid entry needs 'methods'") }
        let methodNodes = nodes.list(methodsNode, "methods")
        let methods = try methodNodes.map { try nodes.string($0, "methods").lowercased() }
        var options: [String: String] = [:]
        if let o = m["options"] {
            let map = try nodes.mapping(o, "options", allowed: ["sub-models", "round-fraction", "rounds"])
            for (k, v) in map { options[k] = try nodes.scalar(v, k, "a value") }
        }
        if let p = m["pattern"] {
            guard m["structure"] == nil, m["rates"] == nil, m["rate"] == nil else {
                throw nodes.fail(node, "an N:M 'pattern' sets the rate itself; drop 'structure' and 'rates'")
            }
            let pattern: NMPattern
            do { pattern = try NMPattern(parsing: try nodes.string(p, "pattern")) } catch { throw nodes.fail(p, "\(error)") }
            for (name, n) in zip(methods, methodNodes) where SemiStructuredMethod(rawValue: name) == nil {
                throw nodes.fail(n, "unknown N:M method '\(name)' (known: \(SemiStructuredMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return GridEntry(kind: .pattern(pattern), methods: methods, options: options)
        }
        guard let s = m["structure"] else { throw nodes.fail(node, "a grid entry needs 'structure' (depth or width) with 'rates', or an N:M 'pattern'") }
        guard let ratesNode = m["rates"] ?? m["rate"] else { throw nodes.fail(node, "a \(try nodes.string(s, "structure")) entry needs 'rates'") }
        let rates = try nodes.list(ratesNode, "rates").map { n -> Double in
            let r = try nodes.double(n, "rates")
            guard r > 0, r < 1 else { throw nodes.fail(n, "a rate must lie in (0, 1), got \(r) (the unpruned control is 'control: true')") }
            return r
        }
        switch try nodes.string(s, "structure").lowercased() {
        case "depth":
            for (name, n) in zip(methods, methodNodes) where DepthMethod(rawValue: name) == nil {
                throw nodes.fail(n, "unknown depth method '\(name)' (known: \(DepthMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return GridEntry(kind: .depth(rates: rates), methods: methods, options: options)
        case "width":
            for (name, n) in zip(methods, methodNodes) where WidthMethod(rawValue: name) == nil {
                throw nodes.fail(n, "unknown width method '\(name)' (known: \(WidthMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return GridEntry(kind: .width(rates: rates), methods: methods, options: options)
        case let other:
            throw nodes.fail(s, "unknown structure '\(other)' (known: depth, width; N:M uses 'pattern')")
        }
    }

    func recipe(_ node: Node) throws -> PostTrainRecipe {
        let keys = ["tokens", "tokens_per_param", "eval_points", "protocol", "lr", "schedule", "warmup", "decay_fraction", "min_lr_fraction",
                    "weight_decay", "batch", "seq", "accumulate", "clip", "eval_tokens", "seeds", "seed", "split", "checkpoints"]
        let m = try nodes.mapping(node, "posttrain", allowed: keys)
        var r = PostTrainRecipe()
        switch (m["tokens"], m["tokens_per_param"]) {
        case (let t?, nil):
            let v = try nodes.double(t, "tokens")
            guard v >= 1, v <= 1e13 else { throw nodes.fail(t, "'tokens' must be in [1, 1e13], got \(v)") }
            r.tokens = v
        case (nil, let t?):
            let v = try nodes.double(t, "tokens_per_param")
            guard v > 0, v <= 1e6 else { throw nodes.fail(t, "'tokens_per_param' must be in (0, 1e6], got \(v)") }
            r.tokensPerParam = v
        case (_?, let t?): throw nodes.fail(t, "give 'tokens' or 'tokens_per_param', not both")
        case (nil, nil): throw nodes.fail(node, "posttrain needs a budget: 'tokens' or 'tokens_per_param'")
        }
        if let n = m["eval_points"] { r.evalPoints = try nodes.int(n, "eval_points", min: 2, max: 1000) }
        if let n = m["protocol"] { r.protocolKind = try nodes.choice(n, "protocol", PostTrainProtocol.self) }
        if let n = m["lr"] {
            r.learningRate = try nodes.double(n, "lr")
            guard r.learningRate > 0, r.learningRate < 10 else { throw nodes.fail(n, "'lr' must be in (0, 10), got \(r.learningRate)") }
        }
        if let n = m["schedule"] { r.schedule = try nodes.choice(n, "schedule", ScheduleKind.self) }
        if let n = m["warmup"] { r.warmup = try nodes.int(n, "warmup", max: 10_000_000) }
        for (key, path) in [("decay_fraction", \PostTrainRecipe.decayFraction), ("min_lr_fraction", \.minLRFraction)] {
            guard let n = m[key] else { continue }
            let v = try nodes.double(n, key)
            guard (0...1).contains(v) else { throw nodes.fail(n, "'\(key)' must lie in [0, 1], got \(v)") }
            r[keyPath: path] = v
        }
        if r.protocolKind == .lossAtBudget, r.decayFraction <= 0 { throw nodes.fail(m["decay_fraction"], "loss-at-budget needs a decay_fraction above 0") }
        if let n = m["weight_decay"] { r.weightDecay = try nodes.double(n, "weight_decay"); guard r.weightDecay >= 0 else { throw nodes.fail(n, "'weight_decay' must be ≥ 0") } }
        if let n = m["clip"] { r.clip = try nodes.double(n, "clip"); guard r.clip >= 0 else { throw nodes.fail(n, "'clip' must be ≥ 0") } }
        if let n = m["batch"] { r.batch = try nodes.int(n, "batch", min: 1, max: 65_536) }
        if let n = m["seq"] { r.sequenceLength = try nodes.int(n, "seq", min: 2, max: 1 << 20) }
        if let n = m["accumulate"] { r.accumulate = try nodes.int(n, "accumulate", min: 1, max: 65_536) }
        if let n = m["eval_tokens"] { r.evalTokens = try nodes.int(n, "eval_tokens", max: 1 << 40) }
        if let n = m["checkpoints"] { r.checkpoints = try nodes.int(n, "checkpoints", max: 10_000) }
        if m["seeds"] != nil, m["seed"] != nil { throw nodes.fail(m["seed"], "give 'seeds' (a list) or 'seed', not both") }
        if let n = m["seeds"] ?? m["seed"] {
            let list = nodes.list(n, "seeds")
            r.seeds = try list.map { UInt64(try nodes.int($0, "seeds")) }
            guard !r.seeds.isEmpty, Set(r.seeds).count == r.seeds.count else { throw nodes.fail(n, "'seeds' must list distinct seeds") }
        }
        if let n = m["split"] {
            let text = try nodes.string(n, "split")
            guard let s = DataSplit(rawValue: text), s != .eval else { throw nodes.fail(n, "'split' must be posttrain or pretrain, got '\(text)'") }
            r.split = s
        }
        return r
    }

    func fitSettings(_ node: Node) throws -> FitSettings {
        let m = try nodes.mapping(node, "fit", allowed: ["laws", "holdouts", "starts", "bootstrap", "seed", "confidence", "space", "objective", "interval", "per_family"])
        var f = FitSettings()
        if let n = m["laws"] {
            let list = nodes.list(n, "laws")
            f.laws = try list.map { l in
                let name = try nodes.string(l, "laws")
                do { _ = try LawRegistry.law(named: name) } catch { throw nodes.fail(l, "\(error)") }
                return name
            }
            guard !f.laws.isEmpty else { throw nodes.fail(n, "'laws' lists no law") }
        }
        if let n = m["holdouts"] {
            f.holdouts = try nodes.list(n, "holdouts").map { h in
                let text = try nodes.string(h, "holdouts")
                do { _ = try Holdout(parsing: text) } catch { throw nodes.fail(h, "\(error)") }
                return text
            }
        }
        if let n = m["starts"] { f.starts = try nodes.int(n, "starts", min: 1, max: 10_000) }
        if let n = m["bootstrap"] { f.bootstrap = try nodes.int(n, "bootstrap", max: 100_000) }
        if let n = m["seed"] { f.seed = UInt64(try nodes.int(n, "seed")) }
        if let n = m["confidence"] {
            f.confidence = try nodes.double(n, "confidence")
            guard f.confidence > 0, f.confidence < 1 else { throw nodes.fail(n, "'confidence' must lie in (0, 1), got \(f.confidence)") }
        }
        if let n = m["space"] { f.space = try nodes.choice(n, "space", FitSpace.self) }
        if let n = m["objective"] { f.objective = try nodes.choice(n, "objective", Objective.self) }
        if let n = m["interval"] { f.interval = try nodes.choice(n, "interval", IntervalMethod.self) }
        if let n = m["per_family"] { f.perFamily = try nodes.bool(n, "per_family") }
        return f
    }

    func plan(_ node: Node, index: Int) throws -> PlanSpec {
        let m = try nodes.mapping(node, "a plan", allowed: ["label", "n0", "rho", "n", "loss0", "target-loss", "recovery", "loss-pruned", "max-slope", "family"])
        func number(_ key: String, positive: Bool = true) throws -> Double? {
            guard let n = m[key] else { return nil }
            let v = try nodes.double(n, key)
            if positive, v <= 0 { throw nodes.fail(n, "'\(key)' must be positive, got \(v)") }
            return v
        }
        let target = PlanTarget(n0: try number("n0"), n: try number("n"), rho: try number("rho"), loss0: try number("loss0"))
        if let n = m["rho"], let r = target.rho, r >= 1 { throw nodes.fail(n, "'rho' must lie in (0, 1), got \(r)") }
        let criteria = ["target-loss", "recovery", "max-slope"].filter { m[$0] != nil }
        guard criteria.count == 1 else { throw nodes.fail(node, "a plan needs exactly one criterion: target-loss, recovery or max-slope") }
        let criterion: PlanCriterion
        switch criteria[0] {
        case "target-loss": criterion = .targetLoss(try number("target-loss")!)
        case "max-slope": criterion = .maxSlope(try number("max-slope")!)
        default:
            let f = try number("recovery")!
            guard f < 1 else { throw nodes.fail(m["recovery"], "'recovery' is a fraction in (0, 1), got \(f)") }
            // Without loss-pruned, the run's own pruned-cell loss at 0 tokens for the matching rate is not known for a
            // target outside the grid: it must be given.
            guard let lp = try number("loss-pruned") else { throw nodes.fail(node, "a recovery plan needs 'loss-pruned' (the loss right after pruning)") }
            criterion = .recovery(fraction: f, lossPruned: lp)
        }
        let label = try m["label"].map { try nodes.string($0, "label") } ?? "plan-\(index + 1)"
        return PlanSpec(label: label, target: target, criterion: criterion, family: try m["family"].map { try nodes.string($0, "family") })
    }
}
