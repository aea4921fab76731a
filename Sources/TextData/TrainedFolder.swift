import Foundation
import Model
import Persistence

/// The part of a training folder's `trainer_state.json` that opening its model needs: the step its
/// weights must match and the sequence length it was trained at. Training's `TrainerState` owns
/// the whole format; this reads two fields of it, so loading a model needs no training code.
public struct TrainedFolder: Decodable, Sendable {
    public static let stateFileName = "trainer_state.json"
    public var step: Int
    public var settings: Settings

    public struct Settings: Decodable, Sendable {
        public var sequenceLength: Int
        enum CodingKeys: String, CodingKey { case sequenceLength = "sequence_length" }
    }

    /// The folder's state, or nil when it has none (a checkpoint that was never trained here).
    public static func read(_ directory: URL) throws -> TrainedFolder? {
        try Checkpoint.recoverInterruptedSave(directory)
        let url = directory.appendingPathComponent(stateFileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw TextDataError("\(url.path): cannot read: \(FileError.words(error))") }
        do { return try JSONDecoder().decode(TrainedFolder.self, from: data) } catch {
            throw TextDataError("\(url.path): not a trainer state (\(error))")
        }
    }
}
