/// The records of one file, with what they provide, so a law can check its inputs up front and
/// report a missing column once instead of failing deep inside a fit.
public struct RecordSet: Sendable, Equatable {
    /// The file the records came from (as given), used in error messages.
    public var file: String
    public var records: [LossRecord]
    /// Variables present for every record (given, or derived).
    public var variables: Set<Variable>
    /// Non-schema columns kept as labels, in file order.
    public var labelColumns: [String]

    public init(file: String, records: [LossRecord], labelColumns: [String] = []) {
        self.file = file
        self.records = records
        self.labelColumns = labelColumns
        // An empty set provides nothing, rather than vacuously everything.
        variables = records.isEmpty ? [] : Set(Variable.allCases.filter { v in records.allSatisfy { $0.value(v) != nil } })
    }

    /// Run ids in order of first appearance.
    public var runs: [String] {
        var seen = Set<String>()
        return records.compactMap { seen.insert($0.run).inserted ? $0.run : nil }
    }

    /// Check that every record has the variables a law needs.
    ///
    /// A column absent from every record is reported at line 1 (the header) with what the file
    /// does have; a column absent from some records is reported at the first such record.
    public func requiring(_ needed: [Variable], law: String) throws -> RecordSet {
        let neededList = needed.map(\.rawValue).joined(separator: ", ")
        for v in needed where !variables.contains(v) && !records.contains(where: { $0.value(v) != nil }) {
            let have = (variables.sorted().map(\.rawValue) + ["loss"]).joined(separator: ", ")
            var message = "column '\(v.rawValue)' is missing; law \(law) needs \(neededList) (have: \(have))"
            // The derivable columns are commonly left out on purpose; say how to supply them.
            switch v {
            case .rho: message += "; rho is also derived from n0 and n"
            case .n: message += "; n is also derived from n0 and rho"
            default: break
            }
            throw DataError(file: file, line: 1, message)
        }
        for v in needed where !variables.contains(v) {
            if let r = records.first(where: { $0.value(v) == nil }) {
                throw DataError(file: r.source?.file ?? file, line: r.source?.line, "column '\(v.rawValue)' is empty; law \(law) needs it")
            }
        }
        return self
    }
}
