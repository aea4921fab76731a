import Foundation
import Persistence

/// A GGUF file (llama.cpp's model format, versions 2 and 3, little-endian):
///
///     "GGUF" | version u32 | tensor count u64 | metadata count u64
///     metadata: key (string), value type u32, value
///     tensor infos: name (string), dimension count u32, dims u64 × count (innermost first),
///                   ggml type u32, offset u64 (from the data section's start)
///     padding to `general.alignment` (default 32), then the tensor data
///
/// A string is a u64 byte count and UTF-8 bytes; an array is an element type u32, a u64 count and
/// the elements (arrays may nest). A linear weight `[out, in]` in Hugging Face's terms has GGUF
/// dims `[in, out]`.
///
/// Reading never trusts a count: every length is checked against the bytes that remain before
/// anything is allocated from it, dims products are checked for overflow, tensor data must lie
/// inside the file without overlapping, and every problem is one `ModelError` line
/// `path: what is wrong (where)`. The file is memory-mapped; tensors convert on demand.
public struct GGUFFile: Sendable {
    public enum ValueType: UInt32, Sendable, CaseIterable {
        case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
        case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

        /// The fewest bytes a value of this type takes (arrays: element type and count).
        var minimumSize: Int {
            switch self {
            case .uint8, .int8, .bool: 1
            case .uint16, .int16: 2
            case .uint32, .int32, .float32: 4
            case .uint64, .int64, .float64, .string: 8
            case .array: 12
            }
        }
    }

    public enum Value: Sendable, Equatable {
        case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
        case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
        case array(ArrayValue)

        public var type: ValueType {
            switch self {
            case .uint8: .uint8
            case .int8: .int8
            case .uint16: .uint16
            case .int16: .int16
            case .uint32: .uint32
            case .int32: .int32
            case .uint64: .uint64
            case .int64: .int64
            case .float32: .float32
            case .float64: .float64
            case .bool: .bool
            case .string: .string
            case .array: .array
            }
        }

        /// Any integer type, if its value fits in `Int`.
        public var int: Int? {
            switch self {
            case .uint8(let v): Int(v)
            case .int8(let v): Int(v)
            case .uint16(let v): Int(v)
            case .int16(let v): Int(v)
            case .uint32(let v): Int(v)
            case .int32(let v): Int(v)
            case .uint64(let v): Int(exactly: v)
            case .int64(let v): Int(exactly: v)
            default: nil
            }
        }

        /// float32 and float64 (a float32 widened exactly).
        public var double: Double? {
            switch self {
            case .float32(let v): Double(v)
            case .float64(let v): v
            default: nil
            }
        }

        /// "uint32 3", "string \"llama\"", "array of 3 string": for messages.
        public var summary: String {
            switch self {
            case .string(let s): "string \"\(s.count > 40 ? String(s.prefix(40)) + "…" : s)\""
            case .array(let a): "array of \(a.count) \(a.elementType)"
            case .bool(let b): "bool \(b)"
            case .uint64(let v): "uint64 \(v)"
            case .float32(let v): "float32 \(v)"
            case .float64(let v): "float64 \(v)"
            default: "\(type) \(int!)"  // the other integer types all fit in Int
            }
        }
    }

