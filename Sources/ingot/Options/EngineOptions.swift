import ArgumentParser
import Foundation
import Inference

/// The model and engine knobs shared by `run`, `logits` and the evaluation commands.
struct EngineOptions: ParsableArguments {
    @Argument(help: "A checkpoint (file, folder, sharded, HF cache; BF16, FP8 block or INT4 pack-quantized) or an ingot bundle.")
    var model: String

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(
        help: ArgumentHelp(
            "Epsilon of the q_a/kv_a latent norms: transformers (1e-6, the HF class default) or config (rms_norm_eps, as vLLM).",
            valueName: "transformers|config"))
    var latentNormEps: String = "transformers"

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard EngineConfig.LatentNormEps(rawValue: latentNormEps) != nil else {
            throw ValidationError("--latent-norm-eps must be transformers or config, got \(latentNormEps)")
        }
    }

    /// Opens the model and builds the engine.
    func engine() throws -> InferenceEngine {
        try InferenceEngine(
            source: openWeights(model), threads: threads, latentNormEps: EngineConfig.LatentNormEps(rawValue: latentNormEps)!)
    }
}

/// Parses "3,1,4" or "3 1 4" into token ids.
func parseTokenList(_ text: String, flag: String) throws -> [Int] {
    let parts = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" })
    let ids = parts.compactMap { Int($0) }
    guard ids.count == parts.count, !ids.isEmpty else {
        throw ValidationError("\(flag) needs comma-separated token ids such as 3,1,4; got \"\(text)\"")
    }
    return ids
}
