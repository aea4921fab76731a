import Foundation
import Persistence
#if canImport(Glibc)
import Glibc
#endif

/// A problem with a corpus, a cache or a download, on one line: `place: problem`.
public struct CorpusError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public var place: String
    public var message: String
    public init(place: String, _ message: String) {
        self.place = place
        self.message = message
    }
    public var description: String { "\(place): \(message)" }
    public var errorDescription: String? { description }
}

/// A directory of `.txt` files read as bytes (any encoding: the byte tokenizer does not care).
/// Only the directory's own files count, not subdirectories, so a cached corpus can keep its
/// licence and marker beside the texts without them becoming training text. Files are taken in
/// sorted (byte-wise) name order, which fixes the corpus order on every platform.
public struct Corpus: Sendable {
    public struct File: Sendable, Codable, Equatable {
        public var name: String
        public var bytes: Int
    }

    public let directory: URL
    public let files: [File]
    public var totalBytes: Int { files.reduce(0) { $0 + $1.bytes } }

    public init(directory: URL) throws {
        let path = directory.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CorpusError(place: path, "no such directory")
        }
        guard isDir.boolValue else { throw CorpusError(place: path, "not a directory (give a directory of .txt files)") }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw CorpusError(place: path, "cannot list: \(FileError.words(error))")
        }
        var files: [File] = []
        for name in names where name.hasSuffix(".txt") && !name.hasPrefix(".") {
            let full = directory.appendingPathComponent(name).path
            guard let attrs = try? FileManager.default.attributesOfItem(atPath: full),
                  attrs[.type] as? FileAttributeType == .typeRegular,
                  let size = (attrs[.size] as? NSNumber)?.intValue else { continue }
            files.append(File(name: name, bytes: size))
        }
        files.sort { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        guard !files.isEmpty else { throw CorpusError(place: path, "no .txt files in this directory") }
        guard files.contains(where: { $0.bytes > 0 }) else { throw CorpusError(place: path, "every .txt file is empty") }
        self.directory = directory
        self.files = files
    }

    /// Every file's bytes, concatenated in corpus order (no separators: the files already end in
    /// newlines, and a separator would be a token the text never contains).
    public func readAll() throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(totalBytes)
        for f in files {
            let url = directory.appendingPathComponent(f.name)
            let data: Data
            do { data = try Data(contentsOf: url) } catch { throw CorpusError(place: url.path, "cannot read: \(FileError.words(error))") }
            guard data.count == f.bytes else { throw CorpusError(place: url.path, "changed while being read (\(f.bytes) → \(data.count) bytes)") }
            out.append(contentsOf: data)
        }
        return out
    }

    /// SHA-256 over every file's name, size and content in corpus order: two directories with the
    /// same checksum yield the same token files, and any edit, rename or addition changes it.
    public static func checksum(files: [File], contents: [UInt8]) -> String {
        var h = SHA256()
        var offset = 0
        for f in files {
            h.update("\(f.name)\u{0}\(f.bytes)\u{0}")
            h.update(contents[offset..<(offset + f.bytes)])
            offset += f.bytes
        }
        return h.finalizeHex()
    }

    public func checksum() throws -> String { Self.checksum(files: files, contents: try readAll()) }
}

/// Where corpora and token files are cached: `$PRUNESCALE_CACHE`, else `~/.cache/prunescale`.
public enum DataCache {
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = environment["PRUNESCALE_CACHE"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        return home.appendingPathComponent(".cache/prunescale")
    }

    /// A fresh staging directory inside `parent` (same file system, so the final rename is atomic).
    static func staging(in parent: URL, _ label: String) throws -> URL {
        StaleFiles.clean(in: parent)
        let dir = parent.appendingPathComponent(StaleFiles.stagingName("staging-\(label)"))
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw CorpusError(place: parent.path, "cannot create a staging directory: \(FileError.words(error))")
        }
        return dir
    }

    /// Moves a finished staging directory into place. Returns false when another process put a
    /// complete copy there first (the caller then uses theirs).
    static func publish(_ staged: URL, to final: URL) throws -> Bool {
        if rename(staged.path, final.path) == 0 { return true }
        let err = errno
        if err == EEXIST || err == ENOTEMPTY { return false }
        throw CorpusError(place: final.path, "cannot move the staged copy into place: \(String(cString: strerror(err)))")
    }
}
