import Foundation
import Model

/// A problem with text, tokens or a model's data (evaluation, generation, loading), one line.
public struct TextDataError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var message: String
    public init(_ message: String) { self.message = ModelError.oneLine(message) }
    public var description: String { message }
    public var errorDescription: String? { message }
}
