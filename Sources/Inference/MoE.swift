import Checkpoint
import Dispatch
import Foundation
import TensorIO

extension InferenceEngine {
    /// The noaux_tc sigmoid router (docs/engine.md, "Forward pass"): f32 logits, sigmoid scores, correction bias for the
    /// choice only, group-limited top-k (groups scored by their top-2 sum, others masked to −inf), weights from the
    /// unbiased scores, normalised (+1e-20) and scaled by routed_scaling_factor. Ties go to the lower index.
    /// Writes each token's k experts (ascending) and weights to the run state's `chosen` and `chosenWeight` [T × k];
    /// returns k.
    func route(_ m: LayerWeights.MoE, x: UnsafePointer<Float>, tokens: Int, state: RunState) -> Int {
        let mc = config.model
        let e = mc.nRoutedExperts, k = min(mc.numExpertsPerTok, e)
        let z = state.router.reserve(tokens * e)
        linear(m.router, x, tokens: tokens, threads: threads, scratch: state.linear, into: z)
        let groups = max(1, mc.nGroup), perGroup = e / groups
        let scores = state.scores.reserve(e), choice = state.choice.reserve(e), groupScore = state.groupScores.reserve(groups)
        let top = state.top.reserve(max(k, groups, 2))
        let chosen = state.chosen.reserve(tokens * k), chosenWeight = state.chosenWeight.reserve(tokens * k)
        let factor = Float(mc.routedScalingFactor)
        for t in 0..<tokens {
            for j in 0..<e {
                scores[j] = 1 / (1 + Foundation.exp(-z[t * e + j]))
                choice[j] = scores[j] + m.bias[j]
            }
            if groups > 1 {
                for g in 0..<groups {
                    let n = topIndices(choice + g * perGroup, count: perGroup, k: min(2, perGroup), into: top)
                    var sum: Float = 0
                    for i in 0..<n { sum += choice[g * perGroup + top[i]] }
                    groupScore[g] = sum
                }
                let kept = topIndices(groupScore, count: groups, k: mc.topkGroup, into: top)
                for g in 0..<groups where !(0..<kept).contains(where: { top[$0] == g }) {
                    for j in (g * perGroup)..<((g + 1) * perGroup) { choice[j] = -.infinity }
                }
            }
            let row = chosen + t * k, weights = chosenWeight + t * k
            _ = topIndices(choice, count: e, k: k, into: row)
            for i in 1..<max(1, k) {  // ascending expert order (insertion sort of k values)
                let v = row[i]
                var p = i
                while p > 0 && row[p - 1] > v {
                    row[p] = row[p - 1]
                    p -= 1
                }
                row[p] = v
            }
            var denominator: Float = 0
            for i in 0..<k {
                weights[i] = scores[row[i]]
                denominator += weights[i]
            }
            if mc.normTopkProb {
                denominator += 1e-20
                for i in 0..<k { weights[i] /= denominator }
            }
            for i in 0..<k { weights[i] *= factor }
        }
        return k
    }

