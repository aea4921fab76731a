import Foundation
import LossRecords

/// Looks laws up by name, and rebuilds them from the `LawSpec` stored in `fit.json`.
public enum LawRegistry {
    /// The built-in laws, in the order `prunescale laws` lists them.
    public static let builtins: [any Law] = [P2Law(), P2NoDeltaLaw(), P2AdditiveLaw(), P2CountsLaw(), ChinchillaLaw(), SparsityLaw()]

    /// Other names accepted for the P2 alternatives (`p2-alt1` ... in the order of the brief).
    public static let aliases: [String: String] = ["l1": "p2", "p2-alt1": "p2-nodelta", "p2-alt2": "p2-additive", "p2-alt3": "p2-counts"]

    public static var names: [String] { builtins.map(\.name) + ["custom"] }

    /// A built-in law by name or alias (case-insensitive).
    public static func law(named name: String) throws -> any Law {
        let key = name.lowercased()
        let canonical = aliases[key] ?? key
        if let law = builtins.first(where: { $0.name == canonical }) { return law }
        if canonical == "custom" { throw LawError("law 'custom' is not built in: it is made from an expression (CustomLaw)") }
        throw LawError("unknown law '\(name)'; known: \(names.joined(separator: ", ")) (aliases: \(aliases.keys.sorted().joined(separator: ", ")))")
    }

    /// The law a spec names; custom laws are re-parsed from their expression.
    public static func law(spec: LawSpec, start: [String: Double] = [:]) throws -> any Law {
        if spec.name == "custom" {
            guard let expression = spec.expression else { throw LawError("custom law without an expression") }
            return try CustomLaw(expression: expression, parameters: spec.parameters, start: start)
        }
        return try law(named: spec.name)
    }
}
