import Evaluation
import Foundation
import Quantization
import TensorIO
import TestSupport
import Testing

@Suite("ingot verify command")
struct VerifyCommandTests {
    @Test("exit 0 clean, 1 with findings (naming layer, expert and tensor), 2 for unusable input")
    func exitCodes() throws {
        let folder = try tinyCheckpoint()
        let clean = try runIngot(["verify", folder, "--quiet"])
        #expect(clean.status == 0, "\(clean.out)\(clean.err)")
        #expect(clean.out.contains("result     OK"))
        try editFile(folder + "/config.json", replacing: #""group_size": 32"#, with: #""group_size": 16"#)
        let bad = try runIngot(["verify", folder, "--quiet"])
        #expect(bad.status == 1)
        #expect(bad.out.contains("error: layer 1 expert 0 model.layers.1.mlp.experts.0.down_proj.weight_scale:"))
        let json = try JSONValue.parse(try runIngot(["verify", folder, "--quiet", "--json"]).out)
        #expect(json["result"]?.stringValue == "findings")
        #expect((json["findings"]?.elements?.count ?? 0) == 48)
        try FileManager.default.removeItem(atPath: folder + "/model-00002-of-000004.safetensors")
        let unusable = try runIngot(["verify", folder, "--quiet"])
        #expect(unusable.status == 2 && unusable.err.hasPrefix("error: ") && unusable.err.split(separator: "\n").count == 1)
    }

    @Test("the HDF5 report reads back as h5py read it (fixtures/verify/tiny_seed0_report.json)")
    func hdf5ReportMatchesH5py() throws {
        let folder = try tinyCheckpoint(seed: 0)
        let path = temporaryFolder() + "/r.h5"
        let r = try runIngot(["verify", folder, "--quiet", "--report", path])
        #expect(r.status == 0)
        let golden = try JSONValue.parse(String(contentsOfFile: fixturesFolder() + "/verify/tiny_seed0_report.json", encoding: .utf8))
        let file = try HDF5File(reading: path)
        for (name, entry) in golden["datasets"]?.members ?? [] {
            let (values, shape) = try file.readFloats(name)
            #expect(shape == entry["shape"]?.elements?.compactMap(\.intValue), "\(name)")
            #expect(values.map(Double.init) == entry["values"]?.elements?.compactMap(\.doubleValue), "\(name)")
        }
        for (key, value) in golden["attributes"]?.members ?? [] {
            #expect(try file.attribute(key) == value.stringValue)
        }
        #expect(golden["datasets"]?.members?.count == 9)
    }
}
