import Foundation
@testable import Model
import Testing

/// The GGUF parser: every metadata type, tensor placement, and one-line refusals of truncated or
/// lying files, made with `GGUFBuilder`.
@Suite struct GGUFReaderTests {
    static let everyType: [(String, GGUFFile.Value)] = [
        ("t.u8", .uint8(200)), ("t.i8", .int8(-100)), ("t.u16", .uint16(60_000)), ("t.i16", .int16(-30_000)),
        ("t.u32", .uint32(4_000_000_000)), ("t.i32", .int32(-2_000_000_000)),
        ("t.u64", .uint64(UInt64.max)), ("t.i64", .int64(Int64.min)),
        ("t.f32", .float32(1e-5)), ("t.f64", .float64(-2.5e300)), ("t.true", .bool(true)), ("t.false", .bool(false)),
        ("t.string", .string("héllo, ✓")), ("t.empty", .string("")),
        ("t.strings", .array(.string(["a", "", "Ġthe"]))),
        ("t.int32s", .array(.int32([3, -1]))),
        ("t.u8s", .array(.uint8([1, 255]))),
        ("t.floats", .array(.float32([0.5, -2]))),
        ("t.doubles", .array(.float64([0.25]))),
        ("t.none", .array(.uint64([]))),
        ("t.nested", .array(.array([.string(["x"]), .bool([])]))),
    ]

    static func richFile(version: UInt32 = 3, alignment: Int? = nil) -> GGUFBuilder {
        var g = GGUFBuilder()
        g.version = version
        g.alignment = alignment
        for (k, v) in everyType { g.set(k, v) }
        g.add("a", dims: [3, 2], type: .f32, data: GGUFBuilder.f32([1, 2, 3, 4, 5, 6]))
        g.add("scalar", dims: [], type: .f32, data: GGUFBuilder.f32([7]))
        g.add("empty", dims: [0, 4], type: .f32, data: [])
        g.add("h", dims: [2], type: .f16, data: [0x00, 0x3C, 0x00, 0xC0])
        return g
    }

