/// Hand-written scanners with the exact semantics of the pre-tokenizer regexes (leftmost-first
/// alternation with backtracking, as the `tokenizers` regex engine runs them), over UTF-8 bytes.
/// Each reports pre-tokens as consecutive byte ranges covering the whole input: both patterns
/// match every character, so "split with Isolated behaviour" is just the list of matches.
/// Regex engines were avoided for speed and because the `\s+(?!\S)` lookahead is what matters.
enum PreTokenizerScanners {
    private static let L = ScalarClass.letter, N = ScalarClass.number, S = ScalarClass.whitespace

    /// GPT-2's pattern, the one ByteLevel uses:
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    static func gpt2(_ p: UnsafePointer<UInt8>, _ n: Int, _ emit: (Int, Int) -> Void) {
        let table = ScalarClassTable.shared
        var i = 0
        while i < n {
            let end = gpt2Match(p, i, n, table)
            emit(i, end)
            i = end
        }
    }

    /// Where the match starting at `i` ends.
    @inline(__always)
    private static func gpt2Match(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int, _ table: ScalarClassTable) -> Int {
        if p[i] == 0x27, let e = contraction(p, i, n, ignoringCase: false) { return e }
        var (c, len) = table.classify(p, i, n)
        var j = i
        // ` ?` before a letter, number or other run: a space joins whatever non-space follows it.
        if p[i] == 0x20 && i + 1 < n {
            let (c1, len1) = table.classify(p, i + 1, n)
            if c1 & S == 0 { j = i + 1; c = c1; len = len1 }
        }
        if c & L != 0 { return run(p, j + len, n, table, while: L) }
        if c & N != 0 { return run(p, j + len, n, table, while: N) }
        if c & S == 0 { return runOfOther(p, j + len, n, table) }
        return whitespace(p, i, n, table, upToNewline: false)
    }

    /// Llama 3's pattern:
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    static func llama3(_ p: UnsafePointer<UInt8>, _ n: Int, _ emit: (Int, Int) -> Void) {
        let table = ScalarClassTable.shared
        var i = 0
        while i < n {
            let end = llama3Match(p, i, n, table)
            emit(i, end)
            i = end
        }
    }

    @inline(__always)
    private static func llama3Match(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int, _ table: ScalarClassTable) -> Int {
        let b = p[i]
        if b == 0x27, let e = contraction(p, i, n, ignoringCase: true) { return e }
        let (c, len) = table.classify(p, i, n)
        if c & L != 0 { return run(p, i + len, n, table, while: L) }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`: any one other character (a space, a tab, a bracket) leads a word.
        if b != 0x0D && b != 0x0A && c & N == 0 && i + len < n {
            let (c1, len1) = table.classify(p, i + len, n)
            if c1 & L != 0 { return run(p, i + len + len1, n, table, while: L) }
        }
        if c & N != 0 {
            var k = i + len, count = 1
            while count < 3 && k < n {
                let (ck, lk) = table.classify(p, k, n)
                guard ck & N != 0 else { break }
                k += lk
                count += 1
            }
            return k
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var j = i, cj = c, lj = len
        if b == 0x20 && i + 1 < n {
            let (c1, len1) = table.classify(p, i + 1, n)
            if c1 & (L | N | S) == 0 { j = i + 1; cj = c1; lj = len1 }
        }
        if cj & (L | N | S) == 0 {
            var k = runOfOther(p, j + lj, n, table)
            while k < n && (p[k] == 0x0D || p[k] == 0x0A) { k += 1 }
            return k
        }
        return whitespace(p, i, n, table, upToNewline: true)
    }

    /// A whitespace run starting at `i`. `\s*[\r\n]+` (Llama 3 only) ends it after its last line
    /// break; else `\s+(?!\S)` takes it all when nothing follows, or all but its last character
    /// (which then leads the next word); a single character before a non-space is `\s+`.
    @inline(__always)
    private static func whitespace(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int, _ table: ScalarClassTable, upToNewline: Bool) -> Int {
        var k = i, last = i, afterBreak = -1
        while k < n {
            let (ck, lk) = table.classify(p, k, n)
            guard ck & S != 0 else { break }
            if p[k] == 0x0A || p[k] == 0x0D { afterBreak = k + 1 }
            last = k
            k += lk
        }
        if upToNewline && afterBreak > 0 { return afterBreak }
        if k == n { return n }
        return last > i ? last : k
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `i` (which holds an apostrophe): the end of the match, or nil.
    /// Ignoring case is Unicode case folding, under which only `ſ` (U+017F) joins these ASCII letters.
    @inline(__always)
    private static func contraction(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int, ignoringCase: Bool) -> Int? {
        guard i + 1 < n else { return nil }
        @inline(__always) func lower(_ b: UInt8) -> UInt8 { ignoringCase && b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        let a = lower(p[i + 1])
        switch a {
        case 0x73, 0x74, 0x6D, 0x64: return i + 2  // s t m d
        case 0x72, 0x76:  // r v, then e
            return i + 2 < n && lower(p[i + 2]) == 0x65 ? i + 3 : nil
        case 0x6C:  // l, then l
            return i + 2 < n && lower(p[i + 2]) == 0x6C ? i + 3 : nil
        case 0xC5:  // ſ is C5 BF
            return ignoringCase && i + 2 < n && p[i + 2] == 0xBF ? i + 3 : nil
        default: return nil
        }
    }

    /// The end of the run of characters of class `bits` starting at `k`.
    @inline(__always)
    private static func run(_ p: UnsafePointer<UInt8>, _ k: Int, _ n: Int, _ table: ScalarClassTable, while bits: UInt8) -> Int {
        var k = k
        while k < n {
            let (ck, lk) = table.classify(p, k, n)
            guard ck & bits != 0 else { break }
            k += lk
        }
        return k
    }

    /// The end of the run of "other" characters (`[^\s\p{L}\p{N}]`) starting at `k`.
    @inline(__always)
    private static func runOfOther(_ p: UnsafePointer<UInt8>, _ k: Int, _ n: Int, _ table: ScalarClassTable) -> Int {
        var k = k
        while k < n {
            let (ck, lk) = table.classify(p, k, n)
            guard ck & (L | N | S) == 0 else { break }
            k += lk
        }
        return k
    }

    /// The Digits pre-tokenizer: numeric characters apart from the rest, each alone (`individual`)
    /// or in runs.
    static func digits(_ p: UnsafePointer<UInt8>, _ n: Int, individual: Bool, _ emit: (Int, Int) -> Void) {
        let table = ScalarClassTable.shared
        let D = ScalarClass.numeric
        var i = 0, rest = 0
        while i < n {
            let (c, len) = table.classify(p, i, n)
            guard c & D != 0 else { i += len; continue }
            if rest < i { emit(rest, i) }
            let end = individual ? i + len : run(p, i + len, n, table, while: D)
            emit(i, end)
            i = end
            rest = end
        }
        if rest < n { emit(rest, n) }
    }
}
