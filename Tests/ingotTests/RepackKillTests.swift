import BundleFormat
import Checkpoint
import Foundation
import TestSupport
import Testing

@Suite("ingot repack survives kill -9")
struct RepackKillTests {
    /// Starts repack, kills it with SIGKILL after a random delay, at least 5 times while it is running, then lets it
    /// finish; the bundle must equal an uninterrupted run byte for byte.
    @Test("killed at random moments at least 5 times, the resumed bundle is byte-identical")
    func killAndResume() throws {
        let source = temporaryFolder() + "/src"
        try SyntheticCheckpoint.write(to: source, options: .init(preset: .small, layers: 3, experts: 24, seed: 31), threads: 2)
        let reference = temporaryFolder() + "/ref"
        #expect(try runIngot(["repack", source, "-o", reference, "--quiet"]).status == 0)
        let exe = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            .deletingLastPathComponent().appendingPathComponent("ingot")
        var rng = SplitMix64(seed: 77)
        var output = "", killedWhileRunning = 0, attempts = 0
        // One job must be killed at least 5 times while running; if a job finishes first, start a new one.
        while killedWhileRunning < 5 && attempts < 100 {
            output = temporaryFolder() + "/killed"
            killedWhileRunning = 0
            while attempts < 100 {
                attempts += 1
                let p = Process()
                p.executableURL = exe
                p.arguments = ["repack", source, "-o", output, "--quiet", "--journal-sync-bytes", "4096"]
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                usleep(UInt32(5_000 + rng.next() % 120_000))
                if p.isRunning {
                    kill(p.processIdentifier, SIGKILL)
                    killedWhileRunning += 1
                }
                p.waitUntilExit()
                let complete = FileManager.default.fileExists(atPath: output + "/manifest.json")
                if complete || killedWhileRunning >= 5 { break }
            }
        }
        #expect(killedWhileRunning >= 5, "only \(killedWhileRunning) kills landed while repack was running")
        // The same command once more finishes whatever the last kill interrupted (even the clean-up after the manifest).
        if !FileManager.default.fileExists(atPath: output + "/manifest.json")
            || FileManager.default.fileExists(atPath: output + "/repack.json")
        {
            let last = try runIngot(["repack", source, "-o", output, "--quiet"])
            #expect(last.status == 0, "\(last.err)")
        }
        try sameTree(reference, output)
    }
}

/// Every file of `a` and `b` (recursively) has the same bytes.
func sameTree(_ a: String, _ b: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let fm = FileManager.default
    let left = try fm.subpathsOfDirectory(atPath: a).sorted(), right = try fm.subpathsOfDirectory(atPath: b).sorted()
    #expect(left == right, sourceLocation: sourceLocation)
    for p in left where left == right {
        var isDirectory: ObjCBool = false
        fm.fileExists(atPath: a + "/" + p, isDirectory: &isDirectory)
        if !isDirectory.boolValue {
            #expect(fm.contentsEqual(atPath: a + "/" + p, andPath: b + "/" + p), "\(p) differs", sourceLocation: sourceLocation)
        }
    }
}
