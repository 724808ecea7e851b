import ArgumentParser
import Checkpoint
import Evaluation
import Foundation
import Inference
import TensorIO

extension Ingot {
    struct EvalParity: IngotCommand {
        static let configuration = CommandConfiguration(
            commandName: "parity",
            abstract: "Compare a converted model (CAND) with its reference (REF): logits, hidden states, routing, tool calls.",
            discussion: """
                On identical tokens: PPL of both, ratio, ln-ratio, KLD and Δp distributions, same-top-1 (llama.cpp's \
                KL-divergence statistics); per-layer hidden-state agreement on the first tokens; per-layer routing \
                agreement. With --toolcalls: both models answer every request (K2 template, greedy), and trigger \
                precision/recall/F1 (REF as ground truth), schema accuracy, exact call match and teacher-forced top-1 \
                on REF's tool-call tokens are reported. REF may be a file written by --save-ref. --endpoint makes the \
                candidate an OpenAI-compatible server: tool calls as above, and with --text the server's top-k \
                log-probs of teacher-forced one-token completions against REF's distribution (same top-1, a top-k \
                KLD lower bound, PPL where the target is in the top-k; docs/evaluation.md). The recipe's parity \
                thresholds turn into exit code 1, naming the failing metrics.
                """)

        @Argument(help: "The reference: a checkpoint or bundle, or a log-prob file written by --save-ref.")
        var reference: String

        @Argument(help: "The candidate: a checkpoint or bundle (omit with --endpoint).")
        var candidate: String?

        @OptionGroup var textOptions: TextOptions

        @Option(help: "Tokens per chunk.")
        var ctx: Int = 512

        @Option(help: "Evaluate at most this many chunks.")
        var chunks: Int?

        @Flag(help: "Layer-streamed evaluation (one layer's weights resident at a time).")
        var streamLayers = false

        @Option(help: "JSONL of OpenAI chat requests with tools (K2-Vendor-Verifier style).")
        var toolcalls: String?

        @Option(help: "Tokens to generate per tool-call request at most.")
        var maxTokens: Int = 256

        @Option(help: "Use only the first N tool-call requests.")
        var limit: Int?

        @Option(help: "Write the HDF5 report here (schema: docs/evaluation.md).")
        var report: String?

        @Option(help: "Write a self-contained HTML page (summary table and plots) here.")
        var html: String?

        @Option(help: "Save the reference's log-probs here for later runs (REF must be a model).")
        var saveRef: String?

        @Option(help: "Recipe YAML with the parity thresholds (default: the built-in one matching REF's config.json).")
        var recipe: String?

        @Flag(help: "Report only; do not apply the recipe's thresholds.")
        var noThresholds = false

        @Option(help: "The candidate is an OpenAI-compatible server at this URL (e.g. http://127.0.0.1:8000).")
        var endpoint: String?

        @Option(help: "With --endpoint and --text: how many top log-probs to ask the server for per position.")
        var topLogprobs: Int = 10

        @OptionGroup var scoring: ToolCallOptions

        @OptionGroup var server: EndpointOptions

        @OptionGroup var threading: ThreadingOptions

        @Option(
            help: ArgumentHelp(
                "How the candidate's INT4 experts meet the activations: f32 (exact) or q8_0 (llama.cpp's Q4_0 arithmetic), to measure what activation rounding costs.",
                valueName: "f32|q8_0"))
        var candInt4Activations: Int4Activations = .f32

        @Flag(help: "Print a JSON document on stdout.")
        var json = false

        @Flag(help: "No progress output.")
        var quiet = false

        func validate() throws {
            guard (candidate == nil) != (endpoint == nil) else { throw ValidationError("give a CAND model or --endpoint URL (not both)") }
            if endpoint != nil && toolcalls == nil && !textOptions.given {
                throw ValidationError("--endpoint compares tool calls and server log-probs: give --toolcalls FILE.jsonl and/or --text")
            }
            if endpoint != nil && Self.isSavedReference(reference) && textOptions.given {
                throw ValidationError(
                    "server log-probs are compared with a REF model's full distribution: give a checkpoint or bundle as REF")
            }
            guard (1...20).contains(topLogprobs) else { throw ValidationError("--top-logprobs must be 1 to 20, got \(topLogprobs)") }
            if !textOptions.given && toolcalls == nil && !Self.isSavedReference(reference) {
                throw ValidationError("nothing to compare: give --text (or --tokens-file) and/or --toolcalls")
            }
            guard ctx >= 4 else { throw ValidationError("--ctx must be at least 4, got \(ctx)") }
        }

