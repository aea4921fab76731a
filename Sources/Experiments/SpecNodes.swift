import Foundation
import Yams
import YAMLSpec

/// A problem in an experiment spec, at its place: `file:line:column: problem`.
public struct ExperimentSpecError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var message: String
    public init(file: String, line: Int? = nil, column: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }
    public var description: String {
        guard let line else { return "\(file): \(message)" }
        return column.map { "\(file):\(line):\($0): \(message)" } ?? "\(file):\(line): \(message)"
    }
    public var errorDescription: String? { description }
}

/// An experiment spec's YAML reader: `YAMLNodes` failing with `ExperimentSpecError`, plus the
/// scalar types experiment specs take.
typealias SpecNodes = YAMLNodes<ExperimentSpecError>

extension YAMLNodes where Failure == ExperimentSpecError {
    init(file: String) {
        self.init(file: file) { line, column, message in ExperimentSpecError(file: file, line: line, column: column, message) }
    }

    static func compose(_ text: String, file: String) throws -> Node { try SpecNodes(file: file).compose(text) }

    func required(_ map: [String: Node], _ key: String, in parent: Node, _ what: String) throws -> Node {
        guard let n = map[key] else { throw fail(parent, "\(what) needs '\(key)'") }
        return n
    }

    /// A decimal number (1e6, 3.0e-4, 2_000_000); nothing else.
    func double(_ node: Node, _ key: String) throws -> Double {
        let text = try scalar(node, key, "a number")
        let plain = text.replacingOccurrences(of: "_", with: "")
        guard plain.allSatisfy({ "0123456789+-.eE".contains($0) }), let v = Double(plain), v.isFinite else {
            throw fail(node, "'\(key)' must be a number, got '\(text)'")
        }
        return v
    }

    func int(_ node: Node, _ key: String, min: Int = 0, max: Int = Int.max) throws -> Int {
        let v = try double(node, key)
        guard v == v.rounded(), v >= Double(min), v <= Double(max), v < 9.2e18 else {
            throw fail(node, "'\(key)' must be a whole number in [\(min), \(max == Int.max ? "∞" : "\(max)")], got \(try scalar(node, key, "a number"))")
        }
        return Int(v)
    }

    func bool(_ node: Node, _ key: String) throws -> Bool {
        switch try scalar(node, key, "true or false").lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(node, "'\(key)' must be true or false")
        }
    }

    /// One of an enumeration's raw values; the error lists them.
    func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ key: String, _ type: T.Type) throws -> T where T.RawValue == String {
        let text = try string(node, key)
        guard let v = T(rawValue: text) else {
            throw fail(node, "unknown \(key) '\(text)' (known: \(T.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return v
    }

    /// A list, or one scalar taken as a list of one.
    func list(_ node: Node, _ key: String) -> [Node] {
        if case .sequence(let s) = node { return Array(s) }
        return [node]
    }
}
