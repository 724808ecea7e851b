import Checkpoint
import Foundation
public import Inference

/// A distribution summary in llama.cpp's style: mean ± standard error and the percentiles it prints.
public struct Distribution: Sendable, Equatable {
    public static let percentileLabels: [(label: String, q: Double)] = [
        ("max", 1), ("99.9%", 0.999), ("99%", 0.99), ("95%", 0.95), ("90%", 0.9), ("median", 0.5), ("10%", 0.1),
        ("5%", 0.05), ("1%", 0.01), ("0.1%", 0.001), ("min", 0),
    ]
    public var count: Int
    public var mean: Double
    public var meanError: Double
    /// Root mean square.
    public var rms: Double
    /// (label, value) in the order of ``percentileLabels``.
    public var percentiles: [(label: String, value: Double)]

    public static func == (a: Distribution, b: Distribution) -> Bool {
        a.count == b.count && a.mean == b.mean && a.meanError == b.meanError && a.rms == b.rms
            && a.percentiles.map(\.value) == b.percentiles.map(\.value)
    }

    public init(_ values: [Double]) {
        count = values.count
        guard !values.isEmpty else {
            mean = .nan
            meanError = .nan
            rms = .nan
            percentiles = Self.percentileLabels.map { ($0.label, .nan) }
            return
        }
        let n = Double(values.count)
        let m = values.reduce(0, +) / n
        mean = m
        let squares = values.reduce(0) { $0 + $1 * $1 }
        rms = (squares / n).squareRoot()
        meanError = values.count > 1 ? (max(0, squares / n - m * m) / (n - 1)).squareRoot() : 0
        let sorted = values.sorted()
        percentiles = Self.percentileLabels.map { p in
            // Nearest rank on the sorted values (0 → min, 1 → max).
            let rank = Int((p.q * Double(sorted.count - 1)).rounded())
            return (p.label, sorted[min(sorted.count - 1, max(0, rank))])
        }
    }

    public func value(_ label: String) -> Double? { percentiles.first { $0.label == label }?.value }
}

/// Hidden-state agreement of one layer over the compared tokens.
public struct LayerHiddenDiff: Sendable, Equatable {
    public var layer: Int
    public var cosine: Double
    public var relativeL2: Double
    public var maxAbs: Double
}

/// Routing agreement of one MoE layer.
public struct LayerRouting: Sendable, Equatable {
    public var layer: Int
    public var tokens: Int
    /// Fraction of tokens whose selected expert set is identical.
    public var identical: Double
    /// Mean |REF ∩ CAND| / k.
    public var meanOverlap: Double
}

/// Records routing decisions per (sequence, layer).
final class RoutingRecorder: @unchecked Sendable {
    // Sendable: the engine calls the hook from its calling thread only.
    var sets: [[Int]: [[Int]]] = [:]
    func hook() -> InferenceEngine.SequenceRoutingHook {
        { [self] s, l, e in sets[[s, l], default: []].append(contentsOf: e) }
    }

    /// Per layer, per expert: how many token slots chose it.
    func usage(layers: Int, experts: Int) -> [[Int]] {
        var counts = [[Int]](repeating: [], count: layers)
        for (key, rows) in sets {
            if counts[key[1]].isEmpty { counts[key[1]] = [Int](repeating: 0, count: experts) }
            for r in rows { for e in r { counts[key[1]][e] += 1 } }
        }
        return counts
    }
}

/// Logit-level parity of a candidate against a reference on identical tokens (llama.cpp's KL-divergence
/// statistics), plus hidden-state and routing agreement.
public struct LogitParity: Sendable {
    public var ctx: Int
    public var chunks: Int
    public var scoredTokens: Int
    public var pplRef: Double
    public var pplRefError: Double
    public var pplCand: Double
    public var pplCandError: Double
    /// PPL(cand) / PPL(ref).
    public var pplRatio: Double
    /// Mean of ln(p_ref(t) / p_cand(t)) over scored tokens = mean NLL difference, ± its standard error.
    public var meanLnRatio: Double
    public var meanLnRatioError: Double
    /// Pearson correlation of the per-token NLLs.
    public var nllCorrelation: Double
    public var kld: Distribution
    /// p_cand(correct) − p_ref(correct).
    public var deltaP: Distribution
    /// Fraction of scored tokens where both argmaxes agree, and its binomial standard error.
    public var sameTop1: Double
    public var sameTop1Error: Double
    public var hidden: [LayerHiddenDiff]
    public var routing: [LayerRouting]
    /// Per layer (empty for dense layers), per expert: selections by REF and CAND over all evaluated tokens.
    public var usageRef: [[Int]]
    public var usageCand: [[Int]]
    /// Per-token KLD values (for reports and plots).
    public var kldValues: [Double]
    /// Per-token Δp values.
    public var deltaPValues: [Double]
    public var seconds: Double
}

