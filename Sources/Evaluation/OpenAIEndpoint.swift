public import Foundation
import Inference
public import TensorIO

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Why an endpoint gave no usable answer. Network failures, timeouts, 429 and 5xx are worth retrying (exit 3) once
/// the retries are spent; other answers are the server refusing the input or answering garbage (exit 2).
public enum EndpointError: Error, LocalizedError, Equatable, Sendable {
    case invalidURL(String)
    case unreachable(url: String, reason: String, attempts: Int)
    case http(url: String, status: Int, body: String, attempts: Int)
    case badAnswer(url: String, reason: String)

    /// True when trying again later may succeed.
    public var isRetryable: Bool {
        switch self {
        case .unreachable: true
        case .http(_, let status, _, _): Self.retryable(status: status)
        case .invalidURL, .badAnswer: false
        }
    }

    static func retryable(status: Int) -> Bool { status == 429 || status == 408 || status >= 500 }

    public var errorDescription: String? {
        switch self {
        case .invalidURL(let base): "--endpoint \(base) is not an http(s) URL"
        case .unreachable(let url, let reason, let attempts): "\(url): \(reason) (\(attempts) attempts)"
        case .http(let url, let status, let body, let attempts): "\(url): HTTP \(status) after \(attempts) attempts: \(body)"
        case .badAnswer(let url, let reason): "\(url): \(reason)"
        }
    }
}

/// A candidate served by an OpenAI-compatible server (a vLLM or SGLang deployment): the same chat requests are
/// POSTed to `/v1/chat/completions` (temperature 0 unless the request says otherwise) and the answer's
/// `tool_calls` are compared like an engine's (docs/evaluation.md, "Endpoints").
public struct OpenAIEndpoint: Sendable {
    public let url: URL
    public let model: String?
    public let maxTokens: Int
    public let timeout: TimeInterval
    /// Further attempts after a failure worth retrying (network error, timeout, 429, 408, 5xx).
    public let retries: Int
    /// The first retry's delay in seconds; each further one doubles it (at most 30 s), times a random 0.5–1.0.
    public let retryDelay: TimeInterval
    /// Ask for server-sent events and assemble the answer from its chunks, as streaming clients do.
    public let stream: Bool
    /// Sent as a bearer token; never printed nor written to a report.
    let apiKey: String?

    /// `base` may be the server root (`http://host:8000`), `/v1`, or the full `/v1/chat/completions` address.
    /// `apiKey` nil reads `OPENAI_API_KEY` from the environment.
    public init(
        base: String, model: String?, maxTokens: Int, timeout: TimeInterval = 600, retries: Int = 4, retryDelay: TimeInterval = 0.5,
        stream: Bool = false, apiKey: String? = nil
    ) throws(EndpointError) {
        var text = base
        while text.hasSuffix("/") { text.removeLast() }
        if !text.hasSuffix("/chat/completions") { text += text.hasSuffix("/v1") ? "/chat/completions" : "/v1/chat/completions" }
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https" else { throw .invalidURL(base) }
        self.url = url
        self.model = model
        self.maxTokens = maxTokens
        self.timeout = timeout
        self.retries = max(0, retries)
        self.retryDelay = retryDelay
        self.stream = stream
        self.apiKey = apiKey ?? ProcessInfo.processInfo.environment["OPENAI_API_KEY"]
    }

    /// The body sent for `request`: the request as given (without ingot's `expected`) plus only the documented
    /// overrides: `model` and `max_tokens` when absent, temperature 0 when absent, and `stream` set by ``stream``
    /// in place of any `stream` key; `stream_options` (usage in the last chunk) only when streaming, since servers
    /// reject it otherwise.
    public func body(_ request: JSONValue) -> JSONValue {
        var members = request.members?.filter { !["expected", "stream", "stream_options"].contains($0.key) } ?? []
        if let model, !members.contains(where: { $0.key == "model" }) { members.append(("model", .string(model))) }
        if !members.contains(where: { $0.key == "temperature" }) { members.append(("temperature", .int(0))) }
        if !members.contains(where: { $0.key == "max_tokens" }) { members.append(("max_tokens", .int(maxTokens))) }
        members.append(("stream", .bool(stream)))
        if stream { members.append(("stream_options", .object([("include_usage", .bool(true))]))) }
        return .object(members)
    }

