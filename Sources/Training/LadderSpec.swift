import Foundation
import TextData
import Persistence
import Model
import Yams
import YAMLSpec

/// A problem in a ladder spec, at its line: `file:line: problem`.
public struct SpecError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var file: String
    public var line: Int?
    public var message: String
    public init(file: String, line: Int?, _ message: String) {
        self.file = file
        self.line = line
        self.message = ModelError.oneLine(message)
    }
    public var description: String { line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)" }
    public var errorDescription: String? { description }
}

/// One model of the ladder: its shape and how it is pre-trained.
public struct LadderSize: Sendable, Equatable {
    public var name: String
    /// Line of the size's entry in the spec.
    public var line: Int
    public var config: LlamaConfig
    /// `tokens` is the budget: `tokensPerParam × non-embedding parameters`, rounded up.
    public var settings: TrainingSettings
    public var tokensPerParam: Double
    public var initStd: Double
    public var nonEmbeddingParams: Int { ParameterCounts(config).nonEmbedding }
    public var totalParams: Int { ParameterCounts(config).total }
}

/// The model ladder (`experiments/ladder.yaml`): where checkpoints go, the corpus, training
/// defaults, and the sizes. Training keys given at the top level are defaults that a size may
/// override. Every problem — YAML syntax, an unknown key, a wrong type, a missing field, an
/// impossible shape, a size name that is not a plain name (it becomes `output/NAME`), a budget
/// beyond 1e15 tokens, a model whose training (weights, gradients, AdamW moments, one
/// micro-batch's activations: `ModelFootprint`) exceeds this machine's memory — is reported as
/// `file:line: problem`, before anything is allocated.
///
///     output: out/ladder          # required; relative to the current directory
///     corpus: shakespeare         # optional: a named corpus or a directory of .txt files
///     tokens_per_param: 20        # budget = this × non-embedding parameters; at least 20
///     seq_len: 256                # training keys (defaults; each size may override):
///     batch: 16                   #   seq_len batch accumulate lr schedule warmup decay_fraction
///     lr: 3.0e-3                  #   min_lr_fraction weight_decay clip seed eval_tokens
///     sizes:                      #   eval_points save_every init_std tokens_per_param
///       - name: xs
///         hidden: 64              # required: name hidden layers heads mlp_hidden
///         layers: 2               # optional: kv_heads (= heads), vocab (must be 256),
///         heads: 4                #           tied_embeddings (false)
///         mlp_hidden: 192
public struct LadderSpec: Sendable, Equatable {
    public static let minimumTokensPerParam = 20.0

    public var file: String
    public var output: String
    public var corpus: String?
    public var sizes: [LadderSize]

    public func size(named name: String) throws -> LadderSize {
        guard let s = sizes.first(where: { $0.name == name }) else {
            throw SpecError(file: file, line: nil, "no size named '\(name)' (sizes: \(sizes.map(\.name).joined(separator: ", ")))")
        }
        return s
    }

    public static func load(path: String) throws -> LadderSpec {
        let text: String
        do { text = try TextInput.read(path) } catch { throw SpecError(file: path, line: nil, "\(error)") }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> LadderSpec {
        let reader = SpecReader(file: file)
        return try reader.spec(try reader.nodes.compose(text))
    }
}

/// Walks the YAML tree, checking keys and types, with each node's line at hand.
struct SpecReader {
    let file: String
    var nodes: YAMLNodes<SpecError> { YAMLNodes(file: file) { line, _, message in SpecError(file: file, line: line, message) } }

    static let topKeys = ["output", "corpus", "sizes"]
    static let modelKeys = ["name", "hidden", "layers", "heads", "kv_heads", "mlp_hidden", "vocab", "tied_embeddings"]
    static let trainingKeys = ["seq_len", "batch", "accumulate", "lr", "schedule", "warmup", "decay_fraction", "min_lr_fraction",
                               "weight_decay", "clip", "seed", "eval_tokens", "eval_points", "save_every", "init_std", "tokens_per_param"]

    /// Letters, digits, '_' and '-', starting with a letter or digit: safe as a directory name.
    static func isPlainName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.unicodeScalars.count <= 64 else { return false }
        func alnum(_ u: Unicode.Scalar) -> Bool { u.isASCII && (u.properties.isAlphabetic || ("0"..."9").contains(u)) }
        return alnum(first) && s.unicodeScalars.allSatisfy { alnum($0) || $0 == "_" || $0 == "-" }
    }

    func double(_ node: Node, _ key: String) throws -> Double {
        let text = try nodes.scalar(node, key, "a number")
        guard let v = Double(text.replacingOccurrences(of: "_", with: "")), v.isFinite else {
            throw nodes.fail(node, "'\(key)' must be a number, got '\(text)'")
        }
        return v
    }

