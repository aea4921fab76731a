import Foundation
import Persistence

/// The external tools a fetch runs (pip, tar, apt-get, dpkg-deb, gzip, a corpus's own decoder):
/// found on PATH, run without input, their chatter kept in a log whose most telling line
/// becomes the one-line error.
enum Subprocess {
    /// The executable for `name`: itself if it is a path, else the first match on PATH.
    static func executable(_ name: String) -> URL? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? URL(fileURLWithPath: name) : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Runs a tool and returns its exit status. Standard error (and standard output, unless
    /// `stdout` names a file for it) goes to `log`.
    static func run(_ tool: URL, _ arguments: [String], log: URL, stdout: URL? = nil, directory: URL? = nil,
                    environment extra: [String: String] = [:]) throws -> Int32 {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        var outHandle = handle
        if let stdout {
            _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
            outHandle = try FileHandle(forWritingTo: stdout)
        }
        defer { if stdout != nil { try? outHandle.close() } }
        let p = Process()
        p.executableURL = tool
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = directory }
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = outHandle
        p.standardError = handle
        p.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        do { try p.run() } catch { throw CorpusError(place: tool.path, "cannot run: \(FileError.words(error))") }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// The most telling line of a tool's output: the last `ERROR`/`error` line (apt's `E:`), else the last line.
    static func lastProblem(in log: URL) -> String {
        let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let line = lines.last(where: { $0.localizedCaseInsensitiveContains("error") || $0.hasPrefix("E: ") || $0.contains("No module named") }) ?? lines.last ?? "no output"
        return String(line.prefix(300))
    }
}
