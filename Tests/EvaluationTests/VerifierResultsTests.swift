import Evaluation
import Foundation
import TensorIO
import TestSupport
import Testing

/// Reading K2-Vendor-Verifier results files and scoring two of them offline with the verifier's definitions
/// (docs/evaluation.md, "Offline scoring").
@Suite struct VerifierResultsTests {
    static let tools =
        #"[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},"#
        + #"{"type":"function","function":{"name":"ping","parameters":{}}}]"#

    /// A results row as the verifier writes it.
    static func row(
        _ index: Int, finish: String?, calls: [(String, String)]? = nil, status: String = "success", valid: String = "null",
        runAt: String = "2025-11-15T10:00:00", argumentsAsObject: Bool = false
    ) -> String {
        let callText =
            calls.map { list in
                "["
                    + list.enumerated().map { i, c in
                        let args = argumentsAsObject ? c.1 : JSONValue.string(c.1).compactText
                        return #"{"id":"functions.\#(c.0):\#(i)","type":"function","function":{"name":"\#(c.0)","arguments":\#(args)}}"#
                    }.joined(separator: ",") + "]"
            } ?? "null"
        let response =
            status == "success"
            ? #"{"choices":[{"index":0,"message":{"role":"assistant","content":"","tool_calls":\#(callText)},"finish_reason":\#(finish.map { "\"\($0)\"" } ?? "null")}],"usage":{"prompt_tokens":50}}"#
            : #"{"error":"Connection error."}"#
        return
            #"{"data_index":\#(index),"request":{"messages":[{"role":"user","content":"q\#(index)"}],"tools":\#(tools)},"response":\#(response),"status":"\#(status)","finish_reason":\#(finish.map { "\"\($0)\"" } ?? "null"),"tool_calls_valid":\#(valid),"last_run_at":"\#(runAt)"}"#
    }

