import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive claim on an output folder for the length of a run, so that two runs writing the
/// same folder cannot interleave their files: `flock` on `.prunescale.lock` inside it. The kernel
/// drops the lock when the process ends, however it ends, so a killed run never blocks the next.
/// The file holds the owner's PID and purpose, only to name them in the refusal.
public final class DirectoryLock {
    public static let fileName = ".prunescale.lock"
    private var fd: Int32
    public let directory: URL

    /// Takes the lock or throws at once (never waits) naming the process that holds it.
    public init(_ directory: URL, purpose: String) throws {
        try AtomicFile.createDirectory(directory)
        self.directory = directory
        let path = directory.appendingPathComponent(Self.fileName).path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError.system(path, "open the lock file") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            fd = -1
            guard code == EWOULDBLOCK else { throw FileError.system(path, "lock", code: code) }
            let holder = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "another process"
            throw FileError(directory.path, "in use by \(holder); wait for it to finish or choose another output folder")
        }
        let text = "pid \(StaleFiles.pid) (\(purpose))\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// Releases the lock (also done when the object goes away or the process ends).
    public func release() {
        guard fd >= 0 else { return }
        _ = ftruncate(fd, 0)
        close(fd)
        fd = -1
    }

    deinit { release() }
}

extension DirectoryLock {
    /// Whether another process holds the lock of `directory` now (a run is writing there).
    public static func isHeld(_ directory: URL) -> Bool {
        let path = directory.appendingPathComponent(fileName).path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) != 0 { return errno == EWOULDBLOCK }
        _ = flock(fd, LOCK_UN)
        return false
    }
}
