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
    /// cache.count ..< cache.count + T, appends their latents to the cache and returns o_proj's output [T × hidden].
    func attention(_ l: Int, _ w: LayerWeights, x: [Float], tokens: Int, cache: KVCache) -> [Float] {
        let c = config
        let start = cache.count, total = start + tokens
        let qhd = c.qHeadDim, qWidth = c.heads * qhd, lw = c.latentWidth, r = c.kvLoraRank
        // Queries.
        var q: [Float]
        if let qB = w.qB, let norm = w.qANorm {
            var cq = linear(w.qA, x, tokens: tokens, threads: threads)
            rmsNorm(&cq, rows: tokens, width: w.qA.rows, weight: norm, eps: c.latentEps)
            q = linear(qB, cq, tokens: tokens, threads: threads)
        } else {
            q = linear(w.qA, x, tokens: tokens, threads: threads)
        }
        // Latents: normalised compressed KV and the rotated shared key, appended to the cache.
        var kv = linear(w.kvA, x, tokens: tokens, threads: threads)
        rmsNorm(&kv, rows: tokens, width: r, weight: w.kvANorm, eps: c.latentEps, stride: lw)
        kv.withUnsafeMutableBufferPointer { p in
            for t in 0..<tokens { rope(p.baseAddress! + t * lw + r, position: start + t) }
        }
        q.withUnsafeMutableBufferPointer { p in
            for t in 0..<tokens {
                for h in 0..<c.heads { rope(p.baseAddress! + t * qWidth + h * qhd + c.nopeDim, position: start + t) }
            }
        }
        cache.layers[l].append(contentsOf: kv)
        // kv_b: per head, W_UK (nope rows) then W_UV (value rows), each × kv_lora_rank. A few tokens (decode) go
        // through the direct kernels, reading BF16/F16/F32 rows as stored (FP8 blocks widened first, so they give
        // exactly what their f32 dequantization gives); many tokens widen kv_b to f32 once for this call and use sgemm.
        let kvb = w.kvB
        let few = tokens <= DenseKernel.directTokens
        var stored: (bytes: UnsafeRawPointer, kind: Int32, elementBytes: Int)?
        if case .dense(let dtype) = kvb.storage { stored = (kvb.bytes.baseAddress!, DenseKernel.kind(dtype), dtype.bits / 8) }
        let widen = !few || stored == nil
        var wkv = [Float](repeating: 0, count: widen ? kvb.rows * kvb.cols : 0)
        if widen {
            wkv.withUnsafeMutableBufferPointer { p in
                let b = p.baseAddress!
                parallelBlocks(count: kvb.rows, block: 64, threads: threads) { r0, r1 in kvb.convertRows(r0, r1, into: b + r0 * kvb.cols) }
            }
        }
        let isa = c.isa.rawValue
        var out = [Float](repeating: 0, count: tokens * c.heads * c.valueDim)
        let scale = c.softmaxScale
        cache.layers[l].withUnsafeBufferPointer { cacheBuffer in
            let latents = cacheBuffer.baseAddress!
            q.withUnsafeBufferPointer { qp in
                wkv.withUnsafeBufferPointer { wp in
                    out.withUnsafeMutableBufferPointer { op in
                        let qBase = qp.baseAddress!, wBase = wp.baseAddress, oBase = op.baseAddress!
                        let direct = few ? (stored ?? (UnsafeRawPointer(wBase!), INGOT_W_F32, 4)) : nil
                        parallelBlocks(count: c.heads, block: 1, threads: threads) { h0, h1 in
                            var qcat = [Float](repeating: 0, count: tokens * lw)
                            var scores = [Float](repeating: 0, count: tokens * total)
                            var context = [Float](repeating: 0, count: tokens * r)
                            for h in h0..<h1 {
                                let headOffset = h * (c.nopeDim + c.valueDim) * r
                                qcat.withUnsafeMutableBufferPointer { qc in
                                    // q̃ = q_nope · W_UK (T × r), then the rotated q_rope beside it.
                                    if let direct {
                                        ingot_dense_matmul_t(
                                            direct.bytes + headOffset * direct.elementBytes, direct.kind, Int64(c.nopeDim), Int64(r),
                                            qBase + h * qhd, Int64(qWidth), qc.baseAddress!, Int64(lw), Int64(tokens), isa)
                                    } else {
                                        BLAS.sgemm(
                                            qBase + h * qhd, lda: qWidth, wBase! + headOffset, ldb: r, transposeB: false, qc.baseAddress!,
                                            ldc: lw, m: tokens, n: r, k: c.nopeDim)
                                    }
                                    for t in 0..<tokens {
                                        (qc.baseAddress! + t * lw + r).update(
                                            from: qBase + t * qWidth + h * qhd + c.nopeDim, count: c.ropeDim)
                                    }
                                    scores.withUnsafeMutableBufferPointer { sp in
                                        BLAS.sgemm(
                                            qc.baseAddress!, lda: lw, latents, ldb: lw, transposeB: true, sp.baseAddress!, ldc: total,
                                            m: tokens, n: total, k: lw)
                                        for t in 0..<tokens {
                                            softmaxCausal(sp.baseAddress! + t * total, valid: start + t + 1, count: total, scale: scale)
                                        }
                                        context.withUnsafeMutableBufferPointer { cp in
                                            BLAS.sgemm(
                                                sp.baseAddress!, lda: total, latents, ldb: lw, transposeB: false, cp.baseAddress!, ldc: r,
                                                m: tokens, n: r, k: total)
                                            // o_h = context · W_UVᵀ into the head's columns.
                                            if let direct {
                                                ingot_dense_matmul(
                                                    direct.bytes + (headOffset + c.nopeDim * r) * direct.elementBytes, direct.kind,
                                                    Int64(r),
                                                    cp.baseAddress!, Int64(r), oBase + h * c.valueDim, Int64(c.heads * c.valueDim),
                                                    Int64(tokens), 0, Int64(c.valueDim), isa)
                                            } else {
                                                BLAS.sgemm(
                                                    cp.baseAddress!, lda: r, wBase! + headOffset + c.nopeDim * r, ldb: r, transposeB: true,
                                                    oBase + h * c.valueDim, ldc: c.heads * c.valueDim, m: tokens, n: c.valueDim, k: r)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return linear(w.o, out, tokens: tokens, threads: threads)
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
