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
        let path = try Self.fiveRequests(separator: "\n")
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
        let bad = try runIngot(["eval", "toolcalls", "--endpoint", refusing.url, "--toolcalls", path, "--quiet", "--concurrency", "1"])
        // Every answer of the run so far failed: the run stops with the server's reason instead of scoring nothing.
        #expect(bad.status == 2 && bad.err.contains("HTTP 400") && refusing.requests.count == 2, "\(bad.err)")
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

    /// Five requests with expected answers: Paris, Oslo and Rome call get_weather; hi and bye do not.
    static func fiveRequests(separator: String = "\r\n") throws -> String {
        let lines = [
            Self.line("Weather in Paris?", expected: #"{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}"#),
            Self.line(
                "Weather in Oslo in f?", expected: #"{"tool_calls":[{"name":"get_weather","arguments":{"unit":"f","city":"Oslo"}}]}"#),
            Self.line("Weather in Rome?", expected: #"{"tool_calls":[{"name":"get_weather","arguments":{"city":"Rome"}}]}"#),
            Self.line("Say hi", expected: #"{"content":"hi","tool_calls":[]}"#),
            Self.line("Say bye", expected: #"{"content":"bye","tool_calls":[]}"#),
        ]
        let path = temporaryFolder() + "/requests.jsonl"
        try lines.joined(separator: separator).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The scoring server of `endpointScoring`, with reasoning and usage in its answers.
    static let answer: @Sendable (JSONValue) -> JSONValue = { request in
        let text = request["messages"]?.elements?.last?["content"]?.stringValue ?? ""
        if text.contains("Paris") {
            return LocalChatServer.completion(
                content: nil, calls: [("get_weather", #"{"city": "Paris"}"#)], promptTokens: 11, reasoning: "It asks.")
        }
        if text.contains("Oslo") {
            return LocalChatServer.completion(content: nil, calls: [("get_weather", #"{"city":"Oslo","unit":"f"}"#)])
        }
        if text.contains("bye") { return LocalChatServer.completion(content: nil, calls: [("get_weather", #"{"town":"x"}"#)]) }
        return LocalChatServer.completion(content: "ok, done", calls: [])
    }

    @Test("streamed answers (SSE chunks, tool-call deltas by index) score exactly like non-streamed ones")
    func streaming() throws {
        let path = try Self.fiveRequests()
        let server = try LocalChatServer(respond: Self.answer)
        let plain = try runIngot(["eval", "toolcalls", "--endpoint", server.url, "--toolcalls", path, "--json", "--quiet"])
        let streamed = try runIngot(["eval", "toolcalls", "--endpoint", server.url, "--toolcalls", path, "--json", "--quiet", "--stream"])
        #expect(plain.status == 0 && streamed.status == 0, "\(plain.err) \(streamed.err)")
        var a = try JSONValue.parse(plain.out).members ?? [], b = try JSONValue.parse(streamed.out).members ?? []
        a.removeAll { $0.key == "seconds" }
        b.removeAll { $0.key == "seconds" }
        #expect(JSONValue.object(a) == JSONValue.object(b))
        #expect(JSONValue.object(b)["trigger_f1"]?.doubleValue.map { abs($0 - 2.0 / 3) < 1e-12 } == true)
        let sent = server.requests
        #expect(sent.count == 10)
        for body in sent[5...] {
            let members = body.members ?? []
            #expect(members.filter { $0.key == "stream" }.map(\.value) == [.bool(true)])
            #expect(body["stream_options"]?["include_usage"] == .bool(true))
        }
        #expect(sent[..<5].allSatisfy { $0["stream_options"] == nil && $0["stream"] == .bool(false) })
    }

    @Test("a storm of 429, 500 and dropped connections: every request is accounted for, a request that never succeeds is a failure row")
    func storm() throws {
        let path = try Self.fiveRequests()
        // Faults by arrival order: drops, 429s and 500s scattered among successes.
        let faults = [429, 0, 200, 500, 503, 200, 0, 200, 429, 200, 500, 200, 200]
        let flaky = try LocalChatServer(status: { $0 < faults.count ? faults[$0] : 200 }, respond: Self.answer)
        let r = try runIngot([
            "eval", "toolcalls", "--endpoint", flaky.url, "--toolcalls", path, "--json", "--quiet", "--concurrency", "3", "--retries", "6",
        ])
        #expect(r.status == 0, "\(r.err)")
        let j = try JSONValue.parse(r.out)
        #expect(j["failed"]?.elements?.isEmpty == true)
        #expect(j["requests"]?.intValue == 5 && j["true_positives"]?.intValue == 2 && j["false_negatives"]?.intValue == 1)
        let asked = Set(flaky.requests.compactMap { $0["messages"]?.elements?.last?["content"]?.stringValue })
        #expect(asked.count == 5)
        // One request the server always refuses: scored as a failure row, listed, exit 1; the rest still scored.
        let stubborn = try LocalChatServer(
            status: { _ in 200 },
            respond: { request in
                let text = request["messages"]?.elements?.last?["content"]?.stringValue ?? ""
                return text.contains("Rome") ? .object([("no", .string("choices"))]) : Self.answer(request)
            })
        let partial = try runIngot([
            "eval", "toolcalls", "--endpoint", stubborn.url, "--toolcalls", path, "--json", "--quiet", "--retries", "0",
        ])
        #expect(partial.status == 1, "\(partial.err)")
        let p = try JSONValue.parse(partial.out)
        let failed = try #require(p["failed"]?.elements)
        #expect(failed.count == 1 && failed[0]["index"]?.intValue == 2)
        #expect(failed[0]["candidate"]?.stringValue?.contains("no choices[0].message") == true)
        #expect(p["true_positives"]?.intValue == 2 && p["false_negatives"]?.intValue == 1)
        let text = try runIngot(["eval", "toolcalls", "--endpoint", stubborn.url, "--toolcalls", path, "--quiet", "--retries", "0"])
        #expect(text.status == 1 && text.out.contains("failed #2: CAND"), "\(text.out)")
    }

    @Test("--api-key is sent as a bearer token and appears in no output or saved answer")
    func apiKey() throws {
        let path = try Self.fiveRequests()
        let server = try LocalChatServer(respond: Self.answer)
        let saved = temporaryFolder() + "/answers.jsonl"
        let secret = "sk-test-5ecret-9f3a"
        let r = try runIngot([
            "eval", "toolcalls", "--endpoint", server.url, "--toolcalls", path, "--api-key", secret, "--save-answers", saved, "--json",
        ])
        #expect(r.status == 0, "\(r.err)")
        #expect(server.authorizations.count == 5 && server.authorizations.allSatisfy { $0 == "Bearer \(secret)" })
        let written = try String(contentsOfFile: saved, encoding: .utf8)
        #expect(!r.out.contains(secret) && !r.err.contains(secret) && !written.contains(secret))
    }

    @Test("--called-by: a server that carries tool calls but finishes with 'stop' is not calling by the verifier's rule")
    func calledBy() throws {
        let path = try Self.fiveRequests()
        let server = try LocalChatServer { request in
            let text = request["messages"]?.elements?.last?["content"]?.stringValue ?? ""
            return text.contains("Paris")
                ? LocalChatServer.completion(content: nil, calls: [("get_weather", #"{"city":"Paris"}"#)], finish: "stop")
                : Self.answer(request)
        }
        let verifier = try JSONValue.parse(runIngot(["eval", "toolcalls", "--endpoint", server.url, "--toolcalls", path, "--json"]).out)
        let calls = try JSONValue.parse(
            runIngot(["eval", "toolcalls", "--endpoint", server.url, "--toolcalls", path, "--json", "--called-by", "tool-calls"]).out)
        #expect(verifier["trigger_rule"]?.stringValue == "finish-reason" && calls["trigger_rule"]?.stringValue == "tool-calls")
        #expect(verifier["true_positives"]?.intValue == 1 && verifier["false_negatives"]?.intValue == 2)
        #expect(calls["true_positives"]?.intValue == 2 && calls["false_negatives"]?.intValue == 1)
    }

    @Test("the prompt check: a server counting different prompt tokens than REF's rendering is reported per request")
    func promptCheck() throws {
        let path = try Self.fiveRequests()
        let server = try LocalChatServer(respond: Self.answer)
        let model = fixturesFolder() + "/k2-mini/int4"
        let r = try runIngot(["eval", "toolcalls", "--endpoint", server.url, "--toolcalls", path, "--tokenizer", model, "--json"])
        #expect(r.status == 0, "\(r.err)")
        // Only the Paris answer reports usage (11 prompt tokens, fewer than the rendered prompt with its tool).
        let mismatches = try #require(try JSONValue.parse(r.out)["prompt_mismatches"]?.elements)
        #expect(mismatches.count == 1 && mismatches[0]["index"]?.intValue == 0 && mismatches[0]["server_prompt_tokens"]?.intValue == 11)
        #expect((mismatches[0]["reference_prompt_tokens"]?.intValue ?? 0) > 11)
        let text = try runIngot(["eval", "toolcalls", "--endpoint", server.url, "--toolcalls", path, "--tokenizer", model])
        #expect(text.out.contains("the server rendered a different prompt for 1 of 5 requests (#0: 11 tokens vs"), "\(text.out)")
    }

    @Test("saved answers score offline as the live run did; a differing request shows both sides' calls")
    func savedAnswersScoreOffline() throws {
        let path = try Self.fiveRequests()
        let good = try LocalChatServer { request in
            let text = request["messages"]?.elements?.last?["content"]?.stringValue ?? ""
            if text.contains("Paris") { return LocalChatServer.completion(content: nil, calls: [("get_weather", #"{"city":"Paris"}"#)]) }
            if text.contains("Oslo") {
                return LocalChatServer.completion(content: nil, calls: [("get_weather", #"{"unit":"f","city":"Oslo"}"#)])
            }
            if text.contains("Rome") { return LocalChatServer.completion(content: nil, calls: [("get_weather", #"{"city":"Rome"}"#)]) }
            return LocalChatServer.completion(content: "ok", calls: [])
        }
        let reference = temporaryFolder() + "/ref.jsonl", candidate = temporaryFolder() + "/cand.jsonl"
        let live = try runIngot(["eval", "toolcalls", "--endpoint", good.url, "--toolcalls", path, "--save-answers", reference, "--quiet"])
        #expect(live.status == 0, "\(live.err)")
        let vendor = try LocalChatServer(respond: Self.answer)
        let liveVendor = try runIngot([
            "eval", "toolcalls", "--endpoint", vendor.url, "--toolcalls", path, "--save-answers", candidate, "--json", "--quiet",
        ])
        let offline = try runIngot(["eval", "toolcalls", "--results", candidate, "--reference", reference, "--json"])
        #expect(offline.status == 0, "\(offline.err)")
        let o = try JSONValue.parse(offline.out), l = try JSONValue.parse(liveVendor.out)
        // The good server answered exactly the expected answers, so scoring the vendor against it offline gives the
        // live run's metrics.
        for key in ["true_positives", "false_positives", "false_negatives", "true_negatives", "trigger_f1", "exact_match"] {
            #expect(o["tool_calls"]?[key] == l[key], "\(key)")
        }
        #expect(o["candidate_summary"]?["count_finish_reason_tool_calls"]?.intValue == 3)
        #expect(o["candidate_summary"]?["count_successful_tool_call"]?.intValue == 2)
        #expect(o["candidate_summary"]?["recorded_verdict_disagreements"]?.elements?.isEmpty == true)
        #expect(o["paired"]?.intValue == 5)
        let text = try runIngot(["eval", "toolcalls", "--results", candidate, "--reference", reference])
        #expect(text.out.contains(#"differs #5: REF no call (finish stop)"#), "\(text.out)")
        #expect(text.out.contains(#"CAND get_weather {"town":"x"} (finish tool_calls)"#), "\(text.out)")
    }
}
