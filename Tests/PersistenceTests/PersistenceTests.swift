import Foundation
import Persistence
import TestSupport
import Testing

/// A PID that belonged to a process which has ended (for files a killed writer left).
func deadPID() throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/true")
    try p.run()
    p.waitUntilExit()
    return p.processIdentifier
}


func contents(_ dir: URL) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() }
func text(_ url: URL) -> String? { try? String(contentsOf: url, encoding: .utf8) }

@Suite struct OutputDirectoryTests {
    func writeReport(_ dir: URL, _ body: String = "fit") throws {
        try OutputDirectory.write(to: dir, command: "test") { staging in
            try AtomicFile.write(body, to: staging.appendingPathComponent("fit.json"))
            try AtomicFile.write("<svg/>", to: staging.appendingPathComponent("figures/a.svg"))
        }
    }

    @Test func aFolderOfTheUsersIsNeverReplaced() throws {
        // `fit --data d/runs.csv --out d` used to delete runs.csv.
        let root = try Fixture.tempDir("persist")
        defer { try? FileManager.default.removeItem(at: root) }
        let d = root.appendingPathComponent("d")
        try AtomicFile.write("run,loss\n", to: d.appendingPathComponent("runs.csv"))
        #expect(throws: FileError.self) { try writeReport(d) }
        #expect(contents(d) == ["runs.csv"])
        #expect(text(d.appendingPathComponent("runs.csv")) == "run,loss\n")
        // Nothing of ours is left beside it either.
        #expect(contents(root) == ["d"])
    }

    @Test func theCurrentDirectoryIsRefusedWithOneLine() throws {
        let root = try Fixture.tempDir("persist")
        defer { try? FileManager.default.removeItem(at: root) }
        try AtomicFile.write("x", to: root.appendingPathComponent("notes.txt"))
        let dot = URL(fileURLWithPath: root.path + "/.")
        do {
            try writeReport(dot)
            Issue.record("--out . was accepted")
        } catch {
            let line = "\(error)"
            #expect(!line.contains("\n") && line.contains(root.path) && line.contains("notes.txt"), "\(line)")
        }
        #expect(contents(root) == ["notes.txt"])
    }

    @Test func ownResultsAreReplacedButNotWithAUsersFileInside() throws {
        let root = try Fixture.tempDir("persist")
        defer { try? FileManager.default.removeItem(at: root) }
        let d = root.appendingPathComponent("out")
        try writeReport(d, "one")
        try writeReport(d, "two")
        #expect(text(d.appendingPathComponent("fit.json")) == "two")
        #expect(contents(d) == [OutputDirectory.markerName, "figures", "fit.json"])
        try AtomicFile.write("mine", to: d.appendingPathComponent("figures/notes.md"))
        #expect(throws: FileError.self) { try writeReport(d, "three") }
        #expect(text(d.appendingPathComponent("figures/notes.md")) == "mine")
        #expect(text(d.appendingPathComponent("fit.json")) == "two")
        // An empty folder of the user's may be used; a file may not.
        let empty = root.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try writeReport(empty)
        #expect(throws: FileError.self) { try writeReport(d.appendingPathComponent("fit.json")) }
    }

    @Test func aFailedBodyLeavesThePreviousResults() throws {
        let root = try Fixture.tempDir("persist")
        defer { try? FileManager.default.removeItem(at: root) }
        let d = root.appendingPathComponent("out")
        try writeReport(d, "one")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try OutputDirectory.write(to: d) { staging in
                try AtomicFile.write("half", to: staging.appendingPathComponent("fit.json"))
                throw Boom()
            }
        }
        #expect(text(d.appendingPathComponent("fit.json")) == "one")
        #expect(contents(root) == ["out"])
    }

    @Test func whatAKilledRunLeftIsCleanedAndAnInterruptedSwapIsUndone() throws {
        let root = try Fixture.tempDir("persist")
        defer { try? FileManager.default.removeItem(at: root) }
        let dead = try deadPID()
        // Killed while staging: a partial folder; killed between the two renames: only `.out.old-PID`.
        try AtomicFile.write("partial", to: root.appendingPathComponent(".other.partial-\(dead)/fit.json"))
        try AtomicFile.write("previous", to: root.appendingPathComponent(".out.old-\(dead)/fit.json"))
        _ = FileManager.default.createFile(atPath: root.appendingPathComponent(".x.csv.tmp-\(dead)-ab12").path, contents: Data())
        _ = FileManager.default.createFile(atPath: root.appendingPathComponent(".dat.nosync\(dead).Qx7a").path, contents: Data())
        let live = ".y.csv.tmp-\(ProcessInfo.processInfo.processIdentifier)-cd34"
        _ = FileManager.default.createFile(atPath: root.appendingPathComponent(live).path, contents: Data())
        StaleFiles.clean(in: root)
        #expect(contents(root) == [live, "out"])
        #expect(text(root.appendingPathComponent("out/fit.json")) == "previous")
    }
}

