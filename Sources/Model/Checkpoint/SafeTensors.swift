import Foundation
import JSON
import Persistence

/// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
/// {str: str}}`, then the tensor bytes, little-endian, offsets relative to the end of the header.
///
/// Reading validates what the reference implementation validates (offsets tile the data exactly,
/// sizes match shape × dtype, no duplicate names), so a file we accept opens elsewhere too, and
/// every problem is one line naming the file. F32, F16, BF16 and F64 tensors convert to Float.
public struct SafeTensors: Sendable {
    public enum DType: String, Sendable, CaseIterable {
        case bool = "BOOL", u8 = "U8", i8 = "I8", f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3", f8e8m0 = "F8_E8M0"
        case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
        case i32 = "I32", u32 = "U32", f32 = "F32"
        case i64 = "I64", u64 = "U64", f64 = "F64"

        public var byteSize: Int {
            switch self {
            case .bool, .u8, .i8, .f8e5m2, .f8e4m3, .f8e8m0: 1
            case .i16, .u16, .f16, .bf16: 2
            case .i32, .u32, .f32: 4
            case .i64, .u64, .f64: 8
            }
        }

        /// The dtypes `floats(_:)` converts.
        public static let readable: [DType] = [.f32, .f16, .bf16, .f64]
    }

    public struct TensorInfo: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        /// Bytes within the data section (which starts right after the header).
        public var dataOffsets: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    /// How errors name the file (its path).
    public let source: String
    public let metadata: [String: String]
    /// In header order.
    public let tensors: [TensorInfo]
    private let index: [String: Int]
    private let bytes: Data
    private let dataStart: Int

    /// The reference implementation's limit; a larger length field means "not a safetensors file".
    public static let maxHeaderBytes = 100_000_000

    public subscript(_ name: String) -> TensorInfo? { index[name].map { tensors[$0] } }

    /// Opens a file by memory map (`MappedFile`).
    public init(contentsOf url: URL) throws {
        try self.init(data: try MappedFile.read(url, kind: "a safetensors file"), source: url.path)
    }