    /// Integers may be written 64, 1_000 or 1e6.
    func int(_ node: Node, _ key: String) throws -> Int {
        let text = try nodes.scalar(node, key, "an integer")
        let clean = text.replacingOccurrences(of: "_", with: "")
        if let v = Int(clean) { return v }
        if let d = Double(clean), d.isFinite, d == d.rounded(), abs(d) < 9e15 { return Int(d) }
        throw nodes.fail(node, "'\(key)' must be an integer, got '\(text)'")
    }


    func bool(_ node: Node, _ key: String) throws -> Bool {
        let text = try nodes.scalar(node, key, "true or false")
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw nodes.fail(node, "'\(key)' must be true or false, got '\(text)'")
        }
    }

    /// Training keys as given (defaults or a size's overrides), each with its node for errors.
    typealias Given = [String: Node]

    func spec(_ root: Node) throws -> LadderSpec {
        var output: String?, corpus: String?, sizesNode: Node?
        var defaults: Given = [:]
        for (key, keyNode, value) in try nodes.entries(root, "the spec") {
            switch key {
            case "output": output = try nodes.string(value, key)
            case "corpus": corpus = try nodes.string(value, key)
            case "sizes": sizesNode = value
            default:
                guard Self.trainingKeys.contains(key) else { throw nodes.unknown(keyNode, key, in: "the spec", known: Self.topKeys + Self.trainingKeys) }
                defaults[key] = value
            }
        }
        guard let output else { throw nodes.fail(root, "missing 'output' (the directory checkpoints are written under)") }
        guard let sizesNode else { throw nodes.fail(root, "missing 'sizes' (a list of model sizes)") }
        guard case .sequence(let list) = sizesNode, !list.isEmpty else { throw nodes.fail(sizesNode, "'sizes' must be a non-empty list") }
        var sizes: [LadderSize] = []
        for node in list {
            let s = try size(node, defaults: defaults)
            if sizes.contains(where: { $0.name == s.name }) { throw nodes.fail(node, "duplicate size name '\(s.name)'") }
            sizes.append(s)
        }
        return LadderSpec(file: file, output: output, corpus: corpus, sizes: sizes)
    }

    func size(_ node: Node, defaults: Given) throws -> LadderSize {
        var model: [String: Node] = [:]
        var given = defaults
        for (key, keyNode, value) in try nodes.entries(node, "a size") {
            if Self.modelKeys.contains(key) { model[key] = value } else if Self.trainingKeys.contains(key) { given[key] = value } else {
                throw nodes.unknown(keyNode, key, in: "a size", known: Self.modelKeys + Self.trainingKeys)
            }
        }
        func required(_ key: String) throws -> Node {
            guard let v = model[key] else {
                let name = model["name"].flatMap { try? nodes.string($0, "name") }.map { "size '\($0)'" } ?? "this size"
                throw nodes.fail(node, "\(name) is missing '\(key)'")
            }
            return v
        }
        let nameNode = try required("name")
        let name = try nodes.string(nameNode, "name")
        // The name becomes a directory under `output`: a path (`a/b`, `../x`) would write elsewhere.
        guard Self.isPlainName(name) else {
            throw nodes.fail(nameNode, "size name '\(name)' must be a plain name: letters, digits, '_' and '-', starting with a letter or digit")
        }
        let hidden = try int(try required("hidden"), "hidden")
        let layers = try int(try required("layers"), "layers")
        let heads = try int(try required("heads"), "heads")
        let mlp = try int(try required("mlp_hidden"), "mlp_hidden")
        let kv = try model["kv_heads"].map { try int($0, "kv_heads") } ?? heads
        let vocab = try model["vocab"].map { try int($0, "vocab") } ?? 256
        let tied = try model["tied_embeddings"].map { try bool($0, "tied_embeddings") } ?? false
        for (key, v) in [("hidden", hidden), ("layers", layers), ("heads", heads), ("kv_heads", kv), ("mlp_hidden", mlp)] where v <= 0 {
            throw nodes.fail(model[key] ?? node, "'\(key)' must be positive, got \(v)")
        }
        guard hidden % heads == 0, (hidden / heads) % 2 == 0 else {
            throw nodes.fail(model["heads"], "hidden \(hidden) must split into \(heads) heads of an even width (RoPE)")
        }
        guard heads % kv == 0 else { throw nodes.fail(model["kv_heads"], "heads \(heads) must be a multiple of kv_heads \(kv)") }
        if let v = model["vocab"], vocab != 256 { throw nodes.fail(v, "vocab must be 256 (the byte tokenizer), got \(vocab)") }
        func atLeast(_ min: Int, _ v: Int, _ key: String, _ node: Node) throws -> Int {
            guard v >= min else { throw nodes.fail(node, "'\(key)' must be \(min == 0 ? "≥ 0" : "at least \(min)"), got \(v)") }
            return v
        }

        // Training settings: built-in defaults, then the spec's defaults, then the size's own.
        var s = TrainingSettings(tokens: 1)
        s.learningRate = 3e-3
        var tokensPerParam = 20.0, initStd = 0.02
        for (key, v) in given.sorted(by: { ($0.value.mark?.line ?? 0, $0.key) < ($1.value.mark?.line ?? 0, $1.key) }) {
            switch key {
            case "seq_len": s.sequenceLength = try atLeast(1, try int(v, key), key, v)
            case "batch": s.batchSize = try atLeast(1, try int(v, key), key, v)
            case "accumulate": s.accumulate = try atLeast(1, try int(v, key), key, v)
            case "lr": s.learningRate = try double(v, key)
            case "schedule":
                let text = try nodes.string(v, key)
                guard let kind = ScheduleKind(rawValue: text.lowercased()) else {
                    throw nodes.fail(v, "'schedule' must be one of \(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
                }
                s.schedule = kind
            case "warmup": s.warmupSteps = try atLeast(0, try int(v, key), key, v)
            case "decay_fraction": s.decayFraction = try double(v, key)
            case "min_lr_fraction": s.minLRFraction = try double(v, key)
            case "weight_decay": s.weightDecay = try double(v, key)
            case "clip": s.clip = try double(v, key)
            case "seed":
                let seed = try int(v, key)
                guard seed >= 0 else { throw nodes.fail(v, "'seed' must be ≥ 0, got \(seed)") }
                s.seed = UInt64(seed)
            case "eval_tokens": s.evalTokens = try atLeast(0, try int(v, key), key, v)
            case "eval_points": s.evalPoints = try atLeast(1, try int(v, key), key, v)
            case "save_every": s.saveEvery = try atLeast(0, try int(v, key), key, v)
            case "init_std": initStd = try double(v, key)
            case "tokens_per_param": tokensPerParam = try double(v, key)
            default: preconditionFailure("training key \(key) not handled")
            }
        }
        guard tokensPerParam >= LadderSpec.minimumTokensPerParam else {
            throw nodes.fail(given["tokens_per_param"], "tokens_per_param must be at least \(Int(LadderSpec.minimumTokensPerParam)), got \(tokensPerParam)")
        }
        guard initStd > 0 else { throw nodes.fail(given["init_std"], "'init_std' must be positive, got \(initStd)") }
        if let v = given["eval_points"], s.evalPoints > TrainingSettings.maxEvalPoints {
            throw nodes.fail(v, "'eval_points' must be at most \(TrainingSettings.maxEvalPoints), got \(s.evalPoints)")
        }

        // Size the model and its training in overflow-free arithmetic before building anything:
        // a huge hidden or layers would otherwise trap in an Int product or an allocation.
        let maxSequence = max(2048, s.sequenceLength)
        let footprint = ModelFootprint(vocabSize: vocab, hidden: hidden, headDim: hidden / heads,
                                       blockRuns: [(BlockShape(heads: heads, kvHeads: kv, mlpHidden: mlp), layers)],
                                       tiedEmbeddings: tied, maxSequence: maxSequence)
        do { try s.requireFits(footprint, place: "size '\(name)'") } catch let e as ModelError { throw nodes.fail(node, e.message) }
        let nonEmbedding = footprint.parameters - Double(vocab) * Double(hidden) * (tied ? 1 : 2)
        let budget = (tokensPerParam * nonEmbedding).rounded(.up)
        guard budget <= Double(TrainingSettings.maxTokens) else {
            throw nodes.fail(given["tokens_per_param"] ?? node, "size '\(name)': a budget of \(String(format: "%.3g", budget)) tokens (tokens_per_param \(tokensPerParam) × \(ModelFootprint.describe(count: nonEmbedding)) non-embedding parameters) exceeds the limit of 1e15")
        }
        s.tokens = Int(budget)
        do { try s.validate() } catch let e as TrainingError { throw nodes.fail(node, "size '\(name)': \(e.message)") }
        let config = LlamaConfig.uniform(vocabSize: vocab, hidden: hidden, layers: layers, heads: heads, kvHeads: kv, mlpHidden: mlp,
                                         tiedEmbeddings: tied, maxSequence: maxSequence)
        do { try config.validate() } catch let e as ModelError { throw nodes.fail(node, "size '\(name)': \(e.message)") }
        return LadderSize(name: name, line: node.mark?.line ?? 0, config: config, settings: s, tokensPerParam: tokensPerParam, initStd: initStd)
    }
}

