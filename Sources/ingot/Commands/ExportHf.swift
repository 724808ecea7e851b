import ArgumentParser
import Foundation
import HFExport
import TensorIO

extension Ingot.Export {
    struct Hf: IngotCommand {
        static let configuration = CommandConfiguration(
            commandName: "hf",
            abstract: "Export a checkpoint or bundle as a Hugging Face folder that transformers and mlx-lm load without remote code.",
            discussion: """
                The weights stay exactly as the source has them (hard links where the filesystem allows, else copies; a \
                bundle is unpacked), config.json becomes model_type deepseek_v3 with every other key kept, and the \
                tokenizer is added as tokenizer.json (byte-level BPE over the same ranks) with tokenizer_config.json \
                naming PreTrainedTokenizerFast and carrying the chat template. tiktoken.model stays, so ingot reads the \
                folder as before. See docs/hf-export.md.
                """)

        @Argument(help: "The checkpoint folder (config.json, safetensors shards) or an ingot bundle.")
        var source: String
        @Option(name: .shortAndLong, help: "Output folder (new or empty).")
        var output: String
        @Flag(help: "Copy the weight files instead of hard-linking them.")
        var copy = false
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var space: SpaceCheckOptions
        @Flag(help: "No progress output.")
        var quiet = false

        func execute() throws {
            let bar = ProgressBar(label: "export hf", total: 1, quiet: quiet)
            let started = Date()
            let report = try HFExporter.run(
                source: source, output: output, options: .init(copy: copy, checkSpace: space.enabled)
            ) { done, total in bar.update(done, total: total) }
            bar.finish()
            let seconds = Date().timeIntervalSince(started)
            print(outputOptions.json ? report.json(seconds: seconds).prettyText : report.text(seconds: seconds))
        }
    }
}
