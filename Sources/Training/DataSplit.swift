/// The three disjoint parts a corpus is cut into: pre-training the base models, post-training
/// the pruned ones, and evaluation (held out from both).
public enum DataSplit: String, Sendable, Codable, CaseIterable {
    case pretrain
    case posttrain
    case eval
}
