import Foundation
import LossRecords
import Persistence

/// fit.json: what `fit` writes and `predict` and `plan` read. The reader is as strict as the
/// records reader: a field that predict or plan would use missing, of the wrong type, not finite
/// or out of range stops the read with `fit.json: <field path>: problem`, instead of a plan with
/// a `nan` floor or an interval around nothing.
public enum FitFile {
    /// The encoding every fit.json has: pretty, keys sorted (stable and diffable).
    public static func encode(_ fit: FitResult) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(fit)
    }

    /// Reads, decodes and checks a fit.json, and rebuilds its law.
    public static func read(path: String) throws -> (fit: FitResult, law: any Law) {
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            // One byte past the limit tells a file that is too large without reading all of it.
            data = try handle.read(upToCount: InputLimits.fitFileBytes + 1) ?? Data()
        } catch {
            throw DataError(file: path, "cannot read: \(FileError.words(error, path: path))")
        }
        guard data.count <= InputLimits.fitFileBytes else {
            throw DataError(file: path, "larger than \(InputLimits.fitFileBytes >> 20) MiB; not a fit.json this tool wrote")
        }
        return try decode(data, file: path)
    }

    /// Decodes and checks fit.json contents; `file` names the errors.
    public static func decode(_ data: Data, file: String) throws -> (fit: FitResult, law: any Law) {
        let fit: FitResult
        do { fit = try JSONDecoder().decode(FitResult.self, from: data) } catch let error as DecodingError {
            throw DataError(file: file, describe(error))
        } catch {
            throw DataError(file: file, "not a PruneScale fit.json (\(error.localizedDescription))")
        }
        let law: any Law
        do { law = try LawRegistry.law(spec: fit.law) } catch let e as LawError {
            throw DataError(file: file, "\(fit.law.name == "custom" ? "law.expression" : "law.name"): \(e.message)")
        }
        if let (field, problem) = fit.problem(for: law) { throw DataError(file: file, "\(field): \(problem)") }
        return (fit, law)
    }

    /// A decoding error as `field.path: problem`.
    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let ctx):
            return "\(path(ctx.codingPath + [key])): missing"
        case .typeMismatch(let type, let ctx) where ctx.codingPath.isEmpty:
            return "not a PruneScale fit.json (expected \(typeName(type)) at the top level)"
        case .typeMismatch(let type, let ctx):
            return "\(path(ctx.codingPath)): expected \(typeName(type))"
        case .valueNotFound(let type, let ctx):
            return "\(path(ctx.codingPath)): null, expected \(typeName(type))"
        case .dataCorrupted(let ctx) where ctx.codingPath.isEmpty:
            let cause = (ctx.underlyingError as NSError?).map { " (\($0.debugDescription))" } ?? ""
            return "not a PruneScale fit.json (not valid JSON: \(ctx.debugDescription)\(cause))"
        case .dataCorrupted(let ctx):
            return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
        @unknown default:
            return "not a PruneScale fit.json (\(error))"
        }
    }

    /// `bootstrap.samples[3][0]`, with object keys quoted only as much as a message needs.
    static func path(_ keys: [any CodingKey]) -> String {
        guard !keys.isEmpty else { return "top level" }
        var out = ""
        for key in keys {
            if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + OneLine.quoted(key.stringValue, limit: 40) }
        }
        return out
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Float.Type: "a number"
        case is Int.Type, is UInt64.Type, is Int64.Type: "a whole number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        default:
            "\(type)".hasPrefix("Array") ? "an array" : "\(type)".hasPrefix("Dictionary") ? "an object" : "a \(type)"
        }
    }
}

