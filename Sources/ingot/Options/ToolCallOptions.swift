public import ArgumentParser
public import Evaluation
import Foundation

extension TriggerRule: ExpressibleByArgument {}

/// How a tool-call evaluation scores and where it keeps the candidate's answers (eval toolcalls, eval parity).
struct ToolCallOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "What counts as calling a tool: the verifier's finish_reason == \"tool_calls\", or an answer carrying tool calls.",
            valueName: "finish-reason|tool-calls"))
    var calledBy: TriggerRule = .finishReason

    @Option(help: "Write the candidate's answers here as a K2-Vendor-Verifier results file (JSONL), for offline scoring later.")
    var saveAnswers: String?
}

/// How `--endpoint` requests reach and survive a real server: streaming, concurrency, per-request timeout, retries
/// with backoff, the API key (docs/evaluation.md, "Endpoints").
struct EndpointOptions: ParsableArguments {
    @Option(help: "Model name to send to --endpoint.")
    var modelName: String?

    @Flag(help: "Stream the answers (server-sent events, assembled as the OpenAI SDK does).")
    var stream = false

    @Option(help: "Requests in flight at once to --endpoint.")
    var concurrency: Int = 5

    @Option(help: "Seconds to wait for one answer from --endpoint.")
    var timeout: Double = 600

    @Option(
        help:
            "Further attempts after a network error, timeout, HTTP 429, 408 or 5xx (exponential backoff with jitter; Retry-After honoured)."
    )
    var retries: Int = 4

    @Option(help: "API key for --endpoint (default: the OPENAI_API_KEY environment variable); never printed nor saved.")
    var apiKey: String?

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive, got \(timeout)") }
        guard retries >= 0 else { throw ValidationError("--retries must be 0 or more, got \(retries)") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1, got \(concurrency)") }
    }

    /// The client for `url`.
    func endpoint(_ url: String, maxTokens: Int) throws -> OpenAIEndpoint {
        try OpenAIEndpoint(
            base: url, model: modelName, maxTokens: maxTokens, timeout: timeout, retries: retries, stream: stream, apiKey: apiKey)
    }
}
