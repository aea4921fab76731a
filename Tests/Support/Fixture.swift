import Foundation

/// Temporary directories, seeded bytes and small corpora for the tests of several modules.
public enum Fixture {
    public static func tempDir(_ label: String = "data") throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("prunescale-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    /// Deterministic pseudo-random bytes (all 256 values occur, most of them not valid UTF-8).
    public static func bytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var x = seed &+ 0x9E37_79B9_7F4A_7C15
        return (0..<n).map { _ in
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: x >> 33)
        }
    }

    /// A directory with the given files; returns it.
    @discardableResult
    public static func corpus(_ files: [String: [UInt8]], in dir: URL) throws -> URL {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, content) in files { try Data(content).write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    /// Runs a tool and fails loudly if it does.
    public static func run(_ tool: String, _ args: [String], in dir: URL? = nil) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        if let dir { p.currentDirectoryURL = dir }
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw FixtureError("\(tool): exit \(p.terminationStatus)") }
    }

    /// Everything left directly in a directory, hidden entries included (for "nothing half-written").
    public static func entries(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
