import Foundation
import Model
import Testing
@testable import Training
import TextData

@Suite struct LadderSpecTests {
    static let good = """
        output: out/test
        tokens_per_param: 25
        seq_len: 128
        lr: 3e-3
        sizes:
          - name: a
            hidden: 32
            layers: 2
            heads: 4
            kv_heads: 2
            mlp_hidden: 64
          - name: b
            hidden: 64
            layers: 2
            heads: 4
            mlp_hidden: 128
            lr: 1e-3
            batch: 8
        """

    /// The spec with line `line` (1-based) replaced.
    func replacing(_ line: Int, with text: String) -> String {
        var lines = Self.good.components(separatedBy: "\n")
        lines[line - 1] = text
        return lines.joined(separator: "\n")
    }

    func error(_ text: String) -> SpecError? {
        do {
            _ = try LadderSpec.parse(text, file: "ladder.yaml")
            return nil
        } catch let e as SpecError {
            return e
        } catch {
            Issue.record("not a SpecError: \(error)")
            return nil
        }
    }

    @Test func parsesSizesDefaultsAndOverrides() throws {
        let spec = try LadderSpec.parse(Self.good, file: "ladder.yaml")
        #expect(spec.output == "out/test" && spec.sizes.map(\.name) == ["a", "b"])
        let a = spec.sizes[0], b = spec.sizes[1]
        #expect(a.config.blocks.count == 2 && a.config.blocks[0] == BlockShape(heads: 4, kvHeads: 2, mlpHidden: 64) && a.config.headDim == 8)
        #expect(b.config.blocks[0].kvHeads == 4)  // kv_heads defaults to heads
        #expect(a.settings.learningRate == 3e-3 && b.settings.learningRate == 1e-3)
        #expect(a.settings.sequenceLength == 128 && b.settings.batchSize == 8 && a.settings.batchSize == 16)
        #expect(a.settings.tokens == 25 * ParameterCounts(a.config).nonEmbedding)
        #expect(a.line == 6 && b.line == 12)
    }

    /// A ladder spec names its corpus as every other command does.
    @Test func aLadderCorpusResolvesLikeAnyCorpusName() throws {
        let spec = try LadderSpec.parse("output: out\ncorpus: study\nsizes:\n  - {name: xs, hidden: 64, layers: 2, heads: 4, mlp_hidden: 176}\n", file: "l.yaml")
        guard case .mixed = try CorpusSource.resolve(spec.corpus!) else { Issue.record("ladder corpus: study is not the mix"); return }
    }

    @Test func errorsNameFileAndLine() {
        // Unknown key in a size, at its line.
        #expect(error(replacing(9, with: "    head: 4"))?.description.hasPrefix("ladder.yaml:9: unknown key 'head' in a size") == true)
        // Unknown top-level key.
        #expect(error(replacing(3, with: "sequence: 128"))?.description.hasPrefix("ladder.yaml:3: unknown key 'sequence'") == true)
        // Wrong type.
        #expect(error(replacing(7, with: "    hidden: wide"))?.description == "ladder.yaml:7: 'hidden' must be an integer, got 'wide'")
        #expect(error(replacing(4, with: "lr: [1, 2]"))?.description == "ladder.yaml:4: 'lr' must be a number, got a list")
        // Missing field: reported at the size's entry.
        #expect(error(replacing(11, with: "    vocab: 256"))?.description == "ladder.yaml:6: size 'a' is missing 'mlp_hidden'")
        #expect(error(replacing(1, with: "# no output"))?.description.hasPrefix("ladder.yaml:2: missing 'output'") == true)
        // Impossible shapes and budgets.
        #expect(error(replacing(10, with: "    kv_heads: 3"))?.description.hasPrefix("ladder.yaml:10: heads 4 must be a multiple of kv_heads 3") == true)
        #expect(error(replacing(2, with: "tokens_per_param: 10"))?.description.hasPrefix("ladder.yaml:2: tokens_per_param must be at least 20") == true)
        #expect(error(replacing(11, with: "    mlp_hidden: 64\n    vocab: 512"))?.description.hasPrefix("ladder.yaml:12: vocab must be 256") == true)
        // YAML syntax.
        #expect(error(replacing(8, with: "    layers: [2"))?.description.hasPrefix("ladder.yaml:") == true)
        #expect(error(replacing(8, with: "    layers: [2"))?.line != nil)
        #expect(error(replacing(12, with: "  - name: a"))?.description == "ladder.yaml:12: duplicate size name 'a'")
    }

    @Test func theDefaultLadderSpansEightfoldAtTwentyTokensPerParameter() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../experiments/ladder.yaml").standardizedFileURL.path
        let spec = try LadderSpec.load(path: path)
        #expect(spec.sizes.count >= 4)
        let counts = spec.sizes.map(\.nonEmbeddingParams)
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 < $1 })
        #expect(Double(counts.last!) / Double(counts.first!) >= 8)
        for s in spec.sizes {
            #expect(s.config.vocabSize == 256)
            #expect(Double(s.settings.tokens) >= 20 * Double(s.nonEmbeddingParams))
        }
    }
}
