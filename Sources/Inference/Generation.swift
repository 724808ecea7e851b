import Checkpoint
import Foundation

/// Token choice from logits: greedy (temperature 0) or temperature + nucleus (top-p) sampling with a seeded
/// generator, so a run is repeatable.
public struct Sampler: Sendable {
    public let temperature: Float
    public let topP: Float
    private var rng: SplitMix64

    public init(temperature: Float = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topP = topP
        rng = SplitMix64(seed: seed)
    }

    /// The next token for one row of logits.
    public mutating func next(_ logits: ArraySlice<Float>) -> Int {
        let base = logits.startIndex
        if temperature <= 0 {
            var best = base
            for i in logits.indices where logits[i] > logits[best] { best = i }
            return best - base
        }
        let m = logits.max()!
        var probabilities = logits.map { Foundation.exp(($0 - m) / temperature) }
        let total = probabilities.reduce(0, +)
        probabilities = probabilities.map { $0 / total }
        var order = probabilities.indices.sorted {
            probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1)
        }
        var kept: Float = 0, cut = 0
        while cut < order.count {
            kept += probabilities[order[cut]]
            cut += 1
            if kept >= topP { break }
        }
        order = Array(order.prefix(cut))
        let u = Float(Double(rng.next() >> 11) / Double(1 << 53)) * kept
        var acc: Float = 0
        for i in order {
            acc += probabilities[i]
            if u < acc { return i }
        }
        return order.last!
    }
}

/// Timings and tokens of one generation.
public struct GenerationResult: Sendable {
    public var prompt: [Int]
    public var generated: [Int]
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    /// Prompt tokens per second.
    public var prefillRate: Double { prefillSeconds > 0 ? Double(prompt.count) / prefillSeconds : 0 }
    /// Generated tokens per second (after the first, which the prefill produced).
    public var decodeRate: Double { decodeSeconds > 0 && generated.count > 1 ? Double(generated.count - 1) / decodeSeconds : 0 }
}

extension InferenceEngine {
    /// Prefills `prompt`, then decodes up to `maxTokens` tokens with the KV cache; stops early at a token in `stop`.
    /// `onToken` sees each token as it is produced.
    public func generate(
        prompt: [Int], maxTokens: Int, sampler: Sampler, stop: Set<Int> = [], onToken: ((Int) -> Void)? = nil
    ) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw InferenceError.emptyPrompt }
        var sampler = sampler
        let cache = makeCache()
        let vocab = config.vocab
        let t0 = DispatchTime.now().uptimeNanoseconds
        var logits = try forward(prompt, cache: cache)
        let t1 = DispatchTime.now().uptimeNanoseconds
        var generated: [Int] = []
        while generated.count < maxTokens {
            let row = logits.count / vocab - 1
            let token = sampler.next(logits[(row * vocab)..<((row + 1) * vocab)])
            generated.append(token)
            onToken?(token)
            if stop.contains(token) || generated.count == maxTokens { break }
            logits = try forward([token], cache: cache)
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        return GenerationResult(
            prompt: prompt, generated: generated, prefillSeconds: Double(t1 - t0) / 1e9, decodeSeconds: Double(t2 - t1) / 1e9)
    }
}
