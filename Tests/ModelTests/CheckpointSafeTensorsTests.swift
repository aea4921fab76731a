import Foundation
@testable import Model
import Testing

/// A file assembled by hand: length field, header text as given (unpadded), data bytes.
func rawSafeTensors(_ header: String, _ data: [UInt8] = []) -> Data {
    let h = Array(header.utf8)
    var out = Data()
    withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: h)
    out.append(contentsOf: data)
    return out
}

/// The error message `body` throws, or nil.
func checkpointErrorMessage(_ body: () throws -> Void) -> String? {
    do { try body() } catch let e as ModelError { return e.message } catch { return "not a ModelError: \(error)" }
    return nil
}

func checkpointLittleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

@Suite struct CheckpointSafeTensorsTests {
    let entries = [
        SafeTensors.Entry(name: "a", shape: [2, 3], offset: 0),
        SafeTensors.Entry(name: "b.weight", shape: [4], offset: 6),
        SafeTensors.Entry(name: "empty", shape: [0, 5], offset: 10),
    ]
    let values: [Float] = [1, -2, 3.5, 0, -0.0, .leastNonzeroMagnitude, 7, 8, .greatestFiniteMagnitude, -.infinity]

    @Test func encodesTheReferenceLayoutAndReadsItBack() throws {
        let data = try SafeTensors.encode(entries, from: values, metadata: ["format": "pt", "note": "quote \" and ✓"])
        let n = data.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect(n % 8 == 0, "header padded to 8 bytes")
        let header = String(decoding: data[8..<8 + n], as: UTF8.self)
        #expect(header.hasPrefix(#"{"__metadata__":{"format":"pt","note":"quote \" and ✓"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}"#))
        #expect(header.hasSuffix("}") || header.hasSuffix(" "))
        #expect(data.count == 8 + n + 4 * 10)

        let file = try SafeTensors(data: data, source: "mem")
        #expect(file.metadata == ["format": "pt", "note": "quote \" and ✓"])
        #expect(file.tensors.map(\.name) == ["a", "b.weight", "empty"])
        #expect(file["b.weight"]?.shape == [4])
        #expect(file["b.weight"]?.dtype == .f32)
        #expect(try file.floats("a").map(\.bitPattern) == values[0..<6].map(\.bitPattern))
        #expect(try file.floats("b.weight").map(\.bitPattern) == values[6..<10].map(\.bitPattern))
        #expect(try file.floats("empty") == [])
    }

