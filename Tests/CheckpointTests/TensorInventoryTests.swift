import Crypto
import Foundation
import TensorIO
import TestSupport
import Testing

@testable import Checkpoint

@Suite("tensor addresses and K2's inventory")
struct TensorInventoryTests {
    @Test("every K2 tensor name parses back to the address that built it")
    func addressRoundTrip() throws {
        let c = try ModelConfig(json: SyntheticCheckpoint.configJSON(.init(preset: .tiny)), file: "config.json")
        for e in TensorInventory.expected(c) {
            #expect(TensorAddress(name: e.address.name) == e.address, "\(e.address.name)")
        }
        #expect(
            TensorAddress(layer: 3, component: .expertGate, expert: 17, part: .weightPacked).name
                == "model.layers.3.mlp.experts.17.gate_proj.weight_packed")
        #expect(TensorAddress(name: "model.layers.1.mlp.gate.e_score_correction_bias")?.component == .router)
    }

    @Test(
        "names outside the architecture do not parse",
        arguments: [
            "model.layers.01.input_layernorm.weight", "model.layers.x.input_layernorm.weight",
            "model.layers.1.mlp.experts.-1.up_proj.weight",
            "model.layers.1.mlp.experts.2.fc.weight", "lm_head", "model.embed.weight", "model.layers.1.foo.weight",
        ])
    func rejects(name: String) {
        #expect(TensorAddress(name: name) == nil)
    }

    /// docs/checkpoint-format.md, "Counts".
    @Test("the full K2-Thinking inventory has 208,215 tensors and 594,206,457,856 data bytes with I64 weight_shape")
    func k2Totals() throws {
        let c = try ModelConfig(json: SyntheticCheckpoint.configJSON(.init(preset: .k2)), file: "config.json")
        let all = TensorInventory.expected(c)
        #expect(all.count == 208_215)
        #expect(all.reduce(0) { $0 + $1.spec.byteCount } == 594_206_457_856)
        let i32 = TensorInventory.expected(c, options: .init(weightShapeDType: .i32))
        #expect(i32.reduce(0) { $0 + $1.spec.byteCount } == 594_205_904_896)
        #expect(all.filter { $0.address.part == .weightPacked }.count == 69_120)
        let gate = all.first { $0.address == TensorAddress(layer: 1, component: .expertGate, expert: 0, part: .weightPacked) }
        #expect(gate?.shape == [2048, 896] && gate?.dtype == .i32)
        let down = all.first { $0.address == TensorAddress(layer: 5, component: .expertDown, expert: 383, part: .weightScale) }
        #expect(down?.shape == [7168, 64] && down?.dtype == .bf16)
        let kvB = all.first { $0.address == TensorAddress(layer: 0, component: .kvBProj) }
        #expect(kvB?.shape == [16384, 512])
    }

    @Test("synth is deterministic: the same seed gives the same bytes (hash pinned), any thread count")
    func synthDeterminism() throws {
        let a = try tinyCheckpoint(seed: 7)
        let b = temporaryFolder()
        try SyntheticCheckpoint.write(to: b, options: .init(preset: .tiny, seed: 7), threads: 1)
        let filesA = try folderContents(a), filesB = try folderContents(b)
        #expect(filesA.map(\.name) == filesB.map(\.name))
        #expect(filesA.map(\.bytes) == filesB.map(\.bytes))
        let c = try folderContents(try tinyCheckpoint(seed: 8))
        #expect(c.map(\.bytes) != filesA.map(\.bytes))
        #expect(sha256(filesA) == "53f46a7ab9f41595dec7871fb1f176a9db5c008cb28fdaffacd43f2ec979c500")
    }

    @Test("synth writes INT4 levels in −7…7 only, scales in [1e-3, 1e-2], and true weight_shape values")
    func synthValues() throws {
        let folder = try tinyCheckpoint(seed: 3)
        let checkpoint = try SafetensorsCheckpoint(path: folder)
        let packed = TensorAddress(layer: 2, component: .expertDown, expert: 5, part: .weightPacked).name
        var histogram = [Int](repeating: 0, count: 16)
        for byte in try checkpoint.bytes(named: packed) {
            histogram[Int(byte & 0xF)] += 1
            histogram[Int(byte >> 4)] += 1
        }
        #expect(histogram[0] == 0, "level −8 never appears")
        #expect(histogram[8] > histogram[1] && histogram[8] > histogram[15], "bell-shaped around 0")
        let scaleName = TensorAddress(layer: 2, component: .expertDown, expert: 5, part: .weightScale).name
        let (file, info) = try #require(checkpoint.lookup(scaleName))
        #expect(try file.floats(named: info.name).allSatisfy { $0 >= 0.00099 && $0 <= 0.0101 })
        let shapeName = TensorAddress(layer: 2, component: .expertDown, expert: 5, part: .weightShape).name
        #expect(try checkpoint.lookup(shapeName)!.file.integers(named: shapeName) == [64, 32])
    }
}

func sha256(_ files: [(name: String, bytes: Data)]) -> String {
    var h = SHA256()
    for f in files {
        h.update(data: Data(f.name.utf8))
        h.update(data: f.bytes)
    }
    return h.finalize().map { String(format: "%02x", $0) }.joined()
}

@Suite("inspect report rendering")
struct InspectionRenderTests {
    @Test("byte counts past 2^31 print in full (a %d format once truncated them)")
    func largeCounts() {
        let text = InspectionReport.tallyText(.init(tensors: 6912, bytes: 19_025_399_808))
        #expect(text == "    6912 tensors      19025399808 bytes")
    }
}
