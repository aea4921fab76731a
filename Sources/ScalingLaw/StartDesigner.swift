import Foundation
import LossRecords
import Randomness

/// Starting points for a multi-start fit.
enum StartDesigner {
    /// The first start: each parameter's start, or the value it is held at.
    static func baseStart(_ parameters: [Parameter]) -> [Double] {
        parameters.map { $0.fixedValue ?? $0.start }
    }

    /// `options.starts` points (validated: at least 1), the base start first.
    static func starts(_ parameters: [Parameter], map: ParameterMap, options: FitOptions) -> [[Double]] {
        let base = baseStart(parameters)
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
                    columns.append(strata.map { parameters[j].startRange.at((Double($0) + rng.uniform()) / Double(m)) })
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
                if let given = parameters[j].gridLevels, !given.isEmpty { return given }
                return (0..<defaultLevels).map { parameters[j].startRange.at(Double($0) / Double(defaultLevels - 1)) }
            }
            // In a Double: a product of level counts can pass Int.max. FitOptions keeps an
            // explicit grid under 1e15 points, and default levels multiply to about `starts`, so
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
