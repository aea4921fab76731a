import Foundation

/// Where a record came from, for error messages (`file:line`).
public struct SourceLocation: Sendable, Equatable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }
    public var description: String { "\(file):\(line)" }
}

/// One checkpoint of one run: the loss a model reached after `tokens` post-training tokens.
/// A run is one pruned model's loss curve; bootstrap resamples whole runs.
public struct LossRecord: Sendable, Equatable {
    public var run: String
    public var n0: Double?
    public var n: Double?
    public var rho: Double?
    public var loss0: Double?
    public var tokens: Double?
    public var loss: Double
    /// Other columns, kept as labels (`method`, `family`, ...).
    public var labels: [String: String]
    public var source: SourceLocation?

    public init(run: String, n0: Double? = nil, n: Double? = nil, rho: Double? = nil, loss0: Double? = nil,
                tokens: Double? = nil, loss: Double, labels: [String: String] = [:], source: SourceLocation? = nil) {
        self.run = run
        self.n0 = n0
        self.n = n
        self.rho = rho
        self.loss0 = loss0
        self.tokens = tokens
        self.loss = loss
        self.labels = labels
        self.source = source
    }

    public func value(_ v: Variable) -> Double? {
        switch v {
        case .n0: n0
        case .n: n
        case .rho: rho
        case .loss0: loss0
        case .tokens: tokens
        }
    }

    /// The law's input point (absent values become NaN).
    public var point: LawPoint {
        LawPoint(n0: n0 ?? .nan, n: n ?? .nan, rho: rho ?? .nan, loss0: loss0 ?? .nan, tokens: tokens ?? .nan)
    }
}

/// A problem with input data, always tied to a place: `file:line: problem`, on one line (what the
/// message quotes from the file is escaped).
public struct DataError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var file: String
    public var line: Int?
    public var message: String
    public init(file: String, line: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }
    public var description: String {
        OneLine.escaped(line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)")
    }
    public var errorDescription: String? { description }
}
