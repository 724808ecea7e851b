import Chat
import Checkpoint
import Foundation
public import Inference
public import TensorIO
import Tokenizer

/// One request of a tool-call JSONL (K2-Vendor-Verifier style): an OpenAI chat request with `messages` and
/// `tools`, optionally with `expected` = {"content": …, "tool_calls": [{"name", "arguments"}]} (ground truth for
/// `ingot eval toolcalls`).
public struct ToolCallRequest: Sendable {
    public var index: Int
    /// The file line it was read from (from 1): the verifier's `data_index` for the same request.
    public var line: Int
    public var request: JSONValue
    public var tools: [JSONValue]
    public var expected: ToolCallOutcome?

    /// Reads a JSONL file: one request object per non-empty line (LF or CRLF; docs/evaluation.md, "Input files"),
    /// stopping at the first unusable line.
    ///
    /// - Throws: ``FileError`` when unreadable, ``JSONLines/BadLine`` naming the file and line of the first line
    ///   that is not JSON or not a request.
    public static func load(_ path: String) throws -> [ToolCallRequest] {
        let file = try read(path)
        if let bad = file.bad.first { throw bad }
        return file.requests
    }

    /// Reads a JSONL file of requests, keeping the usable ones and listing the others (batch commands carry on
    /// past bad lines).
    ///
    /// - Throws: ``FileError`` when the file cannot be read.
    public static func read(_ path: String) throws(FileError) -> (requests: [ToolCallRequest], bad: [JSONLines.BadLine]) {
        let file = try JSONLines(path: path)
        var bad = file.bad
        var out: [ToolCallRequest] = []
        for line in file.lines {
            let value = line.value
            func unusable(_ reason: String) { bad.append(.init(file: path, line: line.number, reason: reason)) }
            guard value["messages"]?.elements != nil else {
                unusable("expected an object with a 'messages' array")
                continue
            }
            var expected: ToolCallOutcome?
            if let e = value["expected"] {
                let listed = e["tool_calls"]?.elements ?? []
                let calls = listed.compactMap { c -> ToolCallOutcome.Call? in
                    guard let name = c["name"]?.stringValue ?? c["function"]?["name"]?.stringValue else { return nil }
                    let args = c["arguments"] ?? c["function"]?["arguments"] ?? .object([])
                    return ToolCallOutcome.Call(name: name, arguments: args.stringValue ?? args.compactText)
                }
                guard calls.count == listed.count else {
                    unusable("an expected tool call has no name")
                    continue
                }
                expected = ToolCallOutcome(
                    calls: calls, content: e["content"]?.stringValue, reasoning: nil, text: "",
                    finishReason: e["finish_reason"]?.stringValue ?? (calls.isEmpty ? "stop" : "tool_calls"))
            }
            out.append(
                ToolCallRequest(
                    index: out.count, line: line.number, request: value, tools: value["tools"]?.elements ?? [], expected: expected))
        }
        return (out, bad.sorted { $0.line < $1.line })
    }
}

/// How an answer counts as "called a tool" (docs/evaluation.md, "The verifier's definitions").
public enum TriggerRule: String, Sendable, CaseIterable {
    /// The verifier's rule: the answer's `finish_reason` is `tool_calls`.
    case finishReason = "finish-reason"
    /// The answer carries at least one tool call, whatever its finish reason.
    case toolCalls = "tool-calls"
}

/// What a model answered to one request.
public struct ToolCallOutcome: Sendable, Equatable {
    public struct Call: Sendable, Equatable {
        public var name: String
        /// The arguments as generated (JSON text, possibly invalid).
        public var arguments: String
        /// The call id as generated (`functions.NAME:IDX`), empty for expected answers.
        public var id: String = ""
        /// Compact, keys sorted at every depth; the raw text when it is not JSON.
        public var canonicalArguments: String {
            guard let value = try? JSONValue.parse(arguments) else { return arguments }
            return PythonJSON.dumps(value, separators: .compact, sortKeys: true)
        }
        public init(name: String, arguments: String, id: String = "") {
            self.name = name
            self.arguments = arguments
            self.id = id
        }
    }
    public var calls: [Call]
    public var content: String?
    public var reasoning: String?
    /// The generated text (empty for expected answers and endpoints).
    public var text: String
    /// Generated token ids (engine outputs only) and where the tool-call section starts among them.
    public var tokens: [Int] = []
    public var sectionStart: Int?
    /// `tool_calls`, `stop`, `length`, … as the server or the engine reported it; nil when the request failed.
    public var finishReason: String?
    /// The prompt's length in tokens as the server counted it (`usage.prompt_tokens`), when it said.
    public var promptTokens: Int?
    /// Why the request got no answer (after its retries); nil for an answer.
    public var failure: String?

