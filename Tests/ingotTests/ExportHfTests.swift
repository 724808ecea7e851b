import Checkpoint
import Foundation
import TensorIO
import TestSupport
import Testing

/// `ingot export hf` on k2-mini. fixtures/k2-mini/hf_export_golden.json was made by
/// fixtures/scripts/make_hf_export_golden.py, which loaded such an export with transformers and tokenizers (no
/// remote code) and checked their ids against tiktoken's and ingot's.
@Suite("ingot export hf")
struct ExportHfTests {
    static let int4 = fixturesFolder() + "/k2-mini/int4"

    static func golden() throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesFolder() + "/k2-mini/hf_export_golden.json"))
        return try data.withUnsafeBytes { try JSONValue.parse($0) }
    }

    static func json(_ path: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try data.withUnsafeBytes { try JSONValue.parse($0) }
    }

    static func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    /// The golden corpus: the tokenizer golden's texts (not its 30,000-character recipe cases), then k2-mini's eval.txt
    /// (as the script builds it).
    static func texts() throws -> [String] {
        let golden = try json(fixturesFolder() + "/tokenizer/golden.json")
        let cases = try #require(golden["cases"]?.elements).compactMap { $0["text"]?.stringValue }
        return cases + [try String(contentsOfFile: fixturesFolder() + "/k2-mini/eval.txt", encoding: .utf8)]
    }

    @Test("from a checkpoint: weights hard-linked, deepseek_v3 config, the tokenizer.json the golden was made from")
    func fromCheckpoint() throws {
        let out = temporaryFolder("export-hf") + "/k2-mini-hf"
        let r = try runIngot(["export", "hf", Self.int4, "-o", out, "--json", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        let report = try JSONValue.parse(r.out)
        let weights = (report["linked_files"]?.elements ?? []) + (report["written_files"]?.elements ?? [])
        #expect(weights.compactMap(\.stringValue) == ["model.safetensors"])
        // Same filesystem here (the temporary folder and fixtures/ are both on the build disk) or a copy: either way
        // the same bytes.
        if report["linked_files"]?.elements?.isEmpty == false {
            #expect(Self.inode(out + "/model.safetensors") == Self.inode(Self.int4 + "/model.safetensors"))
        }
        #expect(try ChecksumList.sha256(path: out + "/model.safetensors") == ChecksumList.sha256(path: Self.int4 + "/model.safetensors"))
        let config = try Self.json(out + "/config.json"), source = try Self.json(Self.int4 + "/config.json")
        #expect(config["model_type"]?.stringValue == "deepseek_v3")
        #expect(config["architectures"]?.elements?.first?.stringValue == "DeepseekV3ForCausalLM")
        #expect(config["auto_map"] == nil)
        for (key, value) in source.members ?? [] where !["model_type", "architectures", "auto_map"].contains(key) {
            #expect(config[key] == value, "config.json \(key)")
        }
        let tokenizerConfig = try Self.json(out + "/tokenizer_config.json")
        #expect(tokenizerConfig["tokenizer_class"]?.stringValue == "PreTrainedTokenizerFast")
        #expect(tokenizerConfig["auto_map"] == nil && tokenizerConfig["add_bos_token"] == .bool(false))
        let template = try String(contentsOfFile: Self.int4 + "/chat_template.jinja", encoding: .utf8)
        #expect(tokenizerConfig["chat_template"]?.stringValue == template)
        let golden = try Self.golden()
        #expect(try ChecksumList.sha256(path: out + "/tokenizer.json") == golden["tokenizer_json_sha256"]?.stringValue)
        #expect(report["tokenizer_tokens"]?.intValue == 3840 && report["tokenizer_added_tokens"]?.intValue == 256)
        // ingot reads the exported folder as it read the source: the same model, verified.
        let verify = try runIngot(["verify", out])
        #expect(verify.status == 0, "\(verify.out) \(verify.err)")
        let parity = try runIngot([
            "eval", "parity", Self.int4, out, "--text", fixturesFolder() + "/k2-mini/eval.txt", "--ctx", "64", "--chunks", "2", "--json",
            "--quiet", "--no-thresholds",
        ])
        #expect(parity.status == 0, "\(parity.err)")
        let logits = try JSONValue.parse(parity.out)["logits"]
        #expect(logits?["kld"]?["max"]?.doubleValue == 0 && logits?["same_top1"]?.doubleValue == 1)
    }

    @Test("ingot's ids on the exported folder are the ids transformers and tiktoken gave (golden digests)")
    func idsMatchGolden() throws {
        let out = temporaryFolder("export-hf") + "/k2-mini-hf"
        #expect(try runIngot(["export", "hf", Self.int4, "-o", out, "--quiet"]).status == 0)
        let texts = try Self.texts()
        let file = temporaryFolder() + "/texts.jsonl"
        try texts.map { JSONValue.string($0).compactText }.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runIngot(["tokenize", out, "--file", file])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        let expected = try #require(try Self.golden()["ids_sha256"]?.elements).compactMap(\.stringValue)
        #expect(lines.count == expected.count && expected.count == texts.count)
        for (i, line) in lines.enumerated() where i < expected.count {
            // The digest is of Python's json.dumps(ids): "[1, 2, 3]".
            let ids = try JSONValue.parse(line).elements?.compactMap(\.intValue) ?? []
            let text = "[" + ids.map(String.init).joined(separator: ", ") + "]"
            #expect(K2MiniTemplateTests.sha256(text) == expected[i], "text \(i)")
        }
    }

    @Test("from a bundle: unpacked, byte-identical to the checkpoint's export")
    func fromBundle() throws {
        let work = temporaryFolder("export-hf")
        #expect(try runIngot(["repack", Self.int4, "-o", work + "/b", "--compress", "zstd:3", "--quiet"]).status == 0)
        #expect(try runIngot(["export", "hf", work + "/b", "-o", work + "/from-bundle", "--quiet"]).status == 0)
        #expect(try runIngot(["export", "hf", Self.int4, "-o", work + "/from-ckpt", "--copy", "--quiet"]).status == 0)
        for name in ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "tiktoken.model"] {
            #expect(
                try ChecksumList.sha256(path: work + "/from-bundle/" + name) == ChecksumList.sha256(path: work + "/from-ckpt/" + name),
                "\(name)")
        }
        #expect(Self.inode(work + "/from-ckpt/model.safetensors") != Self.inode(Self.int4 + "/model.safetensors"))
    }

    @Test("a non-empty output, a broken config.json and a leftover partial folder")
    func refusalsAndLeftovers() throws {
        let work = temporaryFolder("export-hf")
        try FileManager.default.createDirectory(atPath: work + "/full", withIntermediateDirectories: true)
        try "x".write(toFile: work + "/full/x", atomically: true, encoding: .utf8)
        let full = try runIngot(["export", "hf", Self.int4, "-o", work + "/full", "--quiet"])
        #expect(full.status != 0 && full.err.contains("not empty"))

        let broken = work + "/broken"
        try FileManager.default.copyItem(atPath: Self.int4, toPath: broken)
        try #"{"model_type": "kimi_k2", "#.write(toFile: broken + "/config.json", atomically: true, encoding: .utf8)
        let bad = try runIngot(["export", "hf", broken, "-o", work + "/out", "--quiet"])
        #expect(bad.status == 2 && bad.err.contains(broken + "/config.json"), "\(bad.err)")
        #expect(
            !FileManager.default.fileExists(atPath: work + "/out")
                && !FileManager.default.fileExists(atPath: work + "/out.export-hf-partial"))

        try FileManager.default.createDirectory(atPath: work + "/again.export-hf-partial", withIntermediateDirectories: true)
        try "stale".write(toFile: work + "/again.export-hf-partial/config.json", atomically: true, encoding: .utf8)
        #expect(try runIngot(["export", "hf", Self.int4, "-o", work + "/again", "--quiet"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: work + "/again.export-hf-partial"))
        #expect(try Self.json(work + "/again/config.json")["model_type"]?.stringValue == "deepseek_v3")
    }
}
