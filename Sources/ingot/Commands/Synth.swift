public import ArgumentParser
import Checkpoint
import Foundation
import TensorIO

extension Ingot {
    struct Synth: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a synthetic checkpoint in exactly Kimi K2 Thinking's on-disk form (fixtures, benchmarks).",
            discussion: """
                Presets: tiny (a few hundred KB), small (a few MB), k2 (real K2 dimensions; one MoE layer is about \
                8.9 GB of experts, so pass --layers). Layer 0 is dense, later layers MoE. The same seed gives the same bytes.
                """)

        @Option(help: "Size preset: \(SyntheticCheckpoint.Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
        var preset: SyntheticCheckpoint.Preset = .tiny
        @Option(help: "Number of layers (layer 0 dense, the rest MoE); default: the preset's (k2: 61).")
        var layers: Int?
        @Option(help: "Routed experts per MoE layer; default: the preset's (k2: 384).")
        var experts: Int?
        @Option(help: "Weight form: int4 (K2-Thinking), bf16 (unquantized), fp8 (K2-Instruct blocks).")
        var form: SyntheticCheckpoint.Form = .int4
        @Option(help: "Random seed; the output's bytes depend only on it and the sizes.")
        var seed: UInt64 = 0
        @Option(name: .shortAndLong, help: "Output folder (created; must not already hold a checkpoint).")
        var output: String
        @OptionGroup var threading: ThreadingOptions
        @OptionGroup var space: SpaceCheckOptions
        @Flag(help: "No progress output.")
        var quiet = false

        func validate() throws {
            if let layers, layers < 1 { throw ValidationError("--layers must be at least 1, got \(layers)") }
            if let experts, experts < 1 { throw ValidationError("--experts must be at least 1, got \(experts)") }
            let index = (output as NSString).appendingPathComponent("model.safetensors.index.json")
            if FileManager.default.fileExists(atPath: index) {
                throw ValidationError("\(output) already holds a checkpoint; choose an empty folder")
            }
        }

        func execute() throws {
            var options = SyntheticCheckpoint.Options(preset: preset, layers: layers, experts: experts, seed: seed, form: form)
            options.checkSpace = space.enabled
            var bar: ProgressBar?
            let started = Date()
            let summary = try SyntheticCheckpoint.write(to: output, options: options, threads: threading.threads) { p in
                if bar == nil { bar = ProgressBar(label: "synth", total: p.bytesTotal, quiet: quiet) }
                bar?.update(p.bytesDone, detail: p.shard)
            }
            bar?.finish()
            let seconds = Date().timeIntervalSince(started)
            print(
                "wrote \(summary.folder): \(summary.shards.count) shards, \(summary.tensorCount) tensors, "
                    + "\(formatBytes(summary.dataBytes)) in \(String(format: "%.1f", seconds)) s "
                    + "(\(formatBytes(Int(Double(summary.dataBytes) / max(seconds, 1e-9))))/s)")
        }
    }
}

extension SyntheticCheckpoint.Preset: ExpressibleByArgument {}
extension SyntheticCheckpoint.Form: ExpressibleByArgument {}
