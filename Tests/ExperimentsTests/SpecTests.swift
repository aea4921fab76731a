import Experiments
import Foundation
import ScalingLaw
import Testing

/// Spec problems are reported at their place (`file:line:column`) before any work.
@Suite struct SpecTests {
    static let valid = """
        name: t
        output: out/t
        bases: [xs, s]
        pruning:
          grid:
            - structure: width
              methods: [wanda, minitron]
              rates: [0.15, 0.25]
            - pattern: "2:4"
              methods: [sparsegpt]
        posttrain:
          tokens: 1e5
          eval_points: 6
        fit:
          laws: [p2, chinchilla]
        plans:
          - {n0: 8e9, rho: 0.25, loss0: 2.0, target-loss: 2.1}
        """

    @Test func aValidSpecParses() throws {
        let s = try ExperimentSpec.parse(Self.valid, file: "t.yaml")
        #expect(s.bases == [.ladder(name: "xs"), .ladder(name: "s")])
        #expect(s.pruning.entries.count == 2)
        #expect(s.posttrain.tokens == 1e5)
        #expect(s.fit.laws == ["p2", "chinchilla"])
        #expect(s.plans.first?.target.n0 == 8e9)
        #expect(s.fit.interval == .arWild)
        let wild = try ExperimentSpec.parse(Self.valid.replacingOccurrences(of: "laws: [p2, chinchilla]", with: "laws: [p2, chinchilla]\n  interval: wild-run"), file: "t.yaml")
        #expect(wild.fit.interval == .wildRun)
    }

    /// Each edit of the valid spec, and where its error must point.
    @Test(arguments: [
        ("eval_points: 6", "eval_pointz: 6", "13:3", "unknown key 'eval_pointz'"),
        ("tokens: 1e5", "tokens: many", "12:11", "'tokens' must be a number"),
        ("rates: [0.15, 0.25]", "rates: [0.15, 1.25]", "8:21", "a rate must lie in (0, 1)"),
        ("methods: [wanda, minitron]", "methods: [wanda, minitrom]", "7:24", "unknown width method 'minitrom'"),
        ("methods: [sparsegpt]", "methods: [flap]", "10:17", "unknown N:M method 'flap'"),
        ("laws: [p2, chinchilla]", "laws: [p2, chinchila]", "15:14", "chinchila"),
        ("structure: width", "structure: breadth", "6:18", "unknown structure 'breadth'"),
        ("bases: [xs, s]", "bases: [xs, xs]", "3:13", "listed twice"),
        ("  eval_points: 6", "  eval_points: [6]", "13:16", "'eval_points' must be a number, got a list"),
        ("target-loss: 2.1}", "target-loss: 2.1, recovery: 0.5}", "17:5", "exactly one criterion"),
        ("pattern: \"2:4\"", "pattern: \"4:2\"", "9:16", "4:2"),
        ("laws: [p2, chinchilla]", "laws: [p2, chinchilla]\n  interval: wild", "16:13", "unknown interval 'wild'"),
    ])
    func badSpecsNameTheirPlace(find: String, replace: String, place: String, fragment: String) throws {
        let text = Self.valid.replacingOccurrences(of: find, with: replace)
        #expect(text != Self.valid)
        do {
            _ = try ExperimentSpec.parse(text, file: "t.yaml")
            Issue.record("accepted: \(replace)")
        } catch let e as ExperimentSpecError {
            #expect(e.description.hasPrefix("t.yaml:\(place): "), "\(e)")
            #expect(e.description.contains(fragment), "\(e)")
            #expect(!e.description.contains("\n"))
        }
    }

    /// A base is a ladder size, a checkpoint folder or a pretrained model (a .gguf file or a
    /// model name), exactly one of them; a model base is named after the reference by default.
    @Test func basesOfEveryKind() throws {
        let text = Self.valid.replacingOccurrences(of: "bases: [xs, s]", with: """
            bases:
              - xs
              - {checkpoint: out/pruned, name: p}
              - {model: smollm2}
              - {model: models/tiny.gguf, name: t}
            """)
        let s = try ExperimentSpec.parse(text, file: "t.yaml")
        #expect(s.bases == [.ladder(name: "xs"), .checkpoint(name: "p", path: "out/pruned"), .model(name: "smollm2", reference: "smollm2"),
                            .model(name: "t", reference: "models/tiny.gguf")])
        let both = Self.valid.replacingOccurrences(of: "bases: [xs, s]", with: "bases:\n  - {size: xs, model: smollm2}")
        #expect(throws: ExperimentSpecError.self) { try ExperimentSpec.parse(both, file: "t.yaml") }
        do { _ = try ExperimentSpec.parse(both, file: "t.yaml") } catch {
            #expect("\(error)".hasPrefix("t.yaml:4:5: ") && "\(error)".contains("not several"), "\(error)")
        }
    }

    /// A spec that cannot be read says why in words: a device reads as empty (not "permission
    /// denied"), a folder is a folder, bytes that are not UTF-8 are said to be so.
    @Test func unreadableSpecsSayWhy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-spec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = dir.appendingPathComponent("bin.yaml")
        try Data([0xFF, 0xFE, 0x00, 0x41]).write(to: binary)
        for (path, message) in [("/dev/null", "/dev/null:1:1: the spec is empty"), (dir.path, "\(dir.path): cannot read: is a directory, not a file"),
                                (binary.path, "\(binary.path): not UTF-8 text"), (dir.appendingPathComponent("no.yaml").path, "no.yaml: cannot read: no such file")] {
            do {
                _ = try ExperimentSpec.load(path: path)
                Issue.record("read \(path)")
            } catch { #expect("\(error)".hasSuffix(message) || "\(error)" == message, "\(error)") }
        }
    }

    @Test func missingPiecesAreNamed() throws {
        for (text, fragment) in [("output: o\nposttrain: {tokens: 10}", "needs 'bases'"),
                                 ("output: o\nbases: [xs]", "needs 'posttrain'"),
                                 ("output: o\nbases: [xs]\nposttrain: {eval_points: 3}", "needs a budget"),
                                 ("", "empty"),
                                 ("output: o\nbases: [xs\n", "YAML syntax")] {
            #expect(throws: ExperimentSpecError.self) { try ExperimentSpec.parse(text, file: "x.yaml") }
            do { _ = try ExperimentSpec.parse(text, file: "x.yaml") } catch { #expect("\(error)".contains(fragment), "\(error)") }
        }
    }
}

/// The specs the repository ships parse: a spec that drifted from the schema fails here, not in a
/// user's hours-long run. Ladder specs (a `sizes:` list) are the pretrain command's, not runs.
@Suite struct ShippedSpecTests {
    @Test func everyExperimentSpecInTheRepositoryParses() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("experiments")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        var parsed: [String] = []
        for name in files {
            let path = dir.appendingPathComponent(name).path
            let text = try String(contentsOfFile: path, encoding: .utf8)
            if text.split(separator: "\n").contains(where: { $0.hasPrefix("sizes:") }) { continue }
            _ = try ExperimentSpec.load(path: path)
            parsed.append(name)
        }
        #expect(parsed.contains("paper-replica.yaml") && parsed.contains("paper-replica-long.yaml") && parsed.contains("quickstart.yaml"), "\(parsed)")
    }
}
