import Foundation
import Fuzzing
import Model
import Testing
@testable import Training

@Suite struct LadderSpecFuzzTests {
    static let dictionary = [
        "output: ", "corpus: ", "sizes:\n", "  - name: ", "    hidden: ", "    layers: ", "    heads: ", "    kv_heads: ",
        "    mlp_hidden: ", "    vocab: ", "    tied_embeddings: ", "seq_len: ", "batch: ", "accumulate: ", "lr: ", "schedule: wsd",
        "warmup: ", "decay_fraction: ", "min_lr_fraction: ", "weight_decay: ", "clip: ", "seed: ", "eval_tokens: ", "eval_points: ",
        "save_every: ", "init_std: ", "tokens_per_param: ", "\n", "  ", "- ", ": ", "[", "]", "{", "}", "&a ", "*a", "!!int ", "!!str ",
        "~", "null", "'", "\"", "#", "---\n", "...\n", "|\n", ">\n", "? ", "../../x", "a/b", "1e18", "9223372036854775807",
        "800000000000", "-1", "0", "1_000", ".inf", ".nan", "\t",
    ]

    /// The ladder YAML reader on mutated specs: it parses or refuses as `ladder.yaml[:line]:
    /// problem` on one line; whatever it accepts has plain size names, valid settings, a budget
    /// within limits and a model this machine can train, and its step plans can be computed
    /// (no Int overflow). A crash ends the process; rerun with the index printed by a long run.
    @Test func ladderReaderSucceedsOrFailsInOneLine() throws {
        let real = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../experiments/ladder.yaml")
        let variant = """
            output: out/v
            corpus: texts
            schedule: wsd
            decay_fraction: 0.3
            accumulate: 2
            eval_points: 3
            sizes:
              - {name: t1, hidden: 16, layers: 1, heads: 2, mlp_hidden: 24, tied_embeddings: yes, seq_len: 64, batch: 2, init_std: 0.05}
              - name: t-2
                hidden: 32
                layers: 2
                heads: 4
                kv_heads: 1
                mlp_hidden: 48
                vocab: 256
                warmup: 5
                seed: 7
                save_every: 10
                tokens_per_param: 40
            """
        let seeds = [try Data(contentsOf: real), Data(LadderSpecTests.good.utf8), Data(variant.utf8)]
        let mutator = Mutator(seeds: seeds, dictionary: Self.dictionary)
        let n = Mutator.count(default: 8000)
        var failures = 0, parsed = 0, slowest = (seconds: 0.0, index: -1)
        let start = ProcessInfo.processInfo.systemUptime
        for i in 0..<n where failures < 5 {
            let text = String(decoding: mutator.input(i), as: UTF8.self)
            let t0 = ProcessInfo.processInfo.systemUptime
            do {
                let spec = try LadderSpec.parse(text, file: "ladder.yaml")
                parsed += 1
                for s in spec.sizes {
                    #expect(SpecReader.isPlainName(s.name), "fuzz input \(i): size name '\(s.name)'")
                    try s.settings.validate()
                    try s.settings.requireFits(s.config, place: s.name)
                    _ = (s.settings.totalSteps, s.settings.evalSteps, s.settings.lrSchedule, s.nonEmbeddingParams)
                }
            } catch let e as SpecError {
                let d = e.description
                if !d.hasPrefix("ladder.yaml") || d.contains("\n") || (e.line.map { $0 < 1 } ?? false) {
                    failures += 1
                    Issue.record("fuzz input \(i): error is not one line naming ladder.yaml: \(d)")
                }
            } catch {
                failures += 1
                Issue.record("fuzz input \(i): not a SpecError: \(type(of: error)) \(error)")
            }
            let dt = ProcessInfo.processInfo.systemUptime - t0
            if dt > slowest.seconds { slowest = (dt, i) }
        }
        if n > 10_000 {
            print("fuzz ladder.yaml \(n) inputs in \(String(format: "%.1f", ProcessInfo.processInfo.systemUptime - start)) s, \(parsed) parsed; slowest input \(slowest.index): \(String(format: "%.3f", slowest.seconds)) s")
        }
        #expect(parsed > 0)
        #expect(slowest.seconds < 5, "fuzz input \(slowest.index) took \(slowest.seconds) s")
    }
}
