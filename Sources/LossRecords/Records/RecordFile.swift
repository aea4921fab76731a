import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loss-record file format.
public enum RecordFormat: String, Sendable {
    case csv, jsonl

    /// The format a file name implies: `.jsonl`, `.ndjson` and `.json` are JSON Lines, anything else CSV.
    public init(path: String) {
        switch (path as NSString).pathExtension.lowercased() {
        case "jsonl", "ndjson", "json": self = .jsonl
        default: self = .csv
        }
    }
}

/// A records file's bytes, read whole (up to `InputLimits.recordFileBytes`) with `DataError`s
/// in words: one `open`/`read` loop, so pipes and growing files work like regular files.
enum RecordFile {
    static func bytes(_ path: String) throws -> [UInt8] {
        func failure() -> DataError { DataError(file: path, "cannot read: \(String(cString: strerror(errno)))") }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw failure() }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var info = stat()
        let limit = InputLimits.recordFileBytes
        if fstat(fd, &info) == 0, info.st_size > 0 {
            guard info.st_size <= limit else { throw tooLarge(path, Int(info.st_size)) }
            bytes.reserveCapacity(Int(info.st_size))
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw failure()  // e.g. EISDIR for a directory
            }
            if got == 0 { return bytes }
            // A pipe or a growing file has no size up front.
            guard bytes.count + got <= limit else { throw tooLarge(path, bytes.count + got) }
            bytes.append(contentsOf: chunk[0..<got])
        }
    }

    private static func tooLarge(_ path: String, _ size: Int) -> DataError {
        DataError(file: path, "the file has \(size >> 20) MiB or more; records files are read whole, up to \(InputLimits.recordFileBytes >> 20) MiB (split it, or drop unused columns)")
    }

    /// The first line that is not UTF-8, for the error message.
    static func firstInvalidUTF8Line(_ bytes: [UInt8]) -> Int? {
        for (index, line) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated()
        where String(validating: line, as: UTF8.self) == nil {
            return index + 1
        }
        return nil
    }
}
