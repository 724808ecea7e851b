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
        func p(_ component: TensorAddress.Component, _ part: TensorAddress.Part = .weight) -> TensorAddress {
            TensorAddress(layer: l, component: component, part: part)
        }
        let m = c.model
        inputNorm = try source.vector(p(.inputNorm), count: c.hidden)
        postNorm = try source.vector(p(.postAttentionNorm), count: c.hidden)
        let qWidth = c.heads * c.qHeadDim
        if let rq = c.qLoraRank {
            qA = try source.linear(p(.qAProj), rows: rq, cols: c.hidden)
            qANorm = try source.vector(p(.qANorm), count: rq)
            qB = try source.linear(p(.qBProj), rows: qWidth, cols: rq)
        } else {
            qA = try source.linear(p(.qProj), rows: qWidth, cols: c.hidden)
            qANorm = nil
            qB = nil
        }
        kvA = try source.linear(p(.kvAProj), rows: c.latentWidth, cols: c.hidden)
        kvANorm = try source.vector(p(.kvANorm), count: c.kvLoraRank)
        kvB = try source.linear(p(.kvBProj), rows: c.heads * (c.nopeDim + c.valueDim), cols: c.kvLoraRank)
        o = try source.linear(p(.oProj), rows: c.hidden, cols: c.heads * c.valueDim)
        if c.isMoE(l) {
            dense = nil
            // f32 activations in every mode: llama.cpp keeps the router in F32 (docs/engine.md, "Kernels and numerics").
            let router = try source.linear(p(.router), rows: m.nRoutedExperts, cols: c.hidden).keepingF32Activations()
            let bias: [Float]
            do {
                bias = try source.vector(p(.router, .correctionBias), count: m.nRoutedExperts)
            } catch InferenceError.missingTensor {
                bias = [Float](repeating: 0, count: m.nRoutedExperts)
            }
            var shared: MLP?
            if m.nSharedExperts > 0 {
                let ff = m.moeIntermediateSize * m.nSharedExperts
                shared = MLP(
                    gate: try source.linear(p(.sharedGate), rows: ff, cols: c.hidden),
                    up: try source.linear(p(.sharedUp), rows: ff, cols: c.hidden),
                    down: try source.linear(p(.sharedDown), rows: c.hidden, cols: ff))
            }
            moe = MoE(router: router, bias: bias, shared: shared)
        } else {
            moe = nil
            let ff = m.intermediateSize
            dense = MLP(
                gate: try source.linear(p(.denseGate), rows: ff, cols: c.hidden),
                up: try source.linear(p(.denseUp), rows: ff, cols: c.hidden),
                down: try source.linear(p(.denseDown), rows: c.hidden, cols: ff))
        }
    }

    /// A routed expert's three projections.
    static func expert(layer l: Int, expert e: Int, config c: EngineConfig, source: any WeightSource) throws -> MLP {
        let id = ExpertID(layer: l, expert: e)
        let ff = c.model.moeIntermediateSize
        return MLP(
            gate: try source.linear(TensorAddress(id, component: .expertGate), rows: ff, cols: c.hidden),
            up: try source.linear(TensorAddress(id, component: .expertUp), rows: ff, cols: c.hidden),
            down: try source.linear(TensorAddress(id, component: .expertDown), rows: c.hidden, cols: ff))
    }
}
