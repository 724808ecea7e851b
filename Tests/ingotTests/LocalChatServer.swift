import Foundation
import TensorIO

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal OpenAI-compatible server on 127.0.0.1 (an ephemeral port) for endpoint tests: every POST body is
/// parsed as JSON and answered with `respond(body)` as a chat completion. One connection at a time.
final class LocalChatServer: @unchecked Sendable {
    // Sendable: `requests` is guarded by `lock`; the socket is owned by the accept thread.
    private(set) var port: UInt16
    private let fd: Int32
    private let respond: @Sendable (JSONValue) -> JSONValue
    /// Fault injection: the HTTP status of the n-th request (0-based); 200 answers with `respond`.
    private let status: @Sendable (Int) -> Int
    private let lock = NSLock()
    private var seen: [JSONValue] = []

    var requests: [JSONValue] {
        lock.lock()
        defer { lock.unlock() }
        return seen
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
        while true {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            data += buffer[0..<n]
            if bodyStart == nil, let end = Self.find([13, 10, 13, 10], in: data) {
                bodyStart = end + 4
                let head = String(decoding: data[0..<end], as: UTF8.self).lowercased()
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let start = bodyStart, data.count - start >= contentLength { break }
        }
        let body = Array(data[bodyStart!...])
        let request = (try? JSONValue.parse(String(decoding: body, as: UTF8.self))) ?? .null
        lock.lock()
        let n = seen.count
        seen.append(request)
        lock.unlock()
        let code = status(n)
        let answer = Array((code == 200 ? respond(request) : .object([("error", .string("injected \(code)"))])).compactText.utf8)
        let header =
            "HTTP/1.1 \(code) \(code == 200 ? "OK" : "Error")\r\nContent-Type: application/json\r\nContent-Length: \(answer.count)\r\n"
            + (code == 200 ? "" : "Retry-After: 0\r\n") + "Connection: close\r\n\r\n"
        let out = Array(header.utf8) + answer
        _ = out.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }

    /// A chat completion carrying `calls` (name, arguments JSON text) or `content`.
    static func completion(content: String?, calls: [(String, String)]) -> JSONValue {
        let toolCalls: [JSONValue] = calls.enumerated().map { i, c in
            .object([
                ("id", .string("functions.\(c.0):\(i)")), ("type", .string("function")),
                ("function", .object([("name", .string(c.0)), ("arguments", .string(c.1))])),
            ])
        }
        var message: [(key: String, value: JSONValue)] = [
            ("role", .string("assistant")), ("content", content.map { .string($0) } ?? .null),
        ]
        if !toolCalls.isEmpty { message.append(("tool_calls", .array(toolCalls))) }
        return .object([
            ("id", .string("chatcmpl-test")), ("object", .string("chat.completion")),
            (
                "choices",
                .array([
                    .object([
                        ("index", .int(0)), ("message", .object(message)),
                        ("finish_reason", .string(toolCalls.isEmpty ? "stop" : "tool_calls")),
                    ])
                ])
            ),
        ])
    }
}
