import Foundation
import Yams

/// A YAML spec read with each node's place at hand, for the ladder spec and experiment specs
/// alike: the parse, mappings with unique plain keys, and non-empty scalars, every problem a
/// `Failure` at the offending node's line and column (each spec words its own error type).
public struct YAMLNodes<Failure: Error> {
    public let file: String
    private let failure: (_ line: Int?, _ column: Int?, _ message: String) -> Failure

    public init(file: String, failure: @escaping (_ line: Int?, _ column: Int?, _ message: String) -> Failure) {
        self.file = file
        self.failure = failure
    }

    public func fail(_ node: Node?, _ message: String) -> Failure {
        failure(node?.mark?.line, node?.mark?.column, message)
    }

    /// The tree; a syntax error fails at its place, an empty text at 1:1.
    public func compose(_ text: String) throws -> Node {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch let e as YamlError {
            switch e {
            case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
                throw failure(mark.line, mark.column, "YAML syntax: \(problem)" + (context.map { " (\($0.text))" } ?? ""))
            case let .reader(problem, offset, _, _):
                let line = offset.map { o in text.utf8.prefix(o).filter { $0 == 0x0A }.count + 1 }
                throw failure(line, nil, "cannot read the YAML: \(problem)")
            default:
                throw failure(nil, nil, "YAML: \(e)")
            }
        }
        guard let root else { throw failure(1, 1, "the spec is empty") }
        return root
    }

    public func kind(_ node: Node) -> String {
        switch node {
        case .scalar: "scalar"
        case .mapping: "mapping"
        case .sequence: "list"
        }
    }

    /// A mapping's entries in order; duplicate and non-string keys fail.
    public func entries(_ node: Node, _ what: String) throws -> [(key: String, keyNode: Node, value: Node)] {
        guard case .mapping(let m) = node else { throw fail(node, "\(what) must be a mapping of key: value, got a \(kind(node))") }
        var seen = Set<String>()
        return try m.map { pair in
            guard case .scalar(let k) = pair.key else { throw fail(pair.key, "keys must be plain names") }
            guard seen.insert(k.string).inserted else { throw fail(pair.key, "duplicate key '\(k.string)'") }
            return (k.string, pair.key, pair.value)
        }
    }

    /// A mapping's entries by key; a key not in `allowed` fails, naming the known ones.
    public func mapping(_ node: Node, _ what: String, allowed: [String]) throws -> [String: Node] {
        guard case .mapping(let m) = node else { throw fail(node, "\(what) must be a mapping of key: value, got a \(kind(node))") }
        var out: [String: Node] = [:]
        for pair in m {
            guard case .scalar(let k) = pair.key else { throw fail(pair.key, "keys must be plain names") }
            guard allowed.contains(k.string) else { throw unknown(pair.key, k.string, in: what, known: allowed) }
            guard out[k.string] == nil else { throw fail(pair.key, "duplicate key '\(k.string)'") }
            out[k.string] = pair.value
        }
        return out
    }

    public func unknown(_ keyNode: Node, _ key: String, in place: String, known: [String]) -> Failure {
        fail(keyNode, "unknown key '\(key)' in \(place) (known: \(known.joined(separator: ", ")))")
    }

    /// A scalar's text, trimmed; a list, a mapping or an empty value (``, `~`, `null`) fails.
    public func scalar(_ node: Node, _ key: String, _ type: String) throws -> String {
        guard case .scalar(let s) = node else { throw fail(node, "'\(key)' must be \(type), got a \(kind(node))") }
        let text = s.string.trimmingCharacters(in: .whitespaces)
        if s.style == .plain, text.isEmpty || text == "~" || text == "null" { throw fail(node, "'\(key)' has no value (expected \(type))") }
        return text
    }

    public func string(_ node: Node, _ key: String) throws -> String { try scalar(node, key, "a string") }
}
