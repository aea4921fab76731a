import Foundation
import LossRecords

/// Plain-language cautions about a fit. Weak identifiability is the rule, not the exception, for
/// these laws (with three model sizes `NC/N0^alpha` and `E` trade off almost freely), and an
/// extrapolation to a 70B model from such a fit is arbitrary unless somebody says so.
enum Diagnostics {
    static let correlationThreshold = 0.98
    /// No law here has a sensible parameter this large: a fit that reaches it is following a
    /// valley with no bottom.
    static let runawayMagnitude = 1e12

    static func warnings(for fit: FitResult, variables: [Variable], map: ParameterMap, covarianceAvailable: Bool) -> [String] {
        var out: [String] = []
        let names = fit.parameterNames
        if !covarianceAvailable {
            out.append("the Jacobian at the optimum is singular: some parameters are not determined by these data (fix one of them or add runs that vary it)")
        }
        if let c = fit.correlation {
            for a in names.indices { for b in names.indices where b > a && abs(c[a][b]) >= correlationThreshold {
                out.append("\(names[a]) and \(names[b]) are strongly correlated (r = \(format(c[a][b]))): the data barely separate them, so predictions far outside the fitted range depend on a trade-off the data do not decide")
            } }
        }
        for (j, e) in fit.estimates.enumerated() where !e.fixed {
            if map.isAtBound(j, value: e.value) {
                out.append("\(e.name) = \(format(e.value)) sits on its bound: the bound, not the data, decides it")
            }
            if abs(e.value) >= runawayMagnitude {
                out.append("\(e.name) = \(format(e.value)) has run off: the objective keeps falling along a direction with no finite optimum (a term such as NC/N0^alpha, with alpha growing, becomes an offset for one model size alone), so this parameter means nothing by itself; only predictions near the data do")
            }
            if let se = e.stderr, se > abs(e.value) {
                out.append("\(e.name) is not pinned by the data: \(format(e.value)) ± \(format(se)) (standard error larger than the value)")
            }
            if let iv = e.interval, iv[0] < 0, iv[1] > 0, e.value != 0, (e.stderr ?? 0) <= abs(e.value) {
                out.append("\(e.name)'s bootstrap interval [\(format(iv[0])), \(format(iv[1]))] spans zero: even its sign is uncertain")
            }
        }
        if fit.starts.requested > 1, fit.starts.reachedBest == 1 {
            out.append("only 1 of \(fit.starts.requested) starts reached the best optimum: the objective has several minima; try more starts")
        }
        if fit.starts.converged < fit.starts.requested {
            out.append("\(fit.starts.requested - fit.starts.converged) of \(fit.starts.requested) starts failed numerically")
        }
        if let b = fit.bootstrap, b.converged < b.replicates {
            out.append("\(b.replicates - b.converged) of \(b.replicates) bootstrap replicates failed to converge and were left out")
        }
        if fit.data.excluded > 0 {
            out.append("\(fit.data.excluded) record(s) left out: law \(fit.law.name) cannot be evaluated there (for example tokens = 0, where D^-beta diverges)")
        }
        for v in variables where v != .tokens && v != .loss0 {
            if let r = fit.data.ranges[v.rawValue], r[0] == r[1] {
                out.append("every fitted record has the same \(v.rawValue) (\(format(r[0]))): the law's dependence on \(v.rawValue) is not tested by these data")
            }
        }
        return out
    }

    /// The run-offset check warns at this Monte Carlo p-value (with 199 draws: at most one
    /// simulated share reached the observed one).
    static let runOffsetLevel = 0.01

    static func runOffsetWarning(_ o: RunOffsetCheck) -> String {
        "the residuals sit as whole-run offsets: \(String(format: "%.0f", 100 * o.share)) % of their variance lies between the runs' means, "
            + "more than \(o.draws - o.atLeast) of \(o.draws) draws of the AR(1) noise the ar-wild intervals assume give; "
            + "those intervals will be too narrow, and the wild-run method, which keeps each run whole, allows for this"
    }

    static func format(_ x: Double) -> String { String(format: "%.4g", x) }
}
