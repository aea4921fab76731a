import Foundation

/// A pruning failure in one line: what was asked, where, and why it cannot be done.
public struct PruningError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
