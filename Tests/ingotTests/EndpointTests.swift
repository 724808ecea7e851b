import Foundation
import TensorIO
import TestSupport
import Testing

@Suite("eval toolcalls --endpoint against a local OpenAI-compatible server")
struct EndpointTests {
    static let weatherTool =
        #"{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"],"additionalProperties":false}}}"#

    static func line(_ user: String, expected: String) -> String {
        #"{"messages":[{"role":"user","content":"\#(user)"}],"tools":[\#(weatherTool)],"expected":\#(expected)}"#
    }

    @Test("trigger F1, exact match and schema accuracy are scored from the server's tool_calls")
    func endpointScoring() throws {
        let lines = [
            Self.line("Weather in Paris?", expected: #"{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}"#),
            Self.line(
                "Weather in Oslo in f?", expected: #"{"tool_calls":[{"name":"get_weather","arguments":{"unit":"f","city":"Oslo"}}]}"#),
            Self.line("Weather in Rome?", expected: #"{"tool_calls":[{"name":"get_weather","arguments":{"city":"Rome"}}]}"#),
            Self.line("Say hi", expected: #"{"content":"hi","tool_calls":[]}"#),
            Self.line("Say bye", expected: #"{"content":"bye","tool_calls":[]}"#),
        ]
        let path = temporaryFolder() + "/requests.jsonl"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        // Paris: right. Oslo: same arguments in another key order (still exact). Rome: no call (a miss).
        // "Say hi": content. "Say bye": a spurious call with an undeclared argument (schema failure).
        let server = try LocalChatServer { request in
            let text = request["messages"]?.elements?.last?["content"]?.stringValue ?? ""
            if text.contains("Paris") { return LocalChatServer.completion(content: nil, calls: [("get_weather", #"{"city": "Paris"}"#)]) }
            if text.contains("Oslo") {
                return LocalChatServer.completion(content: nil, calls: [("get_weather", #"{"city":"Oslo","unit":"f"}"#)])
            }
            if text.contains("bye") { return LocalChatServer.completion(content: nil, calls: [("get_weather", #"{"town":"x"}"#)]) }
            return LocalChatServer.completion(content: "ok", calls: [])
        }
        let r = try runIngot([
            "eval", "toolcalls", "--endpoint", server.url, "--model-name", "k2", "--toolcalls", path, "--json", "--quiet",
        ])
        #expect(r.status == 0, "\(r.err)")
        let j = try JSONValue.parse(r.out)
        // TP 2 (Paris, Oslo), FN 1 (Rome), FP 1 (bye): precision 2/3, recall 2/3.
        #expect(abs((j["trigger_precision"]?.doubleValue ?? 0) - 2.0 / 3) < 1e-12)
        #expect(abs((j["trigger_recall"]?.doubleValue ?? 0) - 2.0 / 3) < 1e-12)
        #expect(abs((j["trigger_f1"]?.doubleValue ?? 0) - 2.0 / 3) < 1e-12)
        #expect(abs((j["exact_match"]?.doubleValue ?? 0) - 2.0 / 3) < 1e-12)
        #expect(abs((j["schema_accuracy_candidate"]?.doubleValue ?? 0) - 2.0 / 3) < 1e-12)
        let sent = server.requests
        #expect(sent.count == 5)
        #expect(
            sent.allSatisfy {
                $0["model"]?.stringValue == "k2" && $0["temperature"]?.intValue == 0 && $0["expected"] == nil && $0["tools"] != nil
            })
    }

    @Test("an unreachable endpoint is a clear error worth retrying later (exit 3), after the retries")
    func unreachable() throws {
        let path = temporaryFolder() + "/requests.jsonl"
        try Self.line("Weather in Paris?", expected: #"{"tool_calls":[]}"#).write(toFile: path, atomically: true, encoding: .utf8)
        let r = try runIngot(["eval", "toolcalls", "--endpoint", "http://127.0.0.1:1", "--toolcalls", path, "--quiet", "--retries", "1"])
        #expect(r.status == 3 && r.err.contains("127.0.0.1:1") && r.err.contains("2 attempts"), "\(r.err)")
    }

    @Test("429 and 5xx answers are retried (Retry-After honoured); a 400 is the input's fault (exit 2)")
    func retries() throws {
        let lines = [
            Self.line("Weather in Paris?", expected: #"{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}"#),
            Self.line("Say hi", expected: #"{"content":"hi","tool_calls":[]}"#),
        ]
        let path = temporaryFolder() + "/requests.jsonl"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let answer: @Sendable (JSONValue) -> JSONValue = { request in
            let text = request["messages"]?.elements?.last?["content"]?.stringValue ?? ""
            return text.contains("Paris")
                ? LocalChatServer.completion(content: nil, calls: [("get_weather", #"{"city":"Paris"}"#)])
                : LocalChatServer.completion(content: "hi", calls: [])
        }
        let flaky = try LocalChatServer(status: { [429, 503, 200, 429, 200][min($0, 4)] }, respond: answer)
        let r = try runIngot(["eval", "toolcalls", "--endpoint", flaky.url, "--toolcalls", path, "--json", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        #expect(try JSONValue.parse(r.out)["exact_match"]?.doubleValue == 1)
        #expect(flaky.requests.count == 5)
        let refusing = try LocalChatServer(status: { _ in 400 }, respond: answer)
        let bad = try runIngot(["eval", "toolcalls", "--endpoint", refusing.url, "--toolcalls", path, "--quiet"])
        #expect(bad.status == 2 && bad.err.contains("HTTP 400") && refusing.requests.count == 1, "\(bad.err)")
    }

    @Test("the body is the request plus the documented overrides: one stream key, no stream_options when not streaming")
    func requestBody() throws {
        let request =
            #"{"messages":[{"role":"user","content":"Say hi"}],"stream":true,"stream_options":{"include_usage":true},"#
            + #""temperature":0.6,"expected":{"content":"hi","tool_calls":[]}}"#
        let path = temporaryFolder() + "/requests.jsonl"
        try request.write(toFile: path, atomically: true, encoding: .utf8)
        let server = try LocalChatServer { _ in LocalChatServer.completion(content: "hi", calls: []) }
        let r = try runIngot(["eval", "toolcalls", "--endpoint", server.url, "--toolcalls", path, "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        let sent = try #require(server.requests.first?.members)
        #expect(sent.filter { $0.key == "stream" }.count == 1)
        #expect(sent.first { $0.key == "stream" }?.value == .bool(false))
        #expect(!sent.contains { $0.key == "stream_options" || $0.key == "expected" })
        #expect(sent.first { $0.key == "temperature" }?.value.doubleValue == 0.6)
    }
}
