import Foundation
import TensorIO
import TestSupport
import Testing

@Suite("ingot eval and ingot profile")
struct EvalCommandTests {
    static let int4 = fixturesFolder() + "/engine/int4"

    static func tokensFile(_ name: String) throws -> String {
        let g = try SafetensorsFile(path: fixturesFolder() + "/engine/\(name)-golden.safetensors")
        let path = temporaryFolder() + "/tokens.txt"
        try g.integers(named: "tokens").map(String.init).joined(separator: ",").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("eval ppl --json reproduces transformers' chunked perplexity, streamed or not")
    func ppl() throws {
        let tokens = try Self.tokensFile("grouped")
        let expected = Double(
            try SafetensorsFile(path: fixturesFolder() + "/engine/grouped-golden.safetensors").floats(named: "ppl_ctx16")[0])
        for extra in [[], ["--stream-layers"]] {
            let r = try runIngot(
                ["eval", "ppl", fixturesFolder() + "/engine/grouped", "--tokens-file", tokens, "--ctx", "16", "--json"] + extra)
            #expect(r.status == 0, "\(r.err)")
            let j = try JSONValue.parse(r.out)
            let ppl = j["ppl"]?.doubleValue ?? 0
            #expect(abs(ppl - expected) / expected < 1e-4)
            #expect(j["scored_tokens"]?.intValue == 14 && j["chunks"]?.intValue == 2)
            if !extra.isEmpty {
                // The reader's seconds per part: each of the 3 layers, then lm_head; they sum to read_seconds.
                let parts = j["stream"]?["part_read_seconds"]?.elements?.compactMap(\.doubleValue) ?? []
                #expect(parts.count == 4)
                #expect(abs(parts.reduce(0, +) - (j["stream"]?["read_seconds"]?.doubleValue ?? -1)) < 1e-9)
            }
        }
        let short = try runIngot(["eval", "ppl", fixturesFolder() + "/engine/grouped", "--tokens-file", tokens, "--ctx", "64"])
        #expect(short.status == 2 && short.err.contains("fewer than one chunk"))
    }

    @Test("eval parity of a checkpoint and its bundle: identical, exit 0, HDF5 and HTML written")
    func parityIdentical() throws {
        let folder = temporaryFolder()
        #expect(try runIngot(["repack", Self.int4, "-o", folder + "/b", "--quiet"]).status == 0)
        let r = try runIngot([
            "eval", "parity", Self.int4, folder + "/b", "--tokens-file", try Self.tokensFile("int4"), "--ctx", "12", "--report",
            folder + "/p.h5", "--html", folder + "/p.html", "--json", "--quiet",
        ])
        #expect(r.status == 0, "\(r.err)")
        let j = try JSONValue.parse(r.out)
        #expect(j["result"]?.stringValue == "ok")
        #expect(j["logits"]?["kld"]?["max"]?.doubleValue == 0 && j["logits"]?["same_top1"]?.doubleValue == 1)
        #expect(FileManager.default.fileExists(atPath: folder + "/p.h5"))
        let page = try String(contentsOfFile: folder + "/p.html", encoding: .utf8)
        #expect(page.contains("Result: OK") && page.contains("<svg id=routing") && !page.contains("<script"))
    }

    @Test("eval parity names the failing thresholds and exits 1 for a degraded candidate")
    func parityDegraded() throws {
        let degraded = temporaryFolder("ingot-degraded")
        try FileManager.default.removeItem(atPath: degraded)
        try FileManager.default.copyItem(atPath: Self.int4, toPath: degraded)
        // Every scale of layer 1's experts doubled.
        try mutateCheckpoint(degraded) { spec, bytes in
            guard spec.name.hasPrefix("model.layers.1.mlp.experts."), spec.name.hasSuffix("weight_scale") else { return [(spec, bytes)] }
            var out = bytes
            for i in stride(from: 0, to: out.count, by: 2) {
                let b = FloatConversion.bf16(FloatConversion.float(bf16: UInt16(out[i]) | UInt16(out[i + 1]) << 8) * 2)
                out[i] = UInt8(b & 0xFF)
                out[i + 1] = UInt8(b >> 8)
            }
            return [(spec, out)]
        }
        let args = ["eval", "parity", Self.int4, degraded, "--tokens-file", try Self.tokensFile("int4"), "--ctx", "12", "--quiet"]
        let r = try runIngot(args)
        #expect(r.status == 1, "\(r.out) \(r.err)")
        #expect(r.out.contains("FAILED") && r.out.contains("mean KLD"))
        #expect(try runIngot(args + ["--no-thresholds"]).status == 0)
    }

    @Test("profile writes usage counts that repack --expert-order accepts; the reordered bundle runs identically")
    func profileAndOrder() throws {
        let folder = temporaryFolder()
        let p = try runIngot([
            "profile", Self.int4, "--tokens-file", try Self.tokensFile("int4"), "--ctx", "12", "-o", folder + "/u.json", "--quiet",
        ])
        #expect(p.status == 0, "\(p.err)")
        let usage = try JSONValue.parse(String(contentsOfFile: folder + "/u.json", encoding: .utf8))
        #expect(usage["tokens"]?.intValue == 24)
        #expect(usage["layers"]?["1"]?.elements?.compactMap(\.intValue).reduce(0, +) == 48)
        #expect(try runIngot(["repack", Self.int4, "-o", folder + "/b", "--expert-order", folder + "/u.json", "--quiet"]).status == 0)
        let a = try runIngot(["run", Self.int4, "--tokens", "3,9,27", "--max-tokens", "8", "--json"])
        let b = try runIngot(["run", folder + "/b", "--tokens", "3,9,27", "--max-tokens", "8", "--json"])
        #expect(try JSONValue.parse(a.out)["generated"] == JSONValue.parse(b.out)["generated"])
    }
}
