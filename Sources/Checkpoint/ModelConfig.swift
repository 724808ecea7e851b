public import Foundation
public import TensorIO

/// `config.json` of a DeepSeek-V3-family model (DeepSeek-V3, Kimi K2 Instruct and Thinking).
///
/// Structural fields are required: a missing one is ``CheckpointError/missingField(file:field:)``.
/// Fields with a documented transformers default fall back to it (named beside each field). Every
/// field, known or not, stays in ``raw``.
public struct ModelConfig: Sendable {
    /// The file it came from.
    public let file: String
    /// The whole JSON object, unknown fields included.
    public let raw: JSONValue

    public let modelType: String
    public let architectures: [String]
    public let vocabSize: Int
    public let hiddenSize: Int
    /// Dense MLP width (the first `firstKDenseReplace` layers).
    public let intermediateSize: Int
    /// Routed and shared expert width.
    public let moeIntermediateSize: Int
    public let numHiddenLayers: Int
    public let firstKDenseReplace: Int
    /// Default 1.
    public let moeLayerFreq: Int
    public let nRoutedExperts: Int
    public let numExpertsPerTok: Int
    public let nSharedExperts: Int
    public let nGroup: Int
    public let topkGroup: Int
    /// Default "noaux_tc".
    public let topkMethod: String
    /// Default "sigmoid".
    public let scoringFunc: String
    public let routedScalingFactor: Double
    public let normTopkProb: Bool
    public let numAttentionHeads: Int
    /// Default: numAttentionHeads (no effect in MLA).
    public let numKeyValueHeads: Int
    /// nil when queries are projected directly (`q_proj`), as in DeepSeek-V2-Lite.
    public let qLoraRank: Int?
    public let kvLoraRank: Int
    public let qkNopeHeadDim: Int
    public let qkRopeHeadDim: Int
    public let vHeadDim: Int
    /// Default "silu".
    public let hiddenAct: String
    /// Default false.
    public let attentionBias: Bool
    public let ropeTheta: Double
    /// The `rope_scaling` object, nil when absent.
    public let ropeScaling: RopeScaling?
    public let maxPositionEmbeddings: Int
    public let rmsNormEps: Double
    /// Default false.
    public let tieWordEmbeddings: Bool
    public let bosTokenId: Int?
    /// One id or several.
    public let eosTokenIds: [Int]
    public let padTokenId: Int?
    /// Default 0 (no MTP layers stored).
    public let numNextnPredictLayers: Int
    /// Default "bfloat16".
    public let torchDtype: String
    /// Parsed `quantization_config`, nil when absent.
    public let quantization: QuantizationConfig?

    /// `rope_scaling` (YaRN for K2 and DeepSeek-V3).
    public struct RopeScaling: Sendable, Equatable {
        /// "yarn", "linear", … (`type` or `rope_type`).
        public let type: String
        public let factor: Double
        public let originalMaxPositionEmbeddings: Int?
        public let betaFast: Double
        public let betaSlow: Double
        public let mscale: Double
        public let mscaleAllDim: Double

        /// Creates a value (tests and synthetic configs).
        public init(
            type: String, factor: Double, originalMaxPositionEmbeddings: Int?, betaFast: Double, betaSlow: Double,
            mscale: Double, mscaleAllDim: Double
        ) {
            self.type = type
            self.factor = factor
            self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
            self.betaFast = betaFast
            self.betaSlow = betaSlow
            self.mscale = mscale
            self.mscaleAllDim = mscaleAllDim
        }
    }

