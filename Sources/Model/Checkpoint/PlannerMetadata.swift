/// The planner's two numbers a checkpoint carries in its safetensors metadata: `n0`, the
/// parameters before pruning, and `loss0`, the loss before pruning. Pruning writes them; training
/// reads them so a post-trained model's records measure recovery against the unpruned base.
public enum PlannerMetadata {
    /// Keys read, in order of preference (the `prunescale.` forms are older files').
    public static let n0Keys = ["n0", "prunescale.n0"]
    public static let loss0Keys = ["loss0", "prunescale.loss0"]

    /// The first of `keys` that holds a finite number.
    public static func value(_ keys: [String], in metadata: [String: String]) -> Double? {
        for k in keys { if let v = metadata[k].flatMap(Double.init), v.isFinite { return v } }
        return nil
    }

    public static func n0(in metadata: [String: String]) -> Double? { value(n0Keys, in: metadata) }
    public static func loss0(in metadata: [String: String]) -> Double? { value(loss0Keys, in: metadata) }

    /// The entries of `metadata` that are planner numbers (passed on from a model to its successor).
    public static func entries(of metadata: [String: String]) -> [String: String] {
        metadata.filter { n0Keys.contains($0.key) || loss0Keys.contains($0.key) }
    }
}