    /// Sends one request, retrying failures worth retrying with exponential backoff and jitter (a server's
    /// `Retry-After` seconds are honoured, up to 60), and parses its first choice.
    ///
    /// - Throws: ``EndpointError``.
    public func respond(_ request: JSONValue) throws(EndpointError) -> ToolCallOutcome {
        let data = try send(Data(body(request).compactText.utf8), to: url)
        return try stream ? parseEvents(data) : parse(data)
    }

    /// POSTs `payload` to `target` until it gets HTTP 200 or the retries are spent; returns the body.
    ///
    /// - Throws: ``EndpointError``.
    func send(_ payload: Data, to target: URL) throws(EndpointError) -> Data {
        var attempt = 0
        while true {
            attempt += 1
            let (data, status, error, retryAfter) = post(payload, to: target)
            let last = attempt > retries
            if let error {
                if !last {
                    pause(attempt, retryAfter: nil)
                    continue
                }
                throw .unreachable(url: target.absoluteString, reason: error.localizedDescription, attempts: attempt)
            }
            guard let data, status == 200 else {
                let code = status ?? 0
                if EndpointError.retryable(status: code) && !last {
                    pause(attempt, retryAfter: retryAfter)
                    continue
                }
                let text = data.map { String(decoding: $0.prefix(300), as: UTF8.self) } ?? ""
                throw .http(url: target.absoluteString, status: code, body: text, attempts: attempt)
            }
            return data
        }
    }

    private func pause(_ attempt: Int, retryAfter: TimeInterval?) {
        let backoff = min(30, retryDelay * Double(1 << min(attempt - 1, 16))) * Double.random(in: 0.5...1.0)
        Thread.sleep(forTimeInterval: retryAfter.map { min($0, 60) } ?? backoff)
    }

    private func post(_ payload: Data, to target: URL) -> (Data?, Int?, (any Error)?, TimeInterval?) {
        var http = URLRequest(url: target, timeoutInterval: timeout)
        http.httpMethod = "POST"
        http.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { http.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        http.httpBody = payload
        let box = ResponseBox()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: http) { data, response, error in
            let http = response as? HTTPURLResponse
            let retryAfter = http?.allHeaderFields.first { ($0.key as? String)?.lowercased() == "retry-after" }
                .flatMap { ($0.value as? String).flatMap(TimeInterval.init) }
            box.set(data: data, status: http?.statusCode, error: error, retryAfter: retryAfter)
            done.signal()
        }.resume()
        done.wait()
        return box.get()
    }

    private func parse(_ data: Data) throws(EndpointError) -> ToolCallOutcome {
        let json: JSONValue
        do { json = try data.withUnsafeBytes { try JSONValue.parse($0) } } catch {
            throw .badAnswer(url: url.absoluteString, reason: "the answer is not JSON (\(error))")
        }
        guard let choice = json["choices"]?.elements?.first, let message = choice["message"] else {
            throw .badAnswer(url: url.absoluteString, reason: "the answer has no choices[0].message")
        }
        let calls = (message["tool_calls"]?.elements ?? []).compactMap { c -> ToolCallOutcome.Call? in
            guard let name = c["function"]?["name"]?.stringValue else { return nil }
            let args = c["function"]?["arguments"]
            return .init(name: name, arguments: args?.stringValue ?? args?.compactText ?? "{}", id: c["id"]?.stringValue ?? "")
        }
        return ToolCallOutcome(
            calls: calls, content: message["content"]?.stringValue,
            reasoning: message["reasoning_content"]?.stringValue ?? message["reasoning"]?.stringValue, text: "",
            finishReason: choice["finish_reason"]?.stringValue, promptTokens: json["usage"]?["prompt_tokens"]?.intValue)
    }

