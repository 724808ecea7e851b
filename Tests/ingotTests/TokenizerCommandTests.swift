import Foundation
import TensorIO
import TestSupport
import Testing

/// `ingot tokenize`, `detokenize`, `chat render` and `toolcalls parse`, run as the built binary against the
/// committed goldens (Python tiktoken ids, Jinja2-rendered prompts).
@Suite("ingot tokenizer and chat commands")
struct TokenizerCommandTests {
    static let model = fixturesFolder() + "/tokenizer/model"

    static func golden(_ path: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesFolder() + "/" + path))
        return try data.withUnsafeBytes { try JSONValue.parse($0) }
    }

    static func corpusCase(_ name: String) throws -> JSONValue {
        try #require(try golden("tokenizer/golden.json")["cases"]?.elements?.first { $0["name"]?.stringValue == name })
    }

    @Test("tokenize --text prints tiktoken's ids; --file encodes each JSON-string line; detokenize inverts")
    func tokenize() throws {
        let item = try Self.corpusCase("k2-vector")
        let text = try #require(item["text"]?.stringValue)
        let r = try runIngot(["tokenize", Self.model, "--text", text])
        #expect(r.status == 0, "\(r.err)")
        #expect(try JSONValue.parse(r.out) == item["allow"])
        let special = try Self.corpusCase("im")
        let file = writeTemporaryFile(
            Array((JSONValue.string(text).compactText + "\n" + special["text"]!.compactText + "\n").utf8), name: "in.jsonl")
        let lines = try runIngot(["tokenize", Self.model, "--file", file]).out.split(separator: "\n").map {
            try JSONValue.parse(String($0))
        }
        #expect(lines == [item["allow"]!, special["allow"]!])
        let plain = try runIngot(["tokenize", Self.model, "--file", file, "--no-special", "--json"])
        #expect(try JSONValue.parse(plain.out)["ids"]?.elements?.last == special["disallow"])
        let ids = item["allow"]!.elements!.map { $0.compactText }.joined(separator: ",")
        let back = try runIngot(["detokenize", Self.model, "--ids", ids, "--json"])
        #expect(try JSONValue.parse(back.out)["text"]?.stringValue == text)
    }

    @Test("bad input exits 2 with one line naming it; bad flags exit 64")
    func failures() throws {
        let unknown = try runIngot(["detokenize", Self.model, "--ids", "1,999999"])
        #expect(
            unknown.status == 2 && unknown.err == "error: token id 999999 is not in the vocabulary (base ranks plus the special block)\n")
        let file = writeTemporaryFile(Array("\"ok\"\n[1]\n".utf8), name: "bad.jsonl")
        let badLine = try runIngot(["tokenize", Self.model, "--file", file])
        #expect(badLine.status == 2 && badLine.err.contains("bad.jsonl:2: expected one JSON string per line"))
        let noModel = try runIngot(["tokenize", temporaryFolder(), "--text", "x"])
        #expect(noModel.status == 2 && noModel.err.contains("tiktoken.model: cannot read: no such file"))
        #expect(try runIngot(["tokenize", Self.model]).status == 64)
        #expect(try runIngot(["detokenize", Self.model, "--ids", "1,x"]).status == 64)
    }

    @Test("chat render prints the template's exact prompt, and --ids its token ids")
    func chatRender() throws {
        let cases = try Self.golden("chat/render_cases.json")["cases"]!.elements!
        let worked = try #require(cases.first { $0["name"]?.stringValue == "worked-example" })
        let request = writeTemporaryFile(Array(worked["request"]!.compactText.utf8), name: "request.json")
        let r = try runIngot(["chat", "render", Self.model, "--request", request])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == worked["prompt"]!.stringValue!)
        let ids = try runIngot(["chat", "render", Self.model, "--request", request, "--ids"])
        let tokens = try #require(try JSONValue.parse(ids.out).elements?.map { $0.intValue! })
        #expect(tokens.first == 2048 + 10)  // <|im_system|> in the test vocabulary's special block
        let text = try runIngot(["detokenize", Self.model, "--ids", tokens.map(String.init).joined(separator: ","), "--json"])
        #expect(try JSONValue.parse(text.out)["text"]?.stringValue == worked["prompt"]!.stringValue!)
    }

    @Test("toolcalls parse --json gives reasoning, content and calls; a schema failure exits 1")
    func toolcalls() throws {
        let cases = try Self.golden("chat/render_cases.json")["cases"]!.elements!
        let request = writeTemporaryFile(Array(cases[0]["request"]!.compactText.utf8), name: "request.json")
        let output =
            #"<think>plan</think>Sure. <|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>"#
        let r = try runIngot(["toolcalls", "parse", "--text", output, "--tools", request, "--json"])
        #expect(r.status == 0, "\(r.err)")
        let json = try JSONValue.parse(r.out)
        #expect(json["reasoning"]?.stringValue == "plan" && json["content"]?.stringValue == "Sure. ")
        #expect(json["tool_calls"]?.elements?.first?["name"]?.stringValue == "get_weather")
        #expect(json["tool_calls"]?.elements?.first?["schema_errors"] == .array([]))
        let bad = try runIngot([
            "toolcalls", "parse", "--text", output.replacingOccurrences(of: #""Paris""#, with: "7"), "--tools", request, "--json",
        ])
        #expect(bad.status == 1)
        #expect(
            try JSONValue.parse(bad.out)["tool_calls"]?.elements?.first?["schema_errors"]
                == .array([.string("$.city: expected string, found integer")]))
    }
}