    /// The MoE block into `y` [T × hidden]: routed experts (INT4 kernels on the stored layout), combined in ascending
    /// expert order like HF's index_add, plus the shared experts. Works in the run state's buffers.
    /// `doneWithExpert` is told each routed expert once its rows are computed (from the worker that computed them).
    func moe(
        _ l: Int, _ m: LayerWeights.MoE, x: UnsafePointer<Float>, tokens: Int, routing: RoutingHook?, state: RunState,
        doneWithExpert: ((Int) -> Void)? = nil, into y: UnsafeMutablePointer<Float>
    ) throws {
        let hd = config.hidden, e = config.model.nRoutedExperts
        let k = route(m, x: x, tokens: tokens, state: state)
        let chosen = state.chosen.pointer, chosenWeight = state.chosenWeight.pointer
        if let routing { routing(l, (0..<tokens).map { t in Array(UnsafeBufferPointer(start: chosen + t * k, count: k)) }) }
        // Each expert's rows (token, weight), grouped by expert with tokens ascending: counts, starts, then a fill.
        let count = state.rowCount.reserve(e), start = state.rowStart.reserve(e), active = state.active.reserve(e)
        count.update(repeating: 0, count: e)
        for i in 0..<(tokens * k) { count[chosen[i]] += 1 }
        var next = 0, actives = 0
        for j in 0..<e {
            start[j] = next
            next += count[j]
            if count[j] > 0 {
                active[actives] = j
                actives += 1
            }
            count[j] = 0
        }
        let rowToken = state.rowToken.reserve(tokens * k), rowWeight = state.rowWeight.reserve(tokens * k)
        for t in 0..<tokens {
            for i in 0..<k {
                let j = chosen[t * k + i], at = start[j] + count[j]
                rowToken[at] = t
                rowWeight[at] = chosenWeight[t * k + i]
                count[j] += 1
            }
        }
        // Each expert's output rows, computed in parallel (one expert per worker at a time, in its own buffers).
        // With few tokens (decode) the shared experts are one more item, taken first: on one worker they stream
        // their BF16 weights in the bandwidth the other worker's routed experts leave unused (docs/engine.md,
        // "Threads"). A few tokens' products give the same bits on one worker as on several (each row is computed
        // on its own), so the result does not change.
        let rows = state.expertRows.reserve(tokens * k * hd)
        let sharedItem = m.shared != nil && threads > 1 && tokens <= DenseKernel.directTokens
        let shared = m.shared.map { _ in state.shared.reserve(tokens * hd) }
        try parallelItems(count: actives + (sharedItem ? 1 : 0), workers: threads) { worker, item in
            let scratch = state.workers[worker]
            if sharedItem, item == 0, let weights = m.shared, let shared {
                self.mlp(
                    weights, x: x, tokens: tokens, threads: 1, scratch: scratch.linear, gate: scratch.gate, up: scratch.up,
                    into: shared)
                return
            }
            let i = sharedItem ? item - 1 : item
            let j = active[i], n = count[j], first = start[j]
            let w = try LayerWeights.expert(layer: l, expert: j, config: self.config, source: self.source)
            let xe = scratch.input.reserve(n * hd)
            for r in 0..<n { (xe + r * hd).update(from: x + rowToken[first + r] * hd, count: hd) }
            self.mlp(
                w, x: xe, tokens: n, threads: 1, scratch: scratch.linear, gate: scratch.gate, up: scratch.up, into: rows + first * hd)
            doneWithExpert?(j)
        }
        y.update(repeating: 0, count: tokens * hd)
        for i in 0..<actives {
            let j = active[i]
            for r in start[j]..<(start[j] + count[j]) {
                let out = y + rowToken[r] * hd, src = rows + r * hd, weight = rowWeight[r]
                for c in 0..<hd { out[c] += src[c] * weight }
            }
        }
        if let weights = m.shared, let shared {
            if !sharedItem {
                mlp(weights, x: x, tokens: tokens, threads: threads, scratch: state.linear, gate: state.gate, up: state.up, into: shared)
            }
            for i in 0..<(tokens * hd) { y[i] += shared[i] }
        }
    }
}

/// Writes the indices of the k largest of `count` values to `into`, largest first; equal values keep the lower
/// index first. Returns how many were written (min(k, count)).
@discardableResult
func topIndices(_ values: UnsafePointer<Float>, count: Int, k: Int, into top: UnsafeMutablePointer<Int>) -> Int {
    let k = min(k, count)
    var n = 0
    for j in 0..<count {
        let v = values[j]
        guard n < k || v > values[top[n - 1]] else { continue }
        var p = min(n, k - 1)
        while p > 0 && v > values[top[p - 1]] {
            top[p] = top[p - 1]
            p -= 1
        }
        top[p] = j
        if n < k { n += 1 }
    }
    return n
}
