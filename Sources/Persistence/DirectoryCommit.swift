import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Replaces a set of files inside a directory as one unit (a checkpoint: config, weights, mask,
/// optimizer moments, trainer state), so that after a crash at any moment the directory holds
/// either the whole old set or the whole new one, never a mix.
///
/// The new files are written and flushed in `.pending-PID-HEX/` inside the directory. The commit
/// point is one atomic rename of that folder to `.committed/`; the files are then renamed into
/// place one by one, the names in `owned` that the new set lacks are removed, and `.committed/`
/// goes. A crash before the commit point leaves the old set (and an abandoned pending folder
/// that the next writer removes); a crash after it leaves `.committed/`, which `recover` finishes
/// moving in (roll forward). Readers call `recover` before they read, so a folder cut short is
/// completed, never read half-way. Writers of one directory must exclude each other
/// (`DirectoryLock`); recovering is idempotent, so a reader may race a writer's roll-forward.
public enum DirectoryCommit {
    public static let committedName = ".committed"
    /// Inside the committed folder: the owned names to remove once its files are in place.
    static let removalsName = ".removals"

    /// Writes the unit: `body` writes the new files (flat, into the staging folder it is given);
    /// names in `owned` that it did not write are removed from `directory` at the commit.
    public static func write(into directory: URL, owned: [String] = [], _ body: (URL) throws -> Void) throws {
        try AtomicFile.createDirectory(directory)
        try recover(directory)
        let staging = directory.appendingPathComponent(".pending-\(StaleFiles.pid)-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))")
        try AtomicFile.createDirectory(staging)
        var committed = false
        defer { if !committed { try? FileManager.default.removeItem(at: staging) } }
        try body(staging)
        let written = Set(try names(in: staging))
        let removals = owned.filter { !written.contains($0) }
        try AtomicFile.write(Data(removals.joined(separator: "\n").utf8), to: staging.appendingPathComponent(removalsName))
        let target = directory.appendingPathComponent(committedName)
        guard rename(staging.path, target.path) == 0 else { throw FileError.system(directory.path, "commit the new checkpoint files") }
        committed = true
        AtomicFile.syncDirectory(directory)
        try rollForward(directory)
    }

    /// Finishes a commit that a crash interrupted and removes abandoned pending folders. Throws
    /// when an interrupted commit exists but cannot be finished (e.g. a read-only folder).
    public static func recover(_ directory: URL) throws {
        StaleFiles.clean(in: directory)
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.appendingPathComponent(committedName).path) {
            try rollForward(directory)
        }
    }

    /// Whether `directory` holds a commit that was cut short (`recover` finishes it).
    public static func isInterrupted(_ directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent(committedName).path)
    }

    private static func rollForward(_ directory: URL) throws {
        let source = directory.appendingPathComponent(committedName)
        let removalsURL = source.appendingPathComponent(removalsName)
        // Read the removals first: once the folder is gone (another process finished), nothing is left to do.
        let removals = (try? String(contentsOf: removalsURL, encoding: .utf8))?.split(separator: "\n").map(String.init)
        let entries: [String]
        do { entries = try names(in: source) } catch {
            if !FileManager.default.fileExists(atPath: source.path) { return }
            throw error
        }
        for name in entries where name != removalsName {
            // ENOENT: another process moved it first.
            if rename(source.appendingPathComponent(name).path, directory.appendingPathComponent(name).path) != 0, errno != ENOENT {
                throw FileError.system(directory.appendingPathComponent(name).path, "finish the interrupted checkpoint commit")
            }
        }
        for name in removals ?? [] where !name.isEmpty && !name.contains("/") {
            if unlink(directory.appendingPathComponent(name).path) != 0, errno != ENOENT {
                throw FileError.system(directory.appendingPathComponent(name).path, "remove a file the new checkpoint replaces")
            }
        }
        if unlink(removalsURL.path) != 0, errno != ENOENT { throw FileError.system(removalsURL.path, "remove") }
        if rmdir(source.path) != 0, errno != ENOENT { throw FileError.system(source.path, "remove") }
        AtomicFile.syncDirectory(directory)
    }

    private static func names(in dir: URL) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() } catch {
            throw FileError.from(error, path: dir.path) ?? FileError(dir.path, "cannot list")
        }
    }
}
