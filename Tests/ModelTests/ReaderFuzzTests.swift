import Foundation
import Fuzzing
@testable import Model
import Testing

/// Runs `body` on inputs 0..<count of `mutator` and checks the reader contract: success, or an
/// error whose text is one line starting with `prefix` (the file). Never a crash or a hang: a
/// crash ends the test process (the input index is in the last "fuzz" line printed by a long
/// run), and the slowest input must stay under a few seconds. At most a few failures are
/// recorded, each with its index (`mutator.input(index)` reproduces it).
func fuzzReader(_ mutator: Mutator, count: Int, prefix: String, _ body: (Int, Data) throws -> Void) {
    var failures = 0, accepted = 0, slowest = (seconds: 0.0, index: -1)
    let start = ProcessInfo.processInfo.systemUptime
    for i in 0..<count where failures < 5 {
        let input = mutator.input(i)
        let t0 = ProcessInfo.processInfo.systemUptime
        do {
            try body(i, input)
            accepted += 1
        } catch {
            let text = "\(error)"
            if !text.hasPrefix(prefix) || text.contains("\n") || (error as? ModelError) == nil {
                failures += 1
                Issue.record("fuzz input \(i): error is not one ModelError line naming \(prefix): \(type(of: error)) \(text)")
            }
        }
        let dt = ProcessInfo.processInfo.systemUptime - t0
        if dt > slowest.seconds { slowest = (dt, i) }
    }
    let wall = ProcessInfo.processInfo.systemUptime - start
    if count > 10_000 { print("fuzz \(prefix) \(count) inputs (\(accepted) accepted) in \(String(format: "%.1f", wall)) s; slowest input \(slowest.index): \(String(format: "%.3f", slowest.seconds)) s") }
    #expect(slowest.seconds < 5, "fuzz input \(slowest.index) took \(slowest.seconds) s")
}

@Suite struct ReaderFuzzTests {
    /// Small but complete: biases (so zero q/k/v and gate/up tensors), GQA, uneven blocks,
    /// metadata; the weights are saved by the library itself.
    static let config: LlamaConfig = {
        var c = LlamaConfig.uniform(vocabSize: 8, hidden: 4, layers: 2, heads: 2, kvHeads: 1, mlpHidden: 3, maxSequence: 16,
                                    attentionBias: true, mlpBias: true)
        c.blocks[1] = BlockShape(heads: 1, kvHeads: 1, mlpHidden: 2)
        c.ropeLayout = .interleaved
        return c
    }()

    static func savedCheckpoint() throws -> (dir: URL, weights: Data, config: Data) {
        let dir = try checkpointScratchDirectory("fuzz-seed")
        let n = ParameterLayout(config).totalCount
        try Checkpoint.save(config: config, parameters: (0..<n).map { Float($0 % 5) * 0.25 - 0.5 }, to: dir,
                            metadata: ["n0": "1234", "loss0": "2.5"])
        return (dir, try Data(contentsOf: dir.appendingPathComponent("model.safetensors")),
                try Data(contentsOf: dir.appendingPathComponent("config.json")))
    }

    static let safetensorsDictionary = [
        #""dtype""#, #""shape""#, #""data_offsets""#, #""__metadata__""#, #""F32""#, #""F16""#, #""BF16""#, #""F64""#,
        #""I64""#, #""BOOL""#, #""F8_E4M3""#, "{", "}", "[", "]", ":", ",", "\"", #"\u0000"#, #"\ud800"#, "null", "true",
        "[0,0]", "[]", "[1099511627776]", "18446744073709551615", "-1", "1e400", #""model.norm.weight""#, #""lm_head.weight""#,
    ]