    /// Assembles a streamed answer (docs/evaluation.md, "Endpoints"): `data:` lines of chat-completion chunks up to
    /// `data: [DONE]`; content and reasoning deltas are concatenated, tool-call deltas are grouped by their `index`
    /// (the id and name from the chunks that carry them, the argument pieces concatenated), the last finish reason
    /// and the usage chunk's prompt tokens are kept.
    func parseEvents(_ data: Data) throws(EndpointError) -> ToolCallOutcome {
        var content = "", reasoning = "", sawContent = false, sawReasoning = false, done = false
        var finish: String?, promptTokens: Int?
        var calls: [Int: (id: String, name: String, arguments: String)] = [:]
        for raw in data.split(separator: 0x0A) {
            var line = String(decoding: raw, as: UTF8.self)
            if line.hasSuffix("\r") { line.removeLast() }
            guard line.hasPrefix("data:") else { continue }  // comments, event names, blank keep-alives
            let payload = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
            if payload == "[DONE]" {
                done = true
                break
            }
            let chunk: JSONValue
            do { chunk = try JSONValue.parse(payload) } catch {
                throw .badAnswer(url: url.absoluteString, reason: "a streamed chunk is not JSON (\(error)): \(payload.prefix(200))")
            }
            if let error = chunk["error"] {
                throw .badAnswer(url: url.absoluteString, reason: "the stream reported an error: \(error.compactText.prefix(300))")
            }
            if let p = chunk["usage"]?["prompt_tokens"]?.intValue { promptTokens = p }
            guard let choice = chunk["choices"]?.elements?.first else { continue }
            if let delta = choice["delta"] {
                if let c = delta["content"]?.stringValue {
                    content += c
                    sawContent = true
                }
                if let r = delta["reasoning_content"]?.stringValue ?? delta["reasoning"]?.stringValue {
                    reasoning += r
                    sawReasoning = true
                }
                for (position, tc) in (delta["tool_calls"]?.elements ?? []).enumerated() {
                    let index = tc["index"]?.intValue ?? position
                    var call = calls[index] ?? ("", "", "")
                    if let id = tc["id"]?.stringValue, !id.isEmpty { call.id = id }
                    if let name = tc["function"]?["name"]?.stringValue, !name.isEmpty { call.name = name }
                    if let args = tc["function"]?["arguments"] { call.arguments += args.stringValue ?? args.compactText }
                    calls[index] = call
                }
            }
            if let f = choice["finish_reason"]?.stringValue { finish = f }
        }
        guard done else { throw .badAnswer(url: url.absoluteString, reason: "the stream ended without 'data: [DONE]'") }
        return ToolCallOutcome(
            calls: calls.sorted { $0.key < $1.key }.map { .init(name: $0.value.name, arguments: $0.value.arguments, id: $0.value.id) },
            content: sawContent ? content : nil, reasoning: sawReasoning ? reasoning : nil, text: "",
            finishReason: finish, promptTokens: promptTokens)
    }
}

/// The completion handler's result, handed across threads.
private final class ResponseBox: @unchecked Sendable {
    // Sendable: written once before the semaphore is signalled, read after it.
    private var data: Data?
    private var status: Int?
    private var error: (any Error)?
    private var retryAfter: TimeInterval?
    func set(data: Data?, status: Int?, error: (any Error)?, retryAfter: TimeInterval?) {
        self.data = data
        self.status = status
        self.error = error
        self.retryAfter = retryAfter
    }
    func get() -> (Data?, Int?, (any Error)?, TimeInterval?) { (data, status, error, retryAfter) }
}