    /// An array's elements, stored by their type: a byte array costs a byte per element here as
    /// in the file, so what a file can make the reader hold stays proportional to its size.
    public enum ArrayValue: Sendable, Equatable {
        case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16]), uint32([UInt32]), int32([Int32])
        case uint64([UInt64]), int64([Int64]), float32([Float]), float64([Double]), bool([Bool]), string([String])
        case array([ArrayValue])

        public var elementType: ValueType {
            switch self {
            case .uint8: .uint8
            case .int8: .int8
            case .uint16: .uint16
            case .int16: .int16
            case .uint32: .uint32
            case .int32: .int32
            case .uint64: .uint64
            case .int64: .int64
            case .float32: .float32
            case .float64: .float64
            case .bool: .bool
            case .string: .string
            case .array: .array
            }
        }

        public var count: Int { elements.count }

        /// The elements one by one (nested arrays as `.array`).
        public var elements: [Value] {
            switch self {
            case .uint8(let a): a.map { .uint8($0) }
            case .int8(let a): a.map { .int8($0) }
            case .uint16(let a): a.map { .uint16($0) }
            case .int16(let a): a.map { .int16($0) }
            case .uint32(let a): a.map { .uint32($0) }
            case .int32(let a): a.map { .int32($0) }
            case .uint64(let a): a.map { .uint64($0) }
            case .int64(let a): a.map { .int64($0) }
            case .float32(let a): a.map { .float32($0) }
            case .float64(let a): a.map { .float64($0) }
            case .bool(let a): a.map { .bool($0) }
            case .string(let a): a.map { .string($0) }
            case .array(let a): a.map { .array($0) }
            }
        }
    }

    public struct TensorInfo: Sendable, Equatable {
        public var name: String
        /// GGUF order: innermost (contiguous) dimension first.
        public var dims: [Int]
        public var type: GGMLType
        /// Bytes from the start of the data section.
        public var offset: Int
        public var byteCount: Int
        public var count: Int { dims.reduce(1, *) }
    }

    /// How errors name the file (its path).
    public let source: String
    public let version: UInt32
    /// The data section's alignment (`general.alignment`, default 32).
    public let alignment: Int
    /// Metadata keys in file order.
    public let keys: [String]
    private let values: [String: Value]
    /// In file order.
    public let tensors: [TensorInfo]
    private let index: [String: Int]
    private let bytes: Data
    /// Where the data section starts in the file.
    public let dataStart: Int

    public static let defaultAlignment = 32
    /// ggml's `GGML_MAX_DIMS`.
    public static let maxDimensions = 4
    /// Arrays of arrays deeper than this are refused rather than recursed into (a file can nest
    /// thousands deep in a few kilobytes; nothing real nests at all).
    static let maxNesting = 8

    public subscript(_ name: String) -> TensorInfo? { index[name].map { tensors[$0] } }

    /// Opens a file by memory map (tensors are converted on demand).
    public init(contentsOf url: URL) throws {
        try self.init(data: try MappedFile.read(url, kind: "a GGUF file"), source: url.path)
    }

    public init(data: Data, source: String) throws {
        // Work on a zero-based copy of the indices: a Data slice may not start at 0.
        let data = data.startIndex == 0 ? data : Data(data)
        let parsed = try data.withUnsafeBytes { raw in
            var r = ByteReader(raw: raw, source: source)
            return try Self.parse(&r)
        }
        self.source = source
        self.version = parsed.version
        self.alignment = parsed.alignment
        self.keys = parsed.keys
        self.values = parsed.values
        self.tensors = parsed.tensors
        self.dataStart = parsed.dataStart
        self.bytes = data
        self.index = Dictionary(uniqueKeysWithValues: parsed.tensors.enumerated().map { ($1.name, $0) })
    }

    // MARK: Parsing

    private struct Parsed {
        var version: UInt32
        var alignment: Int
        var keys: [String]
        var values: [String: Value]
        var tensors: [TensorInfo]
        var dataStart: Int
    }

    private static func parse(_ r: inout ByteReader) throws -> Parsed {
        let total = r.raw.count
        guard total >= 4 else { throw r.fail("truncated: \(total) bytes, too short for the GGUF magic") }
        guard Array(r.raw[0..<4]) == Array("GGUF".utf8) else {
            let shown = r.raw[0..<4].map { String(format: "%02x", $0) }.joined(separator: " ")
            throw r.fail("not a GGUF file (its first bytes are \(shown), not \"GGUF\")")
        }
        r.at = 4
        let version = try r.u32("the version")
        guard version == 2 || version == 3 else {
            let hint = version > 0xFFFF ? " (a big-endian file? only little-endian GGUF is supported)" : version == 1 ? " (GGUF v1 predates 64-bit counts; re-convert the model)" : ""
            throw r.fail("GGUF version \(version) is not supported (only 2 and 3)\(hint)")
        }
        let tensorCount = try r.u64("the tensor count")
        let kvCount = try r.u64("the metadata count")
        // Each metadata entry takes at least a key length, a type and a 1-byte value; each tensor
        // info a name length, a dimension count, a type and an offset.
        try r.requireCount(kvCount, eachAtLeast: 8 + 4 + 1, "metadata entries", "the header")
        try r.requireCount(tensorCount, eachAtLeast: 8 + 4 + 4 + 8, "tensor infos", "the header")

        var keys: [String] = []
        var values: [String: Value] = [:]
        keys.reserveCapacity(Int(kvCount))
        for i in 0..<Int(kvCount) {
            let key = try r.string("the key of metadata entry \(i)")
            let place = "metadata \(ModelError.quoted(key))"
            guard values[key] == nil else { throw r.fail("duplicate metadata key \(ModelError.quoted(key)) (entry \(i))") }
            let type = try r.valueType(place)
            values[key] = try r.value(type, place, depth: 0)
            keys.append(key)
        }

        var alignment = defaultAlignment
        if let a = values["general.alignment"] {
            guard let n = a.int, n > 0, n & (n - 1) == 0, n <= 1 << 30 else {
                throw r.fail("general.alignment is \(a.summary), not a power of two (metadata)")
            }
            alignment = n
        }

        var tensors: [TensorInfo] = []
        var names = Set<String>()
        tensors.reserveCapacity(Int(tensorCount))
        for i in 0..<Int(tensorCount) {
            let name = try r.string("the name of tensor info \(i)")
            let place = "tensor \(ModelError.quoted(name))"
            guard names.insert(name).inserted else { throw r.fail("duplicate tensor name \(ModelError.quoted(name)) (tensor info \(i))") }
            let n = try r.u32("the dimension count of \(place)")
            guard n <= maxDimensions else { throw r.fail("\(place) has \(n) dimensions, GGUF allows at most \(maxDimensions) (tensor info \(i))") }
            var dims: [Int] = []
            var count = 1
            for _ in 0..<Int(n) {
                let d = try r.u64("the dims of \(place)")
                let (p, overflow) = count.multipliedReportingOverflow(by: Int(clamping: d))
                guard d <= UInt64(Int.max), !overflow else {
                    throw r.fail("\(place) has a dimension of \(d) after dims \(dims): the element count overflows (tensor info \(i))")
                }
                dims.append(Int(d))
                count = p
            }
            let rawType = try r.u32("the type of \(place)")
            guard let type = GGMLType(rawValue: rawType) else {
                throw r.fail("\(place) has unknown ggml type \(rawType) (tensor info \(i))")
            }
            let offset = try r.u64("the offset of \(place)")
            let elements = type.block.elements
            guard dims.first.map({ $0 % elements == 0 }) ?? (elements == 1) else {
                throw r.fail("\(place) has dims \(dims): a row of \(dims.first ?? 1) is not a whole number of \(type.name) blocks of \(elements) (tensor info \(i))")
            }
            guard let byteCount = GGUFQuant.byteCount(type, count: count) else {
                throw r.fail("\(place) has dims \(dims) of \(type.name): its size overflows (tensor info \(i))")
            }
            guard offset <= UInt64(Int.max), Int(offset) % alignment == 0 else {
                throw r.fail("\(place) has data offset \(offset), not a multiple of the alignment \(alignment) (tensor info \(i))")
            }
            tensors.append(TensorInfo(name: name, dims: dims, type: type, offset: Int(offset), byteCount: byteCount))
        }

        // The data section starts at the next multiple of the alignment; its tensors must lie
        // inside the file and not overlap (gaps between them are padding).
        let (padded, overflow) = r.at.addingReportingOverflow(alignment - 1)
        let dataStart = overflow ? Int.max : padded / alignment * alignment
        let available = total - min(dataStart, total)
        var end = 0
        var previous: TensorInfo?
        for t in tensors.sorted(by: { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }) {
            if t.offset < end, let p = previous {
                throw r.fail("tensors \(ModelError.quoted(p.name)) and \(ModelError.quoted(t.name)) overlap in the data (offsets \(p.offset) and \(t.offset))")
            }
            let (tEnd, o) = t.offset.addingReportingOverflow(t.byteCount)
            guard !o, dataStart <= total, tEnd <= available else {
                throw r.fail("truncated: tensor \(ModelError.quoted(t.name)) needs bytes \(t.offset)..<\(o ? "∞" : String(tEnd)) of the data section, which has \(available) (starting at byte \(dataStart))")
            }
            if t.byteCount > 0 {
                end = tEnd
                previous = t
            }
        }
        return Parsed(version: version, alignment: alignment, keys: keys, values: values, tensors: tensors, dataStart: dataStart)
    }

    // MARK: Metadata

    public subscript(key key: String) -> Value? { values[key] }

    private func wrongType(_ key: String, _ v: Value, _ wanted: String) -> ModelError {
        ModelError("\(source): metadata \(ModelError.quoted(key)) is \(v.summary), not \(wanted)")
    }

    /// nil when absent; an error naming the key when present with another type.
    public func string(_ key: String) throws -> String? {
        guard let v = values[key] else { return nil }
        guard case .string(let s) = v else { throw wrongType(key, v, "a string") }
        return s
    }

    /// Any integer type whose value fits in `Int`.
    public func int(_ key: String) throws -> Int? {
        guard let v = values[key] else { return nil }
        guard let n = v.int else { throw wrongType(key, v, "an integer") }
        return n
    }

    /// float32 or float64.
    public func float(_ key: String) throws -> Double? {
        guard let v = values[key] else { return nil }
        guard let x = v.double else { throw wrongType(key, v, "a float") }
        return x
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = values[key] else { return nil }
        guard case .bool(let b) = v else { throw wrongType(key, v, "a bool") }
        return b
    }

    /// An array of strings (`tokenizer.ggml.tokens`, `.merges`).
    public func stringArray(_ key: String) throws -> [String]? {
        guard let v = values[key] else { return nil }
        guard case .array(.string(let a)) = v else { throw wrongType(key, v, "an array of strings") }
        return a
    }

    /// An array of int32 (`tokenizer.ggml.token_type`).
    public func int32Array(_ key: String) throws -> [Int32]? {
        guard let v = values[key] else { return nil }
        guard case .array(.int32(let a)) = v else { throw wrongType(key, v, "an array of int32") }
        return a
    }

    /// An array of any integer type whose values fit in `Int` (per-layer head counts).
    public func intArray(_ key: String) throws -> [Int]? {
        guard let v = values[key] else { return nil }
        guard case .array(let a) = v, a.elementType != .array else { throw wrongType(key, v, "an array of integers") }
        let out = a.elements.compactMap(\.int)
        guard out.count == a.count else { throw wrongType(key, v, "an array of integers") }
        return out
    }

    /// An array of float32 or float64 (float64 rounded to Float).
    public func floatArray(_ key: String) throws -> [Float]? {
        guard let v = values[key] else { return nil }
        switch v {
        case .array(.float32(let a)): return a
        case .array(.float64(let a)): return a.map { Float($0) }
        default: throw wrongType(key, v, "an array of floats")
        }
    }

    // MARK: Tensors

    private func info(_ name: String) throws -> TensorInfo {
        guard let t = self[name] else { throw ModelError("\(source): no tensor \(ModelError.quoted(name))") }
        return t
    }

    /// A tensor's values converted to Float (in GGUF order: the innermost dimension varies fastest).
    public func floats(_ name: String) throws -> [Float] {
        let t = try info(name)
        guard GGUFQuant.readable.contains(t.type) else {
            throw ModelError("\(source): tensor \(ModelError.quoted(name)): \(GGUFQuant.unreadable(t.type).message)")
        }
        return try bytes.withUnsafeBytes { raw in
            let at = dataStart + t.offset
            return try GGUFQuant.dequantize(t.type, UnsafeRawBufferPointer(rebasing: raw[at..<at + t.byteCount]), count: t.count)
        }
    }

    /// `floats`, refusing NaN and infinite values (weights that would make every loss NaN).
    public func finiteFloats(_ name: String) throws -> [Float] {
        let values = try floats(name)
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw ModelError("\(source): non-finite weights in tensor \(name) (first at index \(i))")
        }
        return values
    }
}

