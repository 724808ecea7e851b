public import Foundation
public import TensorIO

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The log-probabilities a server reports for the token after a prompt (docs/evaluation.md, "Logits from a server").
public struct NextTokenLogProbs: Sendable {
    public struct Entry: Sendable, Equatable {
        /// The token id when the server says it (mlx_lm.server does); nil when it gives only the token's text.
        public var id: Int?
        public var token: String
        public var logprob: Double
    }
    /// The server's top-k, most likely first.
    public var top: [Entry]
    /// `usage.prompt_tokens`: how many tokens the server made of the prompt.
    public var promptTokens: Int?
}

extension OpenAIEndpoint {
    /// How a completions request asks for top-k log-probs: `logprobs: true` with `top_logprobs: k` (mlx_lm.server,
    /// the chat convention) or `logprobs: k` (OpenAI's legacy completions, vLLM).
    public enum LogprobStyle: String, Sendable { case chat, legacy }

    /// The server's `/v1/completions` address (the chat address with `/chat` removed).
    public var completionsURL: URL {
        var text = url.absoluteString
        if text.hasSuffix("/chat/completions") { text.removeLast("/chat/completions".count) }
        return URL(string: text + "/completions") ?? url
    }

    /// The body of a one-token completion of `prompt` at temperature 0 asking for the top-`k` log-probs.
    public func logprobsBody(prompt: String, k: Int, style: LogprobStyle) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        if let model { members.append(("model", .string(model))) }
        members += [("prompt", .string(prompt)), ("max_tokens", .int(1)), ("temperature", .int(0)), ("stream", .bool(false))]
        switch style {
        case .chat: members += [("logprobs", .bool(true)), ("top_logprobs", .int(k))]
        case .legacy: members.append(("logprobs", .int(k)))
        }
        return .object(members)
    }

    /// Completes `prompt` by one token and returns the top-`k` log-probs of that position, in either answer shape
    /// (`choices[0].logprobs.content[0].top_logprobs`, a list of `{id?, token, logprob}`, or the legacy
    /// `choices[0].logprobs.top_logprobs[0]`, an object `{token: logprob}`).
    ///
    /// - Throws: ``EndpointError``; `.badAnswer` when the answer has no log-probs.
    public func nextTokenLogProbs(prompt: String, k: Int, style: LogprobStyle) throws(EndpointError) -> NextTokenLogProbs {
        let target = completionsURL
        let data = try send(Data(logprobsBody(prompt: prompt, k: k, style: style).compactText.utf8), to: target)
        let json: JSONValue
        do { json = try data.withUnsafeBytes { try JSONValue.parse($0) } } catch {
            throw .badAnswer(url: target.absoluteString, reason: "the answer is not JSON (\(error))")
        }
        return try Self.parseLogProbs(json, url: target.absoluteString)
    }

    /// The top log-probs of a completions answer (both shapes); see ``nextTokenLogProbs(prompt:k:style:)``.
    ///
    /// - Throws: ``EndpointError/badAnswer(url:reason:)`` when the answer carries none.
    public static func parseLogProbs(_ json: JSONValue, url: String) throws(EndpointError) -> NextTokenLogProbs {
        let logprobs = json["choices"]?.elements?.first?["logprobs"]
        var top: [NextTokenLogProbs.Entry] = []
        if let first = logprobs?["content"]?.elements?.first, let list = first["top_logprobs"]?.elements {
            for e in list {
                guard let lp = e["logprob"]?.doubleValue else { continue }
                top.append(.init(id: e["id"]?.intValue, token: e["token"]?.stringValue ?? "", logprob: lp))
            }
        } else if let first = logprobs?["top_logprobs"]?.elements?.first, let members = first.members {
            for (token, value) in members {
                if let lp = value.doubleValue { top.append(.init(id: nil, token: token, logprob: lp)) }
            }
        }
        guard !top.isEmpty else {
            throw .badAnswer(url: url, reason: "the answer has no top log-probs (choices[0].logprobs): \(json.compactText.prefix(300))")
        }
        top.sort { $0.logprob > $1.logprob }
        return NextTokenLogProbs(top: top, promptTokens: json["usage"]?["prompt_tokens"]?.intValue)
    }
}
