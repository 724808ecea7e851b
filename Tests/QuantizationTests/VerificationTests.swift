import Checkpoint
import Foundation
import Quantization
import TensorIO
import TestSupport
import Testing

/// Each defect is injected into a synthetic K2-form checkpoint and must be reported with layer, expert and tensor.
@Suite("verify: injected defects")
struct VerificationTests {
    func name(_ layer: Int, _ c: TensorAddress.Component, _ expert: Int, _ part: TensorAddress.Part) -> String {
        TensorAddress(layer: layer, component: c, expert: expert, part: part).name
    }

    func verify(_ folder: String, checksums: String? = nil) throws -> VerifyReport {
        try Verification.run(path: folder, options: .init(threads: 2, checksums: checksums.map { .list($0) } ?? .hubWhenCached))
    }

    func expectFinding(
        _ report: VerifyReport, _ severity: Finding.Severity, layer: Int?, expert: Int?, subject: String,
        containing text: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let hit = report.findings.contains {
            $0.severity == severity && $0.layer == layer && $0.expert == expert && $0.subject == subject && $0.message.contains(text)
        }
        #expect(
            hit, "no \(severity) for \(subject) containing '\(text)'; got:\n\(report.findings.map(\.line).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
    }

    @Test("a clean synthetic checkpoint verifies with no findings and full statistics")
    func clean() throws {
        let report = try verify(try tinyCheckpoint())
        #expect(!report.hasFindings, "\(report.findings.map(\.line))")
        #expect(report.projections.count == 2 * 8 * 3)
        #expect(report.projections.allSatisfy { $0.histogram[0] == 0 && $0.scales.bad == 0 })
        #expect(report.layers.map(\.layer) == [1, 2])
    }

    @Test("a NaN scale is named by layer, expert and tensor")
    func nanScale() throws {
        let folder = try tinyCheckpoint()
        let target = name(1, .expertGate, 3, .weightScale)
        try mutateCheckpoint(folder) { spec, bytes in
            var b = bytes
            if spec.name == target { b[10] = 0xC0; b[11] = 0x7F }
            return [(spec, b)]
        }
        expectFinding(try verify(folder), .error, layer: 1, expert: 3, subject: target, containing: "1 NaN scales")
    }

    @Test("a zero scale is named")
    func zeroScale() throws {
        let folder = try tinyCheckpoint()
        let target = name(2, .expertDown, 7, .weightScale)
        try mutateCheckpoint(folder) { spec, bytes in
            var b = bytes
            if spec.name == target { b[0] = 0; b[1] = 0 }
            return [(spec, b)]
        }
        expectFinding(try verify(folder), .error, layer: 2, expert: 7, subject: target, containing: "1 zero scales")
    }

    @Test("a missing expert is reported tensor by tensor")
    func missingExpert() throws {
        let folder = try tinyCheckpoint()
        try mutateCheckpoint(folder) { spec, bytes in
            TensorAddress(name: spec.name).map { $0.layer == 2 && $0.expert == 5 } == true ? [] : [(spec, bytes)]
        }
        let report = try verify(folder)
        for c in [TensorAddress.Component.expertGate, .expertUp, .expertDown] {
            expectFinding(report, .error, layer: 2, expert: 5, subject: name(2, c, 5, .weightPacked), containing: "missing")
        }
        #expect(report.findings.filter { $0.message.contains("missing") }.count == 9)
    }

    @Test("a wrong shape is reported with found and expected shapes")
    func wrongShape() throws {
        let folder = try tinyCheckpoint()
        let target = name(1, .expertDown, 0, .weightPacked)
        try mutateCheckpoint(folder) { spec, bytes in
            spec.name == target ? [(TensorSpec(name: spec.name, dtype: spec.dtype, shape: [32, 8]), bytes)] : [(spec, bytes)]
        }
        expectFinding(try verify(folder), .error, layer: 1, expert: 0, subject: target, containing: "shape [32, 8], config implies [64, 4]")
    }