    public init(
        calls: [Call], content: String?, reasoning: String?, text: String, tokens: [Int] = [], sectionStart: Int? = nil,
        finishReason: String?, promptTokens: Int? = nil, failure: String? = nil
    ) {
        self.calls = calls
        self.content = content
        self.reasoning = reasoning
        self.text = text
        self.tokens = tokens
        self.sectionStart = sectionStart
        self.finishReason = finishReason
        self.promptTokens = promptTokens
        self.failure = failure
    }

    /// A request that got no answer.
    public static func failed(_ reason: String) -> ToolCallOutcome {
        ToolCallOutcome(calls: [], content: nil, reasoning: nil, text: "", finishReason: nil, failure: reason)
    }

    /// Whether this answer called a tool under `rule`.
    public func called(by rule: TriggerRule) -> Bool {
        switch rule {
        case .finishReason: finishReason == "tool_calls"
        case .toolCalls: !calls.isEmpty
        }
    }

    /// Same calls: names and canonical arguments, in order.
    public func sameCalls(as other: ToolCallOutcome) -> Bool {
        calls.count == other.calls.count
            && zip(calls, other.calls).allSatisfy { $0.name == $1.name && $0.canonicalArguments == $1.canonicalArguments }
    }

    /// The verifier's schema check of an answer that called: it carries calls, and every one names a declared tool
    /// whose `parameters` its arguments satisfy (docs/evaluation.md, "The verifier's definitions").
    public func schemaValid(tools: [JSONValue]) -> Bool {
        !calls.isEmpty
            && calls.allSatisfy { VerifierRules.toolCallValid(name: $0.name, arguments: $0.arguments, tools: tools) }
    }
}

/// One request compared: REF's answer (a model's, the file's expected one, or a recorded one) against CAND's.
public struct ToolCallComparison: Sendable {
    public var index: Int
    public var reference: ToolCallOutcome
    public var candidate: ToolCallOutcome
    /// Whether each side called a tool, under the parity's trigger rule.
    public var referenceCalled: Bool
    public var candidateCalled: Bool
    public var exactMatch: Bool
    public var referenceSchemaValid: Bool
    public var candidateSchemaValid: Bool
    /// Teacher-forced agreement on REF's tool-call tokens (matches, total), when computed.
    public var teacherForced: (matches: Int, total: Int)?
    /// The prompt check: CAND's server counted `server` prompt tokens where REF's rendering of the same request has
    /// `reference`; nil when they agree or either count is unknown.
    public var promptMismatch: (server: Int, reference: Int)? {
        guard let s = candidate.promptTokens, let r = reference.promptTokens, s != r else { return nil }
        return (s, r)
    }
}

/// Tool-call parity over a request set (K2-Vendor-Verifier's metrics with REF as ground truth; docs/evaluation.md).
public struct ToolCallParity: Sendable {
    public var requests: [ToolCallComparison]
    public var rule: TriggerRule

    public init(requests: [ToolCallComparison], rule: TriggerRule = .finishReason) {
        self.requests = requests
        self.rule = rule
    }

    public var truePositives: Int { requests.filter { $0.referenceCalled && $0.candidateCalled }.count }
    public var falsePositives: Int { requests.filter { !$0.referenceCalled && $0.candidateCalled }.count }
    public var falseNegatives: Int { requests.filter { $0.referenceCalled && !$0.candidateCalled }.count }
    public var trueNegatives: Int { requests.filter { !$0.referenceCalled && !$0.candidateCalled }.count }

