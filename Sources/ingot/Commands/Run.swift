import ArgumentParser
import Checkpoint
import Foundation
import Inference
import TensorIO

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

        @Option(help: "Prompt text (needs tiktoken.model and tokenizer_config.json beside the weights).")
        var prompt: String?

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
            guard (tokens == nil) != (prompt == nil) else { throw ValidationError("give exactly one of --tokens and --prompt") }
            if let tokens { _ = try parseTokenList(tokens, flag: "--tokens") }
            guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1, got \(maxTokens)") }
            guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0, got \(temperature)") }
            guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
        }

        func execute() throws {
            let engine = try engineOptions.engine()
            let ids: [Int]
            if let tokens {
                ids = try parseTokenList(tokens, flag: "--tokens")
            } else {
                throw InferenceError.badRequest(
                    "--prompt needs the K2 tokenizer, which this build does not have yet; pass --tokens")
            }
            let stop = Set(engine.config.model.eosTokenIds)
            let result = try engine.generate(
                prompt: ids, maxTokens: maxTokens, sampler: Sampler(temperature: temperature, topP: topP, seed: seed), stop: stop)
            if json {
                let doc = JSONValue.object([
                    ("model", .string(engineOptions.model)),
                    ("prompt", .array(result.prompt.map { .int($0) })),
                    ("generated", .array(result.generated.map { .int($0) })),
                    ("prefill_seconds", .double(result.prefillSeconds)),
                    ("prefill_tokens_per_second", .double(result.prefillRate)),
                    ("decode_seconds", .double(result.decodeSeconds)),
                    ("decode_tokens_per_second", .double(result.decodeRate)),
                ])
                print(doc.prettyText)
            } else {
                print("generated: " + result.generated.map(String.init).joined(separator: ","))
                printNote(
                    String(
                        format: "prefill: %d tokens in %.3f s (%.1f tokens/s); decode: %d tokens in %.3f s (%.2f tokens/s)",
                        result.prompt.count, result.prefillSeconds, result.prefillRate, max(0, result.generated.count - 1),
                        result.decodeSeconds, result.decodeRate))
            }
        }
    }
}
