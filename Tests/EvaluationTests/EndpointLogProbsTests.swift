import Foundation
import TensorIO
import Testing

@testable import Evaluation

/// The two answer shapes of a completions request for top log-probs (docs/evaluation.md, "Logits from a server").
@Suite("server top log-probs")
struct EndpointLogProbsTests {
    @Test("mlx_lm.server's shape (ids), OpenAI's legacy shape (token texts), and an answer without log-probs")
    func shapes() throws {
        let mlx = try JSONValue.parse(
            #"{"choices":[{"logprobs":{"content":[{"id":7,"token":"a","logprob":-0.1,"top_logprobs":[{"id":9,"token":"b","logprob":-2.5},{"id":7,"token":"a","logprob":-0.1}]}]}}],"usage":{"prompt_tokens":12}}"#
        )
        let a = try OpenAIEndpoint.parseLogProbs(mlx, url: "u")
        #expect(a.top.map(\.id) == [7, 9] && a.top.map(\.logprob) == [-0.1, -2.5] && a.promptTokens == 12)
        let legacy = try JSONValue.parse(#"{"choices":[{"logprobs":{"tokens":[" the"],"top_logprobs":[{" the":-0.5," a":-1.25}]}}]}"#)
        let b = try OpenAIEndpoint.parseLogProbs(legacy, url: "u")
        #expect(b.top.map(\.token) == [" the", " a"] && b.top.allSatisfy { $0.id == nil } && b.promptTokens == nil)
        let none = try JSONValue.parse(#"{"choices":[{"text":"x"}]}"#)
        #expect(throws: EndpointError.self) { try OpenAIEndpoint.parseLogProbs(none, url: "u") }
    }

    @Test("the request bodies of both styles, and the completions address from any base")
    func bodies() throws {
        let endpoint = try OpenAIEndpoint(base: "http://127.0.0.1:9/v1", model: "m", maxTokens: 1)
        #expect(endpoint.completionsURL.absoluteString == "http://127.0.0.1:9/v1/completions")
        let chat = endpoint.logprobsBody(prompt: "p", k: 10, style: .chat)
        #expect(chat["logprobs"] == .bool(true) && chat["top_logprobs"]?.intValue == 10 && chat["max_tokens"]?.intValue == 1)
        let legacy = endpoint.logprobsBody(prompt: "p", k: 5, style: .legacy)
        #expect(legacy["logprobs"]?.intValue == 5 && legacy["top_logprobs"] == nil && legacy["model"]?.stringValue == "m")
    }
}
