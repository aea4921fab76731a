import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file or directory problem as one line: the path, then what went wrong in words. Foundation's
/// own errors print as `Error Domain=NSCocoaErrorDomain Code=516` or `(NSCocoaErrorDomain error
/// 256.)` on Linux, which names neither; `FileError.from` turns them into this.
public struct FileError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ path: String, _ problem: String) { message = "\(path): \(problem)" }
    public var description: String { message }
    public var errorDescription: String? { message }

    /// `path: cannot ACTION: <strerror(errno)>`, for a failed system call.
    public static func system(_ path: String, _ action: String, code: Int32 = errno) -> FileError {
        FileError(path, "cannot \(action): \(String(cString: strerror(code)))")
    }

    /// Our errors pass through; Foundation and POSIX errors become `path: problem in words`
    /// (`path` when the error names none). Nil when `error` is not a file or system error.
    public static func from(_ error: Error, path fallback: String? = nil) -> FileError? {
        if let e = error as? FileError { return e }
        if let e = error as? POSIXError { return FileError(fallback ?? "error", String(cString: strerror(e.code.rawValue))) }
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return nil }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path ?? fallback ?? "file"
        return FileError(path, words(ns, path: path))
    }

    /// The problem of a Foundation or POSIX error in words, without its domain and code. With the
    /// path, a vague "unknown" read error on a directory says so.
    public static func words(_ error: Error, path: String? = nil) -> String {
        let ns = error as NSError
        var isDirectory: ObjCBool = false
        if ns.domain == NSCocoaErrorDomain, ns.code == CocoaError.fileReadUnknown.rawValue, let path,
           FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return "is a directory, not a file"
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        guard ns.domain == NSCocoaErrorDomain else { return "\(error)" }
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or directory"
        case .fileWriteFileExists: return "already exists"
        case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
        case .fileWriteOutOfSpace: return "no space left on the device"
        case .fileWriteVolumeReadOnly: return "the file system is read-only"
        case .fileReadCorruptFile: return "cannot be read: corrupt or not in the expected format"
        case .fileReadInapplicableStringEncoding, .fileWriteInapplicableStringEncoding: return "not valid UTF-8 text"
        case .fileReadTooLarge: return "too large to read"
        case .fileReadInvalidFileName, .fileWriteInvalidFileName: return "not a valid file name"
        case .fileLocking: return "locked by another process"
        case .fileWriteUnknown: return "cannot be written"
        default: return "cannot be read or written (\(ns.localizedFailureReason ?? "unknown reason"))"
        }
    }
}
