public import Chat
import Checkpoint
import Foundation
public import Inference
public import TensorIO
public import Tokenizer

/// One request of a tool-call JSONL (K2-Vendor-Verifier style): an OpenAI chat request with `messages` and
/// `tools`, optionally with `expected` = {"content": …, "tool_calls": [{"name", "arguments"}]} (ground truth for
/// `ingot eval toolcalls`).
public struct ToolCallRequest: Sendable {
    public var index: Int
    public var request: JSONValue
    public var tools: [JSONValue]
    public var expected: ToolCallOutcome?

    /// Reads a JSONL file: one request object per non-empty line (LF or CRLF; docs/evaluation.md, "Input files").
    ///
    /// - Throws: ``FileError`` when unreadable, ``JSONLines/BadLine`` for a line that is not JSON,
    ///   ``InferenceError/badRequest(_:)`` naming the file and line for a request without messages.
    public static func load(_ path: String) throws -> [ToolCallRequest] {
        let file = try JSONLines(path: path)
        if let bad = file.bad.first { throw bad }
        var out: [ToolCallRequest] = []
        for line in file.lines {
            let value = line.value, n = line.number - 1
            guard value["messages"]?.elements != nil else {
                throw InferenceError.badRequest("\(path) line \(n + 1): expected an object with a 'messages' array")
            }
            var expected: ToolCallOutcome?
            if let e = value["expected"] {
                let calls = try (e["tool_calls"]?.elements ?? []).map { c -> ToolCallOutcome.Call in
                    guard let name = c["name"]?.stringValue ?? c["function"]?["name"]?.stringValue else {
                        throw InferenceError.badRequest("\(path) line \(n + 1): an expected tool call has no name")
                    }
                    let args = c["arguments"] ?? c["function"]?["arguments"] ?? .object([])
                    return ToolCallOutcome.Call(name: name, arguments: args.stringValue ?? args.compactText)
                }
                expected = ToolCallOutcome(calls: calls, content: e["content"]?.stringValue, reasoning: nil, text: "")
            }
            out.append(ToolCallRequest(index: out.count, request: value, tools: value["tools"]?.elements ?? [], expected: expected))
        }
        return out
    }
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

    public var called: Bool { !calls.isEmpty }

    /// Same calls: names and canonical arguments, in order.
    public func sameCalls(as other: ToolCallOutcome) -> Bool {
        calls.count == other.calls.count
            && zip(calls, other.calls).allSatisfy { $0.name == $1.name && $0.canonicalArguments == $1.canonicalArguments }
    }

    /// K2VV's schema check: every call names a declared tool and its arguments validate.
    public func schemaValid(tools: [JSONValue]) -> Bool {
        calls.allSatisfy { JSONSchemaValidator.validateToolCall(name: $0.name, arguments: $0.arguments, tools: tools).isEmpty }
    }
}

/// Answers chat requests with the engine: render with the K2 template, generate until `<|im_end|>`, parse.
public struct ChatResponder: Sendable {
    public let engine: InferenceEngine
    public let tokenizer: BPETokenizer
    public let renderer: ChatRenderer
    public let maxTokens: Int
    public let sampler: Sampler

    public init(
        engine: InferenceEngine, tokenizer: BPETokenizer, renderer: ChatRenderer = ChatRenderer(), maxTokens: Int = 256,
        sampler: Sampler = Sampler()
    ) {
        self.engine = engine
        self.tokenizer = tokenizer
        self.renderer = renderer
        self.maxTokens = maxTokens
        self.sampler = sampler
    }

    /// The stop ids: `<|im_end|>` and config.json's end-of-sequence ids.
    public var stopIDs: Set<Int> {
        var s = Set(engine.config.model.eosTokenIds)
        if let e = tokenizer.specialID("<|im_end|>") { s.insert(e) }
        return s
    }

    /// Prompt ids of a request.
    public func promptIDs(_ request: JSONValue) throws -> [Int] { try renderer.renderIDs(request: request, tokenizer: tokenizer) }

