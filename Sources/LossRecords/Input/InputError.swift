import Foundation

/// A value given to the planner outside what it accepts: `confidence: expected a level in (0, 1),
/// got 7`. The library names a value as its API does (`confidence`, `n0`); the command line,
/// which checks its own flags, names the flag (`--confidence`).
public struct InputError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// What is at fault: a value's name, or the names of the values that disagree.
    public var subject: String
    public var problem: String
    public init(_ subject: String, _ problem: String) {
        self.subject = subject
        self.problem = problem
    }
    public var description: String { OneLine.escaped("\(subject): \(problem)") }
    public var errorDescription: String? { description }
}

/// The sizes the planner accepts. Each is far beyond any real use and small enough for the
/// machine to hold and finish; past them a value is a typo (`1e10` for `1e1`) or hostile input,
/// and is refused with one line instead of a crash, an allocation abort or an hour-long loop.
public enum InputLimits {
    /// Token counts in one `predict --tokens` list or range (each prediction also costs one
    /// evaluation per bootstrap sample).
    public static let predictionPoints = 100_000
    /// `--bootstrap` replicates (each is a refit; fit.json keeps one row of parameters for each).
    public static let bootstrapReplicates = 100_000
    /// `--starts` (each is a full Levenberg–Marquardt solve).
    public static let starts = 100_000
    /// `--max-iterations` of one solve.
    public static let iterations = 100_000
    /// `--threads` (more than the cores only adds switching).
    public static let threads = 1_024
    /// Levels of one parameter in `--grid`, and points of the full factorial before thinning
    /// (below 2^53, so its mixed-radix index is exact in a Double).
    public static let gridLevels = 1_000
    public static let gridPoints = 1e15
    /// Records `simulate` writes (n0 values × rates × checkpoints).
    public static let simulatedRecords = 1_000_000
    /// Values in one `simulate` list (`--n0`, `--rho`, `--loss0`).
    public static let listValues = 100_000
    /// Size of a records file read at once (about ten million records).
    public static let recordFileBytes = 1 << 30
    /// Size of a fit.json (100,000 bootstrap rows of a dozen parameters take about 40 MB).
    public static let fitFileBytes = 256 << 20

    /// `100,000`: limits as the help text writes them.
    public static func grouped(_ n: Int) -> String {
        var digits = String(n.magnitude), out = ""
        while digits.count > 3 {
            out = "," + digits.suffix(3) + out
            digits.removeLast(3)
        }
        return (n < 0 ? "-" : "") + digits + out
    }
}
