import ArgumentParser
import Evaluation
import Foundation
import Inference
import TensorIO

extension Ingot {
    struct Profile: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count expert usage per MoE layer over a text and/or tool-call requests (input of repack --expert-order).")

        @OptionGroup var engineOptions: EngineOptions
        @OptionGroup var textOptions: TextOptions

        @Option(help: "Tokens per chunk of the text.")
        var ctx: Int = 512

        @Option(help: "JSONL of chat requests with tools: their rendered prompts are profiled too.")
        var toolcalls: String?

        @Option(
            name: .shortAndLong, help: "Output usage JSON {\"tokens\": N, \"layers\": {\"1\": [count per expert], …}} (written atomically)."
        )
        var output: String

        @Flag(help: "No progress output.")
        var quiet = false

        func validate() throws {
            guard textOptions.given || toolcalls != nil else { throw ValidationError("give --text (or --tokens-file) and/or --toolcalls") }
            guard ctx >= 2 else { throw ValidationError("--ctx must be at least 2") }
        }

        func execute() throws {
            let engine = try engineOptions.engine()
            var sequences: [[Int]] = []
            if textOptions.given {
                let tokens = try textOptions.tokens(model: engineOptions.model)
                sequences += stride(from: 0, to: tokens.count, by: ctx).map { Array(tokens[$0..<min(tokens.count, $0 + ctx)]) }
            }
            if let toolcalls {
                let responder = ChatResponder(engine: engine, tokenizer: try loadTokenizer(engineOptions.model))
                sequences += try ToolCallRequest.load(toolcalls).map { try responder.promptIDs($0.request) }
            }
            let bar = ProgressBar(label: "profile", total: sequences.count, quiet: quiet, unit: "sequences")
            let usage = try ExpertUsage.profile(engine: engine, sequences: sequences) { d, t in bar.update(d, total: t) }
            bar.finish()
            try AtomicFile.write(Array((usage.json.prettyText + "\n").utf8), to: output)
            printNote("wrote \(output): \(usage.tokens) tokens, \(usage.counts.filter { !$0.isEmpty }.count) MoE layers")
        }
    }
}
