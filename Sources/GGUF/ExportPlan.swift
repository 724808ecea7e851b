public import Checkpoint
public import TensorIO

/// One output tensor of an export and where its bytes come from.
public struct PlannedTensor: Sendable {
    /// Where the data comes from.
    public enum Source: Sendable, Equatable {
        /// A whole source tensor, element order kept (ggml dims are the reversed PyTorch shape).
        case dense(String)
        /// `attn_k_b` from `kv_b_proj` [heads·(nope+v), lora]: per head the nope rows, transposed → [heads, lora, nope].
        case keyB(String, heads: Int, nope: Int, value: Int, lora: Int)
        /// `attn_v_b` from `kv_b_proj`: per head the v rows → [heads, v, lora].
        case valueB(String, heads: Int, nope: Int, value: Int, lora: Int)
        /// Routed experts 0..<count of one layer's projection stacked along a new outer dim, INT4 pack-quantized →
        /// Q4_0 (`weight_packed`, `weight_scale`). Names are derived on demand (``TensorAddress``), so the plan of a
        /// 384-expert model does not hold a name per expert.
        case int4Experts(layer: Int, component: TensorAddress.Component, count: Int, rows: Int, columns: Int)
        /// Routed experts 0..<count stacked along a new outer dim from float `weight` tensors.
        case denseExperts(layer: Int, component: TensorAddress.Component, count: Int, rows: Int, columns: Int)
    }

    public let info: GGUFTensorInfo
    public let source: Source

    /// The source tensor names it reads.
    public var sourceNames: [String] {
        switch source {
        case .dense(let n), .keyB(let n, _, _, _, _), .valueB(let n, _, _, _, _): [n]
        case .int4Experts(let layer, let component, let count, _, _):
            (0..<count).flatMap { e in
                [TensorAddress.Part.weightPacked, .weightScale].map {
                    TensorAddress(layer: layer, component: component, expert: e, part: $0).name
                }
            }
        case .denseExperts(let layer, let component, let count, _, _):
            (0..<count).map { TensorAddress(layer: layer, component: component, expert: $0).name }
        }
    }
}

/// Maps a DeepSeek-V3 / Kimi K2 checkpoint onto llama.cpp's `deepseek2` tensors (gguf-py `MODEL_TENSOR` names):
///
/// | source | GGUF |
/// |---|---|
/// | model.embed_tokens / model.norm / lm_head | token_embd / output_norm / output |
/// | input_layernorm / post_attention_layernorm | blk.L.attn_norm / blk.L.ffn_norm |
/// | self_attn.q_proj, q_a_proj, q_a_layernorm, q_b_proj | attn_q, attn_q_a, attn_q_a_norm, attn_q_b |
/// | self_attn.kv_a_proj_with_mqa, kv_a_layernorm, o_proj | attn_kv_a_mqa, attn_kv_a_norm, attn_output |
/// | self_attn.kv_b_proj | attn_k_b (transposed per head) and attn_v_b |
/// | mlp.gate_proj/up_proj/down_proj (dense) | ffn_gate / ffn_up / ffn_down |
/// | mlp.gate, mlp.gate.e_score_correction_bias | ffn_gate_inp, exp_probs_b.bias |
/// | mlp.shared_experts.* | ffn_{gate,up,down}_shexp |
/// | mlp.experts.E.* (all E) | ffn_{gate,up,down}_exps, 3-D [columns, rows, experts] |
///
/// Layers at or past `num_hidden_layers` (MTP) are skipped, as llama.cpp's converter does.
public struct ExportPlan: Sendable {
    public let tensors: [PlannedTensor]
    /// Source tensors left out (MTP layers), by name.
    public let skipped: [String]
    /// Decisions worth telling the user (type fallbacks).
    public let notes: [String]

    /// The output type of dense weight matrices.
    public enum DenseType: String, Sendable, CaseIterable {
        case bf16, f32, q8_0

        var ggml: GGMLType {
            switch self {
            case .bf16: .bf16
            case .f32: .f32
            case .q8_0: .q8_0
            }
        }
    }