    /// The safetensors reader on mutated checkpoints: it parses or refuses in one line; what it
    /// accepts never promises more data than the file holds (so reading cannot allocate beyond
    /// the file's size), every readable tensor converts, and `Checkpoint.load` over such a file
    /// loads or refuses in one line too.
    @Test func safetensorsReaderSucceedsOrFailsInOneLine() throws {
        let saved = try Self.savedCheckpoint()
        defer { try? FileManager.default.removeItem(at: saved.dir) }
        let mixed = rawSafeTensors(#"{"__metadata__":{"format":"pt"},"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[4,8]},"d":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},"i":{"dtype":"I64","shape":[1],"data_offsets":[16,24]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[24,24]}}"#,
                                   checkpointLittleEndian([UInt16(0x3C00), 0x7C00, 0x3F80, 0xFF80]) + checkpointLittleEndian([Double(0.5).bitPattern, UInt64(7)]))
        let mutator = Mutator(seeds: [saved.weights, mixed], dictionary: Self.safetensorsDictionary)
        let loadDir = try checkpointScratchDirectory("fuzz-load")
        defer { try? FileManager.default.removeItem(at: loadDir) }
        try saved.config.write(to: loadDir.appendingPathComponent("config.json"))
        let weightsURL = loadDir.appendingPathComponent("model.safetensors")
        var parsed = 0
        fuzzReader(mutator, count: Mutator.count(default: 8000), prefix: "fuzz.safetensors: ") { i, input in
            let file = try SafeTensors(data: input, source: "fuzz.safetensors")
            parsed += 1
            for t in file.tensors {
                #expect(t.dataOffsets.upperBound <= input.count, "fuzz input \(i): tensor \(t.name) lies beyond the file")
                if SafeTensors.DType.readable.contains(t.dtype) { #expect(try file.floats(t.name).count == t.count) }
            }
            // Through the checkpoint loader, which names the file by its path.
            try input.write(to: weightsURL)
            do { _ = try Checkpoint.load(from: loadDir) } catch let e as ModelError {
                #expect(e.message.hasPrefix(weightsURL.path + ": ") && !e.message.contains("\n"), "fuzz input \(i): \(e.message)")
            }
        }
        #expect(parsed > 0, "no mutated input parsed: the seeds or mutations are too destructive to test acceptance")
    }

    /// A length field or a tensor claiming 2^40 bytes is refused from the header alone.
    @Test func hugeClaimsAreRefusedBeforeAllocating() {
        var claim = Data()
        withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { claim.append(contentsOf: $0) }
        claim.append(contentsOf: Array("{}".utf8))
        #expect(checkpointErrorMessage { _ = try SafeTensors(data: claim, source: "f") } == "f: not a safetensors file: its header length field says 1099511627776 bytes")
        let tensor = rawSafeTensors(#"{"w":{"dtype":"F32","shape":[274877906944],"data_offsets":[0,1099511627776]}}"#)
        #expect(checkpointErrorMessage { _ = try SafeTensors(data: tensor, source: "f") }?.hasPrefix("f: truncated: header says 1099.5 GB") == true)
    }

    /// Found by the config fuzz run (input 4264): a raw control byte after a backslash was quoted
    /// into the message, splitting it over two lines. Names from a file can hold line breaks too.
    @Test func bytesAndNamesFromTheFileStayOnOneLine() {
        let escape = checkpointErrorMessage { _ = try HFConfig.decode(Data("{\"a\": \"x\\\ny\"}".utf8), source: "c.json") }
        #expect(escape == "c.json: malformed JSON (invalid escape '\\' + byte 0x0A at byte 10)")
        let name = rawSafeTensors(#"{"a\nb\u2028c":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0])
        let message = checkpointErrorMessage { _ = try SafeTensors(data: name, source: "f") }
        #expect(message == #"f: corrupt header: tensor "a\nb\u{2028}c": unknown dtype "F99""#)
    }

    static let configDictionary = [
        #""vocab_size""#, #""hidden_size""#, #""num_hidden_layers""#, #""num_attention_heads""#, #""num_key_value_heads""#,
        #""intermediate_size""#, #""head_dim""#, #""max_position_embeddings""#, #""rope_theta""#, #""rms_norm_eps""#,
        #""tie_word_embeddings""#, #""attention_bias""#, #""mlp_bias""#, #""prunescale_blocks""#, #""prunescale_rope_layout""#,
        #""prunescale_future""#, #""rope_scaling""#, #""rope_parameters""#, #""hidden_act""#, #""model_type""#, #""architectures""#,
        #""heads""#, #""kv_heads""#, #""mlp_hidden""#, #""half-split""#, #""interleaved""#, #""silu""#, #""gelu""#, #""llama""#,
        #"{"rope_type": "linear", "factor": 2.0}"#, #"{"rope_theta": 500000.0}"#, "null", "true", "false", "[]", "{}", ":", ",",
        "9223372036854775807", "4294967296", "-1", "0", "1e400", "1.5",
    ]

    /// The config.json reader on mutated configs: it decodes or refuses in one line naming the
    /// file; whatever it accepts has countable parameters (no Int overflow) and survives a
    /// write/read round trip unchanged.
    @Test func configReaderSucceedsOrFailsInOneLine() throws {
        let saved = try Self.savedCheckpoint()
        defer { try? FileManager.default.removeItem(at: saved.dir) }
        let uniform = try HFConfig.encode(LlamaConfig.uniform(vocabSize: 256, hidden: 64, layers: 2, heads: 4, kvHeads: 2, mlpHidden: 96,
                                                               tiedEmbeddings: true))
        let seeds = [saved.config, uniform, Data(transformersConfigJSON.utf8),
                     editedConfig(["rope_theta": nil, "rope_parameters": #"{"rope_type": "default", "rope_theta": 500000.0}"#, "head_dim": nil])]
        let mutator = Mutator(seeds: seeds, dictionary: Self.configDictionary)
        var decoded = 0
        fuzzReader(mutator, count: Mutator.count(default: 20000), prefix: "fuzz/config.json: ") { i, input in
            let c = try HFConfig.decode(input, source: "fuzz/config.json")
            decoded += 1
            _ = ParameterCounts(c)
            let again = try HFConfig.decode(try HFConfig.encode(c), source: "fuzz/config.json")
            #expect(again == c, "fuzz input \(i): config changed in a write/read round trip")
        }
        #expect(decoded > 0)
    }
}
