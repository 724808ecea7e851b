import ArgumentParser
import Foundation
import Inference

/// The model and engine knobs shared by `run`, `logits` and the evaluation commands.
struct EngineOptions: ParsableArguments {
    @Argument(help: "A checkpoint (file, folder, sharded, HF cache; BF16, FP8 block or INT4 pack-quantized) or an ingot bundle.")
    var model: String

    @OptionGroup var threading: ThreadingOptions

    /// `--threads`.
    var threads: Int { threading.threads }

    @Option(
        help: ArgumentHelp(
            "Epsilon of the q_a/kv_a latent norms: transformers (1e-6, the HF class default) or config (rms_norm_eps, as vLLM).",
            valueName: "transformers|config"))
    var latentNormEps: EngineConfig.LatentNormEps = .transformers

    @Option(
        help: ArgumentHelp(
            "How weights meet the activations: f32 (exact, the reference) or q8_0 (llama.cpp's arithmetic: for INT4 experts activations rounded to Q8_0 per 32 values and integer dot products, as for Q4_0; for BF16 weights but the router activations rounded to BF16 and AVX512_BF16 dot products; faster, not exact).",
            valueName: "f32|q8_0"))
    var int4Activations: Int4Activations = .f32

    @Option(
        help: ArgumentHelp(
            "The highest instruction set the kernels may use (default: the best this CPU has; lower ones for comparison).",
            valueName: "portable|avx2|avx512|avx512bf16"))
    var isa: KernelISA = .best

    func validate() throws {
        guard isa <= KernelISA.best else {
            throw ValidationError("--isa \(isa.name): this CPU's best is \(KernelISA.best.name)")
        }
    }

    /// Opens the model and builds the engine.
    func engine() throws -> InferenceEngine {
        try InferenceEngine(
            source: openWeights(model), threads: threads, latentNormEps: latentNormEps, int4Activations: int4Activations, isa: isa)
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
