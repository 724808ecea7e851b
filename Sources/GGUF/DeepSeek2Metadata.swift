public import Checkpoint
import TensorIO

/// The `deepseek2` architecture metadata llama.cpp reads for DeepSeek-V3 and Kimi K2, built from config.json
/// the way llama.cpp's converter does (conversion/base.py `TextModel.set_gguf_parameters` and
/// conversion/deepseek.py `DeepseekV2Model.set_gguf_parameters`); docs/gguf-export.md lists every key.
///
/// MLA is expressed as MQA: `head_count_kv` is 1, `key_length` is kv_lora_rank + qk_rope_head_dim and
/// `value_length` is kv_lora_rank; the per-head MLA widths go to `key_length_mla` / `value_length_mla`.
public enum DeepSeek2Metadata {
    /// The architecture name.
    public static let architecture = "deepseek2"
    /// `general.quantization_version` (GGML_QNT_VERSION).
    public static let quantizationVersion: UInt32 = 2

    /// `expert_gating_func` codes (llama.cpp `llama_expert_gating_func_type`).
    public static func gatingFunction(_ scoring: String) -> UInt32? {
        switch scoring {
        case "softmax": 1
        case "sigmoid": 2
        default: nil
        }
    }

    /// The general and architecture keys, in the order llama.cpp's converter writes them.
    ///
    /// - Parameters:
    ///   - name: `general.name`.
    ///   - fileType: `general.file_type` (the type of the bulk of the weights).
    /// - Throws: ``GGUFError/unsupportedSource(tensor:reason:)`` for a scoring function llama.cpp has no code
    ///   for, or a YaRN `rope_scaling` without `original_max_position_embeddings`.
    public static func keys(_ config: ModelConfig, name: String, fileType: UInt32) throws(GGUFError) -> [(key: String, value: GGUFValue)] {
        let a = architecture
        func u32(_ v: Int) -> GGUFValue { .uint32(UInt32(v)) }
        var kv: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string(a)),
            ("general.name", .string(name)),
            ("\(a).block_count", u32(config.numHiddenLayers)),
            ("\(a).context_length", u32(config.maxPositionEmbeddings)),
            ("\(a).embedding_length", u32(config.hiddenSize)),
            ("\(a).feed_forward_length", u32(config.intermediateSize)),
            ("\(a).attention.head_count", u32(config.numAttentionHeads)),
            ("\(a).attention.head_count_kv", u32(1)),
        ]
        if let rope = config.ropeScaling {
            switch rope.type {
            case "yarn":
                guard let original = rope.originalMaxPositionEmbeddings else {
                    throw .unsupportedSource(
                        tensor: "config.json rope_scaling", reason: "YaRN needs original_max_position_embeddings")
                }
                kv += [
                    ("\(a).rope.scaling.type", .string("yarn")),
                    ("\(a).rope.scaling.factor", .float32(Float(rope.factor))),
                    ("\(a).rope.scaling.original_context_length", u32(original)),
                    ("\(a).rope.scaling.yarn_beta_fast", .float32(Float(rope.betaFast))),
                    ("\(a).rope.scaling.yarn_beta_slow", .float32(Float(rope.betaSlow))),
                ]
            case "linear":
                kv += [("\(a).rope.scaling.type", .string("linear")), ("\(a).rope.scaling.factor", .float32(Float(rope.factor)))]
            default:
                throw .unsupportedSource(tensor: "config.json rope_scaling", reason: "type '\(rope.type)' has no llama.cpp key")
            }
        }
        kv += [
            ("\(a).rope.freq_base", .float32(Float(config.ropeTheta))),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(Float(config.rmsNormEps))),
            ("\(a).expert_count", u32(config.nRoutedExperts)),
            ("\(a).expert_used_count", u32(config.numExpertsPerTok)),
            ("\(a).expert_group_count", u32(config.nGroup)),
            ("\(a).expert_group_used_count", u32(config.topkGroup)),
        ]
        guard let gating = gatingFunction(config.scoringFunc) else {
            throw .unsupportedSource(tensor: "config.json scoring_func", reason: "'\(config.scoringFunc)' is not sigmoid or softmax")
        }
        kv += [
            ("\(a).expert_gating_func", .uint32(gating)),
            ("general.file_type", .uint32(fileType)),
            ("\(a).leading_dense_block_count", u32(config.firstKDenseReplace)),
            ("\(a).vocab_size", u32(config.vocabSize)),
        ]
        if let q = config.qLoraRank { kv.append(("\(a).attention.q_lora_rank", u32(q))) }
        kv += [
            ("\(a).attention.kv_lora_rank", u32(config.kvLoraRank)),
            ("\(a).attention.key_length", u32(config.kvLoraRank + config.qkRopeHeadDim)),
            ("\(a).attention.value_length", u32(config.kvLoraRank)),
            ("\(a).attention.key_length_mla", u32(config.qkNopeHeadDim + config.qkRopeHeadDim)),
            ("\(a).attention.value_length_mla", u32(config.vHeadDim)),
            ("\(a).expert_feed_forward_length", u32(config.moeIntermediateSize)),
            ("\(a).expert_shared_count", u32(config.nSharedExperts)),
            ("\(a).expert_weights_scale", .float32(Float(config.routedScalingFactor))),
        ]
        if config.normTopkProb { kv.append(("\(a).expert_weights_norm", .bool(true))) }
        kv.append(("\(a).rope.dimension_count", u32(config.qkRopeHeadDim)))
        if let rope = config.ropeScaling, config.raw["rope_scaling"]?["mscale_all_dim"] != nil {
            // llama.cpp's deepseek2 convention: log multiplier = 0.1 × mscale_all_dim (its TAG_DEEPSEEK2_YARN_LOG_MUL_FIX).
            kv.append(("\(a).rope.scaling.yarn_log_multiplier", .float32(Float(0.1 * rope.mscaleAllDim))))
        }
        kv.append(("general.quantization_version", .uint32(quantizationVersion)))
        return kv
    }
}
