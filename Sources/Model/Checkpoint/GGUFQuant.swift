import Foundation

/// ggml's tensor element types, with the ids GGUF stores. Every type ggml defines is listed so a
/// file's tensor sizes can be checked whatever it holds; `GGUFQuant` converts the `readable` ones.
/// Ids 4, 5, 31–33 and 36–38 were types ggml has since removed; a file using them is refused.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22, iq4_XS = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// ggml's name ("Q4_K").
    public var name: String {
        switch self {
        case .iq2_XXS: "IQ2_XXS"
        case .iq2_XS: "IQ2_XS"
        case .iq3_XXS: "IQ3_XXS"
        case .iq1_S: "IQ1_S"
        case .iq4_NL: "IQ4_NL"
        case .iq3_S: "IQ3_S"
        case .iq2_S: "IQ2_S"
        case .iq4_XS: "IQ4_XS"
        case .iq1_M: "IQ1_M"
        default: "\(self)".uppercased()
        }
    }

    /// Elements per block and bytes per block (ggml's `blck_size`, `type_size`).
    public var block: (elements: Int, bytes: Int) {
        let k = GGUFQuant.superBlock
        switch self {
        case .f32, .i32: return (1, 4)
        case .f16, .bf16, .i16: return (1, 2)
        case .i8: return (1, 1)
        case .i64, .f64: return (1, 8)
        case .q4_0, .iq4_NL: return (32, 18)
        case .q4_1: return (32, 20)
        case .q5_0: return (32, 22)
        case .q5_1: return (32, 24)
        case .q8_0: return (32, 34)
        case .q8_1: return (32, 40)
        case .mxfp4: return (32, 17)
        case .nvfp4: return (64, 36)
        case .q1_0: return (128, 18)
        case .q2_K: return (k, 4 + k / 16 + k / 4)
        case .q3_K: return (k, 2 + k / 4 + k / 8 + 12)
        case .q4_K: return (k, 4 + 12 + k / 2)
        case .q5_K: return (k, 4 + 12 + k / 8 + k / 2)
        case .q6_K: return (k, 2 + k / 2 + k / 4 + k / 16)
        case .q8_K: return (k, 4 + k + k / 8)
        case .iq2_XXS: return (k, 2 + k / 4)
        case .iq2_XS: return (k, 2 + k / 4 + k / 32)
        case .iq3_XXS: return (k, 2 + k / 4 + k / 8)
        case .iq1_S: return (k, 2 + k / 8 + k / 16)
        case .iq3_S: return (k, 2 + k / 4 + k / 8 + k / 32 + 4)
        case .iq2_S: return (k, 2 + k / 4 + k / 16)
        case .iq4_XS: return (k, 4 + k / 2 + k / 64)
        case .iq1_M: return (k, k / 8 + k / 16 + k / 32)
        case .tq1_0: return (k, 2 + 52)
        case .tq2_0: return (k, 2 + 64)
        }
    }
}

/// Conversion of ggml tensor data to Float, block by block, with the arithmetic ggml's reference
/// dequantisers use (float32, same operation order, no fused multiply-adds), so results match
/// them bit for bit.
///
/// Block layouts (all little-endian; `d`, `m`, `dmin` are IEEE half floats):
///  - Q8_0 (32 values, 34 bytes): d, 32 int8 q; value q·d.
///  - Q4_0 (32, 18): d, 16 bytes; byte j's low nibble is value j, its high nibble value j + 16; (q − 8)·d.
///  - Q4_1 (32, 20): d, m, 16 bytes as Q4_0; q·d + m.
///  - Q4_K (256, 144): d, dmin, 12 bytes of eight 6-bit scales and eight 6-bit mins (`scaleMin`),
///    128 bytes: 32 bytes per pair of 32-value sub-blocks, low nibbles the first, high the second;
///    (d·scale)·q − dmin·min.
///  - Q5_K (256, 176): as Q4_K plus 32 bytes of fifth bits after the scales: bit s of byte j is
///    the high bit of value j of sub-block s.
///  - Q6_K (256, 210): 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 int8 scales (one
///    per 16 values), d last. Each half of 128 values takes 64 low-nibble bytes and 32 high bytes:
///    value l + 32k (k < 4) has the low nibble of byte l + 32(k mod 2) (high nibble when k ≥ 2)
///    and bits 2k…2k+1 of high byte l; (d·scale)·(q − 32).
public enum GGUFQuant {
    /// The K-quants' super-block (ggml's `QK_K`).
    public static let superBlock = 256

