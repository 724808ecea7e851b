import Foundation
public import Inference
import TensorIO

/// Perplexity as llama.cpp's `llama-perplexity` defines it: the token stream is cut into chunks of n_ctx tokens,
/// each chunk is evaluated on its own (fresh context), and only the second half of each chunk is scored: positions
/// j = n_ctx/2 … n_ctx−2 predict token j+1, so n_ctx − 1 − n_ctx/2 tokens per chunk.
public enum Perplexity {
    /// The chunks of a token stream: ⌊count / ctx⌋ whole chunks, at most `limit`.
    public static func chunks(tokenCount: Int, ctx: Int, limit: Int? = nil) -> [Range<Int>] {
        guard ctx >= 2 else { return [] }
        let n = min(tokenCount / ctx, limit ?? Int.max)
        return (0..<n).map { ($0 * ctx)..<(($0 + 1) * ctx) }
    }

    /// The first scored position of a chunk.
    public static func firstScored(ctx: Int) -> Int { ctx / 2 }

    /// The positions of a chunk whose next-token prediction is scored: [ctx/2, ctx − 1).
    public static func scoredPositions(ctx: Int) -> Range<Int> { firstScored(ctx: ctx)..<max(firstScored(ctx: ctx), ctx - 1) }

    /// Log-probabilities of one logits row in float64 (max-subtracted log-sum-exp).
    public static func logSoftmax(_ row: UnsafeBufferPointer<Float>) -> [Double] {
        let lse = logSumExp(row)
        return row.map { Double($0) - lse }
    }

    /// log Σ exp(row) in float64, the maximum subtracted first.
    public static func logSumExp(_ row: UnsafeBufferPointer<Float>) -> Double {
        var m = -Float.infinity
        for v in row { m = max(m, v) }
        var sum = 0.0
        for v in row { sum += Foundation.exp(Double(v - m)) }
        return Double(m) + Foundation.log(sum)
    }

    /// −log p(target) of one logits row: exactly `-logSoftmax(row)[target]`, without the row of log-probabilities.
    public static func negativeLogLikelihood(_ row: UnsafeBufferPointer<Float>, target: Int) -> Double {
        logSumExp(row) - Double(row[target])
    }
}

/// Accumulates negative log-likelihoods into a perplexity with llama.cpp's uncertainty (Gaussian propagation of
/// the NLL's standard error).
public struct NLLAccumulator: Sendable {
    public private(set) var count = 0
    private var sum = 0.0, sumSquares = 0.0

    public init() {}

    public mutating func add(_ nll: Double) {
        count += 1
        sum += nll
        sumSquares += nll * nll
    }

    public var meanNLL: Double { count > 0 ? sum / Double(count) : .nan }
    /// Standard error of the mean NLL.
    public var meanNLLError: Double {
        guard count > 1 else { return 0 }
        let mean = meanNLL
        return ((sumSquares / Double(count) - mean * mean) / Double(count - 1)).squareRoot()
    }
    public var perplexity: Double { Foundation.exp(meanNLL) }
    /// ± of the perplexity: PPL × σ(mean NLL).
    public var perplexityError: Double { perplexity * meanNLLError }
}

/// `ingot eval ppl`'s result.
public struct PerplexityResult: Sendable {
    public var chunks: Int
    public var ctx: Int
    public var scoredTokens: Int
    public var perplexity: Double
    public var perplexityError: Double
    public var meanNLL: Double
    public var seconds: Double
    /// Evaluated tokens (whole chunks) per second.
    public var tokensPerSecond: Double
    /// Per chunk: the running perplexity after it (as llama.cpp prints).
    public var runningPerplexity: [Double]
    /// Layer-streamed runs: where the time went.
    public var streamTiming: StreamTiming?
}