    /// Parses config.json text.
    ///
    /// - Throws: ``CheckpointError`` naming the field.
    public init(json: JSONValue, file: String) throws(CheckpointError) {
        guard json.members != nil else {
            throw .invalidField(file: file, field: "(top level)", found: json.kindName, expected: "an object")
        }
        let r = ConfigReader(json: json, file: file)
        self.file = file
        raw = json
        modelType = try r.string("model_type")
        architectures = try r.strings("architectures")
        vocabSize = try r.int("vocab_size", min: 1)
        hiddenSize = try r.int("hidden_size", min: 1)
        intermediateSize = try r.int("intermediate_size", min: 1)
        moeIntermediateSize = try r.int("moe_intermediate_size", min: 1)
        numHiddenLayers = try r.int("num_hidden_layers", min: 1)
        firstKDenseReplace = try r.int("first_k_dense_replace")
        moeLayerFreq = try r.int("moe_layer_freq", default: 1, min: 1)
        nRoutedExperts = try r.int("n_routed_experts")
        numExpertsPerTok = try r.int("num_experts_per_tok", min: 1)
        nSharedExperts = try r.int("n_shared_experts")
        nGroup = try r.int("n_group", min: 1)
        topkGroup = try r.int("topk_group", min: 1)
        topkMethod = try r.string("topk_method", default: "noaux_tc")
        scoringFunc = try r.string("scoring_func", default: "sigmoid")
        routedScalingFactor = try r.double("routed_scaling_factor")
        normTopkProb = try r.bool("norm_topk_prob", default: true)
        numAttentionHeads = try r.int("num_attention_heads", min: 1)
        numKeyValueHeads = try r.int("num_key_value_heads", default: numAttentionHeads, min: 1)
        qLoraRank = try r.optionalInt("q_lora_rank", min: 1)
        kvLoraRank = try r.int("kv_lora_rank", min: 1)
        qkNopeHeadDim = try r.int("qk_nope_head_dim", min: 1)
        qkRopeHeadDim = try r.int("qk_rope_head_dim", min: 2)
        vHeadDim = try r.int("v_head_dim", min: 1)
        hiddenAct = try r.string("hidden_act", default: "silu")
        attentionBias = try r.bool("attention_bias", default: false)
        ropeTheta = try r.double("rope_theta")
        maxPositionEmbeddings = try r.int("max_position_embeddings", min: 1)
        rmsNormEps = try r.double("rms_norm_eps")
        tieWordEmbeddings = try r.bool("tie_word_embeddings", default: false)
        bosTokenId = try r.optionalInt("bos_token_id")
        eosTokenIds = try r.ints("eos_token_id")
        padTokenId = try r.optionalInt("pad_token_id")
        numNextnPredictLayers = try r.int("num_nextn_predict_layers", default: 0)
        torchDtype = try r.string("torch_dtype", default: "bfloat16")
        if let s = try r.object("rope_scaling") {
            let type: String
            if let t = try s.optionalString("type") { type = t } else { type = try s.string("rope_type") }
            ropeScaling = RopeScaling(
                type: type,
                factor: try s.double("factor"),
                originalMaxPositionEmbeddings: try s.optionalInt("original_max_position_embeddings", min: 1),
                betaFast: try s.double("beta_fast", default: 32),
                betaSlow: try s.double("beta_slow", default: 1),
                mscale: try s.double("mscale", default: 1),
                mscaleAllDim: try s.double("mscale_all_dim", default: 0))
        } else {
            ropeScaling = nil
        }
        if let q = try r.object("quantization_config") {
            quantization = try QuantizationConfig(reader: q)
        } else {
            quantization = nil
        }
        try checkConsistency()
    }

    /// Reads and parses `path`.
    ///
    /// - Throws: ``CheckpointError`` or ``FileError``.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError.missingFile(path: path) }
        let mapping = try MappedFile(path: path)
        let json: JSONValue
        do {
            json = try JSONValue.parse(mapping.bytes)
        } catch {
            throw CheckpointError.invalidJSON(file: path, reason: error.description)
        }
        try self.init(json: json, file: path)
    }

    private func checkConsistency() throws(CheckpointError) {
        if nRoutedExperts > 0 && numExpertsPerTok > nRoutedExperts {
            throw .invalidField(
                file: file, field: "num_experts_per_tok", found: String(numExpertsPerTok),
                expected: "at most n_routed_experts (\(nRoutedExperts))")
        }
        if nRoutedExperts > 0 && nRoutedExperts % nGroup != 0 {
            throw .invalidField(
                file: file, field: "n_group", found: String(nGroup),
                expected: "a divisor of n_routed_experts (\(nRoutedExperts))")
        }
        if topkGroup > nGroup {
            throw .invalidField(file: file, field: "topk_group", found: String(topkGroup), expected: "at most n_group (\(nGroup))")
        }
        if firstKDenseReplace > numHiddenLayers {
            throw .invalidField(
                file: file, field: "first_k_dense_replace", found: String(firstKDenseReplace),
                expected: "at most num_hidden_layers (\(numHiddenLayers))")
        }
    }

    /// True when layer `layer` is a MoE layer (DeepSeek-V3's rule: past the dense prefix, every
    /// `moe_layer_freq`-th layer, and only when there are routed experts).
    public func isMoELayer(_ layer: Int) -> Bool {
        nRoutedExperts > 0 && layer >= firstKDenseReplace && layer % moeLayerFreq == 0
    }

    /// Query/key head width: nope + rope parts.
    public var qkHeadDim: Int { qkNopeHeadDim + qkRopeHeadDim }

    /// Number of MoE layers.
    public var moeLayerCount: Int { (0..<numHiddenLayers).filter(isMoELayer).count }
}
