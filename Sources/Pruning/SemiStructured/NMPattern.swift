import Foundation

/// An N:M semi-structured sparsity pattern: in every group of `m` consecutive input weights of a
/// row (columns `[k·m, (k+1)·m)` of a row-major `[out, in]` weight), exactly `n` are zero.
/// "2:4" is the pattern sparse tensor cores accelerate.
public struct NMPattern: Sendable, Hashable, CustomStringConvertible {
    /// Zeros per group.
    public let n: Int
    /// Group length.
    public let m: Int

    public static let twoFour = NMPattern(checkedN: 2, m: 4)

    public init(n: Int, m: Int) throws {
        guard m >= 2 else { throw PruningError("N:M pattern \(n):\(m): the group size M must be at least 2") }
        guard n >= 1, n < m else {
            throw PruningError("N:M pattern \(n):\(m): N (zeros per group) must be in 1...\(m - 1)")
        }
        self.init(checkedN: n, m: m)
    }

    private init(checkedN n: Int, m: Int) { self.n = n; self.m = m }

    /// Parses "N:M", e.g. "2:4" (N zeros of every M).
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2,
              let n = Int(parts[0].trimmingCharacters(in: .whitespaces)),
              let m = Int(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw PruningError("N:M pattern '\(text)' is not of the form N:M with integers, e.g. 2:4")
        }
        try self.init(n: n, m: m)
    }

    public var description: String { "\(n):\(m)" }
    /// Non-zeros per group.
    public var kept: Int { m - n }
    /// Fraction of weights that are zero.
    public var sparsity: Double { Double(n) / Double(m) }

    /// Throws unless a row of `cols` inputs splits into whole groups.
    public func validate(cols: Int) throws {
        guard cols > 0, cols % m == 0 else {
            throw PruningError("N:M pattern \(self): the input dimension \(cols) is not a positive multiple of \(m)")
        }
    }

    /// True when `mask` (0/1, row-major `[rows, cols]`) has exactly `n` zeros and `m - n` ones in
    /// every group.
    public func holds(mask: [Float], rows: Int, cols: Int) -> Bool {
        guard cols % m == 0, mask.count == rows * cols else { return false }
        var g = 0
        while g < mask.count {
            var zeros = 0
            for k in g..<(g + m) {
                if mask[k] == 0 { zeros += 1 } else if mask[k] != 1 { return false }
            }
            if zeros != n { return false }
            g += m
        }
        return true
    }
}
