import Checkpoint

/// One decoder layer's weights, resolved by name (cheap views; nothing is read until a kernel touches it).
struct LayerWeights: @unchecked Sendable {
    struct MLP {
        let gate: LinearWeight
        let up: LinearWeight
        let down: LinearWeight
    }

    struct MoE {
        /// Router [experts, hidden], applied in f32.
        let router: LinearWeight
        /// e_score_correction_bias (zeros when the checkpoint has none).
        let bias: [Float]
        let shared: MLP?
    }

    let inputNorm: [Float]
    let postNorm: [Float]
    /// q_proj (no q LoRA) or q_a_proj.
    let qA: LinearWeight
    let qANorm: [Float]?
    let qB: LinearWeight?
    let kvA: LinearWeight
    let kvANorm: [Float]
    let kvB: LinearWeight
    let o: LinearWeight
    let dense: MLP?
    let moe: MoE?

    init(layer l: Int, config c: EngineConfig, source: any WeightSource) throws {
        let p = "model.layers.\(l)."
        let m = c.model
        inputNorm = try source.vector(p + "input_layernorm.weight", count: c.hidden)
        postNorm = try source.vector(p + "post_attention_layernorm.weight", count: c.hidden)
        let qWidth = c.heads * c.qHeadDim
        if let rq = c.qLoraRank {
            qA = try source.linear(p + "self_attn.q_a_proj", rows: rq, cols: c.hidden)
            qANorm = try source.vector(p + "self_attn.q_a_layernorm.weight", count: rq)
            qB = try source.linear(p + "self_attn.q_b_proj", rows: qWidth, cols: rq)
        } else {
            qA = try source.linear(p + "self_attn.q_proj", rows: qWidth, cols: c.hidden)
            qANorm = nil
            qB = nil
        }
        kvA = try source.linear(p + "self_attn.kv_a_proj_with_mqa", rows: c.latentWidth, cols: c.hidden)
        kvANorm = try source.vector(p + "self_attn.kv_a_layernorm.weight", count: c.kvLoraRank)
        kvB = try source.linear(p + "self_attn.kv_b_proj", rows: c.heads * (c.nopeDim + c.valueDim), cols: c.kvLoraRank)
        o = try source.linear(p + "self_attn.o_proj", rows: c.hidden, cols: c.heads * c.valueDim)
        if c.isMoE(l) {
            dense = nil
            let router = try source.linear(p + "mlp.gate", rows: m.nRoutedExperts, cols: c.hidden)
            let bias: [Float]
            do {
                bias = try source.vector(p + "mlp.gate.e_score_correction_bias", count: m.nRoutedExperts)
            } catch InferenceError.missingTensor {
                bias = [Float](repeating: 0, count: m.nRoutedExperts)
            }
            var shared: MLP?
            if m.nSharedExperts > 0 {
                let ff = m.moeIntermediateSize * m.nSharedExperts
                shared = MLP(
                    gate: try source.linear(p + "mlp.shared_experts.gate_proj", rows: ff, cols: c.hidden),
                    up: try source.linear(p + "mlp.shared_experts.up_proj", rows: ff, cols: c.hidden),
                    down: try source.linear(p + "mlp.shared_experts.down_proj", rows: c.hidden, cols: ff))
            }
            moe = MoE(router: router, bias: bias, shared: shared)
        } else {
            moe = nil
            let ff = m.intermediateSize
            dense = MLP(
                gate: try source.linear(p + "mlp.gate_proj", rows: ff, cols: c.hidden),
                up: try source.linear(p + "mlp.up_proj", rows: ff, cols: c.hidden),
                down: try source.linear(p + "mlp.down_proj", rows: c.hidden, cols: ff))
        }
    }

    /// A routed expert's three projections.
    static func expert(layer l: Int, expert e: Int, config c: EngineConfig, source: any WeightSource) throws -> MLP {
        let p = "model.layers.\(l).mlp.experts.\(e)."
        let ff = c.model.moeIntermediateSize
        return MLP(
            gate: try source.linear(p + "gate_proj", rows: ff, cols: c.hidden),
            up: try source.linear(p + "up_proj", rows: ff, cols: c.hidden),
            down: try source.linear(p + "down_proj", rows: c.hidden, cols: ff))
    }
}
