import ArgumentParser
import Evaluation
import Foundation
import Inference
import TensorIO

extension Ingot {
    struct EvalToolCalls: IngotCommand {
        static let configuration = CommandConfiguration(
            commandName: "toolcalls",
            abstract:
                "Tool-call accuracy with K2-Vendor-Verifier's metrics (trigger F1, schema accuracy, exact call match): a model, a server, or two recorded results files.",
            discussion: """
                Each line of --toolcalls: {"messages": [...], "tools": [...], "expected": {"content": ..., \
                "tool_calls": [{"name", "arguments"}]}} (expected tool_calls empty when no tool should be called). \
                The model (or --endpoint) answers every request and is scored with the expected answer as ground \
                truth. Offline: --results CAND.jsonl --reference REF.jsonl scores two verifier results files against \
                each other, pairing rows by data_index; no model or server needed. Exit 1 when requests failed or \
                lines were unusable (they are counted and listed), 3 when the endpoint cannot be reached at all.
                """)

        @Argument(help: "A checkpoint or bundle (omit with --endpoint or --results).")
        var model: String?

        @Option(help: "Score an OpenAI-compatible server at this URL instead of a local model.")
        var endpoint: String?

        @Option(help: "JSONL of chat requests with expected answers.")
        var toolcalls: String?

        @Option(help: "A verifier results file (JSONL) holding the candidate's answers: score it offline against --reference.")
        var results: String?

        @Option(help: "The verifier results file (JSONL) holding the reference's answers, for --results.")
        var reference: String?

        @Option(help: "With --endpoint: a checkpoint or bundle whose tokenizer renders each request, to check the server's prompt length.")
        var tokenizer: String?

        @OptionGroup var scoring: ToolCallOptions

        @OptionGroup var server: EndpointOptions

        @OptionGroup var threading: ThreadingOptions

        @Option(help: "Tokens to generate per request at most.")
        var maxTokens: Int = 256

        @Option(help: "Evaluate only the first N requests.")
        var limit: Int?

        @Flag(help: "Print a JSON document on stdout.")
        var json = false

        @Flag(help: "No progress output.")
        var quiet = false

        func validate() throws {
            if results != nil || reference != nil {
                guard let _ = results, let _ = reference else {
                    throw ValidationError("offline scoring needs both --results and --reference")
                }
                guard model == nil, endpoint == nil, toolcalls == nil else {
                    throw ValidationError("--results/--reference score recorded answers: no MODEL, --endpoint or --toolcalls")
                }
                return
            }
            guard (model == nil) != (endpoint == nil) else { throw ValidationError("give a MODEL or --endpoint URL (not both)") }
            guard toolcalls != nil else { throw ValidationError("give --toolcalls FILE.jsonl (or --results and --reference)") }
            if tokenizer != nil && endpoint == nil {
                throw ValidationError("--tokenizer checks a server's prompts: use it with --endpoint")
            }
            guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        }

        func execute() throws {
            if let results, let reference {
                try scoreOffline(candidate: results, reference: reference)
                return
            }
            let file = toolcalls!
            var (requests, bad) = try ToolCallRequest.read(file)
            Self.reportBadLines(bad)
            if let limit { requests = Array(requests.prefix(limit)) }
            let candidate: ToolCallAnswerer =
                if let model {
                    .engine(
                        ChatResponder(
                            engine: try InferenceEngine(source: openWeights(model), threads: threading.threads),
                            tokenizer: try loadTokenizer(model), maxTokens: maxTokens))
                } else {
                    .endpoint(try server.endpoint(endpoint!, maxTokens: maxTokens))
                }
            let evaluation = ToolCallEvaluation(
                reference: .expected, candidate: candidate, rule: scoring.calledBy, concurrency: server.concurrency,
                promptTokenizer: try tokenizer.map(loadTokenizer), saveAnswers: scoring.saveAnswers)
            let bar = ProgressBar(label: "tool calls", total: 2 * requests.count, quiet: quiet || json, unit: "answers")
            let start = Date()
            let result = try evaluation.run(requests, file: file) { done, total in bar.update(done, total: total) }
            bar.finish()
            let seconds = Date().timeIntervalSince(start)
            let parity = result.parity
            if json {
                var members = parity.json.members ?? []
                members.insert(("model", .string(model ?? endpoint ?? "")), at: 0)
                members.append(("generated_tokens", .int(result.generatedTokens)))
                members.append(("seconds", .double(seconds)))
                print(JSONValue.object(members).prettyText)
            } else {
                print(
                    parity.text.replacingOccurrences(of: "REF called", with: "expected calls").replacingOccurrences(
                        of: "CAND called", with: "model called"))
                if model != nil {
                    let generated = result.generatedTokens
                    print(String(format: "%d tokens generated in %.1f s (%.1f tokens/s)", generated, seconds, Double(generated) / seconds))
                }
                if let saved = scoring.saveAnswers { print("answers saved to \(saved)") }
            }
            if !parity.failed.isEmpty || !bad.isEmpty { throw ExitCode(1) }
        }

        /// Lists unusable request lines on stderr; the command scores the rest and exits 1.
        static func reportBadLines(_ bad: [JSONLines.BadLine]) {
            guard !bad.isEmpty else { return }
            for line in bad { FileHandle.standardError.write(Data("skipped \(line)\n".utf8)) }
            FileHandle.standardError.write(Data("\(bad.count) unusable request lines skipped\n".utf8))
        }

        /// Scores two recorded results files against each other.
        func scoreOffline(candidate: String, reference: String) throws {
            let score = OfflineToolCallScore.score(
                reference: try VerifierResults(path: reference), candidate: try VerifierResults(path: candidate), rule: scoring.calledBy)
            print(json ? score.json.prettyText : score.text)
            if !(score.reference.bad + score.candidate.bad).isEmpty { throw ExitCode(1) }
        }
    }
}
