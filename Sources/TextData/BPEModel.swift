import Foundation

/// The BPE step proper: one pre-token's bytes to token ids, by merging adjacent symbols in rank
/// order. The order is that of the `tokenizers` library: always the lowest-ranked mergeable pair,
/// the leftmost of equals first, with pairs that form after a merge joining the contest.
struct BPEModel: Sendable {
    /// The id of each byte's one-character token; -1 when the vocabulary lacks it (SmolLM2 lacks
    /// 21 bytes, among them 0x04 and 0xF5…0xFF): such bytes become `unknown`, or nothing when there
    /// is no unknown token, as in `tokenizers`.
    let byteIDs: [Int32]
    let unknown: Int32
    /// Adjacent unknown bytes make one unknown token.
    let fuseUnknown: Bool
    /// (left id << 16 | right id) → (rank << 32 | merged id).
    let merges: [UInt32: UInt64]
    /// With `ignore_merges` (Llama 3), a pre-token that is itself in the vocabulary is that token.
    let wholeTokens: [[UInt8]: UInt16]?

    /// Appends the ids of `piece` to `out`.
    func encode(_ piece: UnsafeRawBufferPointer, _ s: inout BPEScratch, into out: inout [UInt16]) {
        if let wholeTokens, let id = wholeTokens[Array(piece)] {
            out.append(id)
            return
        }
        s.ids.removeAll(keepingCapacity: true)
        var pendingUnknown = false
        for b in piece {
            let id = byteIDs[Int(b)]
            if id >= 0 {
                if pendingUnknown { s.ids.append(unknown) }
                pendingUnknown = false
                s.ids.append(id)
            } else if unknown >= 0 {
                if pendingUnknown && !fuseUnknown { s.ids.append(unknown) }
                pendingUnknown = true
            }
        }
        if pendingUnknown { s.ids.append(unknown) }
        let n = s.ids.count
        guard n > 1 else {
            if n == 1 { out.append(UInt16(s.ids[0])) }
            return
        }
        // Symbols form a linked list over their first positions; a merge keeps the left one and
        // marks the right dead (id -1). The heap holds (rank << 32 | position) of candidate pairs;
        // an entry whose pair has since changed is stale and skipped when it surfaces.
        s.next.removeAll(keepingCapacity: true)
        s.prev.removeAll(keepingCapacity: true)
        s.heap.removeAll(keepingCapacity: true)
        for i in 0..<n {
            s.prev.append(Int32(i - 1))
            s.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        for i in 0..<(n - 1) {
            if let m = merges[Self.key(s.ids[i], s.ids[i + 1])] { s.push(m & 0xFFFF_FFFF_0000_0000 | UInt64(i)) }
        }
        while let top = s.pop() {
            let pos = Int(top & 0xFFFF_FFFF)
            let right = Int(s.next[pos])
            guard s.ids[pos] >= 0, right >= 0, let m = merges[Self.key(s.ids[pos], s.ids[right])], m >> 32 == top >> 32 else { continue }
            s.ids[pos] = Int32(m & 0xFFFF)
            s.ids[right] = -1
            let after = s.next[right]
            s.next[pos] = after
            if after >= 0 { s.prev[Int(after)] = Int32(pos) }
            let before = Int(s.prev[pos])
            if before >= 0, let m = merges[Self.key(s.ids[before], s.ids[pos])] { s.push(m & 0xFFFF_FFFF_0000_0000 | UInt64(before)) }
            if after >= 0, let m = merges[Self.key(s.ids[pos], s.ids[Int(after)])] { s.push(m & 0xFFFF_FFFF_0000_0000 | UInt64(pos)) }
        }
        var i = 0
        while i >= 0 {
            out.append(UInt16(s.ids[i]))
            i = Int(s.next[i])
        }
    }

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt32 { UInt32(left) << 16 | UInt32(right) }
}

/// Working arrays for `BPEModel.encode`, reused across the pre-tokens of one encode call.
struct BPEScratch {
    var ids: [Int32] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    /// A binary min-heap.
    var heap: [UInt64] = []

    mutating func push(_ v: UInt64) {
        heap.append(v)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[parent] > heap[i] else { break }
            heap.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var i = 0
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && heap[l] < heap[m] { m = l }
            if r < n && heap[r] < heap[m] { m = r }
            guard m != i else { break }
            heap.swapAt(m, i)
            i = m
        }
        return top
    }
}

/// Pre-token bytes → ids already worked out, shared by every encode call of a tokenizer (token
/// files are made 4 KB chunk by chunk, so a per-call cache would hardly ever hit). An open-addressed
/// table over flat key and id arrays: a hit costs a hash and a comparison, no allocation. Cleared
/// when full, so a long run over varied text cannot grow it without bound.
final class PieceCache: @unchecked Sendable {
    // Sendable: every access to the mutable state below holds `lock`.
    private let lock = NSLock()
    private var slots: [Int32] = Array(repeating: -1, count: 1 << 12)
    private var entries: [Entry] = []
    private var keyBytes: [UInt8] = []
    private var ids: [UInt16] = []

    private struct Entry {
        var hash: UInt64
        var keyStart: Int32, keyCount: Int32
        var idStart: Int32, idCount: Int32
    }

    /// Longer pre-tokens (long runs of spaces or dashes) are rare and not worth a slot.
    static let maxKeyBytes = 96
    static let maxEntries = 1 << 19

    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for b in key { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// Appends the cached ids for `key` to `out`; false when absent.
    func lookup(_ key: UnsafeRawBufferPointer, hash: UInt64, into out: inout [UInt16]) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let e = find(key, hash) else { return false }
        ids.withUnsafeBufferPointer { out.append(contentsOf: $0[Int(e.idStart)..<Int(e.idStart + e.idCount)]) }
        return true
    }

    func insert(_ key: UnsafeRawBufferPointer, hash: UInt64, ids value: ArraySlice<UInt16>) {
        guard key.count <= Self.maxKeyBytes else { return }
        lock.lock()
        defer { lock.unlock() }
        guard find(key, hash) == nil else { return }  // another thread got there first
        if entries.count >= Self.maxEntries {
            entries.removeAll(keepingCapacity: true)
            keyBytes.removeAll(keepingCapacity: true)
            ids.removeAll(keepingCapacity: true)
            for i in slots.indices { slots[i] = -1 }
        }
        if 2 * (entries.count + 1) > slots.count { grow() }
        entries.append(Entry(hash: hash, keyStart: Int32(keyBytes.count), keyCount: Int32(key.count),
                             idStart: Int32(ids.count), idCount: Int32(value.count)))
        keyBytes.append(contentsOf: key)
        ids.append(contentsOf: value)
        place(entries.count - 1)
    }

    private func find(_ key: UnsafeRawBufferPointer, _ hash: UInt64) -> Entry? {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let s = Int(slots[i])
            if s < 0 { return nil }
            let e = entries[s]
            if e.hash == hash && Int(e.keyCount) == key.count {
                let same = keyBytes.withUnsafeBytes { all in
                    key.count == 0 || memcmp(all.baseAddress! + Int(e.keyStart), key.baseAddress!, key.count) == 0
                }
                if same { return e }
            }
            i = (i + 1) & mask
        }
    }

    private func place(_ entry: Int) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: entries[entry].hash) & mask
        while slots[i] >= 0 { i = (i + 1) & mask }
        slots[i] = Int32(entry)
    }

    private func grow() {
        slots = Array(repeating: -1, count: slots.count * 2)
        for e in entries.indices { place(e) }
    }
}
