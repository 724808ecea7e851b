import Foundation
import TensorIO
import TestSupport
import Testing

/// `eval parity --endpoint --text` against local test doubles of a legacy-completions server (OpenAI's `logprobs: k`
/// answer shape, token texts instead of ids): the request style falls back when the first one is refused or read as
/// one log-prob (docs/evaluation.md, "Logits from a server"). The real mlx_lm.server runs in MLXServerTests.
@Suite("server logits: the legacy request style")
struct ServerLogitsTests {
    static let k2mini = fixturesFolder() + "/k2-mini"

    /// A legacy answer: ten token texts with log-probs (k2-mini's vocabulary does not matter: texts that are not one
    /// token are left out of the KLD's top-k set).
    static func legacy(_ entries: Int) -> JSONValue {
        let top = JSONValue.object((0..<entries).map { ("t\($0)", .number(String(-0.5 - Double($0)))) })
        return .object([
            ("choices", .array([.object([("text", .string("t0")), ("logprobs", .object([("top_logprobs", .array([top]))]))])]))
        ])
    }

    func run(_ server: LocalChatServer) throws -> JSONValue {
        let r = try runIngot([
            "eval", "parity", Self.k2mini + "/int4", "--endpoint", server.url, "--text", Self.k2mini + "/eval.txt", "--ctx", "32",
            "--chunks",
            "1", "--json", "--quiet", "--no-thresholds", "--retries", "0", "--concurrency", "1",
        ])
        #expect(r.status == 0, "\(r.err)")
        return try #require(try JSONValue.parse(r.out)["server_logits"])
    }

    @Test("a server that refuses logprobs: true (HTTP 400) is asked with logprobs: k")
    func refusedChatStyle() throws {
        let server = try LocalChatServer(status: { $0 == 0 ? 400 : 200 }) { _ in Self.legacy(10) }
        let logits = try run(server)
        #expect(logits["request_style"]?.stringValue == "legacy" && logits["compared"]?.intValue == 15, "\(logits.compactText)")
        let sent = server.requests
        #expect(sent.first?["logprobs"] == .bool(true) && sent.first?["top_logprobs"]?.intValue == 10)
        #expect(
            sent.dropFirst().allSatisfy { $0["logprobs"]?.intValue == 10 && $0["top_logprobs"] == nil && $0["max_tokens"]?.intValue == 1 })
    }

    /// mlx-lm 0.32.2's server fails on a prompt equal to a cached sequence (prompt + generated token), so a chunk's
    /// prefixes are asked every other one first, then the rest: never one token longer than the previous request.
    @Test("teacher-forced prefixes are asked in two passes, every other one first")
    func twoPassOrder() throws {
        let server = try LocalChatServer { _ in Self.legacy(10) }
        let logits = try run(server)
        let compared = try #require(logits["compared"]?.intValue)
        // The last `compared` requests are the positions' (before them: the style probes on the whole chunk).
        let lengths = server.requests.suffix(compared).compactMap { $0["prompt"]?.stringValue?.utf8.count }
        #expect(lengths.count == compared && compared > 4, "\(logits.compactText)")
        let ranks = lengths.map { l in lengths.filter { $0 < l }.count }
        let n = lengths.count
        #expect(ranks == Array(stride(from: 0, to: n, by: 2)) + Array(stride(from: 1, to: n, by: 2)), "\(ranks)")
    }

    @Test("a server that reads logprobs: true as one log-prob is asked again with logprobs: k")
    func oneLogProbForTrue() throws {
        let server = try LocalChatServer { body in Self.legacy(body["logprobs"] == .bool(true) ? 1 : 10) }
        let logits = try run(server)
        #expect(logits["request_style"]?.stringValue == "legacy" && logits["compared"]?.intValue == 15, "\(logits.compactText)")
        #expect(server.requests.dropFirst().allSatisfy { $0["logprobs"]?.intValue == 10 })
    }
}