    public init(data: Data, source: String) throws {
        func fail(_ m: String) -> ModelError { ModelError("\(source): \(m)") }
        // Work on a zero-based copy of the indices: a Data slice may not start at 0.
        let data = data.startIndex == 0 ? data : Data(data)
        let total = data.count
        guard total >= 8 else {
            throw fail("truncated: \(total) bytes, too short for the 8-byte header length")
        }
        let n = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n <= UInt64(Self.maxHeaderBytes) else {
            throw fail("not a safetensors file: its header length field says \(n) bytes")
        }
        let headerLength = Int(n)
        guard headerLength <= total - 8 else {
            throw fail("truncated: the header is \(headerLength) bytes but only \(total - 8) bytes follow its length field")
        }
        guard headerLength >= 2 else { throw fail("corrupt header: \(headerLength) bytes cannot hold a JSON object") }

        let root: JSONValue
        do {
            root = try JSONParser.parse(Array(data[8..<8 + headerLength]))
        } catch {
            if let key = error.duplicateKey { throw fail("corrupt header: duplicate tensor name \"\(key)\"") }
            throw fail("corrupt header: malformed JSON (\(error.message)); truncated or not a safetensors file")
        }
        guard let object = root.object else { throw fail("corrupt header: JSON is not an object") }

        var metadata: [String: String] = [:]
        var tensors: [TensorInfo] = []
        for key in object.keys {
            let value = object[key]!
            if key == "__metadata__" {
                guard let m = value.object else { throw fail("corrupt header: __metadata__ is not an object") }
                for k in m.keys {
                    guard let s = m[k]!.string else { throw fail("corrupt header: __metadata__ \"\(k)\" is not a string") }
                    metadata[k] = s
                }
                continue
            }
            tensors.append(try Self.tensorInfo(key, value, fail))
        }

        // The data offsets must tile [0, dataLength) exactly, as the reference reader requires.
        var dataLength = 0
        var previous: TensorInfo?
        for t in tensors.sorted(by: { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }) {
            if t.dataOffsets.lowerBound < dataLength, let p = previous {
                throw fail("corrupt header: tensors \"\(p.name)\" and \"\(t.name)\" overlap in the data")
            }
            if t.dataOffsets.lowerBound > dataLength {
                throw fail("corrupt header: \(t.dataOffsets.lowerBound - dataLength) unused bytes before tensor \"\(t.name)\" (data_offsets must be contiguous)")
            }
            dataLength = t.dataOffsets.upperBound
            previous = t
        }
        let available = total - 8 - headerLength
        if dataLength > available {
            throw fail("truncated: header says \(Self.size(dataLength)) of tensor data, file has \(Self.size(available))")
        }
        if dataLength < available {
            throw fail("corrupt: \(available - dataLength) bytes after the last tensor's data")
        }

        self.source = source
        self.metadata = metadata
        self.tensors = tensors
        self.bytes = data
        self.dataStart = 8 + headerLength
        self.index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    private static func tensorInfo(_ name: String, _ value: JSONValue, _ fail: (String) -> ModelError) throws -> TensorInfo {
        func bad(_ m: String) -> ModelError { fail("corrupt header: tensor \"\(name)\": \(m)") }
        guard let o = value.object else { throw bad("entry is not an object") }
        guard let ds = o["dtype"]?.string else { throw bad("missing dtype") }
        guard let dtype = DType(rawValue: ds) else { throw bad("unknown dtype \"\(ds)\"") }
        guard let sj = o["shape"]?.array else { throw bad("missing shape") }
        var shape: [Int] = []
        var count = 1
        for d in sj {
            guard let v = d.int, v >= 0 else { throw bad("shape \(JSONValue.array(sj).summary) is not a list of non-negative integers") }
            shape.append(v)
            let (p, overflow) = count.multipliedReportingOverflow(by: v)
            guard !overflow else { throw bad("shape \(shape) is too large") }
            count = p
        }
        guard let oj = o["data_offsets"]?.array, oj.count == 2, let begin = oj[0].int, let end = oj[1].int, begin >= 0, end >= begin else {
            throw bad("data_offsets \(o["data_offsets"]?.summary ?? "missing") is not [begin, end] with 0 <= begin <= end")
        }
        let (need, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, need == end - begin else {
            throw bad("data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(shape) of \(ds) needs \(overflow ? "more" : String(need))")
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// "1.2 MB (1234567 bytes)": readable, and exact when two sizes round alike.
    static func size(_ bytes: Int) -> String {
        if bytes < 10_000 { return "\(bytes) bytes" }
        let (value, unit): (Double, String) = bytes < 1_000_000 ? (Double(bytes) / 1e3, "kB")
            : bytes < 1_000_000_000 ? (Double(bytes) / 1e6, "MB") : (Double(bytes) / 1e9, "GB")
        return String(format: "%.1f", value) + " \(unit) (\(bytes) bytes)"
    }

    // MARK: Reading tensors

    /// A tensor's values converted to Float.
    public func floats(_ name: String) throws -> [Float] {
        guard let t = self[name] else { throw ModelError("\(source): no tensor \"\(name)\"") }
        var out = [Float](repeating: 0, count: t.count)
        try out.withUnsafeMutableBufferPointer { try read(name, into: $0) }
        return out
    }

    /// Converts a tensor into `destination`, which must hold exactly its element count.
    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard let t = self[name] else { throw ModelError("\(source): no tensor \"\(name)\"") }
        guard destination.count == t.count else {
            throw ModelError("\(source): tensor \"\(name)\" has \(t.count) values, not \(destination.count)")
        }
        guard Self.DType.readable.contains(t.dtype) else {
            throw ModelError("\(source): tensor \"\(name)\" has dtype \(t.dtype.rawValue); only F32, F16, BF16 and F64 can be read")
        }
        guard let out = destination.baseAddress, t.count > 0 else { return }
        bytes.withUnsafeBytes { raw in
            let src = raw.baseAddress! + dataStart + t.dataOffsets.lowerBound
            switch t.dtype {
            case .f32:
                #if _endian(little)
                out.withMemoryRebound(to: UInt8.self, capacity: t.count * 4) { $0.update(from: src.assumingMemoryBound(to: UInt8.self), count: t.count * 4) }
                #else
                for i in 0..<t.count { out[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                #endif
            case .f16:
                for i in 0..<t.count { out[i] = Self.float(half: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .bf16:
                // bfloat16 is the top half of a float32.
                for i in 0..<t.count { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
            case .f64:
                for i in 0..<t.count { out[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
            default:
                preconditionFailure("unreachable: dtype checked above")
            }
        }
    }

    /// `read`, then refuses NaN and infinite values (F64 values beyond Float's range become
    /// infinite here too): weights that would turn every loss into NaN are named up front.
    public func readFinite(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try read(name, into: destination)
        if let i = destination.firstIndex(where: { !$0.isFinite }) {
            throw ModelError("\(source): non-finite weights in tensor \(name) (first at index \(i))")
        }
    }

    /// IEEE binary16 to Float, exactly (every half is a float). By hand rather than `Float16`,
    /// which is not available on every platform Swift builds for.
    static func float(half h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa × 2^-24.
            let v = Float(mantissa) * 0x1p-24
            return sign != 0 ? -v : v
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        default:
            return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
        }
    }

    // MARK: Writing

    /// One tensor to write: `shape`'s element count of values starting at element `offset` of the source buffer.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var offset: Int
        public var count: Int { shape.reduce(1, *) }
        public init(name: String, shape: [Int], offset: Int) {
            self.name = name
            self.shape = shape
            self.offset = offset
        }
    }

    /// The header bytes (length field included) for F32 tensors laid out in `entries` order,
    /// padded with spaces to 8-byte alignment as the reference writer does.
    static func header(_ entries: [Entry], metadata: [String: String]) throws -> Data {
        var root = JSONObject()
        if !metadata.isEmpty {
            var m = JSONObject()
            for k in metadata.keys.sorted() { m[k] = .string(metadata[k]!) }
            root["__metadata__"] = .object(m)
        }
        var end = 0
        for e in entries {
            guard e.name != "__metadata__" else { throw ModelError("safetensors: \"__metadata__\" cannot name a tensor") }
            guard root[e.name] == nil else { throw ModelError("safetensors: duplicate tensor name \"\(e.name)\"") }
            let begin = end
            end += 4 * e.count
            root[e.name] = .object(JSONObject([
                ("dtype", .string("F32")),
                ("shape", .array(e.shape.map { .number($0) })),
                ("data_offsets", .array([.number(begin), .number(end)])),
            ]))
        }
        var json = Array(JSONValue.object(root).serialized().utf8)
        json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var out = Data(count: 8)
        out.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(json.count).littleEndian, as: UInt64.self) }
        out.append(contentsOf: json)
        return out
    }

    private static func check(_ entries: [Entry], against values: [Float]) throws {
        for e in entries {
            guard e.shape.allSatisfy({ $0 >= 0 }), e.offset >= 0, e.offset + e.count <= values.count else {
                throw ModelError("safetensors: tensor \"\(e.name)\" (shape \(e.shape), offset \(e.offset)) lies outside the \(values.count) values given")
            }
        }
    }

    /// The whole file in memory (small files and tests; `write` streams instead).
    public static func encode(_ entries: [Entry], from values: [Float], metadata: [String: String] = [:]) throws -> Data {
        try check(entries, against: values)
        var out = try header(entries, metadata: metadata)
        for e in entries {
            for v in values[e.offset..<e.offset + e.count] {
                withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    /// Writes F32 tensors atomically (temporary file, flush, rename).
    public static func write(_ entries: [Entry], from values: [Float], metadata: [String: String] = [:], to url: URL) throws {
        try check(entries, against: values)
        let head = try header(entries, metadata: metadata)
        #if _endian(little)
        let le = values
        #else
        let le = values.map { Float(bitPattern: $0.bitPattern.littleEndian) }
        #endif
        try AtomicFile.write(to: url) { w in
            try w.write(head)
            try le.withUnsafeBytes { raw in
                for e in entries { try w.write(UnsafeRawBufferPointer(rebasing: raw[4 * e.offset..<4 * (e.offset + e.count)])) }
            }
        }
    }
}
