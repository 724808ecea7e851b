import Crypto
import Foundation
import TensorIO
import TestSupport
import Testing

@Suite("unpack: compressed-tensors reads the result")
struct UnpackGoldenTests {
    /// fixtures/scripts/check_unpacked_bundle.py decompressed these exact bytes with compressed-tensors.
    @Test("synth → repack --compress zstd:3 → unpack gives the files the library checked (fixtures/bundle/unpack_check.json)")
    func matchesLibraryCheckedOutput() throws {
        let golden = try JSONValue.parse(String(contentsOfFile: fixturesFolder() + "/bundle/unpack_check.json", encoding: .utf8))
        #expect(golden["decompressed_modules"]?.intValue == 48)
        let dir = temporaryFolder()
        #expect(try runIngot(["synth", "--preset", "tiny", "--seed", "12", "-o", dir + "/src", "--quiet"]).status == 0)
        #expect(try runIngot(["repack", dir + "/src", "-o", dir + "/b", "--compress", "zstd:3", "--quiet"]).status == 0)
        #expect(try runIngot(["unpack", dir + "/b", "-o", dir + "/u", "--quiet"]).status == 0)
        let files = golden["files"]?.members ?? []
        #expect(files.count == 7)
        for (name, hash) in files {
            let digest = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: dir + "/u/" + name)))
            #expect(digest.map { String(format: "%02x", $0) }.joined() == hash.stringValue, "\(name)")
        }
    }
}
