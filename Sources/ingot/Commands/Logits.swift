import ArgumentParser
import Foundation
import Inference
import TensorIO

extension Ingot {
    struct Logits: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the f32 logits of every position of a token sequence to a safetensors file.",
            discussion: """
                The file holds one tensor `logits` of shape [T, vocab] (F32) and `tokens` (I64 [T]): the stable \
                interface for comparing ingot with other implementations. --stream-layers evaluates layer by layer \
                with one layer's weights resident (for models larger than RAM); the logits are the same, bit for bit.
                """)

        @OptionGroup var engineOptions: EngineOptions

        @Option(help: "Token ids, comma-separated (e.g. 3,1,4,1,5).")
        var tokens: String

        @Option(name: .shortAndLong, help: "Output .safetensors file (written atomically).")
        var output: String

        @Flag(help: "Layer-streamed evaluation (one layer's weights resident at a time).")
        var streamLayers = false

        @Flag(help: "No progress output.")
        var quiet = false

        func validate() throws { _ = try parseTokenList(tokens, flag: "--tokens") }

        func execute() throws {
            let ids = try parseTokenList(tokens, flag: "--tokens")
            let engine = try engineOptions.engine()
            let start = DispatchTime.now().uptimeNanoseconds
            let logits: [Float]
            if streamLayers {
                let bar = ProgressBar(label: "layers", total: engine.config.layers, quiet: quiet, unit: "layers")
                logits = try engine.logitsStreamed([ids], progress: { l in bar.update(l + 1, total: engine.config.layers) })[0]
                bar.finish()
            } else {
                logits = try engine.logits(ids)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let vocab = engine.config.vocab
            let writer = try SafetensorsWriter(
                path: output,
                tensors: [
                    TensorSpec(name: "logits", dtype: .f32, shape: [ids.count, vocab]),
                    TensorSpec(name: "tokens", dtype: .i64, shape: [ids.count]),
                ],
                metadata: ["producer": "ingot logits", "model": engineOptions.model])
            while let next = writer.nextTensor {
                if next.name == "logits" {
                    try logits.withUnsafeBytes { try writer.write($0) }
                } else {
                    try ids.map { Int64($0).littleEndian }.withUnsafeBytes { try writer.write($0) }
                }
            }
            try writer.finish()
            printNote(
                String(
                    format: "wrote %@: logits [%d, %d] in %.3f s (%.1f tokens/s)", output, ids.count, vocab, seconds,
                    Double(ids.count) / seconds))
        }
    }
}
