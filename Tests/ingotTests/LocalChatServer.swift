import Foundation
import TensorIO

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal OpenAI-compatible server on 127.0.0.1 (an ephemeral port) for endpoint tests: every POST body is
/// parsed as JSON and answered with `respond(body)` as a chat completion, or as server-sent events built from it
/// when the body asks for `stream`. One connection at a time.
final class LocalChatServer: @unchecked Sendable {
    // Sendable: `requests` is guarded by `lock`; the socket is owned by the accept thread.
    private(set) var port: UInt16
    private let fd: Int32
    private let respond: @Sendable (JSONValue) -> JSONValue
    /// Fault injection: the HTTP status of the n-th request (0-based); 200 answers with `respond`, 0 closes the
    /// connection without an answer.
    private let status: @Sendable (Int) -> Int
    private let lock = NSLock()
    private var seen: [JSONValue] = []
    private var seenAuthorization: [String?] = []

    var requests: [JSONValue] {
        lock.lock()
        defer { lock.unlock() }
        return seen
    }

    /// The Authorization header of every request, in order.
    var authorizations: [String?] {
        lock.lock()
        defer { lock.unlock() }
        return seenAuthorization
    }

    init(status: @escaping @Sendable (Int) -> Int = { _ in 200 }, respond: @escaping @Sendable (JSONValue) -> JSONValue) throws {
        self.respond = respond
        self.status = status
        port = 0
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { throw FileError(path: "127.0.0.1", operation: "bind") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        self.port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    var url: String { "http://127.0.0.1:\(port)" }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return }
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var bodyStart: Int?
        var contentLength = 0
        var authorization: String?
        while true {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            data += buffer[0..<n]
            if bodyStart == nil, let end = Self.find([13, 10, 13, 10], in: data) {
                bodyStart = end + 4
                let head = String(decoding: data[0..<end], as: UTF8.self)
                for line in head.split(separator: "\r\n") {
                    let lower = line.lowercased()
                    if lower.hasPrefix("content-length:") {
                        contentLength = Int(lower.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                    if lower.hasPrefix("authorization:") {
                        authorization = line.dropFirst("authorization:".count).trimmingCharacters(in: .whitespaces)
                    }
                }
            }
            if let start = bodyStart, data.count - start >= contentLength { break }
        }
        let body = Array(data[bodyStart!...])
        let request = (try? JSONValue.parse(String(decoding: body, as: UTF8.self))) ?? .null
        lock.lock()
        let n = seen.count
        seen.append(request)
        seenAuthorization.append(authorization)
        lock.unlock()
        let code = status(n)
        if code == 0 { return }  // dropped: the caller closes the connection unanswered
        let streaming = code == 200 && request["stream"] == .bool(true)
        let answer =
            streaming
            ? Array(Self.events(respond(request)).utf8)
            : Array((code == 200 ? respond(request) : .object([("error", .string("injected \(code)"))])).compactText.utf8)
        let header =
            "HTTP/1.1 \(code) \(code == 200 ? "OK" : "Error")\r\nContent-Type: \(streaming ? "text/event-stream" : "application/json")"
            + "\r\nContent-Length: \(answer.count)\r\n" + (code == 200 ? "" : "Retry-After: 0\r\n") + "Connection: close\r\n\r\n"
        let out = Array(header.utf8) + answer
        _ = out.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }

    /// A completion as server-sent events, the way streaming servers cut it: a role chunk, the content and the
    /// reasoning three characters at a time, each tool call's id and name in one chunk and its arguments in pieces
    /// of four characters, the finish reason, a usage chunk without choices, a comment line, `[DONE]`.
    static func events(_ completion: JSONValue) -> String {
        let choice = completion["choices"]?.elements?.first
        let message = choice?["message"]
        var chunks: [JSONValue] = [delta([("role", .string("assistant"))])]
        func pieces(_ text: String, _ n: Int) -> [String] {
            stride(from: 0, to: text.count, by: n).map { String(text.dropFirst($0).prefix(n)) }
        }
        for key in ["reasoning_content", "content"] {
            for p in pieces(message?[key]?.stringValue ?? "", 3) { chunks.append(delta([(key, .string(p))])) }
        }
        for (i, call) in (message?["tool_calls"]?.elements ?? []).enumerated() {
            let head: JSONValue = .object([
                ("index", .int(i)), ("id", call["id"] ?? .null), ("type", .string("function")),
                ("function", .object([("name", call["function"]?["name"] ?? .null), ("arguments", .string(""))])),
            ])
            chunks.append(delta([("tool_calls", .array([head]))]))
            for p in pieces(call["function"]?["arguments"]?.stringValue ?? "", 4) {
                let piece: JSONValue = .object([("index", .int(i)), ("function", .object([("arguments", .string(p))]))])
                chunks.append(delta([("tool_calls", .array([piece]))]))
            }
        }
        chunks.append(
            .object([
                (
                    "choices",
                    .array([.object([("index", .int(0)), ("delta", .object([])), ("finish_reason", choice?["finish_reason"] ?? .null)])])
                )
            ]))
        if let usage = completion["usage"] { chunks.append(.object([("choices", .array([])), ("usage", usage)])) }
        return ": keep-alive\n\n" + chunks.map { "data: \($0.compactText)\n\n" }.joined() + "data: [DONE]\n\n"
    }

    private static func delta(_ members: [(key: String, value: JSONValue)]) -> JSONValue {
        .object([("choices", .array([.object([("index", .int(0)), ("delta", .object(members)), ("finish_reason", .null)])]))])
    }

    /// A chat completion carrying `calls` (name, arguments JSON text) or `content`; `finish` replaces the finish reason a
    /// correct server gives, `promptTokens` adds a usage block, `reasoning` a reasoning_content.
    static func completion(
        content: String?, calls: [(String, String)], finish: String? = nil, promptTokens: Int? = nil, reasoning: String? = nil
    ) -> JSONValue {
        let toolCalls: [JSONValue] = calls.enumerated().map { i, c in
            .object([
                ("id", .string("functions.\(c.0):\(i)")), ("type", .string("function")),
                ("function", .object([("name", .string(c.0)), ("arguments", .string(c.1))])),
            ])
        }
        var message: [(key: String, value: JSONValue)] = [
            ("role", .string("assistant")), ("content", content.map { .string($0) } ?? .null),
        ]
        if let reasoning { message.append(("reasoning_content", .string(reasoning))) }
        if !toolCalls.isEmpty { message.append(("tool_calls", .array(toolCalls))) }
        var members: [(key: String, value: JSONValue)] = [
            ("id", .string("chatcmpl-test")), ("object", .string("chat.completion")),
            (
                "choices",
                .array([
                    .object([
                        ("index", .int(0)), ("message", .object(message)),
                        ("finish_reason", .string(finish ?? (toolCalls.isEmpty ? "stop" : "tool_calls"))),
                    ])
                ])
            ),
        ]
        if let promptTokens { members.append(("usage", .object([("prompt_tokens", .int(promptTokens)), ("completion_tokens", .int(5))]))) }
        return .object(members)
    }
}
