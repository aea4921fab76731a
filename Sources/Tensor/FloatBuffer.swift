import Foundation

/// A fixed-size, 64-byte-aligned, heap-allocated float32 array with reference semantics.
///
/// The engine keeps parameters, gradients, optimizer moments and activations in these: one
/// allocation each, raw pointers into them for BLAS and the kernels, and no copy-on-write or
/// exclusivity checks in the hot loops. `@unchecked Sendable` because kernels write disjoint
/// ranges from several threads; the owner is responsible for not racing on the same range.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    /// `count` zeros.
    public init(count: Int) {
        precondition(count >= 0, "negative buffer size")
        self.count = count
        // At least one element so the pointer is always valid (BLAS dislikes null).
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    @inline(__always) public subscript(_ i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    /// A copy as a Swift array.
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// Overwrite with `values` (same count).
    public func assign(_ values: [Float]) {
        precondition(values.count == count, "assign: \(values.count) values into a buffer of \(count)")
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: count) }
        }
    }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "copy: size mismatch \(other.count) vs \(count)")
        pointer.update(from: other.pointer, count: count)
    }

    /// An independent copy.
    public func clone() -> FloatBuffer {
        let c = FloatBuffer(count: count)
        c.copy(from: self)
        return c
    }

    /// Sum of squares, accumulated in Double in index order (deterministic).
    public func sumOfSquares() -> Double {
        var s = 0.0
        for i in 0..<count { let v = Double(pointer[i]); s += v * v }
        return s
    }
}
