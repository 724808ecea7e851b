public import Checkpoint
import Foundation

/// Everything the forward pass needs from config.json, derived once (docs/engine.md, "Forward pass"). Nothing K2-specific is
/// hard-coded: every dimension and constant comes from the model's own config.
public struct EngineConfig: Sendable {
    /// How the q_a / kv_a latent norms choose their epsilon (docs/engine.md, "Forward pass").
    public enum LatentNormEps: String, Sendable, CaseIterable {
        /// HF transformers and the remote code: the RMSNorm class default, 1e-6.
        case transformers
        /// vLLM: config.rms_norm_eps.
        case config
    }

    public let model: ModelConfig
    public let hidden: Int
    public let heads: Int
    public let qLoraRank: Int?
    public let kvLoraRank: Int
    public let nopeDim: Int
    public let ropeDim: Int
    public let valueDim: Int
    public let vocab: Int
    public let layers: Int
    public let rmsEps: Float
    /// Epsilon of q_a_layernorm and kv_a_layernorm.
    public let latentEps: Float
    /// Per rope pair j < ropeDim/2: the YaRN (or plain) inverse frequency, f32 as HF computes it.
    public let inverseFrequencies: [Float]
    /// cos/sin multiplier (YaRN attention factor; 1 for K2).
    public let ropeAttentionFactor: Float
    /// qk_head_dim^-0.5 × mscale² (YaRN with mscale_all_dim), the softmax scale.
    public let softmaxScale: Float
    /// How the routed experts' INT4 weights meet the activations (exact f32 unless asked otherwise).
    public var int4Activations: Int4Activations = .f32
    /// The highest instruction set the dense kernels may use (the CPU's best unless a test forces a lower one).
    public var isa: KernelISA = .best

    /// The arithmetic in use, named in every report: how INT4 experts and dense weights meet the activations, and the
    /// instruction set of the kernels.
    public var arithmetic: String {
        if int4Activations == .f32 {
            // Exact mode has no AVX512_BF16-specific kernel: on such CPUs the AVX-512 variants run.
            return "INT4 exact (f32 activations), dense f32, \(min(isa, .avx512)) kernels"
        }
        // q8_0: BF16 weights (but the router) × BF16-rounded activations, with VDPBF16PS arithmetic for few tokens
        // (the instruction on AVX512_BF16, a bit-identical replay on AVX-512F and in portable C, which AVX2 also
        // runs) and the f32 GEMM for many; the rest stays f32 (docs/engine.md, "Kernels and numerics").
        let bf16Kernels: String =
            switch isa {
            case .avx512bf16: "AVX-512 BF16"
            case .avx512: "AVX-512 replay"
            case .avx2, .portable: "portable C replay"
            }
        return
            "INT4 × Q8_0 activations, dense BF16 × BF16-rounded activations (llama.cpp's arithmetic; \(bf16Kernels)), "
            + "other dense f32, \(min(isa, .avx512)) kernels"
    }

    /// Derives the engine's constants.
    public init(_ model: ModelConfig, latentNormEps: LatentNormEps = .transformers) {
        self.model = model
        hidden = model.hiddenSize
        heads = model.numAttentionHeads
        qLoraRank = model.qLoraRank
        kvLoraRank = model.kvLoraRank
        nopeDim = model.qkNopeHeadDim
        ropeDim = model.qkRopeHeadDim
        valueDim = model.vHeadDim
        vocab = model.vocabSize
        layers = model.numHiddenLayers
        rmsEps = Float(model.rmsNormEps)
        latentEps = latentNormEps == .transformers ? 1e-6 : Float(model.rmsNormEps)
        let rope = EngineConfig.rope(model)
        inverseFrequencies = rope.inverseFrequencies
        ropeAttentionFactor = rope.attentionFactor
        var scale = 1 / Double(model.qkHeadDim).squareRoot()
        if let s = model.ropeScaling, s.type == "yarn", s.mscaleAllDim != 0 {
            let m = EngineConfig.yarnMscale(s.factor, s.mscaleAllDim)
            scale *= m * m
        }
        softmaxScale = Float(scale)
    }

    /// `0.1 × mscale × ln(factor) + 1` for factor > 1, else 1 (HF's yarn_get_mscale).
    static func yarnMscale(_ factor: Double, _ mscale: Double) -> Double {
        factor <= 1 ? 1 : 0.1 * mscale * log(factor) + 1
    }

    /// Inverse frequencies and attention factor as HF's `_compute_yarn_parameters` (truncate = true) or the default
    /// rope computes them: powers in f32 like torch (`base ** (arange(0, dim, 2).float() / dim)`).
    static func rope(_ model: ModelConfig) -> (inverseFrequencies: [Float], attentionFactor: Float) {
        let dim = model.qkRopeHeadDim, base = Float(model.ropeTheta)
        let pos: [Float] = (0..<(dim / 2)).map { j in Float(pow(Double(base), Double(Float(2 * j) / Float(dim)))) }
        let extrapolation = pos.map { 1 / $0 }
        guard let s = model.ropeScaling, s.type == "yarn" else { return (extrapolation, 1) }
        let factor = Float(s.factor)
        let interpolation = pos.map { 1 / (factor * $0) }
        let original = Double(s.originalMaxPositionEmbeddings ?? model.maxPositionEmbeddings)
        func correctionDim(_ rotations: Double) -> Double {
            Double(dim) * log(original / (rotations * 2 * Double.pi)) / (2 * log(Double(base)))
        }
        let low = max(floor(correctionDim(s.betaFast)), 0)
        var high = min(ceil(correctionDim(s.betaSlow)), Double(dim - 1))
        if low == high { high += 0.001 }
        var frequencies = [Float](repeating: 0, count: dim / 2)
        for j in 0..<(dim / 2) {
            let ramp = min(max((Float(j) - Float(low)) / (Float(high) - Float(low)), 0), 1)
            let keep = 1 - ramp
            frequencies[j] = interpolation[j] * (1 - keep) + extrapolation[j] * keep
        }
        let attention: Double
        if s.mscale != 0 && s.mscaleAllDim != 0 {
            attention = yarnMscale(s.factor, s.mscale) / yarnMscale(s.factor, s.mscaleAllDim)
        } else {
            attention = yarnMscale(s.factor, 1)
        }
        return (frequencies, Float(attention))
    }

    /// Rows of q per head (nope + rope).
    public var qHeadDim: Int { nopeDim + ropeDim }
    /// Values per token in the latent cache: the normalised compressed KV and the rotated shared key.
    public var latentWidth: Int { kvLoraRank + ropeDim }
    /// True for MoE layers.
    public func isMoE(_ layer: Int) -> Bool { model.isMoELayer(layer) }
}
