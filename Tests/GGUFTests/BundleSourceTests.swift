import BundleFormat
import Checkpoint
import Foundation
import GGUF
import TensorIO
import TestSupport
import Testing

/// Regression guard for the bundle source: experts come back through `TileLayout.untile` (and zstd + `planes` for
/// compressed bundles), dense tensors from the data files, the tokenizer from files/. The GGUF must not be able to
/// tell which one it was made from.
@Suite("ingot export gguf from a bundle")
struct BundleSourceTests {
    /// A tiny checkpoint with the test vocabulary's tokenizer files, config.json's vocab_size left at the synth's.
    static func checkpointWithTokenizer(seed: UInt64) throws -> String {
        let folder = try tinyCheckpoint(preset: .small, seed: seed)
        let tokenizer = try TokenizerTests.testVocabularyFolder()
        for name in ["tiktoken.model", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: tokenizer + "/" + name, toPath: folder + "/" + name)
        }
        return folder
    }

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test(
        "a bundle (raw, zstd, odd tile rows) exports byte-identical GGUF to its checkpoint",
        arguments: [(BundleManifest.Compression.none, 8), (.zstd(level: 3), 8), (.none, 3), (.zstd(level: 1), 5)])
    func sameBytes(compression: BundleManifest.Compression, tileRows: Int) throws {
        let folder = try Self.checkpointWithTokenizer(seed: 11)
        let bundle = temporaryFolder("gguf-bundle") + "/m.bundle"
        _ = try BundleRepacker.run(source: folder, output: bundle, options: .init(compression: compression, tileRows: tileRows))
        let out = temporaryFolder("gguf-bundle-out")
        let fromCheckpoint = try GGUFExporter.run(source: folder, output: out + "/a.gguf", options: .init(name: "m"))
        let fromBundle = try GGUFExporter.run(source: bundle, output: out + "/b.gguf", options: .init(name: "m"))
        #expect(fromCheckpoint.tokenizer && fromBundle.tokenizer)
        #expect(fromBundle.isLossless && fromBundle.groups == fromCheckpoint.groups && fromBundle.groups > 0)
        #expect(try Self.bytes(out + "/a.gguf") == Self.bytes(out + "/b.gguf"))
        let file = try GGUFFile(path: out + "/b.gguf")
        #expect(file.value("tokenizer.ggml.tokens")?.arrayValue?.count == 4096)
    }

    @Test("inexact scales are reported the same way from a bundle; splits match too")
    func inexactAndSplits() throws {
        let folder = try tinyCheckpoint(seed: 12)
        let target = TensorAddress(layer: 2, component: .expertDown, expert: 1, part: .weightScale).name
        try mutateCheckpoint(folder) { spec, bytes in
            guard spec.name == target else { return [(spec, bytes)] }
            var b = bytes
            b[2 * 3] = 0x01  // scale 3 (down_proj has one group per row: row 3): BF16 0x0001, below F16's subnormals
            b[2 * 3 + 1] = 0x00
            return [(spec, b)]
        }
        let bundle = temporaryFolder("gguf-bundle") + "/m.bundle"
        _ = try BundleRepacker.run(source: folder, output: bundle, options: .init(compression: .zstd(level: 3)))
        let out = temporaryFolder("gguf-bundle-out")
        let a = try GGUFExporter.run(source: folder, output: out + "/a.gguf", options: .init(splitMaxBytes: 50_000, name: "m"))
        let b = try GGUFExporter.run(source: bundle, output: out + "/b.gguf", options: .init(splitMaxBytes: 50_000, name: "m"))
        #expect(a.inexactGroups == 1 && b.inexactGroups == 1)
        #expect(a.inexactExamples == b.inexactExamples)
        #expect(b.inexactExamples.first.map { [$0.expert, $0.row, $0.group] } == [1, 3, 0])
        #expect(b.inexactExamples.first?.source == target)
        #expect(a.files.count == b.files.count && a.files.count > 1)
        for (x, y) in zip(a.files, b.files) { #expect(try Self.bytes(x) == Self.bytes(y)) }
    }
}
