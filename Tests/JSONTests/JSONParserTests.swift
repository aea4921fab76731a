import Foundation
import JSON
import Testing

@Suite struct JSONParserTests {
    @Test func jsonParserIsStrictAndRoundTrips() throws {
        let text = #"{"s":"a\u00e9\ud83d\ude00\n","n":[-1.5e3,0,12],"o":{"t":true,"f":false,"z":null},"e":[],"eo":{}}"#
        let v = try JSONParser.parse(Array(text.utf8))
        #expect(v.object?["s"]?.string == "aé😀\n")
        #expect(v.object?["n"]?.array?.map(\.double) == [-1500, 0, 12])
        #expect(v.object?["n"]?.array?[0].int == -1500)
        #expect(JSONValue.number("12.5").int == nil)
        let again = try JSONParser.parse(Array(v.serialized().utf8))
        #expect(again.serialized() == v.serialized())
        #expect(try JSONParser.parse(Array(v.serialized(indent: 2).utf8)).serialized() == v.serialized())
        for bad in ["{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "\"\u{01}\"", "tru", "\"\\ud800\"", String(repeating: "[", count: 100)] {
            #expect(throws: JSONSyntaxError.self, "\(bad)") { _ = try JSONParser.parse(Array(bad.utf8)) }
        }
        #expect(throws: JSONSyntaxError.self) { _ = try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }

    /// A JSON Lines record: members in order with the bytes each value spans, positions as byte
    /// offsets into the whole buffer, Python's non-finite floats only when asked for.
    @Test func membersOfALineKeepTheirSpansAndOffsets() throws {
        let line = Array(#"xx{"a": 1.5, "b": {"c": [1, 2]}, "d": NaN}yy"#.utf8)
        let end = line.count - 2
        let members = try line.withUnsafeBufferPointer { b in
            try JSONParser.members(b, from: 2, to: end, options: JSONParser.Options(nonFiniteNumbers: true))
        }
        #expect(members.map(\.key) == ["a", "b", "d"])
        #expect(members[0].value == .number("1.5"))
        #expect(String(decoding: line[members[1].span], as: UTF8.self) == #"{"c": [1, 2]}"#)
        #expect(members[2].value == .number("NaN"))
        func problem(_ text: String, _ options: JSONParser.Options = JSONParser.Options()) -> JSONSyntaxError? {
            let bytes = Array(text.utf8)
            do { _ = try bytes.withUnsafeBufferPointer { try JSONParser.members($0, from: 0, to: bytes.count, options: options) } }
            catch let e as JSONSyntaxError { return e } catch { return nil }
            return nil
        }
        #expect(problem(#"{"d": NaN}"#) == JSONSyntaxError("unexpected character 'N'", offset: 6))
        #expect(problem(#"{"a": 1, "a": 2}"#)?.duplicateKey == "a")
        #expect(problem("[1]") == JSONSyntaxError("expected '{'", offset: 0))
        #expect(problem(#"{"a": 1} x"#) == JSONSyntaxError("unexpected text after the object", offset: 9))
        #expect(problem(#"{"a": -Infinity}"#, JSONParser.Options(nonFiniteNumbers: true)) == nil)
        #expect(problem(#"{"a": 1"#)?.message == "unterminated object at byte 7")
    }

    /// The one escaper: quotes, backslashes and control characters, nothing else.
    @Test func quotingEscapesOnlyWhatJSONRequires() {
        #expect(JSONValue.quoted("a\"b\\c\n\u{01}é") == #""a\"b\\c\n\u0001é""#)
    }
}
