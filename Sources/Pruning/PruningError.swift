import Foundation
import Model

/// A pruning failure in one line: what was asked, where, and why it cannot be done.
///
/// `kind` tells a caller that records results (an experiment runner) an unreachable rate apart
/// from a bad request: such a cell failed and must not be filed as if pruned at the asked rate.
public struct PruningError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public enum Kind: Sendable, Equatable {
        /// A bad request or input (unknown option, mismatched scores, unreadable calibration, ...).
        case invalid
        /// The achieved rate misses the asked one by more than one unit (a block for depth, an
        /// MLP neuron's `3 × hidden` parameters for width); nothing was produced.
        case rateNotMet(asked: Double, achievable: Double)
    }

    public var kind: Kind
    public var message: String
    public init(_ message: String) {
        kind = .invalid
        self.message = ModelError.oneLine(message)
    }

    public init(rateNotMet asked: Double, achievable: Double, _ message: String) {
        kind = .rateNotMet(asked: asked, achievable: achievable)
        self.message = ModelError.oneLine(message)
    }

    public var description: String { message }
    public var errorDescription: String? { message }
}
