import Foundation
import TensorIO
import TestSupport
import Testing

@Suite("ingot run and ingot logits")
struct EngineCommandTests {
    static let model = fixturesFolder() + "/engine/int4"

    @Test("run generates the same greedy tokens from the checkpoint and from its bundle, and reports tokens/s")
    func runCheckpointAndBundle() throws {
        let bundle = temporaryFolder() + "/int4.bundle"
        let repack = try runIngot(["repack", Self.model, "-o", bundle, "--quiet"])
        #expect(repack.status == 0, "\(repack.err)")
        let a = try runIngot(["run", Self.model, "--tokens", "5,17,42", "--max-tokens", "12", "--json"])
        let b = try runIngot(["run", bundle, "--tokens", "5,17,42", "--max-tokens", "12", "--json"])
        #expect(a.status == 0 && b.status == 0, "\(a.err) \(b.err)")
        let ja = try JSONValue.parse(a.out), jb = try JSONValue.parse(b.out)
        #expect(ja["generated"]?.elements?.count == 12)
        #expect(ja["generated"] == jb["generated"])
        #expect((ja["decode_tokens_per_second"]?.doubleValue ?? 0) > 0)
        let text = try runIngot(["run", Self.model, "--tokens", "5,17,42", "--max-tokens", "3"])
        #expect(text.err.contains("prefill: 3 tokens") && text.err.contains("tokens/s"))
    }

    @Test("sampling with a seed is repeatable; different seeds may differ but stay in the vocabulary")
    func runSampling() throws {
        let args = ["run", Self.model, "--tokens", "1,2,3", "--max-tokens", "8", "--temperature", "0.8", "--top-p", "0.9", "--json"]
        let a = try runIngot(args + ["--seed", "7"]), b = try runIngot(args + ["--seed", "7"])
        #expect(a.status == 0)
        #expect(try JSONValue.parse(a.out)["generated"] == JSONValue.parse(b.out)["generated"])
        for t in try JSONValue.parse(a.out)["generated"]?.elements ?? [] { #expect((0..<192).contains(t.intValue ?? -1)) }
    }

    @Test("logits writes [T, vocab] F32 equal to the golden within 1e-4, streamed or not, identically")
    func logitsFile() throws {
        let golden = try SafetensorsFile(path: fixturesFolder() + "/engine/int4-golden.safetensors")
        let tokens = try golden.integers(named: "tokens").map(String.init).joined(separator: ",")
        let folder = temporaryFolder()
        let plain = try runIngot(["logits", Self.model, "--tokens", tokens, "-o", folder + "/a.safetensors"])
        let streamed = try runIngot([
            "logits", Self.model, "--tokens", tokens, "-o", folder + "/b.safetensors", "--stream-layers", "--quiet",
        ])
        #expect(plain.status == 0 && streamed.status == 0, "\(plain.err) \(streamed.err)")
        let a = try SafetensorsFile(path: folder + "/a.safetensors"), b = try SafetensorsFile(path: folder + "/b.safetensors")
        #expect(a.info("logits")?.shape == [24, 192] && a.info("logits")?.dtype == .f32)
        let la = try a.floats(named: "logits"), lb = try b.floats(named: "logits"), ref = try golden.floats(named: "logits")
        #expect(la == lb)
        #expect(EngineTestMath.relativeError(la, ref) <= 1e-4)
    }

    @Test("bad token lists are flag errors (64); ids outside the vocabulary are input errors (2)")
    func badTokens() throws {
        #expect(try runIngot(["run", Self.model, "--tokens", "1,x"]).status == 64)
        #expect(try runIngot(["logits", Self.model, "--tokens", "", "-o", "/tmp/x.safetensors"]).status == 64)
        let r = try runIngot(["run", Self.model, "--tokens", "1,192"])
        #expect(r.status == 2)
        #expect(r.err.contains("token id 192 is outside the vocabulary (0..<192)"))
        #expect(try runIngot(["run", Self.model, "--tokens", "1", "--prompt", "hi"]).status == 64)
    }
}

enum EngineTestMath {
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        var diff: Float = 0, scale: Float = 0
        for i in a.indices {
            diff = max(diff, abs(a[i] - b[i]))
            scale = max(scale, abs(b[i]))
        }
        return diff / scale
    }
}
