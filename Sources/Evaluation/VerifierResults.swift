import Chat
import Foundation
public import TensorIO

/// The K2-Vendor-Verifier's rules for one tool call (docs/evaluation.md, "The verifier's definitions").
public enum VerifierRules {
    /// The verifier's schema check of one call: the first declared tool with this name must have `parameters` that
    /// are present and not empty (an empty schema fails, as the verifier's truth test of it does), the arguments must
    /// be JSON, and they must validate against the schema (which must itself be a valid schema).
    public static func toolCallValid(name: String, arguments: String, tools: [JSONValue]) -> Bool {
        for tool in tools {
            // A declared tool without `function.name` stops the verifier's search with a failure.
            guard let declared = tool["function"]?["name"]?.stringValue else { return false }
            guard declared == name else { continue }
            guard let parameters = tool["function"]?["parameters"], truthy(parameters) else { return false }
            return JSONSchemaValidator.validateToolCall(name: name, arguments: arguments, tools: [tool]).isEmpty
        }
        return false
    }

    /// Python's truth value of a JSON value: empty containers and strings, zero, false and null are false.
    static func truthy(_ v: JSONValue) -> Bool {
        switch v {
        case .object(let m): !m.isEmpty
        case .array(let a): !a.isEmpty
        case .string(let s): !s.isEmpty
        case .number(let n): Double(n).map { $0 != 0 } ?? true
        case .bool(let b): b
        case .null: false
        }
    }
}

/// One row of a K2-Vendor-Verifier results file: the request sent and what the server answered.
public struct VerifierResultRow: Sendable {
    /// The verifier's request number (its line in the samples file, from 1); rows of two files pair on it.
    public var dataIndex: Int
    /// The file line the row was read from.
    public var line: Int
    public var request: JSONValue
    public var tools: [JSONValue]
    public var outcome: ToolCallOutcome
    /// The verdict recorded in the row (`tool_calls_valid`), when there is one.
    public var recordedValid: Bool?
    /// `last_run_at` as written (ISO 8601 text, compared as text to keep the latest of a repeated request).
    public var lastRunAt: String
}

/// A K2-Vendor-Verifier results file (docs/evaluation.md, "Offline scoring"): one JSON object per line with
/// `data_index`, `request`, `response`, `status`, `finish_reason` and `tool_calls_valid`. A request that appears
/// more than once keeps its latest run, as the verifier does; rows come sorted by `data_index`.
public struct VerifierResults: Sendable {
    public let path: String
    public let rows: [VerifierResultRow]
    /// Lines that are not JSON or not a results row.
    public let bad: [JSONLines.BadLine]
    /// Rows dropped because a later run of the same `data_index` was kept.
    public let duplicates: Int

    /// - Throws: ``FileError`` when the file cannot be read (bad lines are collected in ``bad``).
    public init(path: String) throws(FileError) {
        let file = try JSONLines(path: path)
        var bad = file.bad
        var byIndex: [Int: VerifierResultRow] = [:]
        var duplicates = 0
        for line in file.lines {
            guard let index = line.value["data_index"]?.intValue else {
                bad.append(.init(file: path, line: line.number, reason: "a results row needs an integer 'data_index'"))
                continue
            }
            let row = Self.row(line.value, dataIndex: index, line: line.number)
            if let kept = byIndex[index] {
                duplicates += 1
                if row.lastRunAt < kept.lastRunAt { continue }
            }
            byIndex[index] = row
        }
        self.path = path
        rows = byIndex.values.sorted { $0.dataIndex < $1.dataIndex }
        self.bad = bad.sorted { $0.line < $1.line }
        self.duplicates = duplicates
    }