    /// The types `dequantize` converts.
    public static let readable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q4_K, .q5_K, .q6_K]

    /// Bytes holding `count` values of `type`, or nil when `count` is not a whole number of blocks
    /// or the size overflows.
    public static func byteCount(_ type: GGMLType, count: Int) -> Int? {
        let (n, b) = type.block
        guard count >= 0, count % n == 0 else { return nil }
        let (bytes, overflow) = (count / n).multipliedReportingOverflow(by: b)
        return overflow ? nil : bytes
    }

    /// Converts `count` values of `type` from `bytes` (exactly their size). The error says what is
    /// wrong in words; callers prefix the file and tensor.
    public static func dequantize(_ type: GGMLType, _ bytes: UnsafeRawBufferPointer, count: Int) throws -> [Float] {
        guard readable.contains(type) else { throw unreadable(type) }
        guard let need = byteCount(type, count: count) else {
            throw ModelError("\(count) values are not a whole number of \(type.name) blocks of \(type.block.elements)")
        }
        guard need == bytes.count else { throw ModelError("\(count) values of \(type.name) take \(need) bytes, not \(bytes.count)") }
        var out = [Float](repeating: 0, count: count)
        if count > 0 {
            out.withUnsafeMutableBufferPointer { dequantize(type, from: bytes.baseAddress!, count: count, into: $0.baseAddress!) }
        }
        return out
    }

    static func unreadable(_ type: GGMLType) -> ModelError {
        ModelError("ggml type \(type.name) cannot be converted to float (PruneScale reads \(readable.map(\.name).joined(separator: ", ")))")
    }

    /// The unchecked core: `src` holds `byteCount(type, count)` bytes, `type` is readable.
    static func dequantize(_ type: GGMLType, from src: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        let (n, size) = type.block
        let blocks = count / n
        switch type {
        case .f32:
            for i in 0..<count { out[i] = Float(bitPattern: u32(src, 4 * i)) }
        case .f16:
            for i in 0..<count { out[i] = half(src, 2 * i) }
        case .bf16:
            // bfloat16 is the top half of a float32.
            for i in 0..<count { out[i] = Float(bitPattern: UInt32(u16(src, 2 * i)) << 16) }
        case .q8_0:
            for b in 0..<blocks {
                let p = src + b * size, y = out + b * n, d = half(p, 0)
                for j in 0..<32 { y[j] = Float(Int8(bitPattern: p.load(fromByteOffset: 2 + j, as: UInt8.self))) * d }
            }
        case .q4_0:
            for b in 0..<blocks {
                let p = src + b * size, y = out + b * n, d = half(p, 0)
                for j in 0..<16 {
                    let q = p.load(fromByteOffset: 2 + j, as: UInt8.self)
                    y[j] = d * Float(Int(q & 0x0F) - 8)
                    y[j + 16] = d * Float(Int(q >> 4) - 8)
                }
            }
        case .q4_1:
            for b in 0..<blocks {
                let p = src + b * size, y = out + b * n, d = half(p, 0), m = half(p, 2)
                for j in 0..<16 {
                    let q = p.load(fromByteOffset: 4 + j, as: UInt8.self)
                    y[j] = d * Float(q & 0x0F) + m
                    y[j + 16] = d * Float(q >> 4) + m
                }
            }
        case .q4_K, .q5_K:
            let five = type == .q5_K
            // Q5_K's fifth bits sit between the scales and the nibbles.
            let qsStart = five ? 16 + 32 : 16
            for b in 0..<blocks {
                let p = src + b * size, y = out + b * n
                let d = half(p, 0), dmin = half(p, 2)
                for s in 0..<8 {
                    let (sc, mn) = scaleMin(p + 4, s)
                    let scale = d * Float(sc), offset = dmin * Float(mn)
                    let q = p + qsStart + 32 * (s / 2), shift = UInt8(4 * (s % 2))
                    for j in 0..<32 {
                        var v = (q.load(fromByteOffset: j, as: UInt8.self) >> shift) & 0x0F
                        if five { v |= ((p.load(fromByteOffset: 16 + j, as: UInt8.self) >> UInt8(s)) & 1) << 4 }
                        y[32 * s + j] = scale * Float(v) - offset
                    }
                }
            }
        case .q6_K:
            for b in 0..<blocks {
                let p = src + b * size, y = out + b * n
                let d = half(p, 208)
                for h in 0..<2 {
                    let low = p + 64 * h, high = p + 128 + 32 * h
                    for k in 0..<4 {
                        let lowBytes = low + 32 * (k % 2), nibbleShift = UInt8(k < 2 ? 0 : 4), highShift = UInt8(2 * k)
                        for l in 0..<32 {
                            let lo = (lowBytes.load(fromByteOffset: l, as: UInt8.self) >> nibbleShift) & 0x0F
                            let hi = (high.load(fromByteOffset: l, as: UInt8.self) >> highShift) & 0x03
                            let e = 128 * h + 32 * k + l
                            let scale = Float(Int8(bitPattern: p.load(fromByteOffset: 192 + e / 16, as: UInt8.self)))
                            y[e] = (d * scale) * Float(Int(lo | hi << 4) - 32)
                        }
                    }
                }
            }
        default:
            preconditionFailure("unreachable: \(type.name) is not readable")
        }
    }

    /// Scale and min of sub-block `s` (0..<8) from the K-quants' 12 packed bytes: the first four
    /// sub-blocks keep 6 bits in bytes s (scale) and s + 4 (min); the last four take their low 4
    /// bits from byte s + 4's nibbles and their top 2 bits from the spare top bits of bytes s − 4
    /// (scale) and s (min).
    static func scaleMin(_ q: UnsafeRawPointer, _ s: Int) -> (UInt8, UInt8) {
        func byte(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if s < 4 { return (byte(s) & 63, byte(s + 4) & 63) }
        let scale = (byte(s + 4) & 0x0F) | (byte(s - 4) >> 6) << 4
        let min = (byte(s + 4) >> 4) | (byte(s) >> 6) << 4
        return (scale, min)
    }

    @inline(__always) static func u16(_ p: UnsafeRawPointer, _ at: Int) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt16.self))
    }

    @inline(__always) static func u32(_ p: UnsafeRawPointer, _ at: Int) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ at: Int) -> Float { SafeTensors.float(half: u16(p, at)) }
}
