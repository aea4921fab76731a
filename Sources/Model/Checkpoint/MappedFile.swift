import Foundation
import Persistence

/// A model file mapped into memory, with the readers' one-line errors. Tensors are copied out on
/// demand; our writers replace files by rename, never truncate in place, so a mapping stays valid.
enum MappedFile {
    /// `kind` names the format for the error on a directory ("a safetensors file").
    static func read(_ url: URL, kind: String) throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw ModelError("\(url.path): no such file")
        }
        guard !isDir.boolValue else { throw ModelError("\(url.path): is a directory, not \(kind)") }
        do {
            return try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw ModelError("\(url.path): cannot read: \(FileError.words(error, path: url.path))")
        }
    }
}
