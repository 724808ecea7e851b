import Chat
public import Foundation
import Inference
import TensorIO
public import Tokenizer

/// Who answers the requests of a tool-call evaluation.
public enum ToolCallAnswerer: Sendable {
    /// A model in process: K2 template, greedy until `<|im_end|>`, K2 tool-call parser.
    case engine(ChatResponder)
    /// An OpenAI-compatible server.
    case endpoint(OpenAIEndpoint)
    /// The request file's `expected` answers (a reference only).
    case expected
}

/// Why a tool-call evaluation could not run.
public enum ToolCallEvaluationError: Error, LocalizedError, Sendable {
    /// REF is the file's expected answers but a request has none.
    case noExpectedAnswer(file: String, line: Int)

    public var errorDescription: String? {
        switch self {
        case .noExpectedAnswer(let file, let line): "\(file):\(line): the request has no 'expected' answer and REF is not a model"
        }
    }
}

/// Both sides answer every request and the answers are compared with the verifier's metrics, REF as ground truth
/// (docs/evaluation.md, "Tool calls"). `ingot eval toolcalls` and `ingot eval parity --toolcalls` run it.
public struct ToolCallEvaluation: Sendable {
    public var reference: ToolCallAnswerer
    public var candidate: ToolCallAnswerer
    public var rule: TriggerRule
    /// Requests in flight at once to an endpoint (an engine answers one at a time on all its threads).
    public var concurrency: Int
    /// Renders REF's prompt for the prompt check when REF is not a model (an engine REF renders its own).
    public var promptTokenizer: BPETokenizer?
    /// Write the candidate's answers here in the verifier's results format.
    public var saveAnswers: String?

    public init(
        reference: ToolCallAnswerer, candidate: ToolCallAnswerer, rule: TriggerRule = .finishReason, concurrency: Int = 1,
        promptTokenizer: BPETokenizer? = nil, saveAnswers: String? = nil
    ) {
        self.reference = reference
        self.candidate = candidate
        self.rule = rule
        self.concurrency = max(1, concurrency)
        self.promptTokenizer = promptTokenizer
        self.saveAnswers = saveAnswers
    }

    /// What a run produced: the comparison and the tokens the in-process models generated.
    public struct Result: Sendable {
        public var parity: ToolCallParity
        public var generatedTokens: Int
    }

    /// Answers `requests` from `file` on both sides and compares them. `progress(done, total)` counts answers.
    ///
    /// A request an endpoint still fails after its retries becomes a failure row; the run stops early, rethrowing
    /// the endpoint's error, only when the first answers of the run all failed (the endpoint is unreachable or
    /// refuses everything).
    ///
    /// - Throws: ``ToolCallEvaluationError``, ``EndpointError``, the engine's and the renderer's errors.
    public func run(
        _ requests: [ToolCallRequest], file: String, progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) throws -> Result {
        let total = 2 * requests.count
        let counter = AnswerCount(report: progress, total: total)
        var generated = 0
        var references = try answers(requests, by: reference, file: file, generated: &generated, progress: counter)
        if case .expected = reference, let tokenizer = promptTokenizer {
            let renderer = ChatRenderer()
            for i in references.indices {
                references[i].promptTokens = try renderer.renderIDs(request: requests[i].request, tokenizer: tokenizer).count
            }
        }
        let candidates = try answers(requests, by: candidate, file: file, generated: &generated, progress: counter)
        if let saveAnswers {
            let rows = zip(requests, candidates).map {
                VerifierResults.row(dataIndex: $0.line, request: $0.request, outcome: $1, tools: $0.tools).compactText
            }
            try AtomicFile.write(Array((rows.joined(separator: "\n") + "\n").utf8), to: saveAnswers)
        }
        var out: [ToolCallComparison] = []
        for (i, r) in requests.enumerated() {
            var comparison = ToolCallParity.compare(
                index: r.index, reference: references[i], candidate: candidates[i], tools: r.tools, rule: rule)
            if case .engine(let refResponder) = reference, case .engine(let candResponder) = candidate, references[i].sectionStart != nil {
                comparison.teacherForced = try ToolCallParity.teacherForced(
                    candidate: candResponder.engine, prompt: try refResponder.promptIDs(r.request), reference: references[i])
            }
            out.append(comparison)
        }
        return Result(parity: ToolCallParity(requests: out, rule: rule), generatedTokens: generated)
    }

