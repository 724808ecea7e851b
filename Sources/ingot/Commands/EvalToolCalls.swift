import ArgumentParser
import Evaluation
import Foundation
import Inference
import TensorIO

extension Ingot {
    struct EvalToolCalls: IngotCommand {
        static let configuration = CommandConfiguration(
            commandName: "toolcalls",
            abstract: "Tool-call accuracy against the expected answers in a JSONL (trigger F1, exact call match, schema accuracy).",
            discussion: """
                Each line: {"messages": [...], "tools": [...], "expected": {"content": ..., "tool_calls": [{"name", \
                "arguments"}]}} (expected tool_calls empty when no tool should be called). The model answers every \
                request (K2 template, greedy) and is scored with the expected answer as ground truth.
                """)

        @Argument(help: "A checkpoint or bundle (omit with --endpoint).")
        var model: String?

        @Option(help: "Score an OpenAI-compatible server at this URL instead of a local model.")
        var endpoint: String?

        @Option(name: .customLong("model-name"), help: "Model name to send to --endpoint.")
        var endpointModel: String?

        @OptionGroup var endpointRetry: EndpointRetryOptions

        @OptionGroup var threading: ThreadingOptions

        @Option(help: "JSONL of chat requests with expected answers.")
        var toolcalls: String

        @Option(help: "Tokens to generate per request at most.")
        var maxTokens: Int = 256

        @Option(help: "Evaluate only the first N requests.")
        var limit: Int?

        @Flag(help: "Print a JSON document on stdout.")
        var json = false

        @Flag(help: "No progress output.")
        var quiet = false

        func validate() throws {
            guard (model == nil) != (endpoint == nil) else { throw ValidationError("give a MODEL or --endpoint URL (not both)") }
            guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        }

        func execute() throws {
            var requests = try ToolCallRequest.load(toolcalls)
            if let limit { requests = Array(requests.prefix(limit)) }
            if let missing = requests.first(where: { $0.expected == nil }) {
                throw InferenceError.badRequest("\(toolcalls): request \(missing.index) has no 'expected' answer")
            }
            let responder = try model.map {
                ChatResponder(
                    engine: try InferenceEngine(source: openWeights($0), threads: threading.threads), tokenizer: try loadTokenizer($0),
                    maxTokens: maxTokens)
            }
            let server = try endpoint.map {
                try OpenAIEndpoint(
                    base: $0, model: endpointModel, maxTokens: maxTokens, timeout: endpointRetry.timeout, retries: endpointRetry.retries)
            }
            let bar = ProgressBar(label: "tool calls", total: requests.count, quiet: quiet || json, unit: "requests")
            var comparisons: [ToolCallComparison] = []
            var generated = 0
            let start = Date()
            for (i, r) in requests.enumerated() {
                let answer: ToolCallOutcome
                if let responder {
                    let (outcome, result) = try responder.respond(r.request, tools: r.tools)
                    generated += result.generated.count
                    answer = outcome
                } else {
                    answer = try server!.respond(r.request)
                }
                comparisons.append(ToolCallParity.compare(index: r.index, reference: r.expected!, candidate: answer, tools: r.tools))
                bar.update(i + 1)
            }
            bar.finish()
            let parity = ToolCallParity(requests: comparisons)
            let seconds = Date().timeIntervalSince(start)
            if json {
                var members = parity.json.members ?? []
                members.insert(("model", .string(model ?? endpoint ?? "")), at: 0)
                members.append(("generated_tokens", .int(generated)))
                members.append(("seconds", .double(seconds)))
                print(JSONValue.object(members).prettyText)
            } else {
                print(
                    parity.text.replacingOccurrences(of: "REF called", with: "expected calls").replacingOccurrences(
                        of: "CAND called", with: "model called"))
                if responder != nil {
                    print(String(format: "%d tokens generated in %.1f s (%.1f tokens/s)", generated, seconds, Double(generated) / seconds))
                }
            }
        }
    }
}
