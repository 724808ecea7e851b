public import Foundation
public import Inference
public import TensorIO
public import Tokenizer

/// Logit parity against a server (docs/evaluation.md, "Logits from a server"): REF's full next-token distribution
/// against the top-k log-probs a server reports for the same prefix, one teacher-forced single-token completion per
/// scored position (the positions `eval ppl` scores: the second half of each chunk of `ctx` tokens).
public struct EndpointLogitParity: Sendable {
    /// How the numbers were obtained; named in every report.
    public static let method =
        "teacher-forced single-token completions (/v1/completions, temperature 0), the server's top-k log-probs per position; "
        + "KLD(REF‖CAND) over CAND's top-k tokens plus one tail bucket (a lower bound of the full KLD)"

    public var k: Int
    public var style: OpenAIEndpoint.LogprobStyle
    public var ctx: Int
    public var chunks: Int
    /// Scored positions in the chunks.
    public var positions: Int
    /// Positions the server answered and that were compared.
    public var compared: Int
    /// Prefixes whose text does not encode back to the same tokens under REF's tokenizer (a BPE boundary or a cut
    /// UTF-8 sequence): not asked, since the server could not see the same tokens.
    public var skippedPrefixes: Int
    /// Answers whose `usage.prompt_tokens` differs from the prefix's length: not compared.
    public var promptTokenMismatches: Int
    /// Set when the server tokenized the first chunk differently from REF: the comparison stopped there.
    public var tokenizationMismatch: String?
    public var sameTop1: Double
    public var kld: Distribution
    /// Positions whose target token is in CAND's top-k, and the perplexity of both over exactly those.
    public var targetInTopK: Int
    public var pplRef: Double
    public var pplCand: Double
    public var seconds: Double

    /// Compares `reference` with the server behind `endpoint` on `tokens` (REF's tokenization of the text).
    ///
    /// - Throws: ``EndpointError`` when the server cannot be used (after retries); engine errors.
    public static func compare(
        reference: InferenceEngine, tokenizer: BPETokenizer, endpoint: OpenAIEndpoint, tokens: [Int], ctx: Int, chunkLimit: Int?,
        k: Int = 10, workers: Int = 1, progress: ((Int, Int) -> Void)? = nil
    ) throws -> EndpointLogitParity {
        let start = DispatchTime.now().uptimeNanoseconds
        let chunks = Perplexity.chunks(tokenCount: tokens.count, ctx: ctx, limit: chunkLimit)
        guard !chunks.isEmpty else { throw EvaluationError.textTooShort(tokens: tokens.count, ctx: ctx) }
        let vocab = reference.config.vocab, scored = Perplexity.scoredPositions(ctx: ctx), first = Perplexity.firstScored(ctx: ctx)
        var result = EndpointLogitParity(
            k: k, style: .chat, ctx: ctx, chunks: chunks.count, positions: chunks.count * scored.count, compared: 0, skippedPrefixes: 0,
            promptTokenMismatches: 0, tokenizationMismatch: nil, sameTop1: .nan, kld: Distribution([]), targetInTopK: 0, pplRef: .nan,
            pplCand: .nan, seconds: 0)

        // The server must make REF's tokens of the first chunk; and the answer's shape decides the request style.
        let firstChunk = Array(tokens[chunks[0]])
        let firstText = try tokenizer.decode(firstChunk)
        var probe: NextTokenLogProbs
        do {
            probe = try endpoint.nextTokenLogProbs(prompt: firstText, k: k, style: .chat)
        } catch {
            // A legacy server refused `logprobs: true` (or answered without log-probs): ask the legacy way.
            guard !error.isRetryable else { throw error }
            result.style = .legacy
            probe = try endpoint.nextTokenLogProbs(prompt: firstText, k: k, style: .legacy)
        }
        if result.style == .chat && probe.top.count < min(k, 2) {
            // A legacy server read `logprobs: true` as 1: ask the legacy way.
            result.style = .legacy
            probe = try endpoint.nextTokenLogProbs(prompt: firstText, k: k, style: .legacy)
        }
        if let n = probe.promptTokens, n != firstChunk.count {
            result.tokenizationMismatch =
                "the server made \(n) prompt tokens of the first chunk's text, REF made \(firstChunk.count): their tokenizers differ"
            result.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            return result
        }

        var kld: [Double] = [], same = 0
        var nllRef = NLLAccumulator(), nllCand = NLLAccumulator()
        let total = result.positions
        var done = 0
        for c in chunks {
            let chunk = Array(tokens[c])
            let logits = try reference.logits(chunk, logitRows: scored)
            // Each scored position's prompt: the chunk's text up to and including it.
            var prompts: [(row: Int, text: String)] = []
            for j in scored {
                let prefix = Array(chunk[0...j])
                let text = try tokenizer.decode(prefix)
                if tokenizer.encode(text, allowSpecial: false) == prefix {
                    prompts.append((j - first, text))
                } else {
                    result.skippedPrefixes += 1
                }
            }
            // Asked in two passes, every other prompt and then the rest (each ascending): consecutive requests then
            // never differ by exactly one final token. A server that caches each answered sequence (its prompt and
            // the token it generated) is thus never sent a prompt equal to a cached sequence, which mlx-lm 0.32.2's
            // server cannot handle; and each request extends the cached one by two tokens, so a prefix cache
            // computes only those (docs/evaluation.md, "Logits from a server").
            let evens = stride(from: 0, to: prompts.count, by: 2).map { prompts[$0] }
            prompts = evens + stride(from: 1, to: prompts.count, by: 2).map { prompts[$0] }
            let style = result.style
            let answers = try parallelMap(count: prompts.count, workers: max(1, workers)) { i in
                try endpoint.nextTokenLogProbs(prompt: prompts[i].text, k: k, style: style)
            }
            for (prompt, answer) in zip(prompts, answers) {
                let row = prompt.row, position = first + row
                if let n = answer.promptTokens, n != position + 1 {
                    result.promptTokenMismatches += 1
                    continue
                }
                let lpR = logits.withUnsafeBufferPointer {
                    Perplexity.logSoftmax(UnsafeBufferPointer(rebasing: $0[(row * vocab)..<((row + 1) * vocab)]))
                }
                let ids = answer.top.map { $0.id ?? tokenizer.encode($0.token, allowSpecial: true).singleElement ?? -1 }
                var argR = 0
                for v in 0..<vocab where lpR[v] > lpR[argR] { argR = v }
                if ids.first == argR { same += 1 }
                // KLD over CAND's top-k (ids REF knows, each once) plus the rest of both distributions as one bucket.
                var seen = Set<Int>(), pIn = 0.0, qIn = 0.0, sum = 0.0
                for (id, entry) in zip(ids, answer.top) where id >= 0 && id < vocab && seen.insert(id).inserted {
                    let p = Foundation.exp(lpR[id]), q = Foundation.exp(entry.logprob)
                    pIn += p
                    qIn += q
                    if p > 0 { sum += p * (lpR[id] - entry.logprob) }
                }
                let pTail = max(0, 1 - pIn), qTail = max(1e-12, 1 - qIn)
                if pTail > 0 { sum += pTail * Foundation.log(pTail / qTail) }
                kld.append(max(0, sum))
                let target = chunk[position + 1]
                if let k = ids.firstIndex(of: target) {
                    result.targetInTopK += 1
                    nllRef.add(-lpR[target])
                    nllCand.add(-answer.top[k].logprob)
                }
            }
            done += scored.count
            progress?(done, total)
        }
        result.compared = kld.count
        result.sameTop1 = kld.isEmpty ? .nan : Double(same) / Double(kld.count)
        result.kld = Distribution(kld)
        result.pplRef = nllRef.perplexity
        result.pplCand = nllCand.perplexity
        result.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return result
    }
}