// MARK: The run already saved for a size

extension LadderSize {
    /// Safetensors metadata key under which `pretrain` records a size's `init_std` (the only
    /// setting that decides the weights but lives in neither config.json nor trainer_state.json).
    public static let initStdKey = "prunescale.init_std"

    /// How the run saved in `directory` differs from this size, as "what saved → spec" phrases in
    /// the spec's key names: the model's shape (config.json), the settings that decide its weights
    /// (trainer_state.json: budget, batch, seq_len, lr, schedule, seed, ...) and init_std
    /// (checkpoint metadata). Empty when they match or nothing is saved. Evaluation and save
    /// settings are not compared: they do not change the model.
    /// - Parameter budget: the token budget asked for (default: the spec's); nil with
    ///   `ignoringBudget` to compare everything else only.
    public func differences(fromRunIn directory: URL, budget: Int? = nil, ignoringBudget: Bool = false) throws -> [String] {
        let fm = FileManager.default
        let configURL = directory.appendingPathComponent(Checkpoint.configFileName)
        let stateURL = directory.appendingPathComponent(Trainer.stateFileName)
        var out: [String] = []
        func compare<T: Equatable>(_ key: String, _ saved: T, _ wanted: T) {
            if saved != wanted { out.append("\(key) \(saved) → \(wanted)") }
        }
        if fm.fileExists(atPath: configURL.path) {
            let saved = try HFConfig.read(from: configURL), c = config
            compare("vocab", saved.vocabSize, c.vocabSize)
            compare("hidden", saved.hidden, c.hidden)
            compare("layers", saved.blocks.count, c.blocks.count)
            if Set(saved.blocks).count <= 1, let a = saved.blocks.first, let b = c.blocks.first {
                compare("heads", a.heads, b.heads)
                compare("kv_heads", a.kvHeads, b.kvHeads)
                compare("mlp_hidden", a.mlpHidden, b.mlpHidden)
            } else if saved.blocks != c.blocks {
                out.append("block shapes differ (the saved model was pruned or edited)")
            }
            compare("head width", saved.headDim, c.headDim)
            compare("tied_embeddings", saved.tiedEmbeddings, c.tiedEmbeddings)
            compare("max sequence", saved.maxSequence, c.maxSequence)
            compare("rope theta", saved.ropeTheta, c.ropeTheta)
            compare("norm eps", saved.normEps, c.normEps)
            compare("rope layout", saved.ropeLayout.rawValue, c.ropeLayout.rawValue)
            compare("biases", "\(saved.attentionBias)/\(saved.mlpBias)", "\(c.attentionBias)/\(c.mlpBias)")
            let weights = directory.appendingPathComponent(Checkpoint.weightsFileName)
            if fm.fileExists(atPath: weights.path), let std = try SafeTensors(contentsOf: weights).metadata[Self.initStdKey].flatMap(Double.init) {
                compare("init_std", std, initStd)
            }
        }
        if fm.fileExists(atPath: stateURL.path) {
            let a = try Trainer.loadState(from: directory).settings, b = settings
            if !ignoringBudget { compare("budget (tokens)", a.tokens, budget ?? b.tokens) }
            compare("batch", a.batchSize, b.batchSize)
            compare("seq_len", a.sequenceLength, b.sequenceLength)
            compare("accumulate", a.accumulate, b.accumulate)
            compare("lr", a.learningRate, b.learningRate)
            compare("schedule", a.schedule.rawValue, b.schedule.rawValue)
            compare("warmup", a.warmupSteps.map(String.init) ?? "default", b.warmupSteps.map(String.init) ?? "default")
            if a.schedule == .wsd || b.schedule == .wsd { compare("decay_fraction", a.decayFraction, b.decayFraction) }
            compare("min_lr_fraction", a.minLRFraction, b.minLRFraction)
            compare("weight_decay", a.weightDecay, b.weightDecay)
            compare("clip", a.clip, b.clip)
            compare("seed", a.seed, b.seed)
            compare("betas", "\(a.beta1)/\(a.beta2)", "\(b.beta1)/\(b.beta2)")
        }
        return out
    }

    /// Refuses, in one line, to train this size into `directory` when a different run is saved
    /// there (see `differences`). Never deletes anything: the user chooses another output folder
    /// or removes the old one.
    public func requireSavedRunMatches(in directory: URL, budget: Int? = nil, specFile: String) throws {
        let d = try differences(fromRunIn: directory, budget: budget)
        guard d.isEmpty else {
            throw TrainingError("size '\(name)': \(directory.path) holds a different run (saved → spec: \(d.joined(separator: ", "))); "
                                + "set another 'output' in \(specFile) or remove \(directory.path) yourself")
        }
    }
}