extension ModelError {
    /// `"name"`, for names quoted from a file (one line whatever they hold: see `oneLine`).
    static func quoted(_ s: String) -> String { "\"\(s)\"" }
}

/// A bounds-checked little-endian cursor over the file's bytes. `what` (an autoclosure, so
/// nothing is formatted on the happy path) says where in the file a failure happened.
private struct ByteReader {
    let raw: UnsafeRawBufferPointer
    let source: String
    var at = 0
    var remaining: Int { raw.count - at }

    func fail(_ m: String) -> ModelError { ModelError("\(source): \(m)") }

    /// Moves past `n` bytes and returns where they start.
    mutating func take(_ n: Int, _ what: @autoclosure () -> String) throws -> Int {
        guard n <= remaining else {
            throw fail("truncated: \(what()) needs \(n) bytes at byte \(at), the file has \(remaining) more")
        }
        defer { at += n }
        return at
    }

    mutating func u8(_ what: @autoclosure () -> String) throws -> UInt8 { raw[try take(1, what())] }
    mutating func u16(_ what: @autoclosure () -> String) throws -> UInt16 {
        UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: try take(2, what()), as: UInt16.self))
    }
    mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 {
        UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: try take(4, what()), as: UInt32.self))
    }
    mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 {
        UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: try take(8, what()), as: UInt64.self))
    }

    /// Refuses a count of records that cannot fit in the rest of the file, before anything is
    /// reserved for it.
    func requireCount(_ n: UInt64, eachAtLeast size: Int, _ what: String, _ place: @autoclosure () -> String) throws {
        guard n <= UInt64(remaining / size) else {
            throw fail("truncated or corrupt: \(n) \(what) cannot fit in the \(remaining) bytes that remain (each takes at least \(size); \(place()), byte \(at))")
        }
    }

    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let start = at
        let n = try u64(what())
        guard n <= UInt64(remaining) else {
            throw fail("truncated: \(what()) is a string of \(n) bytes at byte \(start), the file has \(remaining) more")
        }
        let bytes = UnsafeRawBufferPointer(rebasing: raw[at..<at + Int(n)])
        at += Int(n)
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw fail("corrupt: \(what()) is not valid UTF-8 (string at byte \(start))")
        }
        return s
    }

    mutating func valueType(_ place: @autoclosure () -> String) throws -> GGUFFile.ValueType {
        let start = at
        let raw = try u32("the value type of \(place())")
        guard let t = GGUFFile.ValueType(rawValue: raw) else {
            throw fail("corrupt: \(place()) has unknown value type \(raw) (byte \(start))")
        }
        return t
    }

    mutating func value(_ type: GGUFFile.ValueType, _ place: @autoclosure () -> String, depth: Int) throws -> GGUFFile.Value {
        switch type {
        case .uint8: return .uint8(try u8(place()))
        case .int8: return .int8(Int8(bitPattern: try u8(place())))
        case .uint16: return .uint16(try u16(place()))
        case .int16: return .int16(Int16(bitPattern: try u16(place())))
        case .uint32: return .uint32(try u32(place()))
        case .int32: return .int32(Int32(bitPattern: try u32(place())))
        case .uint64: return .uint64(try u64(place()))
        case .int64: return .int64(Int64(bitPattern: try u64(place())))
        case .float32: return .float32(Float(bitPattern: try u32(place())))
        case .float64: return .float64(Double(bitPattern: try u64(place())))
        case .bool: return .bool(try bool(place()))
        case .string: return .string(try string(place()))
        case .array: return .array(try array(place(), depth: depth))
        }
    }

    /// An array value: element type, count (checked against the bytes left before anything is
    /// reserved), elements.
    mutating func array(_ place: @autoclosure () -> String, depth: Int) throws -> GGUFFile.ArrayValue {
        guard depth < GGUFFile.maxNesting else {
            throw fail("corrupt: \(place()) nests arrays deeper than \(GGUFFile.maxNesting) (byte \(at))")
        }
        let element = try valueType("the elements of \(place())")
        let count = try u64("the length of \(place())")
        try requireCount(count, eachAtLeast: element.minimumSize, "array elements of type \(element)", place())
        let n = Int(count)
        func many<T>(_ read: (inout ByteReader, Int) throws -> T) throws -> [T] {
            var items: [T] = []
            items.reserveCapacity(n)
            for i in 0..<n { items.append(try read(&self, i)) }
            return items
        }
        func what(_ i: Int) -> String { "\(place()) element \(i)" }
        switch element {
        case .uint8: return .uint8(try many { r, i in try r.u8(what(i)) })
        case .int8: return .int8(try many { r, i in Int8(bitPattern: try r.u8(what(i))) })
        case .uint16: return .uint16(try many { r, i in try r.u16(what(i)) })
        case .int16: return .int16(try many { r, i in Int16(bitPattern: try r.u16(what(i))) })
        case .uint32: return .uint32(try many { r, i in try r.u32(what(i)) })
        case .int32: return .int32(try many { r, i in Int32(bitPattern: try r.u32(what(i))) })
        case .uint64: return .uint64(try many { r, i in try r.u64(what(i)) })
        case .int64: return .int64(try many { r, i in Int64(bitPattern: try r.u64(what(i))) })
        case .float32: return .float32(try many { r, i in Float(bitPattern: try r.u32(what(i))) })
        case .float64: return .float64(try many { r, i in Double(bitPattern: try r.u64(what(i))) })
        case .bool: return .bool(try many { r, i in try r.bool(what(i)) })
        case .string: return .string(try many { r, i in try r.string(what(i)) })
        case .array: return .array(try many { r, i in try r.array(what(i), depth: depth + 1) })
        }
    }

    mutating func bool(_ place: @autoclosure () -> String) throws -> Bool {
        let start = at
        let b = try u8(place())
        guard b <= 1 else { throw fail("corrupt: \(place()) is a bool of value \(b), not 0 or 1 (byte \(start))") }
        return b == 1
    }
}
