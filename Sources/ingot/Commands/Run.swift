import ArgumentParser
import Chat
import Checkpoint
import Evaluation
import Foundation
import Inference
import TensorIO
import Tokenizer

extension Ingot {
    struct Run: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate tokens with ingot's reference CPU engine (checkpoint or bundle).",
            discussion: """
                Greedy by default; --temperature > 0 samples with --top-p and --seed. Stops at max tokens or at an \
                end-of-sequence id from config.json. Prints the prompt and generated ids and tokens/s of prefill and \
                decode (on stderr in text mode).
                """)

        @OptionGroup var engineOptions: EngineOptions

        @Option(help: "Prompt token ids, comma-separated (e.g. 3,1,4).")
        var tokens: String?

        @Option(help: "Prompt text, tokenized with the model's tokenizer (tiktoken.model + tokenizer_config.json beside the weights).")
        var prompt: String?

        @Option(
            help:
                "An OpenAI chat request (JSON with messages and tools): rendered with the K2 template, answered until <|im_end|>, tool calls parsed."
        )
        var request: String?

        @Option(help: "Chat template for --request: thinking (K2-Thinking) or instruct (K2-Instruct).")
        var template: ChatRenderer.Variant = .thinking

        @Option(help: "Tokens to generate at most.")
        var maxTokens: Int = 32

        @Option(help: "Sampling temperature; 0 is greedy.")
        var temperature: Float = 0

        @Option(help: "Nucleus sampling: keep the smallest set of tokens whose probability reaches P.")
        var topP: Float = 1

        @Option(help: "Seed of the sampler.")
        var seed: UInt64 = 0

        @Flag(help: "Print a JSON document on stdout.")
        var json = false

        func validate() throws {
            guard [tokens, prompt, request].compactMap({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --tokens, --prompt and --request")
            }
            if let tokens { _ = try parseTokenList(tokens, flag: "--tokens") }
            guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1, got \(maxTokens)") }
            guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0, got \(temperature)") }
            guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
        }

        func execute() throws {
            let engine = try engineOptions.engine()
            let sampler = Sampler(temperature: temperature, topP: topP, seed: seed)
            if let request {
                try answer(request: request, engine: engine, sampler: sampler)
                return
            }
            let tokenizer = try prompt.map { _ in try loadTokenizer(engineOptions.model) }
            let ids = try tokens.map { try parseTokenList($0, flag: "--tokens") } ?? tokenizer!.encode(prompt!, allowSpecial: true)
            var stop = Set(engine.config.model.eosTokenIds)
            if let end = tokenizer?.specialID("<|im_end|>") { stop.insert(end) }
            let result = try engine.generate(prompt: ids, maxTokens: maxTokens, sampler: sampler, stop: stop)
            let text = try tokenizer.map { try $0.decode(result.generated) }
            if json {
                var doc: [(key: String, value: JSONValue)] = [
                    ("model", .string(engineOptions.model)),
                    ("prompt", .array(result.prompt.map { .int($0) })),
                    ("generated", .array(result.generated.map { .int($0) })),
                ]
                if let text { doc.append(("text", .string(text))) }
                doc += [
                    ("arithmetic", .string(engine.config.arithmetic)), ("isa", .string(engine.config.isa.name)),
                    ("threads", .int(engine.threads)),
                    ("prefill_seconds", .double(result.prefillSeconds)),
                    ("prefill_tokens_per_second", .double(result.prefillRate)),
                    ("decode_seconds", .double(result.decodeSeconds)),
                    ("decode_tokens_per_second", .double(result.decodeRate)),
                ]
                print(JSONValue.object(doc).prettyText)
            } else {
                if let text { print(text) } else { print("generated: " + result.generated.map(String.init).joined(separator: ",")) }
                printNote(
                    String(
                        format: "prefill: %d tokens in %.3f s (%.1f tokens/s); decode: %d tokens in %.3f s (%.2f tokens/s); %@",
                        result.prompt.count, result.prefillSeconds, result.prefillRate, max(0, result.generated.count - 1),
                        result.decodeSeconds, result.decodeRate, engine.config.arithmetic))
            }
        }

        /// Renders a chat request, answers it and prints content, reasoning and the parsed tool calls.
        func answer(request path: String, engine: InferenceEngine, sampler: Sampler) throws {
            let data = try FileContents.read(path)
            let value = try data.withUnsafeBytes { try JSONValue.parse($0) }
            let responder = ChatResponder(
                engine: engine, tokenizer: try loadTokenizer(engineOptions.model),
                renderer: ChatRenderer(variant: template),
                maxTokens: maxTokens, sampler: sampler)
            let (outcome, result) = try responder.respond(value, tools: value["tools"]?.elements ?? [])
            let calls: [JSONValue] = outcome.calls.map { c in
                .object([("id", .string(c.id)), ("name", .string(c.name)), ("arguments", .string(c.arguments))])
            }
            if json {
                print(
                    JSONValue.object([
                        ("content", outcome.content.map { .string($0) } ?? .null),
                        ("reasoning", outcome.reasoning.map { .string($0) } ?? .null),
                        ("tool_calls", .array(calls)), ("prompt_tokens", .int(result.prompt.count)),
                        ("generated_tokens", .int(result.generated.count)),
                        ("prefill_tokens_per_second", .double(result.prefillRate)),
                        ("decode_tokens_per_second", .double(result.decodeRate)),
                    ]).prettyText)
            } else {
                if let r = outcome.reasoning { print("reasoning: \(r)") }
                if let c = outcome.content { print("content: \(c)") }
                for c in outcome.calls { print("tool call: \(c.id.isEmpty ? c.name : c.id) \(c.arguments)") }
                if outcome.calls.isEmpty && outcome.content == nil { print("(no content, no tool call)") }
                printNote(
                    String(
                        format: "prefill: %d tokens in %.3f s (%.1f tokens/s); decode: %d tokens in %.3f s (%.2f tokens/s)",
                        result.prompt.count,
                        result.prefillSeconds, result.prefillRate, max(0, result.generated.count - 1), result.decodeSeconds,
                        result.decodeRate))
            }
        }
    }
}
