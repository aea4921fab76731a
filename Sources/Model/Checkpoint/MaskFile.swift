import Foundation

/// The fixed 0/1 masks of a sparse (N:M) checkpoint, in `mask.safetensors` beside the weights: one
/// F32 tensor per masked weight, under the weight's name. The weights already hold the zeros, but
/// zeros alone do not say which weights are pinned (a kept weight can be exactly zero), and
/// post-training must keep exactly the pruned ones at zero.
public enum MaskFile {
    public static let fileName = "mask.safetensors"

    /// Writes the masks of the tensors that have at least one 0 in `mask` (flat, `layout` order);
    /// removes a stale file when nothing is masked (or `mask` is empty: no mask at all).
    public static func save(_ mask: [Float], layout: ParameterLayout, to directory: URL) throws {
        let url = directory.appendingPathComponent(fileName)
        precondition(mask.isEmpty || mask.count == layout.totalCount, "mask has \(mask.count) values for \(layout.totalCount) parameters")
        let masked = mask.isEmpty ? [] : layout.entries.filter { e in mask[e.offset..<(e.offset + e.count)].contains(0) }
        guard !masked.isEmpty else {
            try? FileManager.default.removeItem(at: url)
            return
        }
        var values: [Float] = []
        var entries: [SafeTensors.Entry] = []
        for e in masked {
            entries.append(SafeTensors.Entry(name: e.name, shape: e.shape, offset: values.count))
            values += mask[e.offset..<(e.offset + e.count)]
        }
        try SafeTensors.write(entries, from: values, metadata: ["format": "pt", "prunescale.content": "0/1 masks: 0 = pinned at zero"], to: url)
    }

    /// The full-length mask (ones where the file has no tensor), or nil when the checkpoint has no
    /// mask file. Every tensor must name a weight of `layout` with its shape and hold only 0 and 1.
    public static func load(from directory: URL, layout: ParameterLayout) throws -> [Float]? {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let file = try SafeTensors(contentsOf: url)
        var mask = [Float](repeating: 1, count: layout.totalCount)
        for t in file.tensors {
            guard let e = layout[t.name] else { throw ModelError("\(url.path): mask for \(t.name), which the model does not have") }
            guard t.shape == e.shape else { throw ModelError("\(url.path): mask \(t.name) has shape \(t.shape), the weight \(e.shape)") }
            let values = try file.floats(t.name)
            if let bad = values.first(where: { $0 != 0 && $0 != 1 }) {
                throw ModelError("\(url.path): mask \(t.name) holds \(bad); masks hold only 0 and 1")
            }
            for k in 0..<e.count { mask[e.offset + k] = values[k] }
        }
        return mask
    }
}