    @Test("a truncated shard makes the input unusable, naming the shard, before any data is read")
    func truncatedShard() throws {
        let folder = try tinyCheckpoint()
        let shard = folder + "/model-00003-of-000004.safetensors"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: shard))
        try handle.truncate(atOffset: 20000)
        try handle.close()
        #expect { try verify(folder) } throws: { error in
            if case SafetensorsError.fileLengthMismatch(let file, _, 20000) = error {
                return file.hasSuffix("model-00003-of-000004.safetensors")
            }
            return false
        }
    }

    @Test("a wrong dtype is reported")
    func wrongDType() throws {
        let folder = try tinyCheckpoint()
        let target = name(1, .expertUp, 2, .weightScale)
        try mutateCheckpoint(folder) { spec, bytes in
            spec.name == target ? [(TensorSpec(name: spec.name, dtype: .f16, shape: spec.shape), bytes)] : [(spec, bytes)]
        }
        expectFinding(try verify(folder), .error, layer: 1, expert: 2, subject: target, containing: "dtype F16, expected BF16")
    }

    @Test("an extra zero-point tensor is unexpected for the symmetric scheme")
    func extraTensor() throws {
        let folder = try tinyCheckpoint()
        let anchor = name(1, .expertGate, 0, .weightShape)
        let extra = name(1, .expertGate, 0, .weightZeroPoint)
        try mutateCheckpoint(folder) { spec, bytes in
            spec.name == anchor
                ? [(spec, bytes), (TensorSpec(name: extra, dtype: .i32, shape: [4, 2]), [UInt8](repeating: 0, count: 32))]
                : [(spec, bytes)]
        }
        expectFinding(try verify(folder), .error, layer: 1, expert: 0, subject: extra, containing: "declared scheme is symmetric")
    }

    @Test("a quantization_config whose group size disagrees with the scales is named")
    func configDisagrees() throws {
        let folder = try tinyCheckpoint()
        try editFile(folder + "/config.json", replacing: #""group_size": 32"#, with: #""group_size": 16"#)
        let report = try verify(folder)
        expectFinding(
            report, .error, layer: 1, expert: 0, subject: name(1, .expertGate, 0, .weightScale),
            containing: "declares group_size 16 but the scales imply group size 32")
    }

    @Test("a byte-identical duplicated expert is reported against the original")
    func duplicatedExpert() throws {
        let folder = try tinyCheckpoint()
        let checkpoint = try SafetensorsCheckpoint(path: folder)
        var copies: [String: [UInt8]] = [:]
        for c in [TensorAddress.Component.expertGate, .expertUp, .expertDown] {
            for p in [TensorAddress.Part.weightPacked, .weightScale] {
                copies[name(1, c, 6, p)] = Array(try checkpoint.bytes(named: name(1, c, 1, p)))
            }
        }
        try mutateCheckpoint(folder) { spec, bytes in [(spec, copies[spec.name] ?? bytes)] }
        expectFinding(
            try verify(folder), .warning, layer: 1, expert: 6, subject: "model.layers.1.mlp.experts.6",
            containing: "byte-identical to layer 1 expert 1")
    }

    @Test("a weight_shape holding the wrong value, an all-zero projection and a NaN in a dense tensor are reported")
    func otherDefects() throws {
        let folder = try tinyCheckpoint()
        let shape = name(2, .expertUp, 4, .weightShape)
        let zero = name(2, .expertUp, 3, .weightPacked)
        let dense = TensorAddress(layer: 0, component: .oProj).name
        try mutateCheckpoint(folder) { spec, bytes in
            var b = bytes
            if spec.name == shape { b[0] = 33 }
            if spec.name == zero { b = [UInt8](repeating: 0x88, count: b.count) }
            if spec.name == dense { b[2] = 0xC0; b[3] = 0x7F }
            return [(spec, b)]
        }
        let report = try verify(folder)
        expectFinding(report, .error, layer: 2, expert: 4, subject: shape, containing: "holds [33, 64], but the module is [32, 64]")
        expectFinding(report, .warning, layer: 2, expert: 3, subject: "model.layers.2.mlp.experts.3.up_proj", containing: "all zeros")
        expectFinding(report, .error, layer: 0, expert: nil, subject: dense, containing: "1 NaN")
    }

    @Test("checksums from the system sha256sum match; a flipped byte is caught and named")
    func checksums() throws {
        let folder = try tinyCheckpoint()
        let list = temporaryFolder() + "/SHA256SUMS"
        try shell("cd '\(folder)' && sha256sum *.safetensors config.json > '\(list)'")
        let clean = try verify(folder, checksums: list)
        #expect(!clean.hasFindings && clean.checksums.count == 5 && clean.checksums.allSatisfy { $0.expected == $0.actual })
        let shard = folder + "/model-00002-of-000004.safetensors"
        var data = try Data(contentsOf: URL(fileURLWithPath: shard))
        data[data.count - 1] ^= 1
        try data.write(to: URL(fileURLWithPath: shard))
        let report = try verify(folder, checksums: list)
        expectFinding(report, .error, layer: nil, expert: nil, subject: "model-00002-of-000004.safetensors", containing: "SHA-256 is")
    }

    @Test("a Hugging Face cache is checked against its blob names by default: SHA-256 for LFS blobs, git's blob id for small files")
    func hubDigests() throws {
        let folder = try tinyCheckpoint()
        let repo = temporaryFolder() + "/models--org--tiny"
        let snapshot = repo + "/snapshots/0123abcd"
        let fm = FileManager.default
        try fm.createDirectory(atPath: repo + "/blobs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        // Blob names as the hub writes them, computed by independent tools: sha256sum for LFS files, git for the rest.
        let names = try fm.contentsOfDirectory(atPath: folder).sorted()
        for name in names {
            let path = folder + "/" + name
            let tool = name.hasSuffix(".safetensors") ? "sha256sum" : "git hash-object"
            let digest = String(try shell("\(tool) '\(path)'").out.prefix { $0.isHexDigit })
            #expect(digest.count == (name.hasSuffix(".safetensors") ? 64 : 40), "\(tool) \(name)")
            try fm.moveItem(atPath: path, toPath: repo + "/blobs/" + digest)
            try fm.createSymbolicLink(atPath: snapshot + "/" + name, withDestinationPath: "../../blobs/" + digest)
        }
        let clean = try verify(repo)
        #expect(clean.checksumSource == "hub" && clean.checksums.count == names.count, "\(clean.text)")
        #expect(!clean.hasFindings && clean.checksums.allSatisfy { $0.expected == $0.actual }, "\(clean.text)")
        #expect(clean.text.contains("files match the digests in the cache's blob names"))
        let inspection = InspectionReport(try ModelFolder(path: repo))
        let shards = names.filter { $0.hasSuffix(".safetensors") }
        #expect(inspection.hubDigests?.count == shards.count && shards.allSatisfy { inspection.hubDigests?[$0]?.count == 64 })
        #expect(inspection.text.contains("digests    \(shards.count) of \(shards.count) safetensors files have a SHA-256"))
        #expect(InspectionReport(try ModelFolder(path: try tinyCheckpoint())).hubDigests == nil)
        // A corrupt blob (a flipped byte in the last shard) is named by its file in the snapshot.
        let shard = names.last { $0.hasSuffix(".safetensors") }!
        let blob = ModelLocation.realPath(snapshot + "/" + shard)
        var data = try Data(contentsOf: URL(fileURLWithPath: blob))
        data[data.count - 1] ^= 1
        try data.write(to: URL(fileURLWithPath: blob))
        let report = try verify(snapshot)
        expectFinding(report, .error, layer: nil, expert: nil, subject: shard, containing: "its blob name in the cache says")
        // Asked for explicitly outside a cache, `hub` is refused; `none` checks nothing.
        let plain = try tinyCheckpoint()
        #expect(throws: CheckpointError.self) { try Verification.run(path: plain, options: .init(threads: 2, checksums: .hub)) }
        #expect(try Verification.run(path: repo, options: .init(threads: 2, checksums: .none)).checksumSource == nil)
    }

    @Test("level −8 and F16-inexact scales are notes, not findings")
    func notes() throws {
        let folder = try tinyCheckpoint()
        let target = name(1, .expertGate, 0, .weightPacked)
        let scale = name(1, .expertGate, 0, .weightScale)
        try mutateCheckpoint(folder) { spec, bytes in
            var b = bytes
            if spec.name == target { b[0] = 0x80 }  // column 0 → level −8
            if spec.name == scale { (b[0], b[1]) = (0x00, 0x33) }  // BF16 ≈ 2.98e-8: below F16's range, inexact
            return [(spec, b)]
        }
        let report = try verify(folder)
        #expect(!report.hasFindings)
        #expect(report.findings.contains { $0.severity == .note && $0.message.contains("level −8 occurs 1 times") })
        #expect(report.findings.contains { $0.severity == .note && $0.message.contains("1 of") && $0.message.contains("F16") })
    }
}