    /// Reads one row: the answer is the response's first choice; a row whose status is not `success` is a failed
    /// request. The row's own `finish_reason` is used when present, else the choice's.
    static func row(_ v: JSONValue, dataIndex: Int, line: Int) -> VerifierResultRow {
        let request = v["request"] ?? .object([])
        let tools = request["tools"]?.elements ?? []
        let choice = v["response"]?["choices"]?.elements?.first
        let message = choice?["message"]
        let calls = (message?["tool_calls"]?.elements ?? []).map { c -> ToolCallOutcome.Call in
            let args = c["function"]?["arguments"]
            return .init(
                name: c["function"]?["name"]?.stringValue ?? "", arguments: args?.stringValue ?? args?.compactText ?? "",
                id: c["id"]?.stringValue ?? "")
        }
        let status = v["status"]?.stringValue ?? "success"
        var outcome = ToolCallOutcome(
            calls: calls, content: message?["content"]?.stringValue,
            reasoning: message?["reasoning_content"]?.stringValue ?? message?["reasoning"]?.stringValue, text: "",
            finishReason: v["finish_reason"]?.stringValue ?? choice?["finish_reason"]?.stringValue,
            promptTokens: v["response"]?["usage"]?["prompt_tokens"]?.intValue)
        if status != "success" {
            outcome.failure = v["response"]?["error"].map { $0.stringValue ?? $0.compactText } ?? "status \(status)"
        }
        return VerifierResultRow(
            dataIndex: dataIndex, line: line, request: request, tools: tools, outcome: outcome,
            recordedValid: v["tool_calls_valid"]?.boolValue, lastRunAt: v["last_run_at"]?.stringValue ?? "")
    }

    /// The verifier's summary of one results file: counts by status and finish reason, and schema accuracy
    /// (answers finishing with `tool_calls` whose calls all pass the schema check, over all such answers).
    public struct Summary: Sendable, Equatable {
        public var success = 0, failure = 0
        public var finishStop = 0, finishToolCalls = 0
        public var finishOthers: [String: Int] = [:]
        /// `tool_calls` answers that pass (ingot's check) and that fail.
        public var successfulToolCalls = 0, schemaErrors = 0
        /// Rows whose recorded `tool_calls_valid` differs from ingot's check (data_index).
        public var recordedDisagreements: [Int] = []

        public var schemaAccuracy: Double { finishToolCalls == 0 ? 0 : Double(successfulToolCalls) / Double(finishToolCalls) }

        public var json: JSONValue {
            .object([
                ("success_count", .int(success)), ("failure_count", .int(failure)), ("finish_stop", .int(finishStop)),
                ("finish_tool_calls", .int(finishToolCalls)),
                ("finish_others", .object(finishOthers.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
                ("count_finish_reason_tool_calls", .int(finishToolCalls)), ("count_successful_tool_call", .int(successfulToolCalls)),
                ("schema_validation_error_count", .int(schemaErrors)), ("schema_accuracy", .double(schemaAccuracy)),
                ("recorded_verdict_disagreements", .array(recordedDisagreements.map { .int($0) })),
            ])
        }
    }

    public var summary: Summary {
        var s = Summary()
        for r in rows {
            if r.outcome.failure == nil { s.success += 1 } else { s.failure += 1 }
            switch r.outcome.finishReason {
            case "stop": s.finishStop += 1
            case "tool_calls":
                s.finishToolCalls += 1
                let valid = r.outcome.schemaValid(tools: r.tools)
                if valid { s.successfulToolCalls += 1 } else { s.schemaErrors += 1 }
                // The verifier records null for a tool_calls answer without calls: a failure either way.
                if valid != (r.recordedValid ?? false) { s.recordedDisagreements.append(r.dataIndex) }
            case let other?: s.finishOthers[other, default: 0] += 1
            case nil: break
            }
        }
        return s
    }

    /// A results row for `outcome`, in the verifier's format (what `--save-answers` writes).
    public static func row(dataIndex: Int, request: JSONValue, outcome: ToolCallOutcome, tools: [JSONValue]) -> JSONValue {
        let response: JSONValue
        if let failure = outcome.failure {
            response = .object([("error", .string(failure))])
        } else {
            var message: [(key: String, value: JSONValue)] = [
                ("role", .string("assistant")), ("content", outcome.content.map { .string($0) } ?? .null),
            ]
            if let reasoning = outcome.reasoning { message.append(("reasoning_content", .string(reasoning))) }
            message.append(
                (
                    "tool_calls",
                    outcome.calls.isEmpty
                        ? .null
                        : .array(
                            outcome.calls.map { c in
                                .object([
                                    ("id", .string(c.id)), ("type", .string("function")),
                                    ("function", .object([("name", .string(c.name)), ("arguments", .string(c.arguments))])),
                                ])
                            })
                ))
            var members: [(key: String, value: JSONValue)] = [
                (
                    "choices",
                    .array([
                        .object([
                            ("index", .int(0)), ("message", .object(message)),
                            ("finish_reason", outcome.finishReason.map { .string($0) } ?? .null),
                        ])
                    ])
                )
            ]
            if let p = outcome.promptTokens { members.append(("usage", .object([("prompt_tokens", .int(p))]))) }
            response = .object(members)
        }
        let called = outcome.finishReason == "tool_calls"
        let valid: JSONValue = called && !outcome.calls.isEmpty ? .bool(outcome.schemaValid(tools: tools)) : .null
        return .object([
            ("data_index", .int(dataIndex)), ("request", request), ("response", response),
            ("status", .string(outcome.failure == nil ? "success" : "failed")),
            ("finish_reason", outcome.finishReason.map { .string($0) } ?? .null), ("tool_calls_valid", valid),
        ])
    }
}

/// Two results files scored against each other with the verifier's metrics, no model or server involved
/// (`ingot eval toolcalls --results CAND --reference REF`; docs/evaluation.md, "Offline scoring").
public struct OfflineToolCallScore: Sendable {
    public var reference: VerifierResults
    public var candidate: VerifierResults
    /// The paired requests (same data_index), REF as ground truth.
    public var parity: ToolCallParity
    /// data_index values found in only one of the files (left out of the pairing, as the verifier's scripts do).
    public var onlyReference: [Int], onlyCandidate: [Int]

