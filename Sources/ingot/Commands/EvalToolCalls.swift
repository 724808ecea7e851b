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

        @OptionGroup var engineOptions: EngineOptions

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

        func execute() throws {
            var requests = try ToolCallRequest.load(toolcalls)
            if let limit { requests = Array(requests.prefix(limit)) }
            if let missing = requests.first(where: { $0.expected == nil }) {
                throw InferenceError.badRequest("\(toolcalls): request \(missing.index) has no 'expected' answer")
            }
            let engine = try engineOptions.engine()
            let responder = ChatResponder(engine: engine, tokenizer: try loadTokenizer(engineOptions.model), maxTokens: maxTokens)
            let bar = ProgressBar(label: "tool calls", total: requests.count, quiet: quiet || json, unit: "requests")
            var comparisons: [ToolCallComparison] = []
            var generated = 0
            let start = Date()
            for (i, r) in requests.enumerated() {
                let (answer, result) = try responder.respond(r.request, tools: r.tools)
                generated += result.generated.count
                comparisons.append(ToolCallParity.compare(index: r.index, reference: r.expected!, candidate: answer, tools: r.tools))
                bar.update(i + 1)
            }
            bar.finish()
            let parity = ToolCallParity(requests: comparisons)
            let seconds = Date().timeIntervalSince(start)
            if json {
                var members = parity.json.members ?? []
                members.insert(("model", .string(engineOptions.model)), at: 0)
                members.append(("generated_tokens", .int(generated)))
                members.append(("seconds", .double(seconds)))
                print(JSONValue.object(members).prettyText)
            } else {
                print(parity.text.replacingOccurrences(of: "REF called", with: "expected calls").replacingOccurrences(of: "CAND called", with: "model called"))
                print(String(format: "%d tokens generated in %.1f s (%.1f tokens/s)", generated, seconds, Double(generated) / seconds))
            }
        }
    }
}
