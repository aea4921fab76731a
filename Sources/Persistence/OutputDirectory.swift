import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a whole output directory or nothing, and replaces only what PruneScale wrote itself.
///
/// Files go to a hidden staging directory beside the target (`.NAME.partial-PID`), which
/// replaces the target only once everything is written: a crash or an error midway leaves the
/// previous results (or none), never a half-written set that looks complete. The directory gets
/// a marker, `.prunescale-output`, listing every file written. An existing target is replaced
/// only when it is empty, or when it is marked and holds nothing but the files its marker lists;
/// anything else (a folder of the user's, `.`, a file) is refused with one line naming what is
/// in the way, so `--out` can never delete a user's data.
public enum OutputDirectory {
    public static let markerName = ".prunescale-output"

    public static func write<T>(to target: URL, command: String = "prunescale", _ body: (URL) throws -> T) throws -> T {
        let target = target.standardizedFileURL
        let fm = FileManager.default
        try checkReplaceable(target)
        let parent = target.deletingLastPathComponent()
        let pid = StaleFiles.pid
        let staging = parent.appendingPathComponent(".\(target.lastPathComponent).partial-\(pid)")
        do {
            try fm.createDirectory(at: parent, withIntermediateDirectories: true)
            StaleFiles.clean(in: parent)
            try? fm.removeItem(at: staging)
            try fm.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw FileError(target.path, "cannot create the output directory: \(FileError.words(error))")
        }
        let result: T
        do {
            result = try body(staging)
            let files = try listFiles(in: staging)
            let marker = "# written by \(command); a later PruneScale run may replace this folder while it holds only these files\n" + files.joined(separator: "\n") + "\n"
            try AtomicFile.write(Data(marker.utf8), to: staging.appendingPathComponent(markerName))
            // The target may have changed while we worked: check again just before replacing.
            try checkReplaceable(target)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
        if fm.fileExists(atPath: target.path) {
            let old = parent.appendingPathComponent(".\(target.lastPathComponent).old-\(pid)")
            try? fm.removeItem(at: old)
            guard rename(target.path, old.path) == 0 else {
                let e = FileError.system(target.path, "move the previous results aside")
                try? fm.removeItem(at: staging)
                throw e
            }
            // A crash here leaves no target but `.NAME.old-PID`, which StaleFiles renames back.
            guard rename(staging.path, target.path) == 0 else {
                let e = FileError.system(target.path, "put the new results in place")
                _ = rename(old.path, target.path)
                try? fm.removeItem(at: staging)
                throw e
            }
            try? fm.removeItem(at: old)
        } else {
            guard rename(staging.path, target.path) == 0 else {
                let e = FileError.system(target.path, "put the new results in place")
                try? fm.removeItem(at: staging)
                throw e
            }
        }
        AtomicFile.syncDirectory(parent)
        return result
    }

    /// Throws unless `target` is absent, an empty directory, or a marked directory holding only
    /// the files its marker lists.
    public static func checkReplaceable(_ target: URL) throws {
        let fm = FileManager.default
        let path = target.path
        var isDirectory: ObjCBool = false
        if let attributes = try? fm.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeSymbolicLink {
            throw FileError(path, "is a symbolic link; give the real output directory")
        }
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw FileError(path, "exists and is not a directory; choose another output directory") }
        let present = try listFiles(in: target)
        if present.isEmpty { return }
        let markerURL = target.appendingPathComponent(markerName)
        guard let marker = try? String(contentsOf: markerURL, encoding: .utf8) else {
            throw FileError(path, "exists and holds files PruneScale did not write (\(describe(present))); choose another output directory (nothing was changed)")
        }
        let listed = Set(marker.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") })
        let foreign = present.filter { $0 != markerName && !listed.contains($0) }
        if !foreign.isEmpty {
            throw FileError(path, "holds files the previous PruneScale run did not write (\(describe(foreign))); move them away or choose another output directory (nothing was changed)")
        }
    }

    private static func describe(_ names: [String]) -> String {
        names.prefix(3).joined(separator: ", ") + (names.count > 3 ? " and \(names.count - 3) more" : "")
    }

    /// Every file and directory below `dir`, relative, sorted (directories with a trailing "/"):
    /// a directory of the user's that happens to be empty is still theirs.
    static func listFiles(in dir: URL) throws -> [String] {
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: dir.path) else { throw FileError(dir.path, "cannot list") }
        var out: [String] = []
        while let relative = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = fm.fileExists(atPath: dir.appendingPathComponent(relative).path, isDirectory: &isDirectory)
            out.append(isDirectory.boolValue ? relative + "/" : relative)
        }
        return out.sorted()
    }
}