    /// Generates and parses one answer.
    public func respond(_ request: JSONValue, tools: [JSONValue]) throws -> (outcome: ToolCallOutcome, result: GenerationResult) {
        let prompt = try promptIDs(request)
        let stop = stopIDs
        let result = try engine.generate(prompt: prompt, maxTokens: maxTokens, sampler: sampler, stop: stop)
        let body = result.generated.last.map { stop.contains($0) } == true ? Array(result.generated.dropLast()) : result.generated
        let text = try tokenizer.decode(body)
        let parsed = ToolCallParser(reasoning: .auto, tools: ToolSignature.from(tools: tools)).parse(text)
        let begin = tokenizer.specialID("<|tool_calls_section_begin|>")
        return (
            ToolCallOutcome(
                calls: parsed.toolCalls.map { .init(name: $0.name, arguments: $0.arguments, id: $0.id) }, content: parsed.content,
                reasoning: parsed.reasoning,
                text: text, tokens: result.generated, sectionStart: begin.flatMap { result.generated.firstIndex(of: $0) }),
            result
        )
    }
}

/// One request compared: REF's answer (a model's or the file's expected one) against CAND's.
public struct ToolCallComparison: Sendable {
    public var index: Int
    public var reference: ToolCallOutcome
    public var candidate: ToolCallOutcome
    public var referenceCalled: Bool { reference.called }
    public var candidateCalled: Bool { candidate.called }
    public var exactMatch: Bool
    public var referenceSchemaValid: Bool
    public var candidateSchemaValid: Bool
    /// Teacher-forced agreement on REF's tool-call tokens (matches, total), when computed.
    public var teacherForced: (matches: Int, total: Int)?
}

/// Tool-call parity over a request set (K2-Vendor-Verifier's metrics with REF as ground truth).
public struct ToolCallParity: Sendable {
    public var requests: [ToolCallComparison]

    public init(requests: [ToolCallComparison]) { self.requests = requests }

    var truePositives: Int { requests.filter { $0.referenceCalled && $0.candidateCalled }.count }
    var falsePositives: Int { requests.filter { !$0.referenceCalled && $0.candidateCalled }.count }
    var falseNegatives: Int { requests.filter { $0.referenceCalled && !$0.candidateCalled }.count }

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
    /// Among answers with tool calls, the fraction whose calls all pass the schema check.
    public var schemaAccuracyCandidate: Double {
        let called = requests.filter(\.candidateCalled)
        return called.isEmpty ? 1 : Double(called.filter(\.candidateSchemaValid).count) / Double(called.count)
    }
    public var schemaAccuracyReference: Double {
        let called = requests.filter(\.referenceCalled)
        return called.isEmpty ? 1 : Double(called.filter(\.referenceSchemaValid).count) / Double(called.count)
    }
    /// Among requests where REF called, the fraction where CAND made exactly the same calls.
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
    /// Requests whose trigger or calls differ.
    public var differing: [ToolCallComparison] { requests.filter { $0.referenceCalled != $0.candidateCalled || !$0.exactMatch } }

    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("requests", .int(requests.count)), ("reference_calls", .int(requests.filter(\.referenceCalled).count)),
            ("candidate_calls", .int(requests.filter(\.candidateCalled).count)), ("trigger_precision", .double(precision)),
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
                            ("index", .int(d.index)),
                            ("reference", .array(d.reference.calls.map { .string("\($0.name) \($0.canonicalArguments)") })),
                            ("candidate", .array(d.candidate.calls.map { .string("\($0.name) \($0.canonicalArguments)") })),
                        ])
                    })
            ))
        return .object(members)
    }

    public var text: String {
        func p(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
        var lines = [
            "tool calls \(requests.count) requests: REF called \(requests.filter(\.referenceCalled).count), CAND called \(requests.filter(\.candidateCalled).count)",
            "trigger    precision \(p(precision))  recall \(p(recall))  F1 \(String(format: "%.4f", f1))",
            "schema     REF \(p(schemaAccuracyReference))  CAND \(p(schemaAccuracyCandidate))   exact call match \(p(exactMatchRate))",
        ]
        if let t = teacherForcedTop1 { lines.append("teacher-forced top-1 on REF's tool-call tokens \(p(t))") }
        for d in differing.prefix(10) {
            lines.append(
                "  differs #\(d.index): REF [\(d.reference.calls.map(\.name).joined(separator: ", "))] CAND [\(d.candidate.calls.map(\.name).joined(separator: ", "))]"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// Compares two outcomes of one request.
    public static func compare(index: Int, reference: ToolCallOutcome, candidate: ToolCallOutcome, tools: [JSONValue]) -> ToolCallComparison
    {
        ToolCallComparison(
            index: index, reference: reference, candidate: candidate,
            exactMatch: reference.called ? reference.sameCalls(as: candidate) : !candidate.called,
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