    private func answers(
        _ requests: [ToolCallRequest], by answerer: ToolCallAnswerer, file: String, generated: inout Int, progress: AnswerCount
    ) throws -> [ToolCallOutcome] {
        switch answerer {
        case .expected:
            let out = try requests.map { r in
                guard let e = r.expected else { throw ToolCallEvaluationError.noExpectedAnswer(file: file, line: r.line) }
                return e
            }
            progress.add(requests.count)
            return out
        case .engine(let responder):
            var out: [ToolCallOutcome] = []
            for r in requests {
                let (outcome, result) = try responder.respond(r.request, tools: r.tools)
                generated += result.generated.count
                out.append(outcome)
                progress.add(1)
            }
            return out
        case .endpoint(let endpoint):
            return try Self.ask(endpoint, requests, concurrency: concurrency, progress: progress)
        }
    }

    /// Sends every request to `endpoint`, `concurrency` at a time; failures after retries become failure rows.
    static func ask(_ endpoint: OpenAIEndpoint, _ requests: [ToolCallRequest], concurrency: Int, progress: AnswerCount) throws
        -> [ToolCallOutcome]
    {
        let answers = Answers(count: requests.count, probe: min(requests.count, max(concurrency, 2)))
        try parallelItems(count: requests.count, workers: concurrency, stop: { answers.hopeless != nil }) { _, i in
            do throws(EndpointError) {
                answers.set(i, try endpoint.respond(requests[i].request))
            } catch {
                answers.fail(i, error)
            }
            progress.add(1)
        }
        if let error = answers.hopeless { throw error }
        return answers.all
    }
}

/// The answers of an endpoint run, filled by parallel workers, and whether the run is hopeless: its first
/// `probe` answers all failed.
private final class Answers: @unchecked Sendable {
    // Sendable: every field is read and written under `lock`.
    private let lock = NSLock()
    private var outcomes: [ToolCallOutcome?]
    private var finished = 0, succeeded = 0
    private let probe: Int
    private var firstError: EndpointError?
    private var stop: EndpointError?

    init(count: Int, probe: Int) {
        outcomes = Array(repeating: nil, count: count)
        self.probe = probe
    }

    func set(_ i: Int, _ outcome: ToolCallOutcome) {
        lock.lock()
        outcomes[i] = outcome
        finished += 1
        succeeded += 1
        lock.unlock()
    }

    func fail(_ i: Int, _ error: EndpointError) {
        lock.lock()
        outcomes[i] = .failed(error.errorDescription ?? "\(error)")
        finished += 1
        if firstError == nil { firstError = error }
        if succeeded == 0 && finished >= probe { stop = firstError }
        lock.unlock()
    }

    var hopeless: EndpointError? {
        lock.lock()
        defer { lock.unlock() }
        return stop
    }

    var all: [ToolCallOutcome] {
        lock.lock()
        defer { lock.unlock() }
        return outcomes.map { $0 ?? .failed("not sent") }
    }
}

/// Answers counted across workers for a progress callback.
final class AnswerCount: @unchecked Sendable {
    // Sendable: `done` is changed under `lock`; the callback is called under it, one at a time.
    private let lock = NSLock()
    private var done = 0
    private let total: Int
    private let report: @Sendable (Int, Int) -> Void

    init(report: @escaping @Sendable (Int, Int) -> Void, total: Int) {
        self.report = report
        self.total = total
    }

    func add(_ n: Int) {
        lock.lock()
        done += n
        report(done, total)
        lock.unlock()
    }
}
