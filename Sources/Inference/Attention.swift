internal import CKernels
import Dispatch
import Foundation
import TensorIO

extension InferenceEngine {
    /// Rotates interleaved pairs (2j, 2j+1) of `count`... rope values at `row` by pos × inv_freq[j]
    /// (docs/engine.md, "Forward pass": the checkpoint's own pair layout; HF de-interleaves, which permutes q and k alike).
    func rope(_ v: UnsafeMutablePointer<Float>, position: Int) {
        let f = config.inverseFrequencies, scale = config.ropeAttentionFactor
        for j in 0..<f.count {
            let angle = Float(position) * f[j]
            let c = Float(cos(Double(angle))) * scale, s = Float(sin(Double(angle))) * scale
            let a = v[2 * j], b = v[2 * j + 1]
            v[2 * j] = a * c - b * s
            v[2 * j + 1] = b * c + a * s
        }
    }

    /// MLA in the absorbed form (docs/engine.md, "Forward pass") over the latent cache: for T new tokens at positions
    /// cache.count ..< cache.count + T, appends their latents to the cache and writes o_proj's output [T × hidden] to
    /// `y`. Works in the run state's buffers.
    func attention(
        _ l: Int, _ w: LayerWeights, x: UnsafePointer<Float>, tokens: Int, cache: KVCache, state: RunState,
        into y: UnsafeMutablePointer<Float>
    ) {
        let c = config
        let start = cache.count, total = start + tokens
        let qhd = c.qHeadDim, qWidth = c.heads * qhd, lw = c.latentWidth, r = c.kvLoraRank
        // Queries.
        let q: UnsafeMutablePointer<Float>
        if let qB = w.qB, let norm = w.qANorm {
            let cq = state.compressedQ.reserve(tokens * w.qA.rows)
            linear(w.qA, x, tokens: tokens, threads: threads, scratch: state.linear, into: cq)
            rmsNorm(cq, rows: tokens, width: w.qA.rows, weight: norm, eps: c.latentEps)
            q = state.q.reserve(tokens * qB.rows)
            linear(qB, cq, tokens: tokens, threads: threads, scratch: state.linear, into: q)
        } else {
            q = state.q.reserve(tokens * w.qA.rows)
            linear(w.qA, x, tokens: tokens, threads: threads, scratch: state.linear, into: q)
        }
        // Latents: normalised compressed KV and the rotated shared key, appended to the cache.
        let kv = state.latents.reserve(tokens * lw)
        linear(w.kvA, x, tokens: tokens, threads: threads, scratch: state.linear, into: kv)
        rmsNorm(kv, rows: tokens, width: r, weight: w.kvANorm, eps: c.latentEps, stride: lw)
        for t in 0..<tokens {
            rope(kv + t * lw + r, position: start + t)
            for h in 0..<c.heads { rope(q + t * qWidth + h * qhd + c.nopeDim, position: start + t) }
        }
        cache.layers[l].append(contentsOf: UnsafeBufferPointer(start: kv, count: tokens * lw))
        // kv_b: per head, W_UK (nope rows) then W_UV (value rows), each × kv_lora_rank. A few tokens (decode) go
        // through the direct kernels, reading BF16/F16/F32 rows as stored (FP8 blocks widened first, so they give
        // exactly what their f32 dequantization gives); many tokens widen kv_b to f32 once for this call and use the GEMM.
        let kvb = w.kvB
        let few = tokens <= DenseKernel.directTokens
        var stored: (bytes: UnsafeRawPointer, kind: Int32, elementBytes: Int)?
        if case .dense(let dtype) = kvb.storage { stored = (kvb.bytes.baseAddress!, DenseKernel.kind(dtype), dtype.bits / 8) }
        var wide: UnsafeMutablePointer<Float>?
        if !few || stored == nil {
            let b = state.kvB.reserve(kvb.rows * kvb.cols)
            parallelBlocks(count: kvb.rows, block: 64, threads: threads) { r0, r1 in kvb.convertRows(r0, r1, into: b + r0 * kvb.cols) }
            wide = b
        }
        let isa = c.isa.rawValue
        // Many tokens: each head's W_UK transposed once for this call ([r × nope], rows = the product's outputs), so
        // q̃ = q_nope · W_UK goes through the engine's GEMM like the other products (docs/engine.md, "Forward pass").
        var ukT: UnsafeMutablePointer<Float>?
        if !few, let wide {
            let nope = c.nopeDim, t = state.kvUKT.reserve(c.heads * r * nope)
            parallelBlocks(count: c.heads, block: 1, threads: threads) { h0, h1 in
                for h in h0..<h1 {
                    let src = wide + h * (c.nopeDim + c.valueDim) * r, dst = t + h * r * nope
                    for i in 0..<nope { for j in 0..<r { dst[j * nope + i] = src[i * r + j] } }
                }
            }
            ukT = t
        }
        let out = state.heads.reserve(tokens * c.heads * c.valueDim)
        let scale = c.softmaxScale
        let direct = few ? (stored ?? (UnsafeRawPointer(wide!), INGOT_W_F32, 4)) : nil
        cache.layers[l].withUnsafeBufferPointer { cacheBuffer in
            let latents = cacheBuffer.baseAddress!
            // Many tokens: the score and context products go through the engine's GEMM (docs/engine.md, "Run
            // state"), the context one on the compressed latents transposed once for all heads.
            var transposed: UnsafeMutablePointer<Float>?
            if !few {
                let lt = state.latentsT.reserve(r * total)
                for s in 0..<total {
                    for j in 0..<r { lt[j * total + s] = latents[s * lw + j] }
                }
                transposed = lt
            }
            let panelFloats = few ? 0 : Int(GEMM_NR * GEMM_KC)
            parallelBlocks(count: c.heads, block: 1, threads: threads) { worker, h0, h1 in
                let scratch = state.workers[worker]
                let qc = scratch.qcat.reserve(tokens * lw), sp = scratch.scores.reserve(tokens * total)
                let cp = scratch.context.reserve(tokens * r)
                let panel = scratch.panel.reserve(panelFloats)
                for h in h0..<h1 {
                    let headOffset = h * (c.nopeDim + c.valueDim) * r
                    // q̃ = q_nope · W_UK (T × r), then the rotated q_rope beside it.
                    if let direct {
                        ingot_dense_matmul_t(
                            direct.bytes + headOffset * direct.elementBytes, direct.kind, Int64(c.nopeDim), Int64(r), q + h * qhd,
                            Int64(qWidth), qc, Int64(lw), Int64(tokens), isa)
                    } else {
                        var uk = ingot_weight(
                            kind: INGOT_W_F32, data: ukT! + h * r * c.nopeDim, scales: nil, rows: Int64(r), cols: Int64(c.nopeDim),
                            tile_rows: 0)
                        ingot_gemm(&uk, q + h * qhd, Int64(qWidth), qc, Int64(lw), Int64(tokens), 0, Int64(r), panel, isa)
                    }
                    for t in 0..<tokens { (qc + t * lw + r).update(from: q + t * qWidth + h * qhd + c.nopeDim, count: c.ropeDim) }
                    if transposed != nil {
                        var scores = ingot_weight(
                            kind: INGOT_W_F32, data: latents, scales: nil, rows: Int64(total), cols: Int64(lw), tile_rows: 0)
                        ingot_gemm(&scores, qc, Int64(lw), sp, Int64(total), Int64(tokens), 0, Int64(total), panel, isa)
                    } else {
                        BLAS.sgemm(qc, lda: lw, latents, ldb: lw, transposeB: true, sp, ldc: total, m: tokens, n: total, k: lw)
                    }
                    for t in 0..<tokens { softmaxCausal(sp + t * total, valid: start + t + 1, count: total, scale: scale) }
                    if let lt = transposed {
                        var context = ingot_weight(
                            kind: INGOT_W_F32, data: lt, scales: nil, rows: Int64(r), cols: Int64(total), tile_rows: 0)
                        ingot_gemm(&context, sp, Int64(total), cp, Int64(r), Int64(tokens), 0, Int64(r), panel, isa)
                    } else {
                        BLAS.sgemm(sp, lda: total, latents, ldb: lw, transposeB: false, cp, ldc: r, m: tokens, n: r, k: total)
                    }
                    // o_h = context · W_UVᵀ into the head's columns.
                    if let direct {
                        ingot_dense_matmul(
                            direct.bytes + (headOffset + c.nopeDim * r) * direct.elementBytes, direct.kind, Int64(r), cp, Int64(r),
                            out + h * c.valueDim, Int64(c.heads * c.valueDim), Int64(tokens), 0, Int64(c.valueDim), isa)
                    } else if let stored {
                        // o_h = context · W_UVᵀ from kv_b's stored rows, through the GEMM.
                        var values = ingot_weight(
                            kind: stored.kind, data: stored.bytes + (headOffset + c.nopeDim * r) * stored.elementBytes, scales: nil,
                            rows: Int64(c.valueDim), cols: Int64(r), tile_rows: 0)
                        ingot_gemm(
                            &values, cp, Int64(r), out + h * c.valueDim, Int64(c.heads * c.valueDim), Int64(tokens), 0,
                            Int64(c.valueDim), panel, isa)
                    } else {
                        BLAS.sgemm(
                            cp, lda: r, wide! + headOffset + c.nopeDim * r, ldb: r, transposeB: true, out + h * c.valueDim,
                            ldc: c.heads * c.valueDim, m: tokens, n: c.valueDim, k: r)
                    }
                }
            }
        }
        linear(w.o, out, tokens: tokens, threads: threads, scratch: state.linear, into: y)
    }
}

/// Scaled, causally masked softmax of one score row in f32: entries < valid are kept, the rest become 0.
func softmaxCausal(_ row: UnsafeMutablePointer<Float>, valid: Int, count: Int, scale: Float) {
    var m = -Float.infinity
    for s in 0..<valid {
        row[s] *= scale
        m = max(m, row[s])
    }
    var sum: Float = 0
    for s in 0..<valid {
        let e = Foundation.exp(row[s] - m)
        row[s] = e
        sum += e
    }
    let inv = 1 / sum
    for s in 0..<valid { row[s] *= inv }
    for s in valid..<count { row[s] = 0 }
}
