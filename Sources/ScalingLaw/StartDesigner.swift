import Foundation
import Randomness

/// Starting points for a multi-start fit.
enum StartDesigner {
    /// The law's default start with the user's overrides and fixed values applied.
    static func baseStart(law: any Law, options: FitOptions) throws -> [Double] {
        var p = law.defaultStart
        for (name, value) in options.start {
            guard let j = law.parameterIndex(name) else {
                throw LawError("--start \(name): the law has no parameter '\(name)' (it has \(law.parameterNames.joined(separator: ", ")))")
            }
            p[j] = value
        }
        for (name, value) in options.fixed { if let j = law.parameterIndex(name) { p[j] = value } }
        return p
    }

    static func starts(law: any Law, map: ParameterMap, options: FitOptions) throws -> [[Double]] {
        guard options.starts >= 1 else { throw LawError("--starts must be at least 1") }
        for key in options.grid.keys where law.parameterIndex(key) == nil {
            throw LawError("--grid \(key): the law has no parameter '\(key)'")
        }
        let base = try baseStart(law: law, options: options)
        let ranges = law.startRanges
        let free = map.free
        var points: [[Double]]
        switch options.design {
        case .random:
            // Latin hypercube: each free parameter's range cut into M strata, one draw per stratum,
            // strata shuffled independently per parameter. The base start always comes first.
            let m = options.starts - 1
            points = [base]
            if m > 0 {
                var rng = SeededRandom(seed: options.seed)
                var columns: [[Double]] = []
                for j in free {
                    var strata = Array(0..<m)
                    strata.shuffle(using: &rng)
                    columns.append(strata.map { ranges[j].at((Double($0) + rng.uniform()) / Double(m)) })
                }
                for i in 0..<m {
                    var p = base
                    for (c, j) in free.enumerated() { p[j] = columns[c][i] }
                    points.append(p)
                }
            }
        case .grid:
            let defaultLevels = max(2, Int(Foundation.pow(Double(options.starts), 1 / Double(free.count)).rounded(.down)))
            let levels: [[Double]] = free.map { j in
                if let given = options.grid[law.parameterNames[j]], !given.isEmpty { return given }
                return (0..<defaultLevels).map { ranges[j].at(Double($0) / Double(defaultLevels - 1)) }
            }
            // In a Double: a product of level counts can pass Int.max. FitOptions keeps an
            // explicit grid under 1e15 points, and default levels multiply to about --starts, so
            // the index stays exact (below 2^53).
            let total = levels.reduce(1.0) { $0 * Double($1.count) }
            // Thin a larger factorial evenly (a fixed stride through its mixed-radix index).
            let count = Int(min(total, Double(options.starts)))
            points = (0..<count).map { i in
                var index = Double(count) == total ? Double(i) : (Double(i) * total / Double(count)).rounded(.down)
                var p = base
                for (c, j) in free.enumerated() {
                    let k = Double(levels[c].count)
                    p[j] = levels[c][Int(index.truncatingRemainder(dividingBy: k))]
                    index = (index / k).rounded(.down)
                }
                return p
            }
        }
        // Pull starts inside any bounds so the transformed variables are finite.
        return points.map { p in map.parameters(from: map.freeVariables(from: p)) }
    }
}
