import Foundation
import Randomness

/// A seeded mutation fuzzer for the project's readers (records, fit.json, safetensors, config.json,
/// YAML specs). Each input is a seed file with a few stacked mutations: bit flips, bytes set to
/// values that trouble parsers, inserted and deleted ranges, truncation, splices of two seeds, and
/// digit runs replaced by awkward numbers or dictionary words of the format. The same seed gives
/// the same inputs, so a failure found by a long run is reproduced by its index.
///
/// This is not coverage-guided (libFuzzer would be, but does not fit `swift test`); the tests
/// compensate with seeds that already exercise each reader's branches.
public struct Mutator {
    public let seeds: [[UInt8]]
    /// Tokens of the format (keys, punctuation, type names) inserted or swapped in whole.
    public let dictionary: [[UInt8]]

    static let awkwardBytes: [UInt8] = [0, 0xFF, 0x7F, 0x80, 0x0A, 0x0D, 0x09, 0x20, 0x2C, 0x22, 0x7B, 0x7D,
                                        0x5B, 0x5D, 0x3A, 0x2D, 0x2E, 0x65, 0x30, 0x39, 0x23, 0x27, 0x5C]
    static let awkwardNumbers: [String] = ["0", "-0", "-1", "1e308", "1e309", "-1e309", "1e-320", "nan", "NaN", "inf", "-inf",
                                           "9223372036854775807", "9223372036854775808", "18446744073709551616",
                                           "4294967296", "2147483648", "0x10", "0x1.6p1", "1_000", "+5", ".5", "5.", "1e",
                                           "99999999999999999999999999", "-9223372036854775808", "3\u{0}7"]

    public init(seeds: [Data], dictionary: [String] = []) {
        precondition(!seeds.isEmpty, "a fuzzer needs at least one seed input")
        self.seeds = seeds.map { [UInt8]($0) }
        self.dictionary = dictionary.map { Array($0.utf8) }
    }

    /// Input number `index` of the stream `seed`: independent of the other indices.
    public func input(_ index: Int, seed: UInt64 = 0) -> Data {
        var rng = SeededRandom(seed: seed, stream: index)
        var bytes = seeds[Int(rng.next() % UInt64(seeds.count))]
        let rounds = 1 + Int(rng.next() % 6)
        for _ in 0..<rounds { mutate(&bytes, &rng) }
        return Data(bytes)
    }

    private func mutate(_ b: inout [UInt8], _ rng: inout SeededRandom) {
        func pick(_ n: Int) -> Int { n <= 0 ? 0 : Int(rng.next() % UInt64(n)) }
        switch pick(10) {
        case 0 where !b.isEmpty:
            let i = pick(b.count)
            b[i] ^= UInt8(1) << UInt8(pick(8))
        case 1 where !b.isEmpty:
            b[pick(b.count)] = Self.awkwardBytes[pick(Self.awkwardBytes.count)]
        case 2:
            let bytes = (0..<(1 + pick(8))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            b.insert(contentsOf: bytes, at: pick(b.count + 1))
        case 3 where !b.isEmpty:
            let start = pick(b.count)
            b.removeSubrange(start..<min(b.count, start + 1 + pick(16)))
        case 4 where !b.isEmpty:
            b.removeSubrange(pick(b.count)...)
        case 5 where !b.isEmpty:
            let start = pick(b.count), end = min(b.count, start + 1 + pick(64))
            b.insert(contentsOf: b[start..<end], at: pick(b.count + 1))
        case 6:
            let other = seeds[pick(seeds.count)]
            let cut = pick(b.count + 1), from = pick(other.count + 1)
            b = Array(b[..<cut]) + other[from...]
        case 7:
            replaceDigitRun(&b, with: Array(Self.awkwardNumbers[pick(Self.awkwardNumbers.count)].utf8), &rng)
        case 8 where !dictionary.isEmpty:
            b.insert(contentsOf: dictionary[pick(dictionary.count)], at: pick(b.count + 1))
        case 9 where !b.isEmpty:
            // A 4- or 8-byte little-endian field overwritten with an extreme value (binary headers).
            let width = pick(2) == 0 ? 4 : 8
            let extremes: [UInt64] = [0, 1, UInt64.max, UInt64(Int64.max), UInt64(UInt32.max), 1 << 31, 1 << 40]
            let v = extremes[pick(extremes.count)]
            let at = pick(b.count)
            for k in 0..<width where at + k < b.count { b[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
        default:
            if !b.isEmpty { b[pick(b.count)] = UInt8(truncatingIfNeeded: rng.next()) }
        }
    }

    private func replaceDigitRun(_ b: inout [UInt8], with text: [UInt8], _ rng: inout SeededRandom) {
        let digits = b.indices.filter { b[$0] >= 0x30 && b[$0] <= 0x39 }
        guard !digits.isEmpty else { b.append(contentsOf: text); return }
        var start = digits[Int(rng.next() % UInt64(digits.count))], end = start + 1
        let numberByte: (UInt8) -> Bool = { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x65 || $0 == 0x45 || $0 == 0x2D || $0 == 0x2B }
        while start > 0, numberByte(b[start - 1]) { start -= 1 }
        while end < b.count, numberByte(b[end]) { end += 1 }
        b.replaceSubrange(start..<end, with: text)
    }

    /// How many inputs a fuzz test runs: `PRUNESCALE_FUZZ_COUNT` when set (a long run by hand),
    /// else `default` (the bounded count CI runs).
    public static func count(default n: Int) -> Int {
        if let s = ProcessInfo.processInfo.environment["PRUNESCALE_FUZZ_COUNT"], let v = Int(s), v > 0 { return v }
        return n
    }
}
