// fit-bench: the PruneScale half of benchmarks/fit-vs-scipy (see benchmarks/README.md).
//
//   fit-bench prepare <dir> <p2.csv>   write the Chinchilla data set and both fit specs
//   fit-bench fit <spec.json> <reps>   time ScalingLawFitter.fit on one spec, print JSON
//   fit-bench p2-big <runs>            time P2 with 64 starts + 1000 bootstrap on 500 records
import Foundation
import ScalingLaw
import LossRecords

/// One benchmark fit: which law, which data, which start. Read by both sides.
struct Spec: Codable {
    var law: String
    var csv: String
    var names: [String]
    var start: [Double]
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fit-bench: \(message)\n".utf8))
    exit(2)
}

func law(named name: String) -> any Law {
    switch name {
    case "chinchilla": ChinchillaLaw()
    case "p2": P2Law()
    default: fail("unknown law \(name)")
    }
}

func nowNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func writeSpec(_ spec: Spec, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(spec).write(to: URL(fileURLWithPath: path))
}

/// 10 model sizes x 20 token counts from Hoffmann et al.'s Chinchilla fit, 0.5 % relative noise.
/// rho = 0, so the trained size n equals n0.
func prepare(dir: String, p2CSV: String) throws {
    let chinchilla = ChinchillaLaw()
    let truth = [1.69, 406.4, 410.7, 0.34, 0.28]
    let design = SyntheticDesign(n0: SyntheticDesign.logSpaced(7e7, 1.6e10, count: 10), rho: [0],
                                 tokens: SyntheticDesign.logSpaced(1e9, 1e12, count: 20), noise: 0.005, seed: 2022)
    let records = Synthetic.records(law: chinchilla, params: truth, design: design)
    let csv = dir + "/chinchilla.csv"
    try RecordWriter.csv(RecordSet(file: csv, records: records)).write(toFile: csv, atomically: true, encoding: .utf8)
    // Deliberately away from the truth (and from the law's default start) on every parameter.
    try writeSpec(Spec(law: "chinchilla", csv: csv, names: chinchilla.parameterNames, start: [2.5, 100, 2000, 0.25, 0.4]),
                  to: dir + "/chinchilla.json")
    let p2 = P2Law()
    try writeSpec(Spec(law: "p2", csv: p2CSV, names: p2.parameterNames, start: p2.defaultStart), to: dir + "/p2.json")
}

func options(start: [Double], names: [String]) -> FitOptions {
    var o = FitOptions()
    o.starts = 1
    o.overrides = Dictionary(uniqueKeysWithValues: zip(names, start.map { ParameterOverride(start: $0) }))
    o.bootstrap = 0
    o.threads = 1
    return o
}

func timeFit(specPath: String, reps: Int) throws {
    let spec = try JSONDecoder().decode(Spec.self, from: Data(contentsOf: URL(fileURLWithPath: specPath)))
    let law = law(named: spec.law)
    guard spec.names == law.parameterNames else { fail("\(specPath): parameter names \(spec.names) are not \(law.parameterNames)") }
    let records = try RecordReader.read(path: spec.csv).records
    let o = options(start: spec.start, names: spec.names)

    var analysis = try ScalingLawFitter.fit(records, law: law, options: o)
    for _ in 0..<max(10, reps / 10) { analysis = try ScalingLawFitter.fit(records, law: law, options: o) }   // warm-up
    var ms: [Double] = []
    ms.reserveCapacity(reps)
    for _ in 0..<reps {
        let t0 = nowNanoseconds()
        analysis = try ScalingLawFitter.fit(records, law: law, options: o)
        ms.append(Double(nowNanoseconds() - t0) / 1e6)
    }
    let r = analysis.result
    let params = r.parameterVector
    guard params.allSatisfy(\.isFinite), r.objectiveValue.isFinite else { fail("\(spec.law): the fit failed") }
    // Swift's Double description is round-trip exact and valid JSON for finite values.
    print("""
    {"law": "\(spec.law)", "records": \(records.count), "params": [\(params.map { "\($0)" }.joined(separator: ", "))], \
    "ssr": \(r.objectiveValue), "reps": \(reps), "median_ms": \(median(ms)), "min_ms": \(ms.min()!), \
    "samples_ms": [\(ms.map { "\($0)" }.joined(separator: ", "))]}
    """)
}

/// The issue's second goal: P2, 64 starts, 1000 cluster-bootstrap replicates, 500 records, all cores.
func p2Big(runs: Int) throws {
    let law = P2Law()
    let truth = [500.0, 2000, 1.0, 0.3, 0.35, -0.8, 0.05]
    let design = SyntheticDesign(n0: [5e8, 1e9, 3e9, 8e9, 2e10], rho: [0.1, 0.2, 0.3, 0.45],
                                 tokens: SyntheticDesign.logSpaced(1e8, 1e10, count: 25), noise: 0.002, seed: 7)
    let records = Synthetic.records(law: law, params: truth, design: design)
    precondition(records.count == 500)
    var o = FitOptions()
    o.starts = 64
    o.bootstrap = 1000
    o.threads = 0
    var seconds: [Double] = []
    var last: FitAnalysis?
    for _ in 0..<runs {
        let t0 = nowNanoseconds()
        last = try ScalingLawFitter.fit(records, law: law, options: o)
        seconds.append(Double(nowNanoseconds() - t0) / 1e9)
    }
    let r = last!.result
    let params = zip(r.parameterNames, r.parameterVector).map { "\($0)=\(String(format: "%.6g", $1))" }.joined(separator: " ")
    print("p2-big: \(records.count) records, starts \(r.starts.reachedBest)/\(r.starts.requested) reached best, "
          + "bootstrap \(r.bootstrap?.converged ?? 0)/\(r.bootstrap?.replicates ?? 0) converged, \(params)")
    print("p2-big: wall times (s) over \(runs) runs: \(seconds.map { String(format: "%.3f", $0) }.joined(separator: " "))")
    print(String(format: "p2_64starts_1000boot_500rec_s=%.3f", median(seconds)))
}

func integer(_ s: String) -> Int {
    guard let n = Int(s), n > 0 else { fail("'\(s)' is not a positive integer") }
    return n
}

let args = CommandLine.arguments
do {
    switch args.count > 1 ? args[1] : "" {
    case "prepare" where args.count == 4: try prepare(dir: args[2], p2CSV: args[3])
    case "fit" where args.count == 4: try timeFit(specPath: args[2], reps: integer(args[3]))
    case "p2-big" where args.count <= 3: try p2Big(runs: args.count == 3 ? integer(args[2]) : 3)
    default: fail("usage: fit-bench prepare <dir> <p2.csv> | fit <spec.json> <reps> | p2-big [runs]")
    }
} catch {
    fail("\(error)")
}
