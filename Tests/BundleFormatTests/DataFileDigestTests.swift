import BundleFormat
import Checkpoint
import Foundation
import TensorIO
import TestSupport
import Testing

/// Data files' digests: format 2 stores the extent-table digest (`extents_sha256`, so a repack hashes every byte once),
/// format 1 bundles (whole-file SHA-256) still read and verify.
@Suite("bundle: data-file digests (format 2) and format 1 bundles")
struct DataFileDigestTests {
    @Test("the extent-table digest is the documented text's SHA-256, in offset order")
    func documentedDigest() {
        // printf '0 10 aaa…a\n4096 3 bbb…b\n4099\n' | sha256sum (Python hashlib gives the same).
        let a = String(repeating: "a", count: 64), b = String(repeating: "b", count: 64)
        let expected = "92f3b99d8ca300fb8dbf545b79ff23f1b4f2d2ffc630443dee3634df927071aa"
        #expect(BundleManifest.extentsDigest([(0, 10, a), (4096, 3, b)], fileBytes: 4099) == expected)
        #expect(BundleManifest.extentsDigest([(4096, 3, b), (0, 10, a)], fileBytes: 4099) == expected)
        #expect(BundleManifest.extentsDigest([(0, 10, a), (4096, 3, b)], fileBytes: 4100) != expected)
    }

    static func bundle() throws -> String {
        let source = temporaryFolder() + "/micro"
        try SyntheticCheckpoint.write(to: source, options: .init(preset: .micro, seed: 5), threads: 2)
        let bundle = temporaryFolder() + "/b"
        _ = try BundleRepacker.run(source: source, output: bundle, options: .init())
        return bundle
    }

    /// Rewrites manifest.json with `edit` and manifest.sha256 to match, as a forger (or an old ingot) would.
    static func rewriteManifest(_ bundle: String, _ edit: (String) throws -> String) throws {
        let text = try edit(try String(contentsOfFile: bundle + "/manifest.json", encoding: .utf8))
        try text.write(toFile: bundle + "/manifest.json", atomically: true, encoding: .utf8)
        let sha = Array(text.utf8).withUnsafeBytes { SHA256Hex.of($0) }
        try "\(sha)  manifest.json\n".write(toFile: bundle + "/manifest.sha256", atomically: true, encoding: .utf8)
    }

    @Test("a repack writes format 2 and its extents_sha256 is checked")
    func formatTwo() throws {
        let bundle = try Self.bundle()
        let m = try BundleReader(folder: bundle).manifest
        #expect(m.version == 2)
        let text = try String(contentsOfFile: bundle + "/manifest.json", encoding: .utf8)
        #expect(text.contains("\"extents_sha256\""))
        for f in m.dataFiles {
            let extents =
                m.tensors.filter { $0.file == f.name }.map { ($0.offset, $0.storedBytes, $0.sha256) }
                + m.experts.filter { $0.file == f.name }.map { ($0.offset, $0.storedBytes, $0.sha256) }
            #expect(BundleManifest.extentsDigest(extents, fileBytes: f.bytes) == f.sha256, "\(f.name)")
        }
        #expect(try BundleVerifier.run(folder: bundle).ok)
        // A manifest whose extent table disagrees with the stored digest (consistently re-signed) is reported.
        let victim = m.dataFiles[0]
        try Self.rewriteManifest(bundle) { $0.replacingOccurrences(of: victim.sha256, with: String(repeating: "0", count: 64)) }
        let report = try BundleVerifier.run(folder: bundle)
        #expect(report.findings.contains { $0.contains(victim.name) && $0.contains("extent-table SHA-256") }, "\(report.findings)")
    }

    @Test("a format 1 bundle (whole-file SHA-256) reads and verifies; a wrong file digest is reported")
    func formatOne() throws {
        let bundle = try Self.bundle()
        let m = try BundleReader(folder: bundle).manifest
        var whole: [String: String] = [:]
        for f in m.dataFiles {
            let mapping = try MappedFile(path: bundle + "/" + f.name)
            whole[f.name] = SHA256Hex.of(mapping.bytes)
        }
        try Self.rewriteManifest(bundle) { text in
            var t = text.replacingOccurrences(of: "\"version\": 2,", with: "\"version\": 1,")
            for f in m.dataFiles {
                t = t.replacingOccurrences(of: "\"extents_sha256\": \"\(f.sha256)\"", with: "\"sha256\": \"\(whole[f.name]!)\"")
            }
            return t
        }
        let old = try BundleReader(folder: bundle).manifest
        #expect(old.version == 1)
        #expect(old.dataFiles.map(\.sha256) == m.dataFiles.map { whole[$0.name]! })
        #expect(try BundleVerifier.run(folder: bundle).ok)
        let victim = m.dataFiles[0]
        try Self.rewriteManifest(bundle) { $0.replacingOccurrences(of: whole[victim.name]!, with: String(repeating: "1", count: 64)) }
        let report = try BundleVerifier.run(folder: bundle)
        #expect(report.findings.contains { $0.contains(victim.name) && $0.contains("file SHA-256") }, "\(report.findings)")
    }

    @Test("format versions this ingot does not know are refused with the versions it reads")
    func unknownVersion() throws {
        let bundle = try Self.bundle()
        try Self.rewriteManifest(bundle) { $0.replacingOccurrences(of: "\"version\": 2,", with: "\"version\": 3,") }
        #expect {
            _ = try BundleReader(folder: bundle)
        } throws: { error in
            "\(error)".contains("format version 3") && "\(error)".contains("1–2")
        }
    }
}