/// Where the reference's log-probabilities come from.
public enum ParityReference {
    case engine(InferenceEngine)
    case saved(ReferenceLogProbs)
}

extension LogitParity {
    /// Compares `candidate` with `reference` on the same chunks of `tokens`. Hidden states are compared on the first
    /// `hiddenTokens` tokens; routing over every evaluated token (both need an engine reference). `saveReference`
    /// writes the reference's log-probs for later runs (`--save-ref`).
    public static func compare(
        reference: ParityReference, candidate: InferenceEngine, tokens: [Int], ctx: Int, chunkLimit: Int? = nil,
        streamLayers: Bool = false, hiddenTokens: Int = 32, saveReference: String? = nil, progress: ((String, Int, Int) -> Void)? = nil
    ) throws -> LogitParity {
        let start = DispatchTime.now().uptimeNanoseconds
        var tokens = tokens
        if case .saved(let saved) = reference {
            guard saved.ctx == ctx || ctx == 0 else {
                throw EvaluationError.referenceContextMismatch(saved: saved.ctx, requested: ctx)
            }
            tokens = saved.tokens
        }
        let ctx = { if case .saved(let s) = reference { return s.ctx } else { return ctx } }()
        let chunks = Perplexity.chunks(tokenCount: tokens.count, ctx: ctx, limit: chunkLimit)
        guard !chunks.isEmpty else {
            throw EvaluationError.textTooShort(tokens: tokens.count, ctx: ctx)
        }
        let vocab = candidate.config.vocab, first = Perplexity.firstScored(ctx: ctx)
        let candRouting = RoutingRecorder(), refRouting = RoutingRecorder()
        var refEngine: InferenceEngine?
        if case .engine(let e) = reference {
            guard e.config.vocab == vocab else {
                throw EvaluationError.vocabularyMismatch(reference: e.config.vocab, candidate: vocab)
            }
            refEngine = e
        }
        var writer: ReferenceLogProbs.Writer?
        if let saveReference {
            writer = try ReferenceLogProbs.Writer(
                path: saveReference, ctx: ctx, vocab: vocab, tokens: Array(tokens[0..<(chunks.count * ctx)]))
        }
        var kld: [Double] = [], dp: [Double] = [], nllRef: [Double] = [], nllCand: [Double] = []
        var same = 0
        // Only the scored positions' logits are computed: row i is position first + i.
        let scored = Perplexity.scoredPositions(ctx: ctx)
        func score(_ chunk: Int, ref refLogits: [Float]?, cand: [Float]) throws {
            let c = chunks[chunk]
            for j in scored {
                let target = tokens[c.lowerBound + j + 1]
                let i = j - first
                let lpC = cand.withUnsafeBufferPointer {
                    Perplexity.logSoftmax(UnsafeBufferPointer(rebasing: $0[(i * vocab)..<((i + 1) * vocab)]))
                }
                let lpR: [Double]
                if let refLogits {
                    lpR = refLogits.withUnsafeBufferPointer {
                        Perplexity.logSoftmax(UnsafeBufferPointer(rebasing: $0[(i * vocab)..<((i + 1) * vocab)]))
                    }
                    try writer?.append(lpR)
                } else if case .saved(let saved) = reference {
                    lpR = saved.logProbs(scored: nllRef.count)
                } else {
                    preconditionFailure("no reference")
                }
                var k = 0.0
                var argR = 0, argC = 0
                for v in 0..<vocab {
                    let p = Foundation.exp(lpR[v])
                    if p > 0 { k += p * (lpR[v] - lpC[v]) }
                    if lpR[v] > lpR[argR] { argR = v }
                    if lpC[v] > lpC[argC] { argC = v }
                }
                kld.append(max(0, k))
                dp.append(Foundation.exp(lpC[target]) - Foundation.exp(lpR[target]))
                nllRef.append(-lpR[target])
                nllCand.append(-lpC[target])
                if argR == argC { same += 1 }
            }
        }
        if streamLayers {
            let r = try refEngine.map {
                try $0.chunkLogits(
                    tokens, chunks: chunks, streamLayers: true, routing: refRouting.hook(),
                    progress: { d, t in progress?("reference", d, t) }, logitRows: scored)
            }
            let cLogits = try candidate.chunkLogits(
                tokens, chunks: chunks, streamLayers: true, routing: candRouting.hook(), progress: { d, t in progress?("candidate", d, t) },
                logitRows: scored)
            for i in chunks.indices { try score(i, ref: r?[i], cand: cLogits[i]) }
        } else {
            for (i, c) in chunks.enumerated() {
                let chunkTokens = Array(tokens[c])
                let r = try refEngine?.logits(chunkTokens, routing: bind(refRouting.hook(), i), logitRows: scored)
                let cl = try candidate.logits(chunkTokens, routing: bind(candRouting.hook(), i), logitRows: scored)
                try score(i, ref: r, cand: cl)
                progress?("chunks", i + 1, chunks.count)
            }
        }
        try writer?.finish()
        // Hidden states on the first tokens.
        var hidden: [LayerHiddenDiff] = []
        if let refEngine {
            let probe = Array(tokens.prefix(min(hiddenTokens, ctx)))
            var a: [Int: [Float]] = [:], b: [Int: [Float]] = [:]
            _ = try refEngine.logits(probe, hook: { l, h, _ in a[l] = Array(h) })
            _ = try candidate.logits(probe, hook: { l, h, _ in b[l] = Array(h) })
            hidden = (0..<candidate.config.layers).compactMap { l in
                guard let x = a[l], let y = b[l] else { return nil }
                return hiddenDiff(layer: l, x, y)
            }
        }
        let layers = candidate.config.layers, experts = candidate.config.model.nRoutedExperts
        var routing: [LayerRouting] = []
        if refEngine != nil {
            let k = candidate.config.model.numExpertsPerTok
            for l in 0..<layers where candidate.config.isMoE(l) {
                var n = 0, identical = 0, overlap = 0.0
                for i in chunks.indices {
                    let r = refRouting.sets[[i, l]] ?? [], c = candRouting.sets[[i, l]] ?? []
                    for (x, y) in zip(r, c) {
                        n += 1
                        if x == y { identical += 1 }
                        overlap += Double(Set(x).intersection(y).count) / Double(k)
                    }
                }
                routing.append(
                    LayerRouting(
                        layer: l, tokens: n, identical: n > 0 ? Double(identical) / Double(n) : .nan,
                        meanOverlap: n > 0 ? overlap / Double(n) : .nan))
            }
        }
        let accR = nllRef.reduce(into: NLLAccumulator()) { $0.add($1) }, accC = nllCand.reduce(into: NLLAccumulator()) { $0.add($1) }
        let lnRatio = Distribution(zip(nllCand, nllRef).map { $0 - $1 })
        let n = Double(kld.count)
        let sameFraction = Double(same) / n
        return LogitParity(
            ctx: ctx, chunks: chunks.count, scoredTokens: kld.count, pplRef: accR.perplexity, pplRefError: accR.perplexityError,
            pplCand: accC.perplexity, pplCandError: accC.perplexityError, pplRatio: accC.perplexity / accR.perplexity,
            meanLnRatio: lnRatio.mean, meanLnRatioError: lnRatio.meanError, nllCorrelation: correlation(nllRef, nllCand),
            kld: Distribution(kld), deltaP: Distribution(dp), sameTop1: sameFraction,
            sameTop1Error: (sameFraction * (1 - sameFraction) / max(n - 1, 1)).squareRoot(), hidden: hidden, routing: routing,
            usageRef: refEngine == nil ? [] : refRouting.usage(layers: layers, experts: experts),
            usageCand: candRouting.usage(layers: layers, experts: experts), kldValues: kld, deltaPValues: dp,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    static func hiddenDiff(layer: Int, _ x: [Float], _ y: [Float]) -> LayerHiddenDiff {
        var dot = 0.0, xx = 0.0, yy = 0.0, dd = 0.0, maxAbs = 0.0
        for i in x.indices {
            let a = Double(x[i]), b = Double(y[i])
            dot += a * b
            xx += a * a
            yy += b * b
            dd += (a - b) * (a - b)
            maxAbs = max(maxAbs, abs(a - b))
        }
        let cosine = xx > 0 && yy > 0 ? dot / (xx.squareRoot() * yy.squareRoot()) : (dd == 0 ? 1 : 0)
        return LayerHiddenDiff(layer: layer, cosine: cosine, relativeL2: xx > 0 ? (dd / xx).squareRoot() : dd.squareRoot(), maxAbs: maxAbs)
    }

    static func correlation(_ a: [Double], _ b: [Double]) -> Double {
        let n = Double(a.count)
        guard a.count > 1 else { return .nan }
        let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in a.indices {
            sab += (a[i] - ma) * (b[i] - mb)
            saa += (a[i] - ma) * (a[i] - ma)
            sbb += (b[i] - mb) * (b[i] - mb)
        }
        return saa > 0 && sbb > 0 ? sab / (saa * sbb).squareRoot() : (saa == sbb ? 1 : .nan)
    }
}

/// The per-sequence hook `hook` bound to sequence `i`.
func bind(_ hook: @escaping InferenceEngine.SequenceRoutingHook, _ i: Int) -> InferenceEngine.RoutingHook { { hook(i, $0, $1) } }
