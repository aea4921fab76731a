import Foundation
import Testing
@testable import TextData

/// The transform from dictd's GCIDE to plain text. The inputs are entries of dict-gcide
/// 0.48.5+nmu2 (GCIDE, GPL 2 or later) exactly as the package's gcide.dict.dz holds them.
@Suite struct GCIDETextTests {
    static let abalone = """
        Abalone \\Ab`a*lo"ne\\ ([a^]b`[.a]*l[=o]"n[-e]), n. (Zool.)
           A univalve mollusk of the genus {Haliotis}. The shell is
           lined with mother-of-pearl, and used for ornamental purposes;
           the sea-ear. Several large species are found on the coast of
           California, clinging closely to the rocks.
           [1913 Webster]

        """
    static let abacus = """
        Abacus \\Ab"a*cus\\ ([a^]b"[.a]*k[u^]s), n.; E. pl. {Abacuses}; L.
           pl. {Abaci} (-s[imac]). [L. abacus, abax, Gr. 'a`bax]
           1. A table or tray strewn with sand, anciently used for
              drawing, calculating, etc. [Obs.]
              [1913 Webster]

        """
    /// A WordNet entry: a blank line between the sense and its synonyms.
    static let zero = """
        0 \\0\\ adj.
           1. indicating the absence of any or all units under
              consideration; -- representing the number zero as an
              Arabic numeral.

           Syn: zero
                [WordNet 1.5 +PJC]

        """

    func plain(_ s: String) -> String { String(decoding: GCIDEText.plain(Array(s.utf8)), as: UTF8.self) }

