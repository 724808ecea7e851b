public import Foundation
import Inference
public import TensorIO

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A candidate served by an OpenAI-compatible server (a vLLM or SGLang deployment): the same chat requests are
/// POSTed to `/v1/chat/completions` (temperature 0 unless the request says otherwise) and the answer's
/// `tool_calls` are compared like an engine's.
public struct OpenAIEndpoint: Sendable {
    public let url: URL
    public let model: String?
    public let maxTokens: Int
    public let timeout: TimeInterval

    /// `base` may be the server root (`http://host:8000`), `/v1`, or the full `/v1/chat/completions` address.
    public init(base: String, model: String?, maxTokens: Int, timeout: TimeInterval = 600) throws {
        var text = base
        while text.hasSuffix("/") { text.removeLast() }
        if !text.hasSuffix("/chat/completions") { text += text.hasSuffix("/v1") ? "/chat/completions" : "/v1/chat/completions" }
        guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https" else {
            throw InferenceError.badRequest("--endpoint \(base) is not an http(s) URL")
        }
        self.url = url
        self.model = model
        self.maxTokens = maxTokens
        self.timeout = timeout
    }

    /// Sends one request and parses its first choice.
    public func respond(_ request: JSONValue) throws -> ToolCallOutcome {
        var members: [(key: String, value: JSONValue)] = request.members?.filter { $0.key != "expected" } ?? []
        if let model, !members.contains(where: { $0.key == "model" }) { members.append(("model", .string(model))) }
        if !members.contains(where: { $0.key == "temperature" }) { members.append(("temperature", .int(0))) }
        if !members.contains(where: { $0.key == "max_tokens" }) { members.append(("max_tokens", .int(maxTokens))) }
        members.append(("stream", .bool(false)))
        var http = URLRequest(url: url, timeoutInterval: timeout)
        http.httpMethod = "POST"
        http.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let key = ProcessInfo.processInfo.environment["OPENAI_API_KEY"] {
            http.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        }
        http.httpBody = Data(JSONValue.object(members).compactText.utf8)
        let box = ResponseBox()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: http) { data, response, error in
            box.set(data: data, status: (response as? HTTPURLResponse)?.statusCode, error: error)
            done.signal()
        }.resume()
        done.wait()
        let (data, status, error) = box.get()
        if let error { throw InferenceError.badRequest("\(url.absoluteString): \(error.localizedDescription)") }
        guard let data, status == 200 else {
            let body = data.map { String(decoding: $0.prefix(300), as: UTF8.self) } ?? ""
            throw InferenceError.badRequest("\(url.absoluteString): HTTP \(status ?? 0) \(body)")
        }
        let json: JSONValue
        do { json = try data.withUnsafeBytes { try JSONValue.parse($0) } } catch {
            throw InferenceError.badRequest("\(url.absoluteString): the answer is not JSON (\(error))")
        }
        guard let message = json["choices"]?.elements?.first?["message"] else {
            throw InferenceError.badRequest("\(url.absoluteString): the answer has no choices[0].message")
        }
        let calls = (message["tool_calls"]?.elements ?? []).compactMap { c -> ToolCallOutcome.Call? in
            guard let name = c["function"]?["name"]?.stringValue else { return nil }
            let args = c["function"]?["arguments"]
            return .init(name: name, arguments: args?.stringValue ?? args?.compactText ?? "{}")
        }
        return ToolCallOutcome(
            calls: calls, content: message["content"]?.stringValue,
            reasoning: message["reasoning_content"]?.stringValue ?? message["reasoning"]?.stringValue, text: "")
    }
}

/// The completion handler's result, handed across threads.
private final class ResponseBox: @unchecked Sendable {
    // Sendable: written once before the semaphore is signalled, read after it.
    private var data: Data?
    private var status: Int?
    private var error: (any Error)?
    func set(data: Data?, status: Int?, error: (any Error)?) {
        self.data = data
        self.status = status
        self.error = error
    }
    func get() -> (Data?, Int?, (any Error)?) { (data, status, error) }
}
