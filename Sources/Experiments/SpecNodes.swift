import Foundation
import Yams

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

/// Reads a YAML tree with each node's place at hand: mappings with known keys only, typed
/// scalars, and every failure as an `ExperimentSpecError` at the offending node.
struct SpecNodes {
    let file: String

    func fail(_ node: Node?, _ message: String) -> ExperimentSpecError {
        ExperimentSpecError(file: file, line: node?.mark?.line, column: node?.mark?.column, message)
    }

    static func compose(_ text: String, file: String) throws -> Node {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            switch e {
            case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
                throw ExperimentSpecError(file: file, line: mark.line, column: mark.column, "YAML syntax: \(problem)" + (context.map { " (\($0.text))" } ?? ""))
            default:
                throw ExperimentSpecError(file: file, "YAML: \(e)")
            }
        }
        guard let root else { throw ExperimentSpecError(file: file, line: 1, column: 1, "the spec is empty") }
        return root
    }

    /// A mapping's entries; unknown keys (not in `allowed`), duplicates and non-string keys fail.
    func mapping(_ node: Node, _ what: String, allowed: [String]) throws -> [String: Node] {
        guard case .mapping(let m) = node else { throw fail(node, "\(what) must be a mapping of key: value, got a \(kind(node))") }
        var out: [String: Node] = [:]
        for pair in m {
            guard case .scalar(let k) = pair.key else { throw fail(pair.key, "keys must be plain names") }
            guard allowed.contains(k.string) else {
                throw fail(pair.key, "unknown key '\(k.string)' in \(what) (known: \(allowed.joined(separator: ", ")))")
            }
            guard out[k.string] == nil else { throw fail(pair.key, "duplicate key '\(k.string)'") }
            out[k.string] = pair.value
        }
        return out
    }

    func required(_ map: [String: Node], _ key: String, in parent: Node, _ what: String) throws -> Node {
        guard let n = map[key] else { throw fail(parent, "\(what) needs '\(key)'") }
        return n
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .scalar: "scalar"
        case .mapping: "mapping"
        case .sequence: "list"
        }
    }

    func scalar(_ node: Node, _ key: String, _ type: String) throws -> String {
        guard case .scalar(let s) = node else { throw fail(node, "'\(key)' must be \(type), got a \(kind(node))") }
        let text = s.string.trimmingCharacters(in: .whitespaces)
        if s.style == .plain, text.isEmpty || text == "~" || text == "null" { throw fail(node, "'\(key)' has no value (expected \(type))") }
        return text
    }

    func string(_ node: Node, _ key: String) throws -> String { try scalar(node, key, "a string") }

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