    /// Trigger precision: CAND called where REF called, over CAND's calls (1 when CAND never called and REF never did).
    public var precision: Double {
        let d = truePositives + falsePositives
        return d == 0 ? (falseNegatives == 0 ? 1 : 0) : Double(truePositives) / Double(d)
    }
    public var recall: Double {
        let d = truePositives + falseNegatives
        return d == 0 ? (falsePositives == 0 ? 1 : 0) : Double(truePositives) / Double(d)
    }
    public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }
    /// Among answers that called (by the trigger rule), the fraction that pass the schema check.
    public var schemaAccuracyCandidate: Double {
        let called = requests.filter(\.candidateCalled)
        return called.isEmpty ? 1 : Double(called.filter(\.candidateSchemaValid).count) / Double(called.count)
    }
    public var schemaAccuracyReference: Double {
        let called = requests.filter(\.referenceCalled)
        return called.isEmpty ? 1 : Double(called.filter(\.referenceSchemaValid).count) / Double(called.count)
    }
    /// Among requests where REF called, the fraction where CAND called too and made exactly the same calls.
    public var exactMatchRate: Double {
        let called = requests.filter(\.referenceCalled)
        return called.isEmpty ? 1 : Double(called.filter(\.exactMatch).count) / Double(called.count)
    }
    /// Teacher-forced top-1 agreement over REF's tool-call tokens, when computed.
    public var teacherForcedTop1: Double? {
        let parts = requests.compactMap(\.teacherForced)
        let total = parts.reduce(0) { $0 + $1.total }
        return parts.isEmpty || total == 0 ? nil : Double(parts.reduce(0) { $0 + $1.matches }) / Double(total)
    }
    /// Requests whose trigger or calls differ (failed requests are listed apart).
    public var differing: [ToolCallComparison] {
        requests.filter { failedSide($0).isEmpty && ($0.referenceCalled != $0.candidateCalled || !$0.exactMatch) }
    }
    /// Requests one side got no answer to; they count as answers that did not call, as in the verifier.
    public var failed: [ToolCallComparison] { requests.filter { !failedSide($0).isEmpty } }
    /// Requests whose server counted a different prompt length than REF's rendering.
    public var promptMismatches: [ToolCallComparison] { requests.filter { $0.promptMismatch != nil } }

    private func failedSide(_ c: ToolCallComparison) -> [(side: String, reason: String)] {
        [("REF", c.reference.failure), ("CAND", c.candidate.failure)].compactMap { side, reason in reason.map { (side, $0) } }
    }

    /// One side's answer in a line: its calls (name and canonical arguments) or what it did instead.
    static func describe(_ o: ToolCallOutcome) -> String {
        if let failure = o.failure { return "failed: \(failure)" }
        let calls = o.calls.map { "\($0.name) \($0.canonicalArguments)" }.joined(separator: "; ")
        let finish = o.finishReason.map { "finish \($0)" } ?? "no finish reason"
        return calls.isEmpty ? "no call (\(finish))" : "\(calls) (\(finish))"
    }

    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("requests", .int(requests.count)), ("trigger_rule", .string(rule.rawValue)),
            ("reference_calls", .int(requests.filter(\.referenceCalled).count)),
            ("candidate_calls", .int(requests.filter(\.candidateCalled).count)), ("true_positives", .int(truePositives)),
            ("false_positives", .int(falsePositives)), ("false_negatives", .int(falseNegatives)),
            ("true_negatives", .int(trueNegatives)), ("trigger_precision", .double(precision)),
            ("trigger_recall", .double(recall)), ("trigger_f1", .double(f1)),
            ("schema_accuracy_reference", .double(schemaAccuracyReference)),
            ("schema_accuracy_candidate", .double(schemaAccuracyCandidate)), ("exact_match", .double(exactMatchRate)),
        ]
        if let t = teacherForcedTop1 { members.append(("teacher_forced_top1", .double(t))) }
        members.append(
            (
                "differing",
                .array(
                    differing.prefix(50).map { d in
                        .object([
                            ("index", .int(d.index)), ("reference", .string(Self.describe(d.reference))),
                            ("candidate", .string(Self.describe(d.candidate))),
                        ])
                    })
            ))
        members.append(
            (
                "failed",
                .array(
                    failed.map { c in
                        .object(
                            [("index", .int(c.index))]
                                + failedSide(c).map { (key: $0.side == "REF" ? "reference" : "candidate", value: .string($0.reason)) })
                    })
            ))
        members.append(
            (
                "prompt_mismatches",
                .array(
                    promptMismatches.map { c in
                        .object([
                            ("index", .int(c.index)), ("server_prompt_tokens", .int(c.promptMismatch!.server)),
                            ("reference_prompt_tokens", .int(c.promptMismatch!.reference)),
                        ])
                    })
            ))
        return .object(members)
    }

    public var text: String {
        func p(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
        var lines = [
            "tool calls \(requests.count) requests (called = \(rule == .finishReason ? "finish_reason tool_calls" : "has tool calls")): "
                + "REF called \(requests.filter(\.referenceCalled).count), CAND called \(requests.filter(\.candidateCalled).count)",
            "trigger    TP \(truePositives) FP \(falsePositives) FN \(falseNegatives) TN \(trueNegatives)  precision \(p(precision))  "
                + "recall \(p(recall))  F1 \(String(format: "%.4f", f1))",
            "schema     REF \(p(schemaAccuracyReference))  CAND \(p(schemaAccuracyCandidate))   exact call match \(p(exactMatchRate))",
        ]
        if let t = teacherForcedTop1 { lines.append("teacher-forced top-1 on REF's tool-call tokens \(p(t))") }
        if !failed.isEmpty {
            lines.append("failed     \(failed.count) requests got no answer (counted as not called):")
            for c in failed.prefix(10) {
                lines.append("  failed #\(c.index): " + failedSide(c).map { "\($0.side) \($0.reason)" }.joined(separator: "; "))
            }
        }
        if let first = promptMismatches.first, let m = first.promptMismatch {
            lines.append(
                "prompt     the server rendered a different prompt for \(promptMismatches.count) of \(requests.count) requests "
                    + "(#\(first.index): \(m.server) tokens vs \(m.reference)): a different chat template or tool serialisation")
        }
        for d in differing.prefix(10) {
            lines.append("  differs #\(d.index): REF \(Self.describe(d.reference))")
            lines.append("              CAND \(Self.describe(d.candidate))")
        }
        return lines.joined(separator: "\n")
    }

    /// Compares two outcomes of one request under `rule`.
    public static func compare(
        index: Int, reference: ToolCallOutcome, candidate: ToolCallOutcome, tools: [JSONValue], rule: TriggerRule = .finishReason
    ) -> ToolCallComparison {
        let refCalled = reference.called(by: rule), candCalled = candidate.called(by: rule)
        return ToolCallComparison(
            index: index, reference: reference, candidate: candidate, referenceCalled: refCalled, candidateCalled: candCalled,
            exactMatch: refCalled ? candCalled && reference.sameCalls(as: candidate) : !candCalled,
            referenceSchemaValid: reference.schemaValid(tools: tools), candidateSchemaValid: candidate.schemaValid(tools: tools))
    }

    /// Teacher-forced top-1 agreement of `candidate` on the reference's tool-call tokens: the candidate reads
    /// prompt + REF's tokens once; at every position inside REF's tool-call section, its argmax is compared with
    /// REF's next token.
    public static func teacherForced(candidate: InferenceEngine, prompt: [Int], reference: ToolCallOutcome) throws -> (
        matches: Int, total: Int
    )? {
        guard let start = reference.sectionStart, !reference.tokens.isEmpty else { return nil }
        let sequence = prompt + reference.tokens
        let logits = try candidate.logits(Array(sequence.dropLast()))
        let vocab = candidate.config.vocab
        var matches = 0, total = 0
        for i in start..<reference.tokens.count {
            let row = prompt.count + i - 1
            var best = 0
            for v in 1..<vocab where logits[row * vocab + v] > logits[row * vocab + best] { best = v }
            total += 1
            if best == reference.tokens[i] { matches += 1 }
        }
        return (matches, total)
    }
}