    static func write(_ lines: [String], crlf: Bool = false, bom: Bool = false) throws -> String {
        let path = temporaryFolder() + "/results-\(UUID().uuidString).jsonl"
        let text = (bom ? "\u{FEFF}" : "") + lines.joined(separator: crlf ? "\r\n" : "\n") + (crlf ? "\r\n" : "\n")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func summaryCountsAsTheVerifierDoes() throws {
        let path = try Self.write(
            [
                Self.row(1, finish: "tool_calls", calls: [("get_weather", #"{"city":"Paris"}"#)], valid: "true"),
                Self.row(2, finish: "tool_calls", calls: [("get_weather", #"{"town":"Paris"}"#)], valid: "false"),
                // Arguments recorded as an object instead of JSON text: still checked.
                Self.row(3, finish: "tool_calls", calls: [("get_weather", #"{"city":"Oslo"}"#)], valid: "true", argumentsAsObject: true),
                // finish_reason tool_calls without calls: the verifier records null, and counts a schema error.
                Self.row(4, finish: "tool_calls", calls: nil),
                // A tool declared with empty parameters: the verifier finds no schema and fails the call.
                Self.row(5, finish: "tool_calls", calls: [("ping", "{}")], valid: "false"),
                // An undeclared tool.
                Self.row(6, finish: "tool_calls", calls: [("nope", "{}")], valid: "false"),
                Self.row(7, finish: "stop"),
                Self.row(8, finish: "length"),
                Self.row(9, finish: nil, status: "failed"),
                "",
                "{not json",
            ], crlf: true, bom: true)
        let file = try VerifierResults(path: path)
        #expect(file.rows.map(\.dataIndex) == Array(1...9))
        #expect(file.bad.map(\.line) == [11] && file.bad[0].description.hasPrefix(path + ":11: not JSON"))
        let s = file.summary
        #expect(s.success == 8 && s.failure == 1)
        #expect(s.finishStop == 1 && s.finishToolCalls == 6 && s.finishOthers == ["length": 1])
        #expect(s.successfulToolCalls == 2 && s.schemaErrors == 4)
        #expect(s.recordedDisagreements.isEmpty, "\(s.recordedDisagreements)")
        #expect(abs(s.schemaAccuracy - 2.0 / 6) < 1e-15)
        #expect(file.rows[8].outcome.failure == "Connection error.")
        #expect(file.rows[0].outcome.promptTokens == 50)
    }

    @Test func repeatedRequestsKeepTheLatestRun() throws {
        let path = try Self.write([
            Self.row(1, finish: "stop", runAt: "2025-11-15T10:00:05"),
            Self.row(1, finish: "tool_calls", calls: [("get_weather", #"{"city":"Paris"}"#)], valid: "true", runAt: "2025-11-15T10:00:01"),
            Self.row(2, finish: nil, status: "failed", runAt: "2025-11-15T10:00:00"),
            Self.row(2, finish: "stop", runAt: "2025-11-15T11:00:00"),
        ])
        let file = try VerifierResults(path: path)
        #expect(file.duplicates == 2)
        #expect(file.rows.map { $0.outcome.finishReason } == ["stop", "stop"])
        #expect(file.rows.allSatisfy { $0.outcome.failure == nil })
    }

    @Test func offlinePairsByDataIndexWithTheVerifierFormulas() throws {
        let call = [("get_weather", #"{"city":"Paris"}"#)]
        let reference = try Self.write([
            Self.row(1, finish: "tool_calls", calls: call, valid: "true"), Self.row(2, finish: "tool_calls", calls: call, valid: "true"),
            Self.row(3, finish: "tool_calls", calls: call, valid: "true"), Self.row(4, finish: "stop"), Self.row(5, finish: "stop"),
            Self.row(6, finish: "stop"), Self.row(7, finish: "stop"),
        ])
        let candidate = try Self.write([
            // TP, TP (other arguments), FN (failed request: counts as not calling), FP, TN, TN (length), only in CAND.
            Self.row(1, finish: "tool_calls", calls: call, valid: "true"),
            Self.row(2, finish: "tool_calls", calls: [("get_weather", #"{"city":"Rome"}"#)], valid: "true"),
            Self.row(3, finish: nil, status: "failed"), Self.row(4, finish: "tool_calls", calls: [("get_weather", "{}")], valid: "false"),
            Self.row(5, finish: "stop"), Self.row(6, finish: "length"), Self.row(9, finish: "stop"),
        ])
        let score = OfflineToolCallScore.score(
            reference: try VerifierResults(path: reference), candidate: try VerifierResults(path: candidate), rule: .finishReason)
        let p = score.parity
        #expect((p.truePositives, p.falsePositives, p.falseNegatives, p.trueNegatives) == (2, 1, 1, 2))
        #expect(abs(p.precision - 2.0 / 3) < 1e-15 && abs(p.recall - 2.0 / 3) < 1e-15 && abs(p.f1 - 2.0 / 3) < 1e-15)
        #expect(score.onlyReference == [7] && score.onlyCandidate == [9])
        #expect(p.failed.map(\.index) == [3])
        #expect(abs(p.exactMatchRate - 1.0 / 3) < 1e-15)
        // Each side's schema accuracy over its whole file, as the verifier's summary has it.
        #expect(score.candidate.summary.finishToolCalls == 3 && score.candidate.summary.successfulToolCalls == 2)
        #expect(score.reference.summary.schemaAccuracy == 1)
        let text = score.text
        #expect(text.contains("unpaired   1 rows only in REF, 1 only in CAND"), "\(text)")
        #expect(text.contains(#"differs #2: REF get_weather {"city":"Paris"} (finish tool_calls)"#), "\(text)")
        #expect(text.contains(#"CAND get_weather {"city":"Rome"} (finish tool_calls)"#), "\(text)")
    }

    @Test func savedRowsReadBackAsTheSameAnswers() throws {
        let outcome = ToolCallOutcome(
            calls: [.init(name: "get_weather", arguments: #"{"city":"Paris"}"#, id: "functions.get_weather:0")], content: nil,
            reasoning: "think", text: "", finishReason: "tool_calls", promptTokens: 42)
        let tools = try JSONValue.parse(Self.tools).elements!
        let request = JSONValue.object([("messages", .array([])), ("tools", .array(tools))])
        let rows = [
            VerifierResults.row(dataIndex: 3, request: request, outcome: outcome, tools: tools),
            VerifierResults.row(dataIndex: 4, request: request, outcome: .failed("HTTP 503 after 5 attempts"), tools: tools),
        ]
        #expect(rows[0]["tool_calls_valid"] == .bool(true) && rows[1]["tool_calls_valid"] == .null)
        let path = try Self.write(rows.map(\.compactText))
        let back = try VerifierResults(path: path)
        #expect(back.rows.count == 2)
        var read = back.rows[0].outcome
        read.text = ""
        #expect(read == outcome)
        #expect(back.rows[1].outcome.failure == "HTTP 503 after 5 attempts" && back.rows[1].outcome.finishReason == nil)
    }

    /// Two results files written by the verifier's own code (fixtures/scripts/make_k2vv_scoring_golden.py runs its
    /// validator and summary): ingot reads them, recomputes every schema verdict, and gets the verifier's counts.
    @Test func verifierGoldenFilesScoreAsTheVerifierDoes() throws {
        let folder = fixturesFolder() + "/k2vv"
        let expected = try JSONValue.parse(try String(contentsOfFile: folder + "/expected.json", encoding: .utf8))
        let reference = try VerifierResults(path: folder + "/ref_results.jsonl")
        let candidate = try VerifierResults(path: folder + "/cand_results.jsonl")
        #expect(reference.bad.isEmpty && candidate.bad.isEmpty)
        #expect(candidate.duplicates == expected["candidate_duplicates"]?.intValue)
        for (name, file) in [("reference_summary", reference), ("candidate_summary", candidate)] {
            let want = try #require(expected[name])
            let got = file.summary
            #expect(got.recordedDisagreements == [], "\(name): ingot's schema verdict differs from the verifier's")
            #expect(got.success == want["success_count"]?.intValue && got.failure == want["failure_count"]?.intValue, "\(name)")
            #expect(got.finishStop == want["finish_stop"]?.intValue && got.finishToolCalls == want["finish_tool_calls"]?.intValue)
            #expect(got.finishOthers.values.reduce(0, +) == want["finish_others"]?.intValue, "\(name)")
            for (reason, count) in want["finish_others_detail"]?.members ?? [] {
                #expect(got.finishOthers[reason] == count.intValue, "\(name) \(reason)")
            }
            #expect(got.successfulToolCalls == want["successful_tool_call_count"]?.intValue, "\(name)")
            #expect(got.schemaErrors == want["schema_validation_error_count"]?.intValue, "\(name)")
        }
        let score = OfflineToolCallScore.score(reference: reference, candidate: candidate, rule: .finishReason)
        let trigger = try #require(expected["trigger"])
        let p = score.parity
        #expect(p.requests.count == trigger["paired"]?.intValue)
        #expect(score.onlyReference == trigger["only_reference"]?.elements?.compactMap(\.intValue))
        #expect(score.onlyCandidate == trigger["only_candidate"]?.elements?.compactMap(\.intValue))
        #expect(p.truePositives == trigger["tp"]?.intValue && p.falsePositives == trigger["fp"]?.intValue)
        #expect(p.falseNegatives == trigger["fn"]?.intValue && p.trueNegatives == trigger["tn"]?.intValue)
        for (value, key) in [(p.precision, "precision"), (p.recall, "recall"), (p.f1, "f1")] {
            #expect(abs(value - (trigger[key]?.doubleValue ?? .nan)) < 1e-12, "\(key)")
        }
    }
}