    @Test func realEntriesBecomeReadableText() {
        #expect(plain(Self.abalone) == """
            Abalone \\Ab`a*lo"ne\\ (\u{0103}b`\u{0227}*l\u{014D}"ne), n. (Zool.)
               A univalve mollusk of the genus Haliotis. The shell is
               lined with mother-of-pearl, and used for ornamental purposes;
               the sea-ear. Several large species are found on the coast of
               California, clinging closely to the rocks.
               [1913 Webster]

            """)
        // Cross-reference braces go, the long i comes, ordinary brackets stay.
        #expect(plain(Self.abacus) == """
            Abacus \\Ab"a*cus\\ (ăb"ȧ*kŭs), n.; E. pl. Abacuses; L.
               pl. Abaci (-sī). [L. abacus, abax, Gr. 'a`bax]
               1. A table or tray strewn with sand, anciently used for
                  drawing, calculating, etc. [Obs.]
                  [1913 Webster]

            """)
        // The blank line inside the entry goes: only entry boundaries are blank.
        #expect(plain(Self.zero) == """
            0 \\0\\ adj.
               1. indicating the absence of any or all units under
                  consideration; -- representing the number zero as an
                  Arabic numeral.
               Syn: zero
                    [WordNet 1.5 +PJC]

            """)
    }

    @Test func codesBytesAndLayout() {
        // Nested in ordinary brackets; at the very end; unknown codes; a code split by a space.
        #expect(plain("   Warp surface \\surface\\ (A[\"e]ronautics) [A[\"e]ro-] x[ae]") == "   Warp surface \\surface\\ (Aëronautics) [Aëro-] xæ\n")
        #expect(plain("[Obs.] [?] [He] [1913 Webster] [= a] [") == "[Obs.] [?] [He] [1913 Webster] [= a] [\n")
        // A lone layout mark leaves a blank line, which goes; trailing blanks go; leading indent stays.
        #expect(plain("a  \n   [break]\n      b[sb] c   \n\n\n") == "a\n      b c\n")
        // The three stray bytes of the body are Windows-1252.
        let raw = Array("market".utf8) + [0x92] + Array("s fa".utf8) + [0xE7] + Array("ade haven".utf8) + [0xB9] + Array("t".utf8)
        #expect(String(decoding: GCIDEText.plain(raw), as: UTF8.self) == "market\u{2019}s fa\u{E7}ade haven\u{B9}t\n")
        #expect(GCIDEText.plain([UInt8(ascii: "x"), 0x81]) == Array("x\u{FFFD}\n".utf8))
        #expect(plain("") == "" && plain("  \n \n") == "")
    }

    @Test func characterTable() {
        let t = GCIDEText.characters
        let greek = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
                     "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"]
        #expect(greek.map { t[$0]! }.joined() == "αβγδεζηθικλμνξοπρστυφχψω")
        #expect(greek.map { t[$0.prefix(1).uppercased() + $0.dropFirst()]! }.joined() == "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ")
        #expect(t["sigmat"] == "ς")
        #expect(["=a", "a^", "'e", "`e", "\"o", "~n", ",c", "*a", "ae", "OE", "deg", "sect"].map { t[$0]! }.joined() == "āăéèöñçåæŒ°§")
        // Every replacement is valid UTF-8 of at most a few characters, and no code is ordinary text.
        for (code, value) in t {
            #expect(!code.isEmpty && !code.contains(" ") && !code.contains("[") && !code.contains("]"))
            #expect(value.unicodeScalars.count <= 3, "\(code)")
        }
        #expect(GCIDEText.maxCodeLength == 7)
    }

    /// dictd's base-64 numbers, written here by an independent encoder.
    static func b64(_ v: Int) -> String {
        let digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var v = v, out = ""
        repeat { out = String(digits[v % 64]) + out; v /= 64 } while v > 0
        return out
    }

    @Test func base64Numbers() {
        #expect(GCIDEText.base64("A") == 0 && GCIDEText.base64("/") == 63 && GCIDEText.base64("BA") == 64)
        #expect(GCIDEText.base64("5I") == 3656)  // the entry "0" of the real index
        #expect(GCIDEText.base64("BAA") == 4096)
        #expect(GCIDEText.base64("A!") == nil && GCIDEText.base64("") == nil)
        for v in [0, 1, 63, 64, 4095, 39_952_321] { #expect(GCIDEText.base64(Substring(Self.b64(v))) == v) }
    }

    /// A miniature dictionary laid out as the real one: header entries under two headwords each,
    /// entries separated by a blank line, a stray source line outside any indexed entry, and a
    /// last entry the index omits.
    @Test func entriesComeFromTheIndex() throws {
        let header = "00-database-url\n   ftp://ftp.gnu.org/gnu/gcide\n"
        let stray = "\n[1913 Webster]\n\n"
        let tail = "Zythum \\Zy\"thum\\ (z[i^]\"th[u^]m), n.\n   A kind of ancient malt beverage.\n   [1913 Webster]\n"
        let body = "\n\n" + header + "\n" + Self.abalone + "\n" + Self.abacus + stray + Self.zero + "\n" + tail
        let bytes = Array(body.utf8)
        func at(_ s: String) -> Int { bytes.firstRange(of: Array(s.utf8))!.lowerBound }
        func line(_ word: String, _ s: String) -> String { "\(word)\t\(Self.b64(at(s)))\t\(Self.b64(s.utf8.count))" }
        // The index is sorted by headword, not by offset; two headwords share the header and Abacus.
        let index = [line("00-database-url", header), line("00-gcide-url", header), line("0", Self.zero),
                     line("Abaci", Self.abacus), line("Abacus", Self.abacus), line("Abalone", Self.abalone)].joined(separator: "\n") + "\n"
        let c = try GCIDEText.convert(dict: bytes, index: index)
        #expect(c.entries == 4)
        #expect(String(decoding: c.header, as: UTF8.self) == header)
        let text = String(decoding: c.text, as: UTF8.self)
        #expect(text == plain(Self.abalone) + "\n" + plain(Self.abacus + "[1913 Webster]\n") + "\n" + plain(Self.zero) + "\n" + plain(tail))
        #expect(text.components(separatedBy: "\n\n").count == 4)
        #expect(!text.contains("ftp.gnu.org") && !text.hasPrefix("\n") && text.hasSuffix("[1913 Webster]\n"))
    }

    @Test func badIndexIsOneLineNamingTheLine() throws {
        let body = Array("a \\a\\ n.\n   one.\n\nb \\b\\ n.\n   two.\n".utf8)
        func message(_ index: String) -> String? {
            do { _ = try GCIDEText.convert(dict: body, index: index, place: "gcide.index"); return nil } catch { return "\(error)" }
        }
        #expect(message("a\tA\tS\nb\n") == "gcide.index:2: not a dictd index line (headword TAB offset TAB length)")
        #expect(message("a\tA\tZZ\n") == "gcide.index:1: entry 0+1625 lies outside the 35-byte dictionary")
        #expect(message("a\tA\tT\nb\tB\tT\n") == "gcide.index: entries at 0 and 1 overlap")
        #expect(message("a\tA\tS\na2\tA\tT\n") == "gcide.index:2: entry at 0 has two lengths (18, 19)")
        #expect(message("\n") == "gcide.index: no entries")
    }
}
