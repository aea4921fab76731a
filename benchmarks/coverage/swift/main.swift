// coverage-bench: how often PruneScale's 95 % intervals hold the truth (issue 14; see
// benchmarks/README.md). Data from the sample's true P2 law, fitted once per seed.
//
//   coverage-bench [--runs 9|30] [--phi X] [--offset X] [--noise X] [--method m1,m2,...]
//                  [--seeds S] [--first-seed F] [--replicates B] [--threads T]
//
// --runs 9 is the sample's design (n0 1e9, 3e9, 8e9 × rho 0.15, 0.25, 0.35); 30 adds sizes and
// rates (5 × 6) over the same ranges. 20 log-spaced checkpoints from 1e8 to 1e10 tokens either way.
// Prints one markdown row per method: coverage of every parameter, then predicted loss and the
// planner's token interval at each of the issue's three points, then the median relative width
// of the predicted-loss interval.
import Foundation
import ScalingLaw

/// Unbuffered, so each row shows as soon as its method is done.
func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("coverage-bench: \(message)\n".utf8))
    exit(2)
}

func parse() -> [String: String] {
    var out: [String: String] = [:]
    var args = CommandLine.arguments.dropFirst()
    while let flag = args.popFirst() {
        guard flag.hasPrefix("--"), let value = args.popFirst() else { fail("expected --flag value pairs, got \(flag)") }
        out[String(flag.dropFirst(2))] = value
    }
    return out
}
let options = parse()
@MainActor func number(_ key: String, _ fallback: Double) -> Double {
    guard let text = options[key] else { return fallback }
    guard let v = Double(text) else { fail("--\(key): not a number: \(text)") }
    return v
}

let runs = Int(number("runs", 9))
var design = SyntheticDesign(noise: number("noise", 0.002), correlation: number("phi", 0), runOffset: number("offset", 0))
switch runs {
case 9: break
case 30:
    design.n0 = [1e9, 1.7e9, 3e9, 5e9, 8e9]
    design.rho = [0.1, 0.15, 0.2, 0.25, 0.3, 0.35]
default: fail("--runs: 9 or 30")
}
let methods: [IntervalMethod] = (options["method"] ?? "pairs,wild-run").split(separator: ",").map { name in
    guard let m = IntervalMethod(rawValue: String(name)) else {
        fail("--method: unknown \(name) (\(IntervalMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    return m
}

let names = P2Law().parameterNames
let labels = CoveragePoint.issue14.map(\.label)
emit("design: \(runs) runs, noise \(design.noise), phi \(design.correlation), run offset \(design.runOffset); seeds \(Int(number("seeds", 200))), replicates \(Int(number("replicates", 200)))")
emit("| method | " + names.joined(separator: " | ") + " | " + labels.map { "loss \($0)" }.joined(separator: " | ") + " | "
    + labels.map { "tokens \($0)" }.joined(separator: " | ") + " | median width (rel.) | failed | seconds |")
emit("|---" + String(repeating: "|---", count: names.count + 3 * labels.count + 3) + "|")
for method in methods {
    var setup = CoverageSetup(method: method, design: design, seeds: Int(number("seeds", 200)), replicates: Int(number("replicates", 200)))
    setup.threads = Int(number("threads", 0))
    setup.firstSeed = UInt64(number("first-seed", 1))
    let start = Date()
    let r = Coverage.run(setup)
    let seconds = Date().timeIntervalSince(start)
    let f = { (c: Int) -> String in String(format: "%.3f", r.rate(c)) }
    var cells: [String] = r.parameters.map { f($0.covered) }
    cells += r.predictions.map { f($0.covered) }
    cells += r.plans.map { f($0.covered) }
    cells.append(r.relativeWidths.map { String(format: "%.2g", $0) }.joined(separator: " / "))
    cells.append("\(r.failures)")
    cells.append(String(format: "%.0f", seconds))
    emit("| \(method.rawValue) | " + cells.joined(separator: " | ") + " |")
    if options["spread"] != nil {
        emit("  bias/sd " + r.bias.map { String(format: "%.2f", $0) }.joined(separator: " ") + "; replicate sd / sd " + r.spreadRatio.map { String(format: "%.2f", $0) }.joined(separator: " "))
    }
}
