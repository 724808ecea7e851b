public import Foundation
public import TensorIO

/// Writes synthetic checkpoints in exactly K2-Thinking's on-disk form: its config.json field set and
/// quantization_config, its tensor names and dtypes, `weight_shape` tensors, K2's shard naming
/// (`model-00001-of-000062.safetensors`: one shard per layer plus one for the head) and an index.
///
/// Values are realistic, not trained: INT4 levels −7..7 only (K2's QAT grid, never −8) with a bell
/// shape, BF16 group scales log-uniform in [1e-3, 1e-2], dense weights ≈ N(0, 0.02), norms ≈ 1.
/// Every byte depends only on (seed, tensor name, position), so output is identical for a seed
/// whatever the thread count, and can be checked by hash.
public enum SyntheticCheckpoint {
    /// Size presets.
    public enum Preset: String, CaseIterable, Sendable {
        /// The smallest K2-shaped model (tens of KB): 2 layers, 2 experts; for exhaustive tests.
        case micro
        /// A few hundred KB for unit tests.
        case tiny
        /// A few MB: more experts and layers, still quick.
        case small
        /// Kimi K2's real dimensions (hidden 7168, 384 experts × 2048); one MoE layer ≈ 8.9 GB of experts.
        case k2
    }

    /// What to generate.
    public struct Options: Sendable {
        public var preset: Preset
        /// Number of layers (layer 0 dense, the rest MoE); nil = the preset's.
        public var layers: Int?
        /// Routed experts per MoE layer; nil = the preset's.
        public var experts: Int?
        public var seed: UInt64
        /// dtype of `weight_shape` (compressed-tensors writes I64).
        public var weightShapeDType: DType
        /// On-disk form of the weights.
        public var form: Form
        /// Refuse at once when the output will not fit (docs/operations.md, "Space").
        public var checkSpace = true

        /// Creates options.
        public init(
            preset: Preset, layers: Int? = nil, experts: Int? = nil, seed: UInt64 = 0, weightShapeDType: DType = .i64,
            form: Form = .int4
        ) {
            self.preset = preset
            self.layers = layers
            self.experts = experts
            self.seed = seed
            self.weightShapeDType = weightShapeDType
            self.form = form
        }
    }

    /// Which checkpoint form to write.
    public enum Form: String, CaseIterable, Sendable {
        /// K2-Thinking: routed experts INT4 pack-quantized group 32, the rest BF16.
        case int4
        /// Unquantized BF16 everywhere (a source for `ingot quantize`).
        case bf16
        /// K2-Instruct / DeepSeek-V3: FP8 E4M3 128×128 blocks with F32 weight_scale_inv.
        case fp8
    }

    /// Progress of a write: bytes of tensor data done out of the total.
    public struct Progress: Sendable {
        public let bytesDone: Int
        public let bytesTotal: Int
        public let shard: String
    }

    /// What was written.
    public struct Summary: Sendable {
        public let folder: String
        public let shards: [String]
        public let tensorCount: Int
        public let dataBytes: Int
    }

