import ArgumentParser
import BundleFormat
import Checkpoint
import Foundation
import GGUF
import TensorIO

extension Ingot.Export {
    struct Gguf: IngotCommand {
        static let configuration = CommandConfiguration(
            commandName: "gguf",
            abstract: "Export a K2-Thinking checkpoint or bundle to GGUF (llama.cpp's deepseek2), routed experts as lossless Q4_0.",
            discussion: """
                Routed experts become Q4_0 by a direct nibble reorder with BF16→F16 scales: exact whenever every scale is \
                exact in F16 (reported per group; exit 1 when any is not). Dense weights are BF16 by default (--dense-type \
                or the recipe's gguf.dense_type), norms, router and router bias F32. Tokenizer keys come from tiktoken.model \
                and tokenizer_config.json when the folder has them. A bundle exports the same bytes as its checkpoint. \
                See docs/gguf-export.md.
                """)

        @Argument(help: "The checkpoint folder (config.json, safetensors shards) or an ingot bundle.")
        var source: String
        @Option(name: .shortAndLong, help: "Output file (FILE.gguf); with --split-max-size, FILE-00001-of-0000N.gguf and so on.")
        var output: String
        @Option(help: "Largest tensor data per split, e.g. 50G, 500M (decimal units, as llama-gguf-split).")
        var splitMaxSize: String?
        @Option(help: "Recipe YAML (default: the built-in recipe matching config.json) for gguf.dense_type.")
        var recipe: String?
        @Option(help: "Dense weight type (overrides the recipe).")
        var denseType: ExportPlan.DenseType?
        @Option(help: "general.name (default: the source folder's name without a .bundle suffix).")
        var name: String?
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var space: SpaceCheckOptions
        @OptionGroup var slice: ShardOptions
        @Flag(help: "No progress output.")
        var quiet = false

        /// "500M" → 500_000_000; "12" → 12; K, M, G are powers of 1000.
        static func parseSize(_ text: String) -> Int? {
            let units: [Character: Int] = ["K": 1000, "M": 1_000_000, "G": 1_000_000_000]
            guard let last = text.uppercased().last else { return nil }
            if let unit = units[last] {
                guard let n = Int(text.dropLast()), n > 0 else { return nil }
                return n * unit
            }
            guard let n = Int(text), n > 0 else { return nil }
            return n
        }

        func validate() throws {
            if let splitMaxSize, Self.parseSize(splitMaxSize) == nil {
                throw ValidationError(GGUFError.invalidSize(text: splitMaxSize).errorDescription ?? "bad size")
            }
            if slice.shard != nil && splitMaxSize == nil {
                throw ValidationError("--shard writes a slice of the split files: give --split-max-size too")
            }
        }

        func execute() throws {
            let folder = try tokenizerFolder(source)
            let config = try ModelConfig(path: (folder as NSString).appendingPathComponent("config.json"))
            let dense: ExportPlan.DenseType
            if let denseType {
                dense = denseType
            } else {
                let r = try Recipe.resolve(path: recipe, config: config)
                guard let fromRecipe = ExportPlan.DenseType(rawValue: r.ggufDenseType) else {
                    throw CheckpointError.invalidField(
                        file: recipe ?? "built-in recipe \(r.name)", field: "gguf.dense_type", found: r.ggufDenseType,
                        expected: ExportPlan.DenseType.allCases.map(\.rawValue).joined(separator: ", "))
                }
                dense = fromRecipe
            }
            if !FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("tiktoken.model")) {
                printNote("note: \(folder) has no tiktoken.model; the GGUF has no tokenizer keys (llama.cpp needs them to run it)")
            }
            let bar = ProgressBar(label: "export gguf", total: 1, quiet: quiet)
            let started = Date()
            var options = GGUFExporter.Options(
                denseType: dense, splitMaxBytes: splitMaxSize.flatMap(Self.parseSize), name: try name ?? Self.defaultName(source)
            ) { done, total in bar.update(done, total: total) }
            options.checkSpace = space.enabled
            options.shard = try slice.resolved()
            let report = try GGUFExporter.run(source: source, output: output, options: options)
            bar.finish()
            let seconds = Date().timeIntervalSince(started)
            if outputOptions.json {
                print(report.json(seconds: seconds).prettyText)
            } else {
                print(report.text(seconds: seconds))
            }
            if !report.isLossless { throw ExitCode(1) }
        }

        /// The checkpoint folder's name, or the bundle folder's without a `.bundle` suffix (so `repack X -o X.bundle`
        /// exports the same bytes as X).
        static func defaultName(_ source: String) throws -> String { try modelName(source) }
    }
}
