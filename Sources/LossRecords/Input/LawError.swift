import Foundation

/// Errors in what the user asked the planner for: a law, its parameters, a column mapping; one
/// line (a quoted expression may hold newlines). Here rather than in ScalingLaw because column
/// mappings, which the record readers take, raise it too.
public struct LawError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { OneLine.escaped(message) }
    public var errorDescription: String? { description }
}
