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
/// filesystem), are flushed to disk, and only then renamed over the target.
enum AtomicFile {
    /// An open temporary file. Writes go straight to the descriptor so a large parameter buffer
    /// is never copied into a `Data` first.
    struct Writer {
        fileprivate let fd: Int32
        fileprivate let path: String

        func write(_ bytes: UnsafeRawBufferPointer) throws {
            guard var p = bytes.baseAddress else { return }
            var left = bytes.count
            while left > 0 {
                let n = systemWrite(fd, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ModelError("\(path): cannot write: \(AtomicFile.errnoText())")
                }
                p += n
                left -= n
            }
        }

        func write(_ data: Data) throws {
            try data.withUnsafeBytes { try write($0) }
        }
    }

    static func write(to url: URL, _ body: (Writer) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        let temp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(UInt64.random(in: 0...UInt64.max))").path
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ModelError("\(url.path): cannot create a temporary file beside it: \(AtomicFile.errnoText())") }
        var renamed = false
        defer { if !renamed { unlink(temp) } }
        do {
            try body(Writer(fd: fd, path: url.path))
            // Flush before the rename: otherwise a crash could leave the new name on empty blocks.
            guard fsync(fd) == 0 else { throw ModelError("\(url.path): cannot flush to disk: \(AtomicFile.errnoText())") }
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw ModelError("\(url.path): cannot write: \(AtomicFile.errnoText())") }
        guard rename(temp, url.path) == 0 else { throw ModelError("\(url.path): cannot replace: \(AtomicFile.errnoText())") }
        renamed = true
        // Make the rename itself durable; some filesystems refuse to fsync a directory, which is harmless.
        let dfd = open(dir.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(data) }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
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