    public static func score(reference: VerifierResults, candidate: VerifierResults, rule: TriggerRule) -> OfflineToolCallScore {
        var candidates: [Int: VerifierResultRow] = [:]
        for r in candidate.rows { candidates[r.dataIndex] = r }
        var pairs: [ToolCallComparison] = []
        var onlyReference: [Int] = []
        for r in reference.rows {
            guard let c = candidates.removeValue(forKey: r.dataIndex) else {
                onlyReference.append(r.dataIndex)
                continue
            }
            pairs.append(ToolCallParity.compare(index: r.dataIndex, reference: r.outcome, candidate: c.outcome, tools: r.tools, rule: rule))
        }
        return OfflineToolCallScore(
            reference: reference, candidate: candidate, parity: ToolCallParity(requests: pairs, rule: rule), onlyReference: onlyReference,
            onlyCandidate: candidates.keys.sorted())
    }

    public var json: JSONValue {
        .object([
            ("reference", .string(reference.path)), ("candidate", .string(candidate.path)),
            ("paired", .int(parity.requests.count)), ("only_reference", .array(onlyReference.map { .int($0) })),
            ("only_candidate", .array(onlyCandidate.map { .int($0) })),
            (
                "bad_lines",
                .array((reference.bad + candidate.bad).map { .string($0.description) })
            ),
            ("reference_summary", reference.summary.json), ("candidate_summary", candidate.summary.json),
            ("tool_calls", parity.json),
        ])
    }

    public var text: String {
        func p(_ v: Double) -> String { String(format: "%.2f%%", v * 100) }
        var lines = ["REF  \(reference.path)", "CAND \(candidate.path)"]
        for (name, file) in [("REF ", reference), ("CAND", candidate)] {
            let s = file.summary
            lines.append(
                "\(name) \(file.rows.count) rows (\(s.success) success, \(s.failure) failed): finish stop \(s.finishStop), tool_calls "
                    + "\(s.finishToolCalls), others \(s.finishOthers.values.reduce(0, +)); schema accuracy "
                    + "\(s.successfulToolCalls)/\(s.finishToolCalls) = \(p(s.schemaAccuracy))")
            if !s.recordedDisagreements.isEmpty {
                lines.append(
                    "     \(s.recordedDisagreements.count) rows where the recorded tool_calls_valid differs from this check: data_index "
                        + s.recordedDisagreements.prefix(10).map(String.init).joined(separator: ", "))
            }
            if file.duplicates > 0 { lines.append("     \(file.duplicates) repeated rows (the latest run of each request kept)") }
        }
        if !onlyReference.isEmpty || !onlyCandidate.isEmpty {
            lines.append("unpaired   \(onlyReference.count) rows only in REF, \(onlyCandidate.count) only in CAND (left out)")
        }
        for b in (reference.bad + candidate.bad).prefix(10) { lines.append("bad line   \(b)") }
        lines.append(parity.text)
        return lines.joined(separator: "\n")
    }
}