        func execute() throws {
            let savedReference = Self.isSavedReference(reference) ? try ReferenceLogProbs(path: reference) : nil
            let refEngine = savedReference == nil ? try InferenceEngine(source: openWeights(reference), threads: threading.threads) : nil
            let candEngine = try candidate.map {
                try InferenceEngine(
                    source: openWeights($0), threads: threading.threads, int4Activations: candInt4Activations)
            }
            var logitParity: LogitParity?
            if let candEngine, textOptions.given || savedReference != nil {
                let tokens = try savedReference?.tokens ?? textOptions.tokens(model: reference)
                let bar = ProgressBar(label: "parity", total: 1, quiet: quiet || json, unit: "steps")
                logitParity = try LogitParity.compare(
                    reference: savedReference.map { .saved($0) } ?? .engine(refEngine!), candidate: candEngine, tokens: tokens, ctx: ctx,
                    chunkLimit: chunks, streamLayers: streamLayers, saveReference: saveRef
                ) { _, done, total in bar.update(done, total: total) }
                bar.finish()
            }
            var serverLogits: EndpointLogitParity?
            if let endpoint, let refEngine, textOptions.given {
                let tokens = try textOptions.tokens(model: reference)
                let bar = ProgressBar(label: "server logits", total: 1, quiet: quiet || json, unit: "positions")
                serverLogits = try EndpointLogitParity.compare(
                    reference: refEngine, tokenizer: try loadTokenizer(reference), endpoint: try server.endpoint(endpoint, maxTokens: 1),
                    tokens: tokens, ctx: ctx, chunkLimit: chunks, k: topLogprobs, workers: server.concurrency
                ) { done, total in bar.update(done, total: total) }
                bar.finish()
            }
            var toolParity: ToolCallParity?
            var badLines = 0
            if let toolcalls {
                var (requests, bad) = try ToolCallRequest.read(toolcalls)
                EvalToolCalls.reportBadLines(bad)
                badLines = bad.count
                if let limit { requests = Array(requests.prefix(limit)) }
                let referenceAnswers: ToolCallAnswerer =
                    if let refEngine {
                        .engine(ChatResponder(engine: refEngine, tokenizer: try loadTokenizer(reference), maxTokens: maxTokens))
                    } else {
                        .expected
                    }
                let candidateAnswers: ToolCallAnswerer =
                    if let candEngine {
                        .engine(ChatResponder(engine: candEngine, tokenizer: try loadTokenizer(candidate!), maxTokens: maxTokens))
                    } else {
                        .endpoint(try server.endpoint(endpoint!, maxTokens: maxTokens))
                    }
                let evaluation = ToolCallEvaluation(
                    reference: referenceAnswers, candidate: candidateAnswers, rule: scoring.calledBy, concurrency: server.concurrency,
                    saveAnswers: scoring.saveAnswers)
                let bar = ProgressBar(label: "tool calls", total: 2 * requests.count, quiet: quiet || json, unit: "answers")
                toolParity = try evaluation.run(requests, file: toolcalls) { done, total in bar.update(done, total: total) }.parity
                bar.finish()
            }
            // Thresholds.
            var failures: [String] = []
            if !noThresholds, let config = refEngine?.config.model ?? candEngine?.config.model {
                let r = try Recipe.resolve(path: recipe, config: config)
                failures = Self.thresholdFailures(r, logits: logitParity, tools: toolParity)
            }
            if badLines > 0 { failures.append("\(badLines) unusable tool-call request lines skipped") }
            if let toolParity, !toolParity.failed.isEmpty {
                failures.append("\(toolParity.failed.count) tool-call requests got no answer")
            }
            let result = failures.isEmpty ? "ok" : "failed"
            var summary: [(key: String, value: JSONValue)] = [
                ("reference", .string(reference)), ("candidate", .string(candidate ?? endpoint ?? "")),
            ]
            if let logitParity { summary.append(("logits", logitParity.json)) }
            if let serverLogits { summary.append(("server_logits", serverLogits.json)) }
            if let toolParity { summary.append(("tool_calls", toolParity.json)) }
            summary.append(("thresholds_failed", .array(failures.map { .string($0) })))
            summary.append(("result", .string(result)))
            let summaryJSON = JSONValue.object(summary)
            if let report, let logitParity {
                try ParityReportHDF5.write(
                    logitParity, toolCalls: toolParity, reference: reference, candidate: candidate ?? endpoint ?? "",
                    summary: summaryJSON.compactText, result: result, to: report)
            }
            if let html {
                let page = ParityHTML.render(
                    reference: reference, candidate: candidate ?? endpoint ?? "", logits: logitParity, tools: toolParity, failures: failures
                )
                try AtomicFile.write(Array(page.utf8), to: html)
            }
            if json {
                print(summaryJSON.prettyText)
            } else {
                print("REF  \(reference)\nCAND \(candidate ?? endpoint ?? "")")
                if let logitParity { print(logitParity.text) }
                if let serverLogits { print(serverLogits.text) }
                if let toolParity { print(toolParity.text) }
                print(failures.isEmpty ? "result     OK" : "result     FAILED: " + failures.joined(separator: "; "))
                if let report, logitParity != nil { print("report     \(report)") }
            }
            if !failures.isEmpty { throw ExitCode(1) }
        }

        static func isSavedReference(_ path: String) -> Bool {
            guard let h = FileHandle(forReadingAtPath: path) else { return false }
            defer { try? h.close() }
            return (try? h.read(upToCount: 8)).map { Array($0) == ReferenceLogProbs.magic } ?? false
        }

        static func thresholdFailures(_ r: Recipe, logits: LogitParity?, tools: ToolCallParity?) -> [String] {
            var failures: [String] = []
            if let logits {
                if logits.kld.mean > r.maxMeanKLD { failures.append(String(format: "mean KLD %.6g > %.6g", logits.kld.mean, r.maxMeanKLD)) }
                if logits.sameTop1 < r.minSameTop1 {
                    failures.append(String(format: "same top-1 %.4f < %.4f", logits.sameTop1, r.minSameTop1))
                }
                for l in logits.routing where l.identical < r.minRoutingAgreement {
                    failures.append(String(format: "routing agreement layer %d %.4f < %.4f", l.layer, l.identical, r.minRoutingAgreement))
                }
            }
            if let tools {
                if tools.f1 < r.minToolCallF1 {
                    failures.append(String(format: "tool-call trigger F1 %.4f < %.4f", tools.f1, r.minToolCallF1))
                }
                if tools.schemaAccuracyCandidate < r.minSchemaAccuracy {
                    failures.append(String(format: "schema accuracy %.4f < %.4f", tools.schemaAccuracyCandidate, r.minSchemaAccuracy))
                }
            }
            return failures
        }
    }
}
