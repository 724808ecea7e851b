import Checkpoint
import Dispatch
import Foundation
import TensorIO

/// One token's routing: selected experts (ascending) and their final weights.
struct Route {
    var experts: [Int]
    var weights: [Float]
}

extension InferenceEngine {
    /// The noaux_tc sigmoid router (docs/engine.md, "Forward pass"): f32 logits, sigmoid scores, correction bias for the
    /// choice only, group-limited top-k (groups scored by their top-2 sum, others masked to −inf), weights from the
    /// unbiased scores, normalised (+1e-20) and scaled by routed_scaling_factor. Ties go to the lower index.
    func route(_ m: LayerWeights.MoE, x: [Float], tokens: Int) -> [Route] {
        let mc = config.model
        let e = mc.nRoutedExperts, k = mc.numExpertsPerTok
        let z = linear(m.router, x, tokens: tokens, threads: threads)
        var routes: [Route] = []
        routes.reserveCapacity(tokens)
        let groups = max(1, mc.nGroup), perGroup = e / groups
        for t in 0..<tokens {
            var scores = [Float](repeating: 0, count: e), choice = [Float](repeating: 0, count: e)
            for j in 0..<e {
                scores[j] = 1 / (1 + Foundation.exp(-z[t * e + j]))
                choice[j] = scores[j] + m.bias[j]
            }
            if groups > 1 {
                var groupScore = [Float](repeating: 0, count: groups)
                for g in 0..<groups {
                    let top = topIndices(Array(choice[(g * perGroup)..<((g + 1) * perGroup)]), k: min(2, perGroup))
                    groupScore[g] = top.reduce(0) { $0 + choice[g * perGroup + $1] }
                }
                let kept = Set(topIndices(groupScore, k: mc.topkGroup))
                for g in 0..<groups where !kept.contains(g) {
                    for j in (g * perGroup)..<((g + 1) * perGroup) { choice[j] = -.infinity }
                }
            }
            let chosen = topIndices(choice, k: k).sorted()
            var weights = chosen.map { scores[$0] }
            if mc.normTopkProb {
                let denominator = weights.reduce(0, +) + 1e-20
                weights = weights.map { $0 / denominator }
            }
            let factor = Float(mc.routedScalingFactor)
            routes.append(Route(experts: chosen, weights: weights.map { $0 * factor }))
        }
        return routes
    }

    /// The MoE block: routed experts (INT4 kernels on the stored layout), combined in ascending expert order like
    /// HF's index_add, plus the shared experts.
    func moe(_ l: Int, _ m: LayerWeights.MoE, x: [Float], tokens: Int, routing: RoutingHook?) throws -> [Float] {
        let hd = config.hidden
        let routes = route(m, x: x, tokens: tokens)
        routing?(l, routes.map(\.experts))
        var members: [Int: [(token: Int, weight: Float)]] = [:]
        for (t, r) in routes.enumerated() {
            for (e, w) in zip(r.experts, r.weights) { members[e, default: []].append((t, w)) }
        }
        let active = members.keys.sorted()
        // Each expert's output rows, computed in parallel (one expert per worker at a time).
        let outputs = UnsafeMutableBufferPointer<[Float]>.allocate(capacity: active.count)
        outputs.initialize(repeating: [])
        defer {
            outputs.deinitialize()
            outputs.deallocate()
        }
        let failure = FailureBox()
        let next = Counter()
        let workers = min(threads, active.count)
        let body: (Int) -> Void = { _ in
            while let i = next.take(below: active.count) {
                let e = active[i], rows = members[e]!
                do {
                    let w = try LayerWeights.expert(layer: l, expert: e, config: self.config, source: self.source)
                    var xe = [Float](repeating: 0, count: rows.count * hd)
                    for (n, row) in rows.enumerated() {
                        for j in 0..<hd { xe[n * hd + j] = x[row.token * hd + j] }
                    }
                    outputs[i] = self.mlp(w, x: xe, tokens: rows.count, threads: 1)
                } catch {
                    failure.set(error)
                }
            }
        }
        if workers <= 1 {
            body(0)
        } else {
            let work = UnsafeTransfer(body)
            DispatchQueue.concurrentPerform(iterations: workers) { work.value($0) }
        }
        if let error = failure.error { throw error }
        var y = [Float](repeating: 0, count: tokens * hd)
        for (i, e) in active.enumerated() {
            for (n, row) in members[e]!.enumerated() {
                for j in 0..<hd { y[row.token * hd + j] += outputs[i][n * hd + j] * row.weight }
            }
        }
        if let shared = m.shared {
            let s = mlp(shared, x: x, tokens: tokens, threads: threads)
            for i in 0..<y.count { y[i] += s[i] }
        }
        return y
    }
}

/// Indices of the k largest values, largest first; equal values keep the lower index first.
func topIndices(_ values: [Float], k: Int) -> [Int] {
    Array(values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(k))
}

/// A shared work counter.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

/// The first error thrown by parallel workers.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    func set(_ e: any Error) {
        lock.lock()
        if stored == nil { stored = e }
        lock.unlock()
    }
    var error: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}