    /// Builds the plan for the source tensors `tensors` (a checkpoint's or a bundle's, sorted by name) with `config`.
    ///
    /// - Throws: ``GGUFError`` for a tensor the architecture does not have, an incomplete expert set, a shape that
    ///   disagrees with config.json, or a quantization other than INT4 group-32 symmetric pack-quantized.
    public init(tensors sourceTensors: [TensorInfo], config: ModelConfig, denseType: DenseType) throws {
        var byModule: [String: (address: TensorAddress, parts: [TensorAddress.Part: TensorInfo])] = [:]
        var skipped: [String] = []
        var notes: [String] = []
        var addresses: [TensorAddress] = []
        for info in sourceTensors {
            let name = info.name
            guard let address = TensorAddress(name: name) else {
                throw GGUFError.unsupportedSource(tensor: name, reason: "not a tensor of the DeepSeek-V3 architecture")
            }
            if let layer = address.layer, layer >= config.numHiddenLayers {
                skipped.append(name)
                continue
            }
            if [.weightZeroPoint, .weightGIdx, .weightScaleInv].contains(address.part) {
                throw GGUFError.unsupportedQuantization(
                    file: config.file,
                    reason: "\(name): only symmetric INT4 pack-quantized (no zero point, g_idx or FP8 scale_inv) converts to Q4_0")
            }
            let module = address.moduleName
            if byModule[module] == nil {
                byModule[module] = (address, [:])
                addresses.append(address)
            }
            byModule[module]?.parts[address.part] = info
        }
        func info(_ module: String, _ part: TensorAddress.Part) throws -> TensorInfo {
            guard let i = byModule[module]?.parts[part] else {
                throw GGUFError.unsupportedSource(tensor: module + "." + part.rawValue, reason: "missing from the checkpoint")
            }
            return i
        }
        func denseTarget(_ i: TensorInfo, forceF32: Bool) -> GGMLType {
            if forceF32 || i.shape.count <= 1 { return .f32 }
            switch (denseType, i.dtype) {
            case (.bf16, .f32): return .f32
            case (.bf16, .f16): return .f16
            case (.q8_0, _) where (i.shape.last ?? 0) % 32 != 0:
                notes.append("\(i.name): row of \(i.shape.last ?? 0) is not a multiple of 32, written as bf16 instead of q8_0")
                return .bf16
            default: return denseType.ggml
            }
        }
        func checkFloat(_ i: TensorInfo) throws {
            guard [.bf16, .f32, .f16].contains(i.dtype), (1...2).contains(i.shape.count) else {
                throw GGUFError.unsupportedSource(
                    tensor: i.name, reason: "\(i.dtype.rawValue) \(i.shape) is not a BF16/F16/F32 vector or matrix")
            }
        }
        var planned: [PlannedTensor] = []
        var expertsDone = Set<String>()
        let sorted = addresses.sorted()
        for address in sorted {
            let module = address.moduleName
            let prefix = address.layer.map { "blk.\($0)." } ?? ""
            let base: String
            var forceF32 = false
            switch address.component {
            case .embedTokens: base = "token_embd"
            case .finalNorm: base = "output_norm"
            case .lmHead:
                if config.tieWordEmbeddings {
                    skipped.append(address.name)
                    continue
                }
                base = "output"
            case .inputNorm: base = "attn_norm"
            case .postAttentionNorm: base = "ffn_norm"
            case .qProj: base = "attn_q"
            case .qAProj: base = "attn_q_a"
            case .qANorm: base = "attn_q_a_norm"
            case .qBProj: base = "attn_q_b"
            case .kvAProj: base = "attn_kv_a_mqa"
            case .kvANorm: base = "attn_kv_a_norm"
            case .oProj: base = "attn_output"
            case .denseGate: base = "ffn_gate"
            case .denseUp: base = "ffn_up"
            case .denseDown: base = "ffn_down"
            case .router:
                base = "ffn_gate_inp"
                forceF32 = true
            case .sharedGate: base = "ffn_gate_shexp"
            case .sharedUp: base = "ffn_up_shexp"
            case .sharedDown: base = "ffn_down_shexp"
            case .kvBProj:
                let i = try info(module, .weight)
                try checkFloat(i)
                let heads = config.numKeyValueHeads, nope = config.qkNopeHeadDim, v = config.vHeadDim, lora = config.kvLoraRank
                guard i.shape == [heads * (nope + v), lora] else {
                    throw GGUFError.unsupportedSource(
                        tensor: i.name, reason: "shape \(i.shape), config.json gives [\(heads)×(\(nope)+\(v)), \(lora)]")
                }
                let kType = denseTarget(
                    TensorInfo(name: prefix + "attn_k_b.weight", dtype: i.dtype, shape: [heads, lora, nope], begin: 0, end: 0),
                    forceF32: false)
                let vType = denseTarget(
                    TensorInfo(name: prefix + "attn_v_b.weight", dtype: i.dtype, shape: [heads, v, lora], begin: 0, end: 0), forceF32: false
                )
                planned.append(
                    PlannedTensor(
                        info: GGUFTensorInfo(name: prefix + "attn_k_b.weight", dims: [nope, lora, heads], type: kType),
                        source: .keyB(i.name, heads: heads, nope: nope, value: v, lora: lora)))
                planned.append(
                    PlannedTensor(
                        info: GGUFTensorInfo(name: prefix + "attn_v_b.weight", dims: [lora, v, heads], type: vType),
                        source: .valueB(i.name, heads: heads, nope: nope, value: v, lora: lora)))
                continue
            case .expertGate, .expertUp, .expertDown:
                guard let layer = address.layer else { continue }
                let key = "\(layer).\(address.component.rawValue)"
                guard !expertsDone.contains(key) else { continue }
                expertsDone.insert(key)
                let name =
                    prefix
                    + ["ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"][
                        [TensorAddress.Component.expertGate, .expertUp, .expertDown].firstIndex(of: address.component) ?? 0] + ".weight"
                planned.append(
                    try Self.experts(
                        name: name, layer: layer, component: address.component, count: config.nRoutedExperts, info: info,
                        config: config, denseType: denseTarget))
                continue
            }
            let i = try info(module, .weight)
            try checkFloat(i)
            let type = denseTarget(i, forceF32: forceF32)
            planned.append(
                PlannedTensor(
                    info: GGUFTensorInfo(name: prefix + base + ".weight", dims: i.shape.reversed(), type: type), source: .dense(i.name)))
            if address.component == .router, let bias = byModule[module]?.parts[.correctionBias] {
                try checkFloat(bias)
                planned.append(
                    PlannedTensor(
                        info: GGUFTensorInfo(name: prefix + "exp_probs_b.bias", dims: bias.shape.reversed(), type: .f32),
                        source: .dense(bias.name)))
            }
        }
        // Every source tensor must be consumed (or skipped), so nothing is dropped silently.
        let used = Set(planned.flatMap(\.sourceNames))
        for (module, entry) in byModule {
            for (part, i) in entry.parts where !used.contains(i.name) && part != .weightShape && !skipped.contains(i.name) {
                throw GGUFError.unsupportedSource(tensor: i.name, reason: "no llama.cpp deepseek2 tensor takes \(module) \(part.rawValue)")
            }
        }
        tensors = planned
        self.skipped = skipped
        self.notes = notes
    }