@Suite struct AtomicFileTests {
    @Test func aFailedWriteLeavesNoTemporary() throws {
        let dir = try Fixture.tempDir("persist")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A directory where the file should go makes the rename fail.
        let target = dir.appendingPathComponent("summary.md")
        try FileManager.default.createDirectory(at: target.appendingPathComponent("occupied"), withIntermediateDirectories: true)
        #expect(throws: FileError.self) { try AtomicFile.write("text", to: target) }
        #expect(contents(dir) == ["summary.md"])
        #expect(contents(target) == ["occupied"])
    }
}

@Suite struct DirectoryCommitTests {
    func saveSet(_ dir: URL, step: Int, mask: Bool) throws {
        try DirectoryCommit.write(into: dir, owned: ["model", "mask", "state"]) { staging in
            try AtomicFile.write("model \(step)", to: staging.appendingPathComponent("model"))
            if mask { try AtomicFile.write("mask \(step)", to: staging.appendingPathComponent("mask")) }
            try AtomicFile.write("state \(step)", to: staging.appendingPathComponent("state"))
        }
    }

    @Test func aUnitReplacesTheOwnedFilesAndLeavesOthers() throws {
        let dir = try Fixture.tempDir("persist")
        defer { try? FileManager.default.removeItem(at: dir) }
        try AtomicFile.write("keep", to: dir.appendingPathComponent("records.csv"))
        try saveSet(dir, step: 1, mask: true)
        try saveSet(dir, step: 2, mask: false)
        #expect(contents(dir) == ["model", "records.csv", "state"])
        #expect(text(dir.appendingPathComponent("model")) == "model 2")
        #expect(text(dir.appendingPathComponent("records.csv")) == "keep")
    }

    @Test func aCrashBeforeTheCommitPointLeavesTheOldSet() throws {
        let dir = try Fixture.tempDir("persist")
        defer { try? FileManager.default.removeItem(at: dir) }
        try saveSet(dir, step: 1, mask: true)
        let dead = try deadPID()
        let pending = dir.appendingPathComponent(".pending-\(dead)-9f")
        try AtomicFile.write("model 2", to: pending.appendingPathComponent("model"))
        try DirectoryCommit.recover(dir)
        #expect(contents(dir) == ["mask", "model", "state"])
        #expect(text(dir.appendingPathComponent("model")) == "model 1")
    }

    @Test func aCrashAfterTheCommitPointIsRolledForward() throws {
        let dir = try Fixture.tempDir("persist")
        defer { try? FileManager.default.removeItem(at: dir) }
        try saveSet(dir, step: 1, mask: true)
        // Killed after the commit rename and after moving "model" only: the folder is a mix.
        let committed = dir.appendingPathComponent(DirectoryCommit.committedName)
        try AtomicFile.write("state 2", to: committed.appendingPathComponent("state"))
        try AtomicFile.write("mask", to: committed.appendingPathComponent(".removals"))
        try AtomicFile.write("model 2", to: dir.appendingPathComponent("model"))
        #expect(DirectoryCommit.isInterrupted(dir))
        try DirectoryCommit.recover(dir)
        #expect(contents(dir) == ["model", "state"])
        #expect(text(dir.appendingPathComponent("state")) == "state 2")
        #expect(!DirectoryCommit.isInterrupted(dir))
        try DirectoryCommit.recover(dir)  // idempotent
        #expect(contents(dir) == ["model", "state"])
    }
}

@Suite struct LockAndErrorTests {
    @Test func aSecondWriterIsRefusedUntilTheFirstReleases() throws {
        let dir = try Fixture.tempDir("persist")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try DirectoryLock(dir, purpose: "train")
        do {
            _ = try DirectoryLock(dir, purpose: "train")
            Issue.record("a second lock was granted")
        } catch {
            #expect("\(error)".contains("in use by pid \(ProcessInfo.processInfo.processIdentifier) (train)"), "\(error)")
        }
        first.release()
        _ = try DirectoryLock(dir, purpose: "again")
    }

    @Test func foundationErrorsBecomeWords() throws {
        let e = CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: "/tmp/x"])
        #expect(FileError.from(e)?.description == "/tmp/x: already exists")
        do {
            _ = try Data(contentsOf: URL(fileURLWithPath: "/nonexistent/file.csv"))
        } catch {
            let line = try #require(FileError.from(error)).description
            #expect(line.hasPrefix("/nonexistent/file.csv: ") && !line.contains("Domain") && !line.contains("error 2"), "\(line)")
        }
        do {
            _ = try Data(contentsOf: FileManager.default.temporaryDirectory)
        } catch {
            let line = try #require(FileError.from(error)).description
            #expect(!line.contains("NSCocoaErrorDomain"), "\(line)")
        }
        struct Mine: Error {}
        #expect(FileError.from(Mine()) == nil)
    }
}
