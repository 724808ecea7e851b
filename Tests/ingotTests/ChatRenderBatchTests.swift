import Foundation
import TensorIO
import TestSupport
import Testing

/// `ingot chat render --requests FILE.jsonl`: the batch mode k2-mini's training script renders its corpus with.
@Suite("ingot chat render --requests")
struct ChatRenderBatchTests {
    @Test("one JSON object per request line, prompts equal to the single-request goldens, ids with --ids")
    func batch() throws {
        let model = fixturesFolder() + "/tokenizer/model"
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesFolder() + "/chat/render_cases.json"))
        let cases = try #require(try data.withUnsafeBytes { try JSONValue.parse($0) }["cases"]?.elements)
        let lines = cases.map { $0["request"]!.compactText }.joined(separator: "\n") + "\n\n"
        let file = writeTemporaryFile(Array(lines.utf8), name: "requests.jsonl")
        let r = try runIngot(["chat", "render", model, "--requests", file])
        #expect(r.status == 0, "\(r.err)")
        let out = try r.out.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(out.count == cases.count)
        for (line, item) in zip(out, cases) {
            #expect(line["prompt"] == item["prompt"], "\(item["name"]!.compactText)")
            #expect(line["ids"] == nil)
        }
        let ids = try runIngot(["chat", "render", model, "--requests", file, "--ids"])
        let first = try JSONValue.parse(String(ids.out.split(separator: "\n")[0]))
        #expect(first["ids"]?.elements?.first?.intValue == 2048 + 10)  // <|im_system|>
        #expect(try runIngot(["chat", "render", model]).status == 64)
        #expect(try runIngot(["chat", "render", model, "--request", file, "--requests", file]).status == 64)
    }

    @Test("CRLF lines render like LF; bad lines are listed as FILE:LINE, the rest rendered, exit 1")
    func crlfAndBadLines() throws {
        let model = fixturesFolder() + "/tokenizer/model"
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturesFolder() + "/chat/render_cases.json"))
        let cases = try #require(try data.withUnsafeBytes { try JSONValue.parse($0) }["cases"]?.elements)
        let requests = cases.prefix(3).map { $0["request"]!.compactText }
        let crlf = writeTemporaryFile(Array(("\u{FEFF}" + requests.joined(separator: "\r\n") + "\r\n").utf8), name: "crlf.jsonl")
        let r = try runIngot(["chat", "render", model, "--requests", crlf])
        #expect(r.status == 0, "\(r.err)")
        let prompts = try r.out.split(separator: "\n").map { try JSONValue.parse(String($0))["prompt"] }
        #expect(prompts == cases.prefix(3).map { $0["prompt"] })
        let mixed = [requests[0], "{not json", #"{"messages": 3}"#, requests[1]].joined(separator: "\r\n")
        let file = writeTemporaryFile(Array(mixed.utf8), name: "mixed.jsonl")
        let m = try runIngot(["chat", "render", model, "--requests", file])
        #expect(m.status == 1)
        #expect(m.out.split(separator: "\n").count == 2)
        #expect(
            m.err.contains(file + ":2: not JSON") && m.err.contains(file + ":3: ") && m.err.contains("2 of 4 requests not rendered"),
            "\(m.err)")
    }
}
