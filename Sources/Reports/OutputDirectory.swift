import Foundation

/// Writes a whole output directory or nothing: files go to a hidden staging directory beside the
/// target, which replaces the target only once everything is written. A crash or an error midway
/// leaves the previous results (or none), never a half-written set that looks complete.
public enum OutputDirectory {
    public static func write<T>(to target: URL, _ body: (URL) throws -> T) throws -> T {
        let fm = FileManager.default
        let parent = target.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let pid = ProcessInfo.processInfo.processIdentifier
        let staging = parent.appendingPathComponent(".\(target.lastPathComponent).partial-\(pid)")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        let result: T
        do {
            result = try body(staging)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: target.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                try? fm.removeItem(at: staging)
                throw CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: target.path])
            }
            let old = parent.appendingPathComponent(".\(target.lastPathComponent).old-\(pid)")
            try? fm.removeItem(at: old)
            try fm.moveItem(at: target, to: old)
            try fm.moveItem(at: staging, to: target)
            try? fm.removeItem(at: old)
        } else {
            try fm.moveItem(at: staging, to: target)
        }
        return result
    }
}