    @Test func decodesHalfPrecisionToKnownValues() throws {
        let half: [UInt16] = [0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001, 0x03FF, 0x8000, 0x7C00, 0xFC00, 0x3800]
        let expected: [Float] = [1, -2, 0.333251953125, 65504, 0x1p-24, 0x1.FF8p-15, -0.0, .infinity, -.infinity, 0.5]
        let file = try SafeTensors(data: rawSafeTensors(#"{"h":{"dtype":"F16","shape":[10],"data_offsets":[0,20]}}"#, checkpointLittleEndian(half)), source: "mem")
        #expect(try file.floats("h").map(\.bitPattern) == expected.map(\.bitPattern))
        // NaN stays NaN.
        let nan = try SafeTensors(data: rawSafeTensors(#"{"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}"#, checkpointLittleEndian([UInt16(0x7E00)])), source: "mem")
        #expect(try nan.floats("h")[0].isNaN)
    }

    @Test func decodesBFloat16AndFloat64() throws {
        let bf: [UInt16] = [0x3F80, 0xC040, 0x3EAB, 0x7F80, 0x0001, 0x8000]
        let expected: [Float] = [1, -3, 0.333984375, .infinity, Float(bitPattern: 0x0001_0000), -0.0]
        let f64: [Double] = [0.1, -1e300, 2.5]
        let header = #"{"bf":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"d":{"dtype":"F64","shape":[3],"data_offsets":[12,36]}}"#
        let file = try SafeTensors(data: rawSafeTensors(header, checkpointLittleEndian(bf) + checkpointLittleEndian(f64.map(\.bitPattern))), source: "mem")
        #expect(try file.floats("bf").map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(try file.floats("d") == [Float(0.1), -.infinity, 2.5])
    }

    @Test func truncationAnywhereIsReportedAsTruncation() throws {
        let data = try SafeTensors.encode(entries, from: values)
        let n = data.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        for cut in [0, 3, 8, 9, 8 + n / 2, 8 + n, 8 + n + 1, 8 + n + 20, data.count - 1] {
            let message = checkpointErrorMessage { _ = try SafeTensors(data: data.prefix(cut), source: "model.safetensors") }
            #expect(message?.hasPrefix("model.safetensors: ") == true, "cut at \(cut): \(message ?? "no error")")
            #expect(message?.contains("truncated") == true, "cut at \(cut): \(message ?? "no error")")
        }
        let message = checkpointErrorMessage { _ = try SafeTensors(data: data.prefix(data.count - 12), source: "m") }
        #expect(message == "m: truncated: header says 40 bytes of tensor data, file has 28 bytes")
        #expect(SafeTensors.size(1_234_567) == "1.2 MB (1234567 bytes)")
    }

    @Test func rejectsCorruptHeadersWithOneLine() throws {
        let f32 = [UInt8](repeating: 0, count: 8)
        let cases: [(String, [UInt8], String)] = [
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]"#, f32, "malformed JSON"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} garbage"#, f32, "malformed JSON"),
            (#"[1,2]"#, [], "not an object"),
            (#"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, f32, #"unknown dtype "Q4""#),
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, f32, "needs 12"),
            (#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, f32, "non-negative"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, f32, "data_offsets"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, f32, #"duplicate tensor name "a""#),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32, "overlap"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32, "unused bytes"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, f32, "4 bytes after"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [0, 0], "truncated"),
            (#"{"__metadata__":{"format":1}}"#, [], "__metadata__"),
            (#"{"a":{"shape":[2],"data_offsets":[0,8]}}"#, f32, "missing dtype"),
        ]
        for (header, data, fragment) in cases {
            let message = checkpointErrorMessage { _ = try SafeTensors(data: rawSafeTensors(header, data), source: "x.safetensors") }
            #expect(message?.hasPrefix("x.safetensors: ") == true && message?.contains(fragment) == true,
                    "\(header): \(message ?? "accepted")")
            #expect(message?.contains("\n") == false)
        }
        var absurd = Data(checkpointLittleEndian([UInt64(1) << 40]))
        absurd.append(contentsOf: [UInt8](repeating: 0x7B, count: 16))
        #expect(checkpointErrorMessage { _ = try SafeTensors(data: absurd, source: "y") }?.contains("not a safetensors file") == true)
    }

    @Test func refusesToConvertNonFloatTensors() throws {
        let file = try SafeTensors(data: rawSafeTensors(#"{"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8)), source: "z")
        #expect(checkpointErrorMessage { _ = try file.floats("i") } == "z: tensor \"i\" has dtype I64; only F32, F16, BF16 and F64 can be read")
        #expect(checkpointErrorMessage { _ = try file.floats("nope") }?.contains("no tensor") == true)
    }

    @Test func writesAtomicallyAndReadsByFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("t.safetensors")
        try SafeTensors.write(entries, from: values, metadata: ["k": "v"], to: url)
        try SafeTensors.write(entries, from: values.map { $0 * 2 }, to: url)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["t.safetensors"], "no temporary files left")
        #expect(try Data(contentsOf: url) == SafeTensors.encode(entries, from: values.map { $0 * 2 }))
        let file = try SafeTensors(contentsOf: url)
        #expect(try file.floats("a") == [2, -4, 7, 0, 0, 2 * .leastNonzeroMagnitude])
        #expect(file.metadata.isEmpty)
        #expect(checkpointErrorMessage { _ = try SafeTensors(contentsOf: dir.appendingPathComponent("none")) } == "\(dir.path)/none: no such file")
        #expect(checkpointErrorMessage { try SafeTensors.write([SafeTensors.Entry(name: "a", shape: [11], offset: 0)], from: values, to: url) }?.contains("outside") == true)
        #expect(checkpointErrorMessage { try SafeTensors.write([entries[0], entries[0]], from: values, to: url) }?.contains("duplicate") == true)
    }
}
