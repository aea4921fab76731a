import Foundation

/// Which coordinates of a head vector RoPE rotates together.
public enum RopeLayout: String, Sendable, Codable, CaseIterable {
    /// Hugging Face's rotate-half: pairs `(i, i + d/2)`.
    case halfSplit = "half-split"
    /// GGUF / Meta's original layout: pairs `(2i, 2i + 1)` (GGUF stores q/k permuted for it).
    case interleaved
}

/// The shape of one decoder block. Width pruning makes blocks differ, so each carries its own.
public struct BlockShape: Sendable, Equatable, Hashable, Codable {
    /// Query heads.
    public var heads: Int
    /// Key/value heads (grouped-query attention); divides `heads`.
    public var kvHeads: Int
    /// SwiGLU hidden width (rows of gate/up, columns of down).
    public var mlpHidden: Int

    public init(heads: Int, kvHeads: Int, mlpHidden: Int) {
        self.heads = heads
        self.kvHeads = kvHeads
        self.mlpHidden = mlpHidden
    }
}

/// A Llama-style decoder: embeddings, blocks of (RMSNorm, attention with RoPE and GQA, residual,
/// RMSNorm, SwiGLU MLP, residual), final RMSNorm, LM head (tied to the embeddings or not).
/// Linear weights are `[out, in]`, row-major, as Hugging Face stores them: `y = x W^T`.
public struct LlamaConfig: Sendable, Equatable, Codable {
    public var vocabSize: Int
    /// Residual width.
    public var hidden: Int
    /// Width of one attention head (the same in every block).
    public var headDim: Int
    public var blocks: [BlockShape]
    public var ropeTheta: Double
    public var ropeLayout: RopeLayout
    public var normEps: Double
    public var tiedEmbeddings: Bool
    /// Longest sequence the RoPE tables are built for.
    public var maxSequence: Int
    /// o_proj adds a bias `[hidden]` (FLAP's compensation for removed heads). Hugging Face's
    /// `attention_bias`, which there also means q/k/v biases; those are written as zeros.
    public var attentionBias: Bool
    /// down_proj adds a bias `[hidden]` (FLAP's compensation for removed neurons). Hugging Face's
    /// `mlp_bias`, which there also means gate/up biases; those are written as zeros.
    public var mlpBias: Bool

    public init(vocabSize: Int, hidden: Int, headDim: Int, blocks: [BlockShape], ropeTheta: Double = 10_000,
                ropeLayout: RopeLayout = .halfSplit, normEps: Double = 1e-5, tiedEmbeddings: Bool = false, maxSequence: Int = 2048,
                attentionBias: Bool = false, mlpBias: Bool = false) {
        self.vocabSize = vocabSize
        self.hidden = hidden
        self.headDim = headDim
        self.blocks = blocks
        self.ropeTheta = ropeTheta
        self.ropeLayout = ropeLayout
        self.normEps = normEps
        self.tiedEmbeddings = tiedEmbeddings
        self.maxSequence = maxSequence
        self.attentionBias = attentionBias
        self.mlpBias = mlpBias
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize, hidden, headDim, blocks, ropeTheta, ropeLayout, normEps, tiedEmbeddings, maxSequence, attentionBias, mlpBias
    }

    // Hand-written only so that JSON saved before the bias flags existed still decodes (as no biases);
    // encoding stays synthesized.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hidden = try c.decode(Int.self, forKey: .hidden)
        headDim = try c.decode(Int.self, forKey: .headDim)
        blocks = try c.decode([BlockShape].self, forKey: .blocks)
        ropeTheta = try c.decode(Double.self, forKey: .ropeTheta)
        ropeLayout = try c.decode(RopeLayout.self, forKey: .ropeLayout)
        normEps = try c.decode(Double.self, forKey: .normEps)
        tiedEmbeddings = try c.decode(Bool.self, forKey: .tiedEmbeddings)
        maxSequence = try c.decode(Int.self, forKey: .maxSequence)
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false
    }

    /// Every block the same: the shape models are pre-trained in.
    public static func uniform(vocabSize: Int, hidden: Int, layers: Int, heads: Int, kvHeads: Int? = nil, mlpHidden: Int,
                               ropeTheta: Double = 10_000, tiedEmbeddings: Bool = false, maxSequence: Int = 2048,
                               attentionBias: Bool = false, mlpBias: Bool = false) -> LlamaConfig {
        precondition(hidden % heads == 0, "hidden \(hidden) is not a multiple of heads \(heads)")
        return LlamaConfig(vocabSize: vocabSize, hidden: hidden, headDim: hidden / heads,
                           blocks: Array(repeating: BlockShape(heads: heads, kvHeads: kvHeads ?? heads, mlpHidden: mlpHidden), count: layers),
                           ropeTheta: ropeTheta, tiedEmbeddings: tiedEmbeddings, maxSequence: maxSequence,
                           attentionBias: attentionBias, mlpBias: mlpBias)
    }

    /// Problems that make the configuration unusable, in words: a non-positive or non-finite
    /// field, an impossible head split, or a model too large for this machine to hold (checked in
    /// overflow-free arithmetic before anything is allocated; see `ModelFootprint`).
    public func validate() throws {
        func fail(_ m: String) -> ModelError { ModelError("model config: \(m)") }
        guard vocabSize > 0, hidden > 0, headDim > 0 else { throw fail("vocabSize, hidden and headDim must be positive") }
        guard headDim % 2 == 0 else { throw fail("headDim \(headDim) must be even for RoPE") }
        guard maxSequence > 0, normEps > 0, ropeTheta > 0 else { throw fail("maxSequence, normEps and ropeTheta must be positive") }
        guard normEps.isFinite, ropeTheta.isFinite else { throw fail("normEps and ropeTheta must be finite, got \(normEps) and \(ropeTheta)") }
        for (i, b) in blocks.enumerated() {
            guard b.heads > 0, b.kvHeads > 0, b.mlpHidden > 0 else { throw fail("block \(i): heads, kvHeads and mlpHidden must be positive") }
            guard b.heads % b.kvHeads == 0 else { throw fail("block \(i): \(b.heads) heads are not a multiple of \(b.kvHeads) KV heads") }
        }
        try ModelFootprint(self).requireModelFits(place: "model config")
    }
}

/// A model-level error (bad config, shape mismatch, unreadable checkpoint), one line.
public struct ModelError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var message: String
    public init(_ message: String) { self.message = Self.oneLine(message) }

    /// `text` with line breaks and other control characters shown as escapes (`\n`, `\u{85}`):
    /// names quoted from a file (a tensor, a JSON key, a YAML value) can hold anything, and an
    /// error must stay one line. Every error type of the engine builds its message through this.
    public static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isBreaking) else { return text }
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            guard isBreaking(u) else { out.append(u); continue }
            let escaped = u == "\n" ? "\\n" : u == "\r" ? "\\r" : u == "\t" ? "\\t" : "\\u{\(String(u.value, radix: 16))}"
            out.append(contentsOf: escaped.unicodeScalars)
        }
        return String(out)
    }

    static func isBreaking(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }
    public var description: String { message }
    public var errorDescription: String? { message }
}