extension FitResult {
    /// The first field that is inconsistent with `law`, missing, not finite or out of range, as
    /// (JSON path, problem); nil when predict and plan can rely on every field.
    public func problem(for law: any Law) -> (field: String, problem: String)? {
        let names = parameterNames
        let k = names.count
        func short(_ x: Double) -> String { NumberText.short(x) }
        func finiteRow(_ row: [Double], _ field: String) -> (String, String)? {
            for (i, x) in row.enumerated() where !x.isFinite { return ("\(field)[\(i)]", "not a finite number") }
            return nil
        }

        guard names == law.parameterNames else {
            return ("parameter_names", "[\(OneLine.quoted(names.joined(separator: ", "), limit: 200))] but law \(law.name) has [\(law.parameterNames.joined(separator: ", "))]")
        }
        for name in names {
            guard let v = params[name] else { return ("params.\(name)", "missing") }
            guard v.isFinite else { return ("params.\(name)", "not a finite number") }
        }
        if let extra = params.keys.sorted().first(where: { !names.contains($0) }) {
            return ("params.\(OneLine.quoted(extra, limit: 40))", "not a parameter of law \(law.name)")
        }

        guard estimates.count == k else { return ("estimates", "\(estimates.count) entries for \(k) parameters") }
        for (i, e) in estimates.enumerated() {
            let field = "estimates[\(i)]"
            guard e.name == names[i] else { return ("\(field).name", "'\(OneLine.quoted(e.name, limit: 40))', expected '\(names[i])'") }
            guard e.value.isFinite else { return ("\(field).value", "not a finite number") }
            if let se = e.stderr, !(se >= 0 && se.isFinite) { return ("\(field).stderr", "expected a finite number of 0 or more, got \(short(se))") }
            if let iv = e.interval {
                guard iv.count == 2 else { return ("\(field).interval", "expected [low, high], got \(iv.count) numbers") }
                if let p = finiteRow(iv, "\(field).interval") { return p }
                guard iv[0] <= iv[1] else { return ("\(field).interval", "low \(short(iv[0])) above high \(short(iv[1]))") }
            }
        }
        if let c = correlation {
            guard c.count == k, c.allSatisfy({ $0.count == k }) else { return ("correlation", "expected a \(k) × \(k) matrix") }
            for (i, row) in c.enumerated() {
                for (j, r) in row.enumerated() where !(r.isFinite && abs(r) <= 1 + 1e-9) {
                    return ("correlation[\(i)][\(j)]", "expected a correlation in [-1, 1], got \(short(r))")
                }
            }
        }
        for (field, m) in [("metrics", metrics), ("holdout_metrics", holdoutMetrics)] {
            if let m, m.count < 0 { return ("\(field).count", "negative") }
        }
        if (holdout == nil) != (holdoutMetrics == nil) {
            return (holdout == nil ? "holdout" : "holdout_metrics", "missing, though \(holdout == nil ? "holdout_metrics" : "holdout") is given")
        }
        guard objectiveValue.isFinite, objectiveValue >= 0 else {
            return ("objective_value", "expected a finite number of 0 or more, got \(short(objectiveValue))")
        }

        for (field, v) in [("records", data.records), ("runs", data.runs), ("fitted", data.fitted), ("heldOut", data.heldOut), ("excluded", data.excluded)] where v < 0 {
            return ("data.\(field)", "negative (\(v))")
        }
        guard data.fitted > 0 else { return ("data.fitted", "no fitted records") }
        for key in data.ranges.keys.sorted() {
            let field = "data.ranges.\(OneLine.quoted(key, limit: 40))"
            guard let v = Variable(rawValue: key) else { return (field, "not an input (n0, n, rho, loss0, tokens)") }
            let r = data.ranges[key]!
            guard r.count == 2 else { return (field, "expected [min, max], got \(r.count) numbers") }
            if let p = finiteRow(r, field) { return p }
            guard r[0] <= r[1] else { return (field, "min \(short(r[0])) above max \(short(r[1]))") }
            switch v {
            case .n0, .n, .loss0: if !(r[0] > 0) { return (field, "\(key) must be positive, got \(short(r[0]))") }
            case .rho: if !(r[0] >= 0 && r[1] < 1) { return (field, "rho must lie in [0, 1)") }
            case .tokens: if !(r[0] >= 0) { return (field, "tokens must be 0 or more, got \(short(r[0]))") }
            }
        }
        // The fitted range is what flags extrapolation: without it a plan would stay silent.
        for v in law.variables where data.ranges[v.rawValue] == nil {
            return ("data.ranges.\(v.rawValue)", "missing; law \(law.name) reads \(v.rawValue), and its fitted range flags extrapolation")
        }

        if let p = options.problem { return ("options.\(p.key)", p.problem) }
        do { _ = try ParameterMap(options.parameters(of: law)) } catch let e as LawError {
            return ("options", e.message)
        } catch {
            return ("options", "\(error)")
        }

        guard (1...InputLimits.starts).contains(starts.requested), starts.requested <= options.starts else {
            return ("starts.requested", "expected 1 to options.starts (\(options.starts)), got \(starts.requested)")
        }
        guard (0...starts.requested).contains(starts.converged) else { return ("starts.converged", "expected 0 to \(starts.requested), got \(starts.converged)") }
        guard (0...starts.converged).contains(starts.reachedBest) else { return ("starts.reachedBest", "expected 0 to \(starts.converged), got \(starts.reachedBest)") }

        switch (bootstrap, options.bootstrap) {
        case (nil, 0): break
        case (nil, let n): return ("bootstrap", "missing, though options.bootstrap is \(n)")
        case (let b?, let n):
            guard b.replicates == n else { return ("bootstrap.replicates", "\(b.replicates), but options.bootstrap is \(n)") }
            guard (0...b.replicates).contains(b.converged) else { return ("bootstrap.converged", "expected 0 to \(b.replicates), got \(b.converged)") }
            guard b.samples.count == b.converged else { return ("bootstrap.samples", "\(b.samples.count) rows for \(b.converged) converged replicates") }
            for (i, row) in b.samples.enumerated() {
                guard row.count == k else { return ("bootstrap.samples[\(i)]", "\(row.count) numbers for \(k) parameters") }
                if let p = finiteRow(row, "bootstrap.samples[\(i)]") { return p }
            }
        }
        return nil
    }
}