    /// K2-Thinking's config.json field set with the preset's dimensions.
    public static func configJSON(_ options: Options) -> JSONValue {
        struct Dims {
            var vocab, hidden, inter, moeInter, layers, experts, topK, heads, qLora, kvLora, nope, rope, v: Int
            var yarnFactor: Double; var originalMax: Int
        }
        var d: Dims
        switch options.preset {
        case .micro:
            d = Dims(
                vocab: 256, hidden: 32, inter: 32, moeInter: 32, layers: 2, experts: 2, topK: 1, heads: 1, qLora: 32,
                kvLora: 32, nope: 8, rope: 8, v: 8, yarnFactor: 4, originalMax: 64)
        case .tiny:
            d = Dims(
                vocab: 512, hidden: 64, inter: 128, moeInter: 32, layers: 3, experts: 8, topK: 2, heads: 2, qLora: 32,
                kvLora: 32, nope: 16, rope: 8, v: 16, yarnFactor: 4, originalMax: 64)
        case .small:
            d = Dims(
                vocab: 4096, hidden: 256, inter: 512, moeInter: 128, layers: 4, experts: 16, topK: 4, heads: 4, qLora: 64,
                kvLora: 64, nope: 32, rope: 16, v: 32, yarnFactor: 8, originalMax: 512)
        case .k2:
            d = Dims(
                vocab: 163_840, hidden: 7168, inter: 18432, moeInter: 2048, layers: 61, experts: 384, topK: 8, heads: 64,
                qLora: 1536, kvLora: 512, nope: 128, rope: 64, v: 128, yarnFactor: 64, originalMax: 4096)
        }
        if let l = options.layers { d.layers = l }
        if let e = options.experts {
            d.experts = e
            d.topK = min(d.topK, e)
        }
        let base = d.vocab - 256  // K2's special block occupies the last 256 ids
        // K2-Thinking's quantization_config comes from its built-in recipe (recipes/kimi-k2-thinking.yaml).
        let quantization = Recipe.builtin(named: "kimi-k2-thinking").scheme
        let i = JSONValue.int
        let fp8Config = JSONValue.object([
            ("activation_scheme", .string("dynamic")), ("fmt", .string("e4m3")), ("quant_method", .string("fp8")),
            ("weight_block_size", .array([.int(128), .int(128)])),
        ])
        let members: [(key: String, value: JSONValue)] = [
            ("architectures", .array([.string("DeepseekV3ForCausalLM")])),
            ("attention_bias", .bool(false)),
            ("attention_dropout", .number("0.0")),
            (
                "auto_map",
                .object([
                    ("AutoConfig", .string("configuration_deepseek.DeepseekV3Config")),
                    ("AutoModel", .string("modeling_deepseek.DeepseekV3Model")),
                    ("AutoModelForCausalLM", .string("modeling_deepseek.DeepseekV3ForCausalLM")),
                ])
            ),
            ("aux_loss_alpha", .number("0.001")),
            ("bos_token_id", i(base)),
            ("eos_token_id", i(base + 2)),
            ("ep_size", i(1)),
            ("first_k_dense_replace", i(1)),
            ("hidden_act", .string("silu")),
            ("hidden_size", i(d.hidden)),
            ("initializer_range", .number("0.02")),
            ("intermediate_size", i(d.inter)),
            ("kv_lora_rank", i(d.kvLora)),
            ("max_position_embeddings", i(d.originalMax * Int(d.yarnFactor))),
            ("model_type", .string("kimi_k2")),
            ("moe_intermediate_size", i(d.moeInter)),
            ("moe_layer_freq", i(1)),
            ("n_group", i(1)),
            ("n_routed_experts", i(d.experts)),
            ("n_shared_experts", i(1)),
            ("norm_topk_prob", .bool(true)),
            ("num_attention_heads", i(d.heads)),
            ("num_experts_per_tok", i(d.topK)),
            ("num_hidden_layers", i(d.layers)),
            ("num_key_value_heads", i(d.heads)),
            ("num_nextn_predict_layers", i(0)),
            ("pad_token_id", i(d.vocab - 1)),
            ("pretraining_tp", i(1)),
            ("q_lora_rank", i(d.qLora)),
            ("qk_nope_head_dim", i(d.nope)),
            ("qk_rope_head_dim", i(d.rope)),
            (
                "quantization_config",
                options.form == .int4
                    ? quantization.json
                    : options.form == .fp8 ? fp8Config : .null
            ),
            ("rms_norm_eps", .number("1e-05")),
            (
                "rope_scaling",
                .object([
                    ("beta_fast", .number("1.0")),
                    ("beta_slow", .number("1.0")),
                    ("factor", .double(d.yarnFactor)),
                    ("mscale", .number("1.0")),
                    ("mscale_all_dim", .number("1.0")),
                    ("original_max_position_embeddings", i(d.originalMax)),
                    ("type", .string("yarn")),
                ])
            ),
            ("rope_theta", .number("50000.0")),
            ("routed_scaling_factor", .number("2.827")),
            ("scoring_func", .string("sigmoid")),
            ("seq_aux", .bool(true)),
            ("tie_word_embeddings", .bool(false)),
            ("topk_group", i(1)),
            ("topk_method", .string("noaux_tc")),
            ("torch_dtype", .string("bfloat16")),
            ("transformers_version", .string("4.57.1")),
            ("use_cache", .bool(true)),
            ("v_head_dim", i(d.v)),
            ("vocab_size", i(d.vocab)),
        ]
        // No quantization_config at all for the BF16 form, as an unquantized HF checkpoint has none.
        return .object(members.filter { $0.value != .null })
    }

