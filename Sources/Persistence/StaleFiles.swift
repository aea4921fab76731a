import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The hidden files a writer makes while it works, named with its PID so that the next writer can
/// tell an abandoned one (its process is gone) from one in use, and remove it:
///
/// - `.NAME.tmp-PID-HEX`: `AtomicFile`'s temporary file;
/// - `.NAME.partial-PID`, `.NAME.old-PID`: `OutputDirectory`'s staging and replaced directories;
/// - `.pending-PID-HEX`: `DirectoryCommit`'s unit being written;
/// - `.dat.nosyncPID.XXXXXX`: Foundation's atomic-write temporary (older versions used it).
///
/// A `.NAME.old-PID` whose NAME is missing is a replacement cut short between its two renames:
/// it is renamed back, so the previous results return instead of vanishing.
public enum StaleFiles {
    static let pid = ProcessInfo.processInfo.processIdentifier

    /// A hidden staging folder name for work that is published with one rename; it is removed as
    /// stale once its process is gone.
    public static func stagingName(_ label: String) -> String {
        ".\(label)-\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).partial-\(pid)"
    }

    static func temporaryName(for name: String) -> String {
        ".\(name).tmp-\(pid)-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    }

    /// The writer's PID when `name` is one of the temporary names above.
    static func owner(of name: String) -> Int32? {
        guard name.hasPrefix(".") else { return nil }
        if name.hasPrefix(".dat.nosync") {
            let digits = name.dropFirst(".dat.nosync".count).prefix(while: \.isNumber)
            return Int32(digits)
        }
        if name.hasPrefix(".pending-") {
            return Int32(name.dropFirst(".pending-".count).prefix(while: \.isNumber))
        }
        for marker in [".tmp-", ".partial-", ".old-"] {
            guard let r = name.range(of: marker, options: .backwards) else { continue }
            let digits = name[r.upperBound...].prefix(while: \.isNumber)
            let rest = name[r.upperBound...].dropFirst(digits.count)
            if !digits.isEmpty, rest.isEmpty || (marker == ".tmp-" && rest.hasPrefix("-")) { return Int32(digits) }
        }
        return nil
    }

    /// Whether process `pid` exists (a process of another user counts as alive).
    static func alive(_ pid: Int32) -> Bool {
        if pid == Self.pid { return true }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Removes the abandoned temporary files and directories in `dir` (not recursively); restores
    /// an interrupted replacement. Best effort: what cannot be removed is left for the next time.
    public static func clean(in dir: URL) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else { return }
        for name in names {
            guard let owner = owner(of: name), !alive(owner) else { continue }
            let url = dir.appendingPathComponent(name)
            if name.hasSuffix(".old-\(owner)") {
                // ".NAME.old-PID" → "NAME"
                let original = String(name.dropFirst().dropLast(".old-\(owner)".count))
                let target = dir.appendingPathComponent(original)
                if !original.isEmpty, !fm.fileExists(atPath: target.path), rename(url.path, target.path) == 0 { continue }
            }
            try? fm.removeItem(at: url)
        }
    }
}