extension Array {
    /// The only element, or nil.
    fileprivate var singleElement: Element? { count == 1 ? first : nil }
}

extension EndpointLogitParity {
    /// The report as JSON (the `server_logits` member of `eval parity --json`).
    public var json: JSONValue {
        func number(_ x: Double) -> JSONValue { x.isFinite ? .number(String(x)) : .null }
        var members: [(key: String, value: JSONValue)] = [
            ("method", .string(Self.method)), ("k", .int(k)), ("request_style", .string(style.rawValue)), ("ctx", .int(ctx)),
            ("chunks", .int(chunks)), ("positions", .int(positions)), ("compared", .int(compared)),
            ("skipped_prefixes", .int(skippedPrefixes)), ("prompt_token_mismatches", .int(promptTokenMismatches)),
        ]
        if let tokenizationMismatch { members.append(("tokenization_mismatch", .string(tokenizationMismatch))) }
        members += [
            ("same_top1", number(sameTop1)), ("kld_topk_mean", number(kld.mean)),
            ("kld_topk_p99", kld.value("99%").map(number) ?? .null), ("kld_topk_max", kld.value("max").map(number) ?? .null),
            ("target_in_topk", .int(targetInTopK)), ("ppl_ref_where_target_in_topk", number(pplRef)),
            ("ppl_cand_where_target_in_topk", number(pplCand)), ("seconds", number(seconds)),
        ]
        return .object(members)
    }

    /// The human-readable lines.
    public var text: String {
        var lines = ["server logits  \(Self.method); k = \(k), \(style.rawValue)-style requests"]
        if let tokenizationMismatch {
            lines.append("  stopped: \(tokenizationMismatch)")
            return lines.joined(separator: "\n")
        }
        lines.append(
            "  compared \(compared) of \(positions) positions (ctx \(ctx) × \(chunks)); \(skippedPrefixes) prefixes not re-encodable, "
                + "\(promptTokenMismatches) answers with another prompt length")
        lines.append(
            String(
                format: "  same top-1 %.4f   KLD top-k mean %.6f  max %.6f", sameTop1, kld.mean, kld.value("max") ?? .nan))
        lines.append(
            String(
                format: "  target in top-%d: %d positions; PPL there: REF %.4f  CAND %.4f", k, targetInTopK, pplRef, pplCand))
        return lines.joined(separator: "\n")
    }
}