    /// The shard plan: shard k holds layer k (shard 1 also the embedding), the last the norm and head.
    public static func plan(_ config: ModelConfig, options: Options) -> [(name: String, tensors: [TensorSpec])] {
        let inventory = TensorInventory.Options(weightShapeDType: options.weightShapeDType)
        let globals = TensorInventory.expected(config, layer: nil, options: inventory)
        let count = config.numHiddenLayers + 1
        func name(_ k: Int) -> String {
            "model-" + pad(k, 5) + "-of-" + pad(count, 6) + ".safetensors"
        }
        var shards: [(String, [TensorSpec])] = []
        for layer in 0..<config.numHiddenLayers {
            var specs = TensorInventory.expected(config, layer: layer, options: inventory).map(\.spec)
            if layer == 0 { specs += globals.filter { $0.address.component == .embedTokens }.map(\.spec) }
            shards.append((name(layer + 1), specs))
        }
        shards.append((name(count), globals.filter { $0.address.component != .embedTokens }.map(\.spec)))
        return shards
    }

    private static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// Generates the checkpoint into `folder` (created if needed): config.json, generation_config.json,
    /// the shards, then the index last.
    ///
    /// - Parameters:
    ///   - threads: worker threads for generating data.
    ///   - progress: called after each chunk written.
    /// - Throws: ``FileError`` or ``SafetensorsError`` when writing fails.
    @discardableResult
    public static func write(
        to folder: String, options: Options, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: (Progress) -> Void = { _ in }
    ) throws -> Summary {
        let configJSON = configJSON(options)
        let config = try ModelConfig(json: configJSON, file: "config.json")
        let shards = plan(config, options: options)
        if options.checkSpace {
            try DiskSpace.require(
                shards.reduce(DiskSpace.smallFilesAllowance) { $0 + DiskSpace.safetensorsBound($1.tensors) }, at: folder,
                for: "the synthetic checkpoint")
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try AtomicFile.write(configJSON.prettyText + "\n", to: (folder as NSString).appendingPathComponent("config.json"))
        let generation = JSONValue.object([
            ("bos_token_id", .int(config.bosTokenId ?? 0)),
            ("eos_token_id", .int(config.eosTokenIds.first ?? 0)),
            ("max_length", .int(config.maxPositionEmbeddings)),
            ("temperature", .number("1.0")),
            ("top_p", .number("0.95")),
        ])
        try AtomicFile.write(generation.prettyText + "\n", to: (folder as NSString).appendingPathComponent("generation_config.json"))
        var logicalShapes: [String: [Int]] = [:]
        for layer in [nil] + (0..<config.numHiddenLayers).map(Optional.some) {
            for (address, shape) in TensorInventory.modules(config, layer: layer) { logicalShapes[address.moduleName] = shape }
        }
        let total = shards.reduce(0) { $0 + $1.tensors.reduce(0) { $0 + $1.byteCount } }
        let writer = ShardedWriter(folder: folder, shards: shards)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: TensorFiller.blockBytes * 16, alignment: 64)
        defer { chunk.deallocate() }
        var done = 0
        for shard in shards {
            let w = try writer.beginShard()
            for spec in w.order {
                let module = TensorAddress(name: spec.name)?.moduleName ?? spec.name
                let filler = TensorFiller(spec: spec, seed: options.seed, logicalShape: logicalShapes[module])
                var offset = 0
                while offset < spec.byteCount {
                    let n = min(chunk.count, spec.byteCount - offset)
                    filler.fill(UnsafeMutableRawBufferPointer(rebasing: chunk[0..<n]), at: offset, threads: threads)
                    try w.write(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                    offset += n
                    done += n
                    progress(Progress(bytesDone: done, bytesTotal: total, shard: shard.name))
                }
            }
            try writer.endShard()
        }
        try writer.finish()
        return Summary(
            folder: folder, shards: shards.map(\.name), tensorCount: shards.reduce(0) { $0 + $1.tensors.count },
            dataBytes: total)
    }
}
