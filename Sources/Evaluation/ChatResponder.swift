public import Chat
import Checkpoint
import Foundation
public import Inference
public import TensorIO
public import Tokenizer

/// Answers chat requests with the engine: render with the K2 template, generate until `<|im_end|>`, parse.
public struct ChatResponder: Sendable {
    public let engine: InferenceEngine
    public let tokenizer: BPETokenizer
    public let renderer: ChatRenderer
    public let maxTokens: Int
    public let sampler: Sampler

    public init(
        engine: InferenceEngine, tokenizer: BPETokenizer, renderer: ChatRenderer = ChatRenderer(), maxTokens: Int = 256,
        sampler: Sampler = Sampler()
    ) {
        self.engine = engine
        self.tokenizer = tokenizer
        self.renderer = renderer
        self.maxTokens = maxTokens
        self.sampler = sampler
    }

    /// The stop ids: `<|im_end|>` and config.json's end-of-sequence ids.
    public var stopIDs: Set<Int> {
        var s = Set(engine.config.model.eosTokenIds)
        if let e = tokenizer.specialID("<|im_end|>") { s.insert(e) }
        return s
    }

    /// Prompt ids of a request.
    public func promptIDs(_ request: JSONValue) throws -> [Int] { try renderer.renderIDs(request: request, tokenizer: tokenizer) }

    /// Generates and parses one answer.
    public func respond(_ request: JSONValue, tools: [JSONValue]) throws -> (outcome: ToolCallOutcome, result: GenerationResult) {
        let prompt = try promptIDs(request)
        let stop = stopIDs
        let result = try engine.generate(prompt: prompt, maxTokens: maxTokens, sampler: sampler, stop: stop)
        let body = result.generated.last.map { stop.contains($0) } == true ? Array(result.generated.dropLast()) : result.generated
        let text = try tokenizer.decode(body)
        let parsed = ToolCallParser(reasoning: .auto, tools: ToolSignature.from(tools: tools)).parse(text)
        let begin = tokenizer.specialID("<|tool_calls_section_begin|>")
        let stopped = result.generated.last.map { stop.contains($0) } == true
        // The finish reason a server reports for the same generation.
        let finish = !parsed.toolCalls.isEmpty ? "tool_calls" : stopped ? "stop" : "length"
        return (
            ToolCallOutcome(
                calls: parsed.toolCalls.map { .init(name: $0.name, arguments: $0.arguments, id: $0.id) }, content: parsed.content,
                reasoning: parsed.reasoning,
                text: text, tokens: result.generated, sectionStart: begin.flatMap { result.generated.firstIndex(of: $0) },
                finishReason: finish, promptTokens: prompt.count),
            result
        )
    }
}
