import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that readers (and a crash) see either the old file or the complete new one:
/// the bytes go to a hidden temporary file in the same directory (so the rename never crosses a
/// filesystem), are flushed to disk, and only then renamed over the target. The temporary name
/// carries the writer's PID, so a later writer removes what a killed one left (`StaleFiles`).
/// This is the project's one way to replace a file.
public enum AtomicFile {
    /// An open temporary file. Writes go straight to the descriptor so a large parameter buffer
    /// is never copied into a `Data` first.
    public struct Writer {
        fileprivate let fd: Int32
        fileprivate let path: String

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            guard var p = bytes.baseAddress else { return }
            var left = bytes.count
            while left > 0 {
                let n = systemWrite(fd, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError.system(path, "write")
                }
                p += n
                left -= n
            }
        }

        public func write(_ data: Data) throws {
            try data.withUnsafeBytes { try write($0) }
        }
    }

    public static func write(to url: URL, _ body: (Writer) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        StaleFiles.clean(in: dir)
        let temp = dir.appendingPathComponent(StaleFiles.temporaryName(for: url.lastPathComponent)).path
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError.system(url.path, "create a temporary file beside it") }
        var renamed = false
        defer { if !renamed { unlink(temp) } }
        do {
            try body(Writer(fd: fd, path: url.path))
            // Flush before the rename: otherwise a crash could leave the new name on empty blocks.
            guard fsync(fd) == 0 else { throw FileError.system(url.path, "flush to disk") }
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw FileError.system(url.path, "write") }
        guard rename(temp, url.path) == 0 else { throw FileError.system(url.path, "replace") }
        renamed = true
        syncDirectory(dir)
    }

    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(data) }
    }

    /// Text as UTF-8, creating the parent directory when missing.
    public static func write(_ text: String, to url: URL) throws {
        try createDirectory(url.deletingLastPathComponent())
        try write(Data(text.utf8), to: url)
    }

    /// `mkdir -p`, with the error in words.
    public static func createDirectory(_ url: URL) throws {
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw FileError.from(error, path: url.path) ?? FileError(url.path, "cannot create the directory")
        }
    }

    /// Makes renames inside `dir` durable; some filesystems refuse to fsync a directory, which is harmless.
    public static func syncDirectory(_ dir: URL) {
        let dfd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}

/// `write(2)`, named apart from the method above.
private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Darwin)
    return Darwin.write(fd, p, n)
    #elseif canImport(Musl)
    return Musl.write(fd, p, n)
    #else
    return Glibc.write(fd, p, n)
    #endif
}
