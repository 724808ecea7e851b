import ArgumentParser
import Checkpoint
import Foundation
import Quantization
import TensorIO

extension Ingot {
    struct Quantize: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Quantize a BF16 or FP8-block checkpoint to compressed-tensors pack-quantized INT4/INT8 (K2-Thinking's form).",
            discussion: """
                Targets and ignore patterns come from the recipe (--recipe, or the built-in one matching config.json). \
                --scheme overrides its weight arguments: w4a16-g32, w4a16-g128, w8a16-g32, w4a16-asym-g32, … \
                Streams shard by shard; the output folder must be new or empty.
                """)

        @Argument(help: "The source checkpoint (BF16 or FP8 blocks).")
        var source: String
        @Option(name: .shortAndLong, help: "Output folder.")
        var output: String
        @Option(help: "Recipe YAML (default: the built-in recipe matching config.json).")
        var recipe: String?
        @Option(help: "Weight scheme overriding the recipe's: w{4|8}a16[-asym]-g{GROUP}.")
        var scheme: String?
        @Option(help: "Rounding grid: rtn (compressed-tensors, levels −8…7) or qat (K2's grid, levels −7…7); default: the recipe's.")
        var grid: GroupQuantizer.Grid?
        @OptionGroup var threading: ThreadingOptions
        @OptionGroup var space: SpaceCheckOptions
        @OptionGroup var slice: ShardOptions
        @Flag(help: "No progress output.")
        var quiet = false

        func validate() throws {
            if let scheme, Self.parseScheme(scheme) == nil {
                throw ValidationError("--scheme '\(scheme)' is not w{4|8}a16[-asym]-g{GROUP}, e.g. w4a16-g32")
            }
            // A slice shares its folder with the other slices (the library checks they belong to one job).
            if slice.shard == nil, let entries = try? FileManager.default.contentsOfDirectory(atPath: output), !entries.isEmpty {
                throw ValidationError("\(output) is not empty; quantize writes into a new or empty folder")
            }
        }

        /// "w4a16-g32" → int4 symmetric group 32; "w8a16-asym-g64" → int8 asymmetric group 64.
        static func parseScheme(_ text: String) -> QuantizationArgs? {
            let parts = text.lowercased().split(separator: "-")
            guard parts.count == 2 || parts.count == 3, parts.first == "w4a16" || parts.first == "w8a16",
                let last = parts.last, last.hasPrefix("g"), let group = Int(last.dropFirst()), group > 0
            else { return nil }
            if parts.count == 3 && parts[1] != "asym" { return nil }
            return QuantizationArgs(
                numBits: parts[0] == "w4a16" ? 4 : 8, type: "int", symmetric: parts.count == 2, strategy: "group",
                groupSize: group)
        }

        func execute() throws {
            let config = try ModelConfig(path: (try ModelLocation.resolve(source)).file("config.json"))
            let r = try Recipe.resolve(path: recipe, config: config)
            var schemeConfig = r.scheme
            if let scheme, let args = Self.parseScheme(scheme) {
                schemeConfig = CompressedTensorsConfig(
                    format: "pack-quantized",
                    groups: r.scheme.groups.map { ConfigGroup(name: $0.name, targets: $0.targets, weights: args) },
                    ignore: r.scheme.ignore)
            }
            let gridChoice = grid ?? (r.grid == .qat ? .qatGrid : .compressedTensors)
            let bar = ProgressBar(label: "quantize", total: 1, quiet: quiet)
            let started = Date()
            var options = CheckpointQuantizer.Options(scheme: schemeConfig, grid: gridChoice, threads: threading.threads) { done, total in
                bar.update(done, total: total)
            }
            options.checkSpace = space.enabled
            options.shard = try slice.resolved()
            let summary = try CheckpointQuantizer.run(source: source, output: output, options: options)
            bar.finish()
            print(
                "wrote \(output): \(summary.quantizedModules) modules quantized (recipe \(r.name), grid \(gridChoice.rawValue)), "
                    + "\(summary.copiedTensors) tensors copied, \(formatBytes(summary.outputBytes)) in "
                    + String(format: "%.1f s", Date().timeIntervalSince(started)))
        }
    }
}