    private static func experts(
        name: String, layer: Int, component: TensorAddress.Component, count: Int,
        info: (String, TensorAddress.Part) throws -> TensorInfo, config: ModelConfig, denseType: (TensorInfo, Bool) -> GGMLType
    ) throws -> PlannedTensor {
        let modules = (0..<count).map { TensorAddress(layer: layer, component: component, expert: $0).moduleName }
        let first = modules[0]
        let int4 = (try? info(first, .weightPacked)) != nil
        if !int4 {
            var shape: [Int] = []
            for m in modules {
                let i = try info(m, .weight)
                guard i.shape.count == 2, [.bf16, .f32, .f16].contains(i.dtype), shape.isEmpty || i.shape == shape else {
                    throw GGUFError.unsupportedSource(
                        tensor: i.name, reason: "\(i.dtype.rawValue) \(i.shape) does not stack with the other experts")
                }
                shape = i.shape
            }
            let type = denseType(try info(first, .weight), false)
            return PlannedTensor(
                info: GGUFTensorInfo(name: name, dims: [shape[1], shape[0], modules.count], type: type),
                source: .denseExperts(layer: layer, component: component, count: count, rows: shape[0], columns: shape[1]))
        }
        guard case .compressedTensors(let ct) = config.quantization,
            let args = ct.weightArgs(module: first), args.numBits == 4, args.symmetric, args.strategy == "group",
            args.groupSize == 32, args.actorder == nil, ct.format == "pack-quantized"
        else {
            throw GGUFError.unsupportedQuantization(
                file: config.file, reason: "\(first): Q4_0 needs compressed-tensors pack-quantized INT4, symmetric, group 32, no actorder")
        }
        var rows = 0, columns = 0
        for m in modules {
            let p = try info(m, .weightPacked), s = try info(m, .weightScale)
            guard p.dtype == .i32, p.shape.count == 2, s.dtype == .bf16, s.shape.count == 2, s.shape[0] == p.shape[0],
                p.shape[1] * 8 == s.shape[1] * 32
            else {
                throw GGUFError.unsupportedSource(
                    tensor: p.name,
                    reason:
                        "packed \(p.dtype.rawValue) \(p.shape) with scale \(s.dtype.rawValue) \(s.shape) is not INT4 group 32 with BF16 scales"
                )
            }
            if rows == 0 {
                rows = p.shape[0]
                columns = p.shape[1] * 8
            }
            guard p.shape[0] == rows, p.shape[1] * 8 == columns else {
                throw GGUFError.unsupportedSource(tensor: p.name, reason: "shape \(p.shape) differs from the layer's other experts")
            }
        }
        return PlannedTensor(
            info: GGUFTensorInfo(name: name, dims: [columns, rows, modules.count], type: .q4_0),
            source: .int4Experts(layer: layer, component: component, count: count, rows: rows, columns: columns))
    }
}