    @Test(arguments: [(UInt32(3), Int?.none), (2, nil), (3, 64), (3, 1)])
    func everyValueTypeAndTensorReadsBack(version: UInt32, alignment: Int?) throws {
        let file = try GGUFFile(data: Self.richFile(version: version, alignment: alignment).encode(), source: "f.gguf")
        #expect(file.version == version)
        #expect(file.alignment == alignment ?? 32)
        #expect(file.keys == Self.everyType.map(\.0) + (alignment == nil ? [] : ["general.alignment"]))
        for (k, v) in Self.everyType { #expect(file[key: k] == v, "\(k)") }

        #expect(file.tensors.map(\.name) == ["a", "scalar", "empty", "h"])
        #expect(file["a"]?.dims == [3, 2] && file["a"]?.type == .f32 && file["a"]?.byteCount == 24)
        #expect(file.dataStart % file.alignment == 0)
        #expect(file.tensors.allSatisfy { $0.offset % file.alignment == 0 })
        #expect(try file.floats("a") == [1, 2, 3, 4, 5, 6])
        #expect(try file.floats("scalar") == [7])
        #expect(try file.floats("empty") == [])
        #expect(try file.floats("h") == [1, -2])
    }

    @Test func typedAccessorsConvertOrNameTheMismatch() throws {
        let file = try GGUFFile(data: Self.richFile().encode(), source: "f.gguf")
        #expect(try file.int("t.u8") == 200 && file.int("t.i64") == Int(Int64.min) && file.int("t.u32") == 4_000_000_000)
        #expect(try file.float("t.f32") == Double(Float(1e-5)) && file.float("t.f64") == -2.5e300)
        #expect(try file.string("t.string") == "héllo, ✓" && file.bool("t.true") == true)
        #expect(try file.stringArray("t.strings") == ["a", "", "Ġthe"])
        #expect(try file.int32Array("t.int32s") == [3, -1])
        #expect(try file.intArray("t.u8s") == [1, 255] && file.intArray("t.none") == [])
        #expect(try file.floatArray("t.floats") == [0.5, -2] && file.floatArray("t.doubles") == [0.25])
        #expect(try file.string("absent") == nil && file.int("absent") == nil && file.stringArray("absent") == nil)

        #expect(checkpointErrorMessage { _ = try file.int("t.u64") } == "f.gguf: metadata \"t.u64\" is uint64 18446744073709551615, not an integer")
        #expect(checkpointErrorMessage { _ = try file.string("t.u8") } == "f.gguf: metadata \"t.u8\" is uint8 200, not a string")
        #expect(checkpointErrorMessage { _ = try file.int32Array("t.strings") } == "f.gguf: metadata \"t.strings\" is array of 3 string, not an array of int32")
        #expect(checkpointErrorMessage { _ = try file.intArray("t.nested") } == "f.gguf: metadata \"t.nested\" is array of 2 array, not an array of integers")
        #expect(checkpointErrorMessage { _ = try file.float("t.i8") } == "f.gguf: metadata \"t.i8\" is int8 -100, not a float")
        #expect(checkpointErrorMessage { _ = try file.floats("nope") } == "f.gguf: no tensor \"nope\"")
    }

    /// Every proper prefix of a file is refused in one line naming the file (the last tensor's
    /// data runs to the end, so no prefix is complete).
    @Test func everyPrefixIsRefusedInOneLine() {
        let data = Self.richFile().encode()
        var messages = Set<String>()
        for n in 0..<data.count {
            let message = checkpointErrorMessage { _ = try GGUFFile(data: data.prefix(n), source: "f.gguf") }
            #expect(message?.hasPrefix("f.gguf: ") == true && message?.contains("\n") == false, "prefix \(n): \(message ?? "accepted")")
            if let message { messages.insert(String(message.prefix(30))) }
        }
        #expect(messages.count > 5, "prefixes are refused for different reasons: \(messages)")
    }

    /// Patches `width` little-endian bytes of `value` at `offset`.
    static func patch(_ data: Data, at offset: Int, _ value: UInt64, width: Int = 8) -> Data {
        var d = data
        for k in 0..<width { d[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
        return d
    }

    static func message(_ data: Data) -> String? { checkpointErrorMessage { _ = try GGUFFile(data: data, source: "f.gguf") } }
    static func message(_ g: GGUFBuilder) -> String? { message(g.encode()) }

    @Test func lyingHeaderFieldsAreRefusedBeforeAllocating() {
        var one = GGUFBuilder()
        one.set("k", .uint8(1))
        one.add("w", dims: [2], type: .f32, data: GGUFBuilder.f32([1, 2]))
        let base = one.encode()
        // Header: magic 0..<4, version 4..<8, tensor count 8..<16, metadata count 16..<24, first key length 24..<32.
        var magic = base
        magic[0] = UInt8(ascii: "X")
        #expect(Self.message(magic) == "f.gguf: not a GGUF file (its first bytes are 58 47 55 46, not \"GGUF\")")
        #expect(Self.message(Data("GG".utf8)) == "f.gguf: truncated: 2 bytes, too short for the GGUF magic")
        #expect(Self.message(Self.patch(base, at: 4, 1, width: 4))?.hasPrefix("f.gguf: GGUF version 1 is not supported (only 2 and 3)") == true)
        #expect(Self.message(Self.patch(base, at: 4, 0x0300_0000, width: 4))?.contains("big-endian") == true)
        #expect(Self.message(Self.patch(base, at: 8, 1 << 62)) == "f.gguf: truncated or corrupt: 4611686018427387904 tensor infos cannot fit in the \(base.count - 24) bytes that remain (each takes at least 24; the header, byte 24)")
        #expect(Self.message(Self.patch(base, at: 16, UInt64.max))?.hasPrefix("f.gguf: truncated or corrupt: 18446744073709551615 metadata entries cannot fit") == true)
        #expect(Self.message(Self.patch(base, at: 24, 1 << 63)) == "f.gguf: truncated: the key of metadata entry 0 is a string of 9223372036854775808 bytes at byte 24, the file has \(base.count - 32) more")
        // The value type sits after the 1-byte key "k": bytes 33..<37.
        #expect(Self.message(Self.patch(base, at: 33, 13, width: 4)) == "f.gguf: corrupt: metadata \"k\" has unknown value type 13 (byte 33)")
        #expect(Self.message(Self.patch(base, at: 37, 2, width: 1)) == nil, "a uint8 may be 2")
        #expect(Self.message(Self.patch(Self.patch(base, at: 33, 7, width: 4), at: 37, 2, width: 1)) == "f.gguf: corrupt: metadata \"k\" is a bool of value 2, not 0 or 1 (byte 37)")
    }

    @Test func lyingMetadataIsRefused() {
        func with(_ key: String, _ value: GGUFFile.Value) -> GGUFBuilder {
            var g = GGUFBuilder()
            g.set(key, value)
            return g
        }
        // An array claiming 2^60 elements: refused from its count, not by trying to allocate them.
        var huge = with("arr", .array(.uint64([1]))).encode()
        let countAt = 24 + 8 + 3 + 4 + 4  // key length, "arr", value type, element type
        huge = Self.patch(huge, at: countAt, 1 << 60)
        #expect(Self.message(huge) == "f.gguf: truncated or corrupt: 1152921504606846976 array elements of type uint64 cannot fit in the \(huge.count - countAt - 8) bytes that remain (each takes at least 8; metadata \"arr\", byte \(countAt + 8))")
        var strings = with("s", .array(.string(["ab"]))).encode()
        strings = Self.patch(strings, at: 24 + 8 + 1 + 4 + 4 + 8, 1 << 40)
        #expect(Self.message(strings) == "f.gguf: truncated: metadata \"s\" element 0 is a string of 1099511627776 bytes at byte 49, the file has \(strings.count - 57) more")

        var nested: GGUFFile.ArrayValue = .uint8([])
        for _ in 0..<GGUFFile.maxNesting { nested = .array([nested]) }
        let deep = GGUFFile.Value.array(nested)
        #expect(Self.message(with("deep", deep))?.hasPrefix("f.gguf: corrupt: metadata \"deep\" element 0 element 0") == true)
        #expect(Self.message(with("deep", deep))?.contains("nests arrays deeper than 8") == true)

        var duplicate = with("k", .uint8(1))
        duplicate.metadata.append(("k", .uint8(2)))
        #expect(Self.message(duplicate) == "f.gguf: duplicate metadata key \"k\" (entry 1)")
        var badUTF8 = with("ab", .string("x")).encode()
        badUTF8[32] = 0xFF
        #expect(Self.message(badUTF8) == "f.gguf: corrupt: the key of metadata entry 0 is not valid UTF-8 (string at byte 24)")
        for bad: GGUFFile.Value in [.uint32(0), .uint32(48), .string("32"), .int64(-32)] {
            #expect(Self.message(with("general.alignment", bad))?.hasPrefix("f.gguf: general.alignment is \(bad.summary), not a power of two") == true)
        }
        // A line break in a key stays escaped: one line.
        #expect(Self.message(with("a\nb", .uint32(5)).encode().prefix(40))?.contains("\n") == false)
    }

    @Test func lyingTensorInfosAreRefused() {
        func file(_ tensors: [GGUFBuilder.Tensor]) -> GGUFBuilder {
            var g = GGUFBuilder()
            g.tensors = tensors
            return g
        }
        func t(_ dims: [Int], _ type: GGMLType = .f32, name: String = "w", bytes: Int? = nil, offset: Int? = nil) -> GGUFBuilder.Tensor {
            GGUFBuilder.Tensor(name: name, dims: dims, type: type, data: [UInt8](repeating: 0, count: bytes ?? 4 * dims.reduce(1, *)), offset: offset)
        }
        #expect(Self.message(file([t([1, 1, 1, 1, 1])])) == "f.gguf: tensor \"w\" has 5 dimensions, GGUF allows at most 4 (tensor info 0)")
        #expect(Self.message(file([t([1 << 32, 1 << 32], bytes: 0)])) == "f.gguf: tensor \"w\" has a dimension of 4294967296 after dims [4294967296]: the element count overflows (tensor info 0)")
        #expect(Self.message(file([t([Int.max - 31], .q8_0, bytes: 0)]))?.contains("its size overflows") == true)
        #expect(Self.message(file([t([1 << 40], bytes: 8)])) == "f.gguf: truncated: tensor \"w\" needs bytes 0..<4398046511104 of the data section, which has 8 (starting at byte 64)")
        #expect(Self.message(file([t([16, 2], .q8_0, bytes: 34)])) == "f.gguf: tensor \"w\" has dims [16, 2]: a row of 16 is not a whole number of Q8_0 blocks of 32 (tensor info 0)")
        #expect(Self.message(file([t([1], bytes: 4, offset: 4)])) == "f.gguf: tensor \"w\" has data offset 4, not a multiple of the alignment 32 (tensor info 0)")
        #expect(Self.message(file([t([1], bytes: 4, offset: 1 << 40)]))?.hasPrefix("f.gguf: truncated: tensor \"w\" needs bytes 1099511627776..<1099511627780") == true)
        #expect(Self.message(file([t([16], name: "a"), t([8], name: "b", offset: 32)])) == "f.gguf: tensors \"a\" and \"b\" overlap in the data (offsets 0 and 32)")
        #expect(Self.message(file([t([2], name: "a"), t([2], name: "a")])) == "f.gguf: duplicate tensor name \"a\" (tensor info 1)")
        var unknown = file([t([2])]).encode()
        // The type field follows the name (8 + 1 bytes), dimension count (4) and one dim (8).
        unknown = Self.patch(unknown, at: 24 + 9 + 4 + 8, 4, width: 4)
        #expect(Self.message(unknown) == "f.gguf: tensor \"w\" has unknown ggml type 4 (tensor info 0)")
        // Tensors of zero bytes may share an offset; an unreadable type is refused when read, by name.
        var zero = try? GGUFFile(data: file([t([0], name: "a"), t([0, 3], name: "b"), t([32], .q5_0, name: "q", bytes: 22)]).encode(), source: "f.gguf")
        #expect(zero?.tensors.count == 3)
        #expect(checkpointErrorMessage { _ = try zero?.floats("q") } == "f.gguf: tensor \"q\": ggml type Q5_0 cannot be converted to float (PruneScale reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)")
        zero = nil
    }
}

/// Dequantisation of every supported type against the `gguf` package's reference dequantisers,
/// on a file its own writer made (so the parser is checked against an independent writer too).
@Suite struct GGUFQuantTests {
    struct Case: Decodable { var name: String, type: String, count: Int, offset: Int }

    @Test func everyTypeMatchesTheReferenceExactly() throws {
        let dir = try checkpointScratchDirectory("gguf-quant")
        defer { try? FileManager.default.removeItem(at: dir) }
        try runGGUFFixture("gguf_quant_reference.py", [dir.path])
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: dir.appendingPathComponent("expected.json")))
        let expected = try readFloat64s(dir.appendingPathComponent("expected.bin"))
        let file = try GGUFFile(contentsOf: dir.appendingPathComponent("quants.gguf"))

        #expect(Set(cases.map(\.type)) == Set(GGUFQuant.readable.map(\.name)), "every readable type is covered")
        #expect(file.tensors.map(\.name) == cases.map(\.name))
        for c in cases {
            let t = try #require(file[c.name])
            #expect(t.type.name == c.type)
            let got = try file.floats(c.name)
            try #require(got.count == c.count, "\(c.name): \(got.count) values, expected \(c.count)")
            var mismatches = 0, first = ""
            for i in 0..<c.count {
                let want = Float(expected[c.offset + i])  // exact: the reference computed in float32
                let same = got[i].bitPattern == want.bitPattern || (got[i].isNaN && want.isNaN)
                if !same {
                    if mismatches == 0 { first = "value \(i): \(got[i]) vs \(want)" }
                    mismatches += 1
                }
            }
            #expect(mismatches == 0, "\(c.name) (\(c.type)): \(mismatches) of \(c.count) values differ; first \(first)")
        }
    }

    /// The block layouts by hand, against values worked out here (a regression check that does
    /// not need Python).
    @Test func handMadeBlocks() throws {
        func deq(_ type: GGMLType, _ bytes: [UInt8], _ count: Int) throws -> [Float] {
            try bytes.withUnsafeBytes { try GGUFQuant.dequantize(type, $0, count: count) }
        }
        // Q4_0: d = 2; nibble 8 is zero; byte j = (low: j % 16, high: 15 - j % 16).
        let q40: [UInt8] = [0x00, 0x40] + (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        #expect(try deq(.q4_0, q40, 32) == (0..<16).map { Float(2 * ($0 - 8)) } + (0..<16).map { Float(2 * (7 - $0)) })
        // Q4_1: d = 1, m = -0.5.
        let q41: [UInt8] = [0x00, 0x3C, 0x00, 0xB8] + (0..<16).map { UInt8($0) << 4 }
        #expect(try deq(.q4_1, q41, 32) == [Float](repeating: -0.5, count: 16) + (0..<16).map { Float($0) - 0.5 })
        // Q8_0: d = 0.25.
        let q80: [UInt8] = [0x00, 0x34] + (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        #expect(try deq(.q8_0, q80, 32) == (0..<32).map { Float($0 - 16) / 4 })
        // Q4_K: d = dmin = 1, every code 1. Sub-block s has scale s + 1 and min s, so each value
        // is 1, except that the two spare top bits of byte 3 (sub-block 3's scale) are the top
        // bits of sub-block 7's scale: 8 + 48 = 56, and its values 56 - 7 = 49.
        var scales = [UInt8](repeating: 0, count: 12)
        for s in 0..<4 { scales[s] = UInt8(s + 1); scales[s + 4] = UInt8(s) }
        for s in 4..<8 { scales[s + 4] = UInt8(s + 1) | UInt8(s) << 4 }
        scales[3] |= 0xC0
        let q4k: [UInt8] = [0x00, 0x3C, 0x00, 0x3C] + scales + [UInt8](repeating: 0x11, count: 128)
        #expect(try deq(.q4_K, q4k, 256) == [Float](repeating: 1, count: 224) + [Float](repeating: 49, count: 32))
        #expect(checkpointErrorMessage { _ = try deq(.q8_0, q80, 16) } == "16 values are not a whole number of Q8_0 blocks of 32")
        #expect(checkpointErrorMessage { _ = try deq(.q8_0, q80 + [0], 32) } == "32 values of Q8_0 take 34 bytes, not 35")
        #expect(checkpointErrorMessage { _ = try deq(.q2_K, [], 0) }?.hasPrefix("ggml type Q2_K cannot be converted to float") == true)
    }
}
