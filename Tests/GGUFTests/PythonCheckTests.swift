import Checkpoint
import Crypto
import Foundation
import GGUF
import TensorIO
import TestSupport
import Testing

/// fixtures/gguf/*_check.json were recorded by fixtures/scripts/check_gguf.py, which read ingot's export with gguf-py
/// and checked every tensor against the source safetensors. Rebuilding the same export must give the same file.
@Suite("exports the gguf-py check accepted")
struct PythonCheckTests {
    @Test(
        "ingot synth --preset tiny --seed 0 exports to the file check_gguf.py verified",
        arguments: [("tiny_check.json", ExportPlan.DenseType.bf16), ("tiny_q8_0_check.json", .q8_0)])
    func sameFile(record: String, dense: ExportPlan.DenseType) throws {
        let json = try JSONValue.parse(String(contentsOfFile: fixturesFolder() + "/gguf/" + record, encoding: .utf8))
        let expected = try #require(json["gguf_sha256"]?.stringValue)
        #expect(json["lossless"]?.boolValue == true)
        let folder = try tinyCheckpoint(preset: .tiny, seed: 0)
        let out = temporaryFolder("gguf-check") + "/tiny.gguf"
        let report = try GGUFExporter.run(source: folder, output: out, options: .init(denseType: dense, name: "tiny"))
        #expect(report.groups == json["q4_0_groups"]?.intValue)
        #expect(report.tensors.count == json["tensors"]?.intValue)
        let digest = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(digest.map { String(format: "%02x", $0) }.joined() == expected)
    }
}
