import Checkpoint
import Crypto
import Foundation
import GGUF
import TensorIO
import TestSupport
import Testing

/// k2-mini's chat_template.jinja (fixtures/scripts/k2_mini_chat_template.jinja, copied into both model folders):
/// fixtures/k2-mini/chat_template_golden.json records what jinja2, evaluating it as transformers does, rendered for the
/// 240 held-out requests (fixtures/scripts/make_k2_mini_template_golden.py, which also compared those prompts with
/// ingot's and K2-Thinking's own template on the chat goldens).
@Suite("k2-mini chat template")
struct K2MiniTemplateTests {
    static let k2mini = fixturesFolder() + "/k2-mini"
    static let copies = [
        fixturesFolder() + "/scripts/k2_mini_chat_template.jinja", k2mini + "/bf16/chat_template.jinja",
        k2mini + "/int4/chat_template.jinja",
    ]

    static func golden() throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: k2mini + "/chat_template_golden.json"))
        return try data.withUnsafeBytes { try JSONValue.parse($0) }
    }

    static func sha256(_ s: String) -> String { SHA256.hash(data: Data(s.utf8)).map { String(format: "%02x", $0) }.joined() }

    @Test("the template is the one the golden was made from, in both model folders")
    func copiesMatchGolden() throws {
        let expected = try #require(try Self.golden()["template_sha256"]?.stringValue)
        for path in Self.copies { #expect(try ChecksumList.sha256(path: path) == expected, "\(path)") }
    }

    @Test("ingot chat render gives, request by request, the prompt jinja2 rendered from the template")
    func ingotRendersWhatTheTemplateRenders() throws {
        let expected = try #require(try Self.golden()["prompt_sha256"]?.elements).compactMap(\.stringValue)
        #expect(expected.count == 240)
        let r = try runIngot(["chat", "render", Self.k2mini + "/bf16", "--requests", Self.k2mini + "/toolcalls.jsonl"])
        #expect(r.status == 0, "\(r.err)")
        let prompts = try r.out.split(separator: "\n").map { try #require(try JSONValue.parse(String($0))["prompt"]?.stringValue) }
        #expect(prompts.count == expected.count)
        let differing = zip(prompts, expected).enumerated().filter { Self.sha256($0.element.0) != $0.element.1 }.map { $0.offset + 1 }
        #expect(differing.isEmpty, "toolcalls.jsonl lines whose prompt differs from the template's: \(differing.prefix(10))")
    }

    @Test("export gguf writes the template as tokenizer.chat_template")
    func ggufCarriesTemplate() throws {
        let template = try String(contentsOfFile: Self.copies[2], encoding: .utf8)
        let folder = temporaryFolder("ingot-k2mini-gguf")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let out = folder + "/k2-mini.gguf"
        let r = try runIngot(["export", "gguf", Self.k2mini + "/int4", "-o", out, "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        #expect(try GGUFFile(path: out).value("tokenizer.chat_template") == .string(template))
    }
}
