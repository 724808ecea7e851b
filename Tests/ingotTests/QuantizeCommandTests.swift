import Checkpoint
import Crypto
import Foundation
import Quantization
import TensorIO
import TestSupport
import Testing

@Suite("ingot quantize")
struct QuantizeCommandTests {
    func sha256(_ path: String) throws -> String {
        SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }.joined()
    }

    /// The library checked these exact bytes (fixtures/scripts/check_quantize_output.py): same source, same command.
    @Test("output equals the files compressed-tensors verified bit for bit (fixtures/quantization/quantize_check.json)")
    func matchesLibraryCheckedOutput() throws {
        let golden = try JSONValue.parse(String(contentsOfFile: fixturesFolder() + "/quantization/quantize_check.json", encoding: .utf8))
        #expect(golden["bit_exact_modules"]?.intValue == 48)
        let source = temporaryFolder() + "/src"
        let out = temporaryFolder() + "/out"
        #expect(try runIngot(["synth", "--preset", "tiny", "--form", "bf16", "--seed", "11", "-o", source, "--quiet"]).status == 0)
        let r = try runIngot(["quantize", source, "-o", out, "--grid", "rtn", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        let files = golden["files"]?.members ?? []
        #expect(files.count == 7)  // config, generation_config, 4 shards, index
        for (name, hash) in files {
            #expect(try sha256(out + "/" + name) == hash.stringValue, "\(name)")
        }
    }

    @Test("--shard: three slices into one shared folder give the same bytes as one run; until the last, the folder is an unfinished job")
    func sliced() throws {
        let golden = try JSONValue.parse(String(contentsOfFile: fixturesFolder() + "/quantization/quantize_check.json", encoding: .utf8))
        let source = temporaryFolder() + "/src"
        let out = temporaryFolder() + "/out"
        #expect(try runIngot(["synth", "--preset", "tiny", "--form", "bf16", "--seed", "11", "-o", source, "--quiet"]).status == 0)
        for i in [2, 3] {
            let r = try runIngot(["quantize", source, "-o", out, "--grid", "rtn", "--shard", "\(i)/3", "--quiet"])
            #expect(r.status == 0, "\(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: out + "/" + ModelLocation.indexFileName))
        let unfinished = try runIngot(["inspect", out])
        #expect(unfinished.status == 2 && unfinished.err.contains("unfinished sliced `ingot quantize` job"), "\(unfinished.err)")
        // A slice of another job (another grid) is refused; the right one completes the folder.
        let other = try runIngot(["quantize", source, "-o", out, "--grid", "qat", "--shard", "1/3", "--quiet"])
        #expect(other.status == 2 && other.err.contains("run every slice with the same arguments"), "\(other.err)")
        let last = try runIngot(["quantize", source, "-o", out, "--grid", "rtn", "--shard", "1/3", "--quiet"])
        #expect(last.status == 0, "\(last.err)")
        let files = golden["files"]?.members ?? []
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == files.map(\.key).sorted())
        for (name, hash) in files { #expect(try sha256(out + "/" + name) == hash.stringValue, "\(name)") }
    }

    @Test("an FP8-block source is dequantized exactly: targeted experts become INT4, other FP8 weights BF16; the output verifies")
    func fp8Source() throws {
        let source = temporaryFolder() + "/fp8"
        try SyntheticCheckpoint.write(to: source, options: .init(preset: .tiny, seed: 4, form: .fp8), threads: 2)
        let out = temporaryFolder() + "/q"
        _ = try CheckpointQuantizer.run(
            source: source, output: out,
            options: .init(
                scheme: Recipe.builtin().first { $0.name == "kimi-k2-thinking" }!.scheme,
                grid: .qatGrid))
        let report = try Verification.run(path: out, options: .init(threads: 2))
        #expect(!report.hasFindings, "\(report.findings.map(\.line))")
        #expect(report.projections.allSatisfy { $0.histogram[0] == 0 }, "the qat grid never uses level −8")
        // o_proj stays unquantized: BF16 of E4M3 × weight_scale_inv, exactly.
        let src = try SafetensorsCheckpoint(path: source), dst = try SafetensorsCheckpoint(path: out)
        let name = TensorAddress(layer: 1, component: .oProj).name
        let scaleName = TensorAddress(layer: 1, component: .oProj, part: .weightScaleInv).name
        let w = try src.lookup(name)!.file.floats(named: name), s = try src.lookup(scaleName)!.file.floats(named: scaleName)
        let got = try dst.lookup(name)!.file.floats(named: name)
        #expect(dst.info(name)?.dtype == .bf16 && dst.info(scaleName) == nil)
        #expect(got == w.map { FloatConversion.float(bf16: FloatConversion.bf16($0 * s[0])) })
    }

    @Test("an asymmetric scheme writes zero points packed along dim 0 and verifies clean")
    func asymmetric() throws {
        let source = temporaryFolder() + "/bf16"
        try SyntheticCheckpoint.write(to: source, options: .init(preset: .tiny, seed: 5, form: .bf16), threads: 2)
        let out = temporaryFolder() + "/q"
        let r = try runIngot(["quantize", source, "-o", out, "--scheme", "w4a16-asym-g32", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        let verify = try runIngot(["verify", out, "--quiet"])
        #expect(verify.status == 0, "\(verify.out)")
        #expect(
            try SafetensorsCheckpoint(path: out).info(
                TensorAddress(layer: 1, component: .expertUp, expert: 0, part: .weightZeroPoint).name)?
                .shape == [4, 2])
    }

    @Test("refusals: a non-empty output folder, an already-quantized source, a malformed --scheme")
    func refusals() throws {
        let source = temporaryFolder() + "/bf16"
        try SyntheticCheckpoint.write(to: source, options: .init(preset: .tiny, form: .bf16), threads: 2)
        let busy = temporaryFolder()
        FileManager.default.createFile(atPath: busy + "/keep", contents: Data())
        #expect(try runIngot(["quantize", source, "-o", busy, "--quiet"]).status == 64)
        let int4 = try tinyCheckpoint()
        let again = try runIngot(["quantize", int4, "-o", temporaryFolder() + "/x", "--quiet"])
        #expect(again.status == 2 && again.err.contains("quantization_config"))
        #expect(try runIngot(["quantize", source, "-o", temporaryFolder() + "/y", "--scheme", "w3a16-g32"]).status == 64)
    }
}
