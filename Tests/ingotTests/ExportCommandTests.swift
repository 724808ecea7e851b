import ArgumentParser
import Foundation
import GGUF
import TensorIO
import TestSupport
import Testing

@testable import ingot

@Suite("ingot export gguf")
struct ExportCommandTests {
    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// A tiny checkpoint in a folder named `name` (general.name comes from it).
    static func checkpoint(_ name: String, seed: UInt64) throws -> String {
        let folder = temporaryFolder("export-cli") + "/" + name
        try FileManager.default.moveItem(atPath: try tinyCheckpoint(seed: seed), toPath: folder)
        return folder
    }

    @Test("export of a synthetic checkpoint: exit 0, lossless report, the library's bytes, a note about the tokenizer")
    func exportText() throws {
        let folder = try Self.checkpoint("k2", seed: 1)
        let out = temporaryFolder("export-cli") + "/k2.gguf"
        let r = try runIngot(["export", "gguf", folder, "-o", out, "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("wrote \(out): "))
        #expect(r.out.contains("every BF16 scale exact in F16: lossless"))
        #expect(r.err.contains("has no tiktoken.model"))
        let library = temporaryFolder("export-lib") + "/k2.gguf"
        _ = try GGUFExporter.run(source: folder, output: library, options: .init(name: "k2"))
        #expect(try Self.bytes(out) == Self.bytes(library))
        #expect(try GGUFFile(path: out).value("general.name") == .string("k2"))
    }

    @Test("--json: files, bytes, groups, exactness, tensors, skipped, notes")
    func exportJSON() throws {
        let folder = try Self.checkpoint("k2", seed: 2)
        let out = temporaryFolder("export-cli") + "/k2.gguf"
        let r = try runIngot(["export", "gguf", folder, "-o", out, "--json", "--quiet", "--dense-type", "q8_0"])
        #expect(r.status == 0, "\(r.err)")
        let json = try JSONValue.parse(r.out)
        let file = try GGUFFile(path: out)
        #expect(json["files"] == .array([.string(out)]))
        #expect(json["bytes"]?.intValue == Int(try FileManager.default.attributesOfItem(atPath: out)[.size] as? UInt64 ?? 0))
        #expect(json["lossless"] == .bool(true) && json["inexact_groups"]?.intValue == 0)
        #expect(json["tokenizer"] == .bool(false))
        #expect(json["inexact_examples"] == .array([]))
        #expect(json["seconds"]?.doubleValue != nil)
        let tensors = json["tensors"]?.elements ?? []
        #expect(tensors.count == file.tensors.count)
        let experts = try #require(tensors.first { $0["name"]?.stringValue == "blk.1.ffn_up_exps.weight" })
        #expect(experts["type"]?.stringValue == "q4_0" && experts["dims"] == .array([.int(64), .int(32), .int(8)]))
        #expect(experts["groups"]?.intValue == 2 * 32 * 8 && experts["inexact_groups"]?.intValue == 0)
        #expect(json["q4_0_groups"]?.intValue == tensors.reduce(0) { $0 + ($1["groups"]?.intValue ?? 0) })
        #expect(tensors.first { $0["name"]?.stringValue == "token_embd.weight" }?["type"]?.stringValue == "q8_0")
        // kv_b's attn_k_b rows (qk_nope_head_dim 16) are not Q8_0 blocks: kept BF16, with a note.
        #expect(json["notes"]?.elements?.contains { $0.stringValue?.contains("attn_k_b") == true } == true)
        #expect(json["skipped"] == .array([]))
    }

    @Test("a planted inexact BF16 scale: the file is written, exit 1, the count and place reported")
    func inexactScale() throws {
        let folder = try Self.checkpoint("k2", seed: 3)
        let target = "model.layers.2.mlp.experts.5.gate_proj.weight_scale"
        try mutateCheckpoint(folder) { spec, bytes in
            guard spec.name == target else { return [(spec, bytes)] }
            var b = bytes
            (b[2 * 7], b[2 * 7 + 1]) = (0x80, 0x47)  // scale 7 = BF16 0x4780 = 65536: infinity in F16
            return [(spec, b)]
        }
        let out = temporaryFolder("export-cli") + "/k2.gguf"
        let text = try runIngot(["export", "gguf", folder, "-o", out, "--quiet"])
        #expect(text.status == 1, "\(text.err)")
        #expect(text.out.contains("1 with a scale F16 cannot hold exactly (not lossless)"))
        #expect(text.out.contains("inexact: blk.2.ffn_gate_exps.weight expert 5 row 3 group 1: scale 65536.0 (bf16 0x4780) → f16 inf"))
        #expect(FileManager.default.fileExists(atPath: out))
        let json = try runIngot(["export", "gguf", folder, "-o", out, "--quiet", "--json"])
        #expect(json.status == 1)
        let doc = try JSONValue.parse(json.out)
        #expect(doc["lossless"] == .bool(false) && doc["inexact_groups"]?.intValue == 1)
        let example = try #require(doc["inexact_examples"]?.elements?.first)
        #expect(example["source"]?.stringValue == target && example["scale_bf16"]?.intValue == 0x4780)
        #expect(example["scale_f16"] == .null && example["scale_f16_bits"]?.intValue == 0x7C00)
        #expect(example["expert"]?.intValue == 5 && example["row"]?.intValue == 3 && example["group"]?.intValue == 1)
    }

    @Test(
        "bad flags are rejected before any work (exit 64)",
        arguments: [
            ["export", "gguf", "/tmp/x", "-o", "/tmp/x.gguf", "--dense-type", "q4_0"],
            ["export", "gguf", "/tmp/x", "-o", "/tmp/x.gguf", "--split-max-size", "0"],
            ["export", "gguf", "/tmp/x", "-o", "/tmp/x.gguf", "--split-max-size", "12X"],
            ["export", "gguf", "/tmp/x", "-o", "/tmp/x.gguf", "--split-max-size", "-5M"],
            ["export", "gguf", "/tmp/x"],
            ["export", "gguf", "-o", "/tmp/x.gguf"],
            ["export", "gguf", "/tmp/x", "-o", "/tmp/x.gguf", "--bogus"],
            ["export", "gguf", "/tmp/x", "-o", "/tmp/x.gguf", "--shard", "1/2"],
            ["export", "gguf", "/tmp/x", "-o", "/tmp/x.gguf", "--split-max-size", "60K", "--shard", "3/2"],
        ])
    func badFlags(arguments: [String]) throws {
        #expect(throws: (any Error).self) { _ = try Ingot.parseAsRoot(arguments) }
        #expect(try runIngot(arguments).status == 64)
    }

    @Test("unusable input exits 2 with one line naming the file; nothing is written")
    func unusableInput() throws {
        let folder = try Self.checkpoint("k2", seed: 4)
        try "not base64 at all\n".write(toFile: folder + "/tiktoken.model", atomically: true, encoding: .utf8)
        try "{}".write(toFile: folder + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        let outFolder = temporaryFolder("export-cli")
        let r = try runIngot(["export", "gguf", folder, "-o", outFolder + "/k2.gguf", "--quiet"])
        #expect(r.status == 2)
        #expect(r.err.hasPrefix("error: \(folder)/tiktoken.model:1: expected 'base64 rank'"), "\(r.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outFolder).isEmpty)
    }

    @Test("--split-max-size: FILE-0000i-of-0000N.gguf, listed in --json, no FILE.gguf")
    func splitNaming() throws {
        let folder = try Self.checkpoint("k2", seed: 5)
        let dir = temporaryFolder("export-cli")
        let r = try runIngot(["export", "gguf", folder, "-o", dir + "/m.gguf", "--split-max-size", "60K", "--json", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        let files = try JSONValue.parse(r.out)["files"]?.elements?.compactMap(\.stringValue) ?? []
        let n = files.count
        #expect(n > 2)
        #expect(files == (1...n).map { dir + "/m-" + String(format: "%05d-of-%05d", $0, n) + ".gguf" })
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == files.map { ($0 as NSString).lastPathComponent })
        #expect(try GGUFFile(path: files[1]).value("split.no") == .uint16(1))
    }

    @Test("--shard: slices write disjoint split files, together byte-identical to one export")
    func shardedSplits() throws {
        let folder = try Self.checkpoint("k2", seed: 5)
        let whole = temporaryFolder("export-cli"), sliced = temporaryFolder("export-cli")
        let r = try runIngot(["export", "gguf", folder, "-o", whole + "/m.gguf", "--split-max-size", "60K", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        var seen: [String] = []
        for i in 1...3 {
            let a = try runIngot([
                "export", "gguf", folder, "-o", sliced + "/m.gguf", "--split-max-size", "60K", "--shard", "\(i)/3", "--json", "--quiet",
            ])
            #expect(a.status == 0, "\(a.err)")
            let files = try JSONValue.parse(a.out)["files"]?.elements?.compactMap(\.stringValue) ?? []
            #expect(!files.isEmpty && Set(files).isDisjoint(with: seen))
            seen += files
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: whole).sorted()
        #expect(try FileManager.default.contentsOfDirectory(atPath: sliced).sorted() == names)
        for name in names {
            #expect(FileManager.default.contentsEqual(atPath: whole + "/" + name, andPath: sliced + "/" + name), "\(name)")
        }
    }

    @Test("a bundle repacked by the CLI (raw and zstd) exports the checkpoint's bytes, general.name included")
    func bundleSource() throws {
        let folder = try Self.checkpoint("k2", seed: 6)
        let dir = temporaryFolder("export-cli")
        let plain = try runIngot(["export", "gguf", folder, "-o", dir + "/from-checkpoint.gguf", "--quiet"])
        #expect(plain.status == 0, "\(plain.err)")
        for (bundle, flags) in [("k2.bundle", [String]()), ("zstd/k2.bundle", ["--compress", "zstd:3"])] {
            let path = dir + "/" + bundle
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let repack = try runIngot(["repack", folder, "-o", path, "--quiet"] + flags)
            #expect(repack.status == 0, "\(repack.err)")
            let r = try runIngot(["export", "gguf", path, "-o", dir + "/from-bundle.gguf", "--quiet"])
            #expect(r.status == 0, "\(r.err)")
            #expect(try Self.bytes(dir + "/from-bundle.gguf") == Self.bytes(dir + "/from-checkpoint.gguf"), "\(bundle)")
        }
    }
}
