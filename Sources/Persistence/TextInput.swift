import Foundation

/// A user's text file read whole, with the problem in words: missing, a directory, unreadable, or
/// not UTF-8. Read through a file handle, so that a device such as /dev/null reads as empty rather
/// than failing with Foundation's misleading "permission denied" (String(contentsOfFile:), Data(contentsOf:)).
public enum TextInput {
    /// The problem only (no path), for callers that put the place in front themselves.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public static func read(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Problem(description: "cannot read: no such file")
        }
        guard !isDirectory.boolValue else { throw Problem(description: "cannot read: is a directory, not a file") }
        let data: Data
        do {
            // Through a handle: Data(contentsOf:) also refuses character devices.
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            data = try handle.readToEnd() ?? Data()
        } catch {
            throw Problem(description: "cannot read: \(FileError.words(error, path: path))")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw Problem(description: "not UTF-8 text") }
        return text
    }
}
