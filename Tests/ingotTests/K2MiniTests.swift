import Foundation
import TensorIO
import TestSupport
import Testing

/// The trained k2-mini (fixtures/k2-mini) through the whole chain: chat request → engine → parsed tool call, parity
/// of INT4 against its bundle and against BF16, and a candidate served over HTTP.
@Suite("k2-mini end to end")
struct K2MiniTests {
    static let root = fixturesFolder() + "/k2-mini"
    static let int4 = root + "/int4", bf16 = root + "/bf16"

    /// The first `n` requests of toolcalls.jsonl, written to a file of their own; `calling` picks requests whose
    /// expected answer calls a tool (or not).
    static func requests(_ n: Int, calling: Bool? = nil) throws -> (path: String, lines: [JSONValue]) {
        let text = try String(contentsOfFile: root + "/toolcalls.jsonl", encoding: .utf8)
        var lines = try text.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        if let calling { lines = lines.filter { (($0["expected"]?["tool_calls"]?.elements?.isEmpty) ?? true) != calling } }
        lines = Array(lines.prefix(n))
        let path = temporaryFolder() + "/requests.jsonl"
        try lines.map(\.compactText).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return (path, lines)
    }

    @Test("run --request on the repacked bundle prints parsed tool calls matching the expected ones")
    func runRequest() throws {
        let bundle = temporaryFolder() + "/k2-mini.bundle"
        #expect(try runIngot(["repack", Self.int4, "-o", bundle, "--quiet"]).status == 0)
        let (_, lines) = try Self.requests(5, calling: true)
        var matched = 0
        for line in lines {
            let request = temporaryFolder() + "/request.json"
            try line.compactText.write(toFile: request, atomically: true, encoding: .utf8)
            let r = try runIngot(["run", bundle, "--request", request, "--json", "--max-tokens", "200"])
            #expect(r.status == 0, "\(r.err)")
            let calls = try JSONValue.parse(r.out)["tool_calls"]?.elements ?? []
            let expected = line["expected"]?["tool_calls"]?.elements ?? []
            #expect(calls.allSatisfy { ($0["id"]?.stringValue ?? "").hasPrefix("functions.") })
            if !calls.isEmpty, calls.compactMap({ $0["name"]?.stringValue }) == expected.compactMap({ $0["name"]?.stringValue }) {
                matched += 1
            }
        }
        // The model is small: the bar is most of them, not all.
        #expect(matched >= 3, "\(matched) of 5 requests gave the expected tool names")
    }

    @Test("INT4 against its bundle: identical logits, routing and tool calls (F1 1, exact match 1, teacher-forced 1)")
    func parityWithBundle() throws {
        let bundle = temporaryFolder() + "/k2-mini.bundle"
        #expect(try runIngot(["repack", Self.int4, "-o", bundle, "--compress", "zstd:3", "--quiet"]).status == 0)
        let (requests, _) = try Self.requests(4)
        let r = try runIngot([
            "eval", "parity", Self.int4, bundle, "--text", Self.root + "/eval.txt", "--ctx", "64", "--chunks", "3", "--toolcalls", requests,
            "--max-tokens", "160", "--json", "--quiet", "--no-thresholds",
        ])
        #expect(r.status == 0, "\(r.out) \(r.err)")
        let j = try JSONValue.parse(r.out)
        #expect(j["logits"]?["kld"]?["max"]?.doubleValue == 0)
        #expect(j["logits"]?["same_top1"]?.doubleValue == 1)
        #expect(j["logits"]?["routing"]?.elements?.allSatisfy { $0["identical"]?.doubleValue == 1 } == true)
        #expect(j["tool_calls"]?["trigger_f1"]?.doubleValue == 1 && j["tool_calls"]?["exact_match"]?.doubleValue == 1)
        if let tf = j["tool_calls"]?["teacher_forced_top1"]?.doubleValue { #expect(tf == 1) }
    }

    @Test("BF16 against INT4: a small but non-zero KLD")
    func bf16AgainstInt4() throws {
        let r = try runIngot([
            "eval", "parity", Self.bf16, Self.int4, "--text", Self.root + "/eval.txt", "--ctx", "64", "--chunks", "3", "--json", "--quiet",
            "--no-thresholds",
        ])
        #expect(r.status == 0, "\(r.err)")
        let kld = try JSONValue.parse(r.out)["logits"]?["kld"]?["mean"]?.doubleValue ?? -1
        #expect(kld > 0 && kld < 0.5, "mean KLD \(kld)")
    }

    @Test("eval parity --endpoint: REF is k2-mini, CAND a local server replaying REF's calls with one wrong argument")
    func parityAgainstEndpoint() throws {
        let (requests, lines) = try Self.requests(3, calling: true)
        // The server answers with the REF model's own calls, read from a first pass of `run --request`.
        var answers: [String: [(String, String)]] = [:]
        for line in lines {
            let path = temporaryFolder() + "/r.json"
            try line.compactText.write(toFile: path, atomically: true, encoding: .utf8)
            let out = try runIngot(["run", Self.int4, "--request", path, "--json", "--max-tokens", "160"])
            let calls = try JSONValue.parse(out.out)["tool_calls"]?.elements ?? []
            let key = line["messages"]?.elements?.last?["content"]?.stringValue ?? ""
            answers[key] = calls.map { ($0["name"]?.stringValue ?? "", $0["arguments"]?.stringValue ?? "{}") }
        }
        // The first request REF answered with a call gets a wrong argument back from the server.
        guard let changed = answers.first(where: { !$0.value.isEmpty })?.key else {
            Issue.record("REF made no tool call on the first 3 calling requests")
            return
        }
        let calledCount = answers.values.filter { !$0.isEmpty }.count
        let replay = answers
        let server = try LocalChatServer { request in
            let key = request["messages"]?.elements?.last?["content"]?.stringValue ?? ""
            var calls = replay[key] ?? []
            if key == changed { calls[0].1 = #"{"unexpected": true}"# }
            return LocalChatServer.completion(content: calls.isEmpty ? "ok" : nil, calls: calls)
        }
        let r = try runIngot([
            "eval", "parity", Self.int4, "--endpoint", server.url, "--toolcalls", requests, "--max-tokens", "160", "--json", "--quiet",
            "--no-thresholds",
        ])
        #expect(r.status == 0, "\(r.err)")
        let j = try JSONValue.parse(r.out)["tool_calls"]
        #expect(j?["trigger_f1"]?.doubleValue == 1)
        #expect(abs((j?["exact_match"]?.doubleValue ?? 0) - Double(calledCount - 1) / Double(calledCount)) < 1e-12)
        #expect(j?["differing"]?.elements?.count == 1)
        #expect(server.requests.count == 3)
    }
}
