import BundleFormat
import Checkpoint
import Foundation
import Synchronization
import TestSupport
import Testing

/// Every single-bit flip anywhere in a small bundle must be reported by the checks `ingot verify BUNDLE` runs.
///
/// With INGOT_EXHAUSTIVE=1 (`make check-large`, release build) every bit of every file is flipped (≈ 0.7 M flips;
/// about 6 minutes in a debug build, so CI instead flips every 61st bit, offset by file, plus every bit of each
/// file's first and last 64 bytes).
@Suite("bundle: every single-bit flip is detected")
struct BitFlipTests {
    static let exhaustive = ProcessInfo.processInfo.environment["INGOT_EXHAUSTIVE"] == "1"

    /// The bits this run flips in a file of `count` bytes.
    static func bits(count: Int, salt: Int) -> [Int] {
        if exhaustive { return Array(0..<(count * 8)) }
        let edges = Array(0..<min(count * 8, 512)) + Array(max(0, count * 8 - 512)..<(count * 8))
        return Array(Set(edges + stride(from: salt % 61, to: count * 8, by: 61))).sorted()
    }

    @Test("flips in manifest.json, manifest.sha256, every data file and every files/ entry")
    func everyBit() throws {
        let source = temporaryFolder() + "/micro"
        try SyntheticCheckpoint.write(to: source, options: .init(preset: .micro, seed: 3), threads: 2)
        let bundle = temporaryFolder() + "/b"
        _ = try BundleRepacker.run(source: source, output: bundle, options: .init(compression: .zstd(level: 3)))
        let manifestData = try Data(contentsOf: URL(fileURLWithPath: bundle + "/manifest.json"))
        let shaText = try String(contentsOfFile: bundle + "/manifest.sha256", encoding: .utf8)
        let manifest = try manifestData.withUnsafeBytes { try BundleReader.validateManifest($0, shaText: shaText, folder: bundle) }
        var flips = 0, missed: [String] = []

        var m = [UInt8](manifestData)
        for i in Self.bits(count: m.count, salt: 1) {
            m[i / 8] ^= 1 << UInt8(i % 8)
            if (try? m.withUnsafeBytes { try BundleReader.validateManifest($0, shaText: shaText, folder: bundle) }) != nil {
                missed.append("manifest.json bit \(i)")
            }
            m[i / 8] ^= 1 << UInt8(i % 8)
            flips += 1
        }
        var s = [UInt8](shaText.utf8)
        for i in Self.bits(count: s.count, salt: 2) {
            s[i / 8] ^= 1 << UInt8(i % 8)
            let text = String(decoding: s, as: UTF8.self)
            if (try? manifestData.withUnsafeBytes { try BundleReader.validateManifest($0, shaText: text, folder: bundle) }) != nil {
                missed.append("manifest.sha256 bit \(i)")
            }
            s[i / 8] ^= 1 << UInt8(i % 8)
            flips += 1
        }
        for f in manifest.dataFiles {
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: bundle + "/" + f.name)))
            #expect(original.withUnsafeBytes { BundleVerifier.checkDataFile($0, entry: f, manifest: manifest, path: f.name) }.isEmpty)
            // Both cores: each worker flips the bits of its own range in its own copy.
            let workers = 2, bits = Self.bits(count: original.count, salt: f.name.count)
            let misses = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var bytes = original
                for i in stride(from: w, to: bits.count, by: workers).map({ bits[$0] }) {
                    bytes[i / 8] ^= 1 << UInt8(i % 8)
                    if bytes.withUnsafeBytes({ BundleVerifier.checkDataFile($0, entry: f, manifest: manifest, path: f.name) }).isEmpty {
                        misses.withLock { $0.append("\(f.name) bit \(i)") }
                    }
                    bytes[i / 8] ^= 1 << UInt8(i % 8)
                }
            }
            missed += misses.withLock { $0 }
            flips += bits.count
        }
        for f in manifest.files {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: bundle + "/files/" + f.name)))
            for i in Self.bits(count: bytes.count, salt: 3) {
                bytes[i / 8] ^= 1 << UInt8(i % 8)
                if bytes.withUnsafeBytes({ SHA256Hex.of($0) }) == f.sha256 { missed.append("files/\(f.name) bit \(i)") }
                bytes[i / 8] ^= 1 << UInt8(i % 8)
                flips += 1
            }
        }
        #expect(missed.isEmpty, "undetected flips: \(missed.prefix(10))")
        #expect(flips > (Self.exhaustive ? 500_000 : 10_000))
    }

    @Test("the verifier reports a flipped bit in a bundle on disk, naming file and extent")
    func onDisk() throws {
        let source = temporaryFolder() + "/micro"
        try SyntheticCheckpoint.write(to: source, options: .init(preset: .micro, seed: 4), threads: 2)
        let bundle = temporaryFolder() + "/b"
        _ = try BundleRepacker.run(source: source, output: bundle, options: .init())
        #expect(try BundleVerifier.run(folder: bundle).ok)
        let reader = try BundleReader(folder: bundle)
        let e = try #require(reader.expert(layer: 1, expert: 1))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: bundle + "/" + e.file))
        try handle.seek(toOffset: UInt64(e.offset + 100))
        let byte = try #require(try handle.read(upToCount: 1))
        try handle.seek(toOffset: UInt64(e.offset + 100))
        handle.write(Data([byte[0] ^ 0x10]))
        try handle.close()
        let report = try BundleVerifier.run(folder: bundle)
        #expect(report.findings.contains { $0.contains("layer 1 expert 1 has SHA-256") })
    }
}