extension InferenceEngine {
    /// The logits of each chunk: one forward per chunk, or all chunks layer by layer when `streamLayers`.
    public func chunkLogits(
        _ tokens: [Int], chunks: [Range<Int>], streamLayers: Bool, routing: SequenceRoutingHook? = nil,
        hook: ((_ sequence: Int, _ layer: Int, _ hidden: UnsafeBufferPointer<Float>) -> Void)? = nil, progress: ((Int, Int) -> Void)? = nil,
        logitRows: Range<Int>? = nil, serialStreaming: Bool = false
    ) throws -> [[Float]] {
        if streamLayers {
            return try logitsStreamed(
                chunks.map { Array(tokens[$0]) }, hook: hook, routing: routing, progress: { l in progress?(l + 1, self.config.layers) },
                logitRows: logitRows, serial: serialStreaming)
        }
        var out: [[Float]] = []
        for group in batches(chunks) {
            let base = group.lowerBound
            out += try logitsLayerwise(
                group.map { Array(tokens[chunks[$0]]) }, hook: hook.map { h in { i, l, x in h(base + i, l, x) } },
                routing: routing.map { r in { i, l, e in r(base + i, l, e) } }, logitRows: logitRows)
            progress?(group.upperBound, chunks.count)
        }
        return out
    }

    /// Consecutive chunks evaluated together (``logitsLayerwise(_:hook:routing:logitRows:)``): as many as fit in the
    /// feed-forward batch, at least one (the chunks are all ctx long). Memory: one batch's hidden rows and scored logits.
    func batches(_ chunks: [Range<Int>]) -> [Range<Int>] {
        let per = max(1, Self.feedForwardBatchRows / max(1, chunks.first?.count ?? 1))
        return stride(from: 0, to: chunks.count, by: per).map { $0..<min(chunks.count, $0 + per) }
    }

    /// Perplexity of a token stream (llama.cpp's chunked definition).
    public func perplexity(
        _ tokens: [Int], ctx: Int, chunkLimit: Int? = nil, streamLayers: Bool = false, serialStreaming: Bool = false,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> PerplexityResult {
        let chunks = Perplexity.chunks(tokenCount: tokens.count, ctx: ctx, limit: chunkLimit)
        guard !chunks.isEmpty else {
            throw EvaluationError.textTooShort(tokens: tokens.count, ctx: ctx)
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var acc = NLLAccumulator()
        var running: [Double] = []
        let vocab = config.vocab, first = Perplexity.firstScored(ctx: ctx)
        // Only the scored positions' logits are computed: row i is position first + i.
        let scored = Perplexity.scoredPositions(ctx: ctx)
        // Streamed mode evaluates all chunks together; normal mode a feed-forward batch of chunks at a time (memory:
        // that batch's scored logits).
        // Rows are scored in parallel (docs/engine.md, "Threads"), then added in position order.
        var nll = [Double](repeating: 0, count: scored.count)
        let score: (Range<Int>, UnsafeBufferPointer<Float>) -> Void = { c, logits in
            nll.withUnsafeMutableBufferPointer { out in
                let out = UnsafeTransfer(out), lp = UnsafeTransfer(logits)
                parallelBlocks(count: scored.count, block: 1, threads: self.threads) { begin, end in
                    for i in begin..<end {
                        let row = UnsafeBufferPointer(rebasing: lp.value[(i * vocab)..<((i + 1) * vocab)])
                        out.value[i] = Perplexity.negativeLogLikelihood(row, target: tokens[c.lowerBound + first + i + 1])
                    }
                }
            }
            for value in nll { acc.add(value) }
            running.append(acc.perplexity)
        }
        if streamLayers {
            let all = try chunkLogits(
                tokens, chunks: chunks, streamLayers: true, progress: progress, logitRows: scored, serialStreaming: serialStreaming)
            for (c, l) in zip(chunks, all) { l.withUnsafeBufferPointer { score(c, $0) } }
        } else {
            for group in batches(chunks) {
                // Each chunk's logits are scored in the run state's buffer as soon as the head has computed them.
                try logitsLayerwise(group.map { Array(tokens[chunks[$0]]) }, logitRows: scored) { i, logits in
                    score(chunks[group.lowerBound + i], logits)
                }
                progress?(group.upperBound, chunks.count)
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return PerplexityResult(
            chunks: chunks.count, ctx: ctx, scoredTokens: acc.count, perplexity: acc.perplexity, perplexityError: acc.perplexityError,
            meanNLL: acc.meanNLL, seconds: seconds, tokensPerSecond: Double(chunks.count * ctx) / seconds, runningPerplexity: running,
            streamTiming: streamLayers ? streamTiming : nil)
    }
}
