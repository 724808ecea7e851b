import Foundation

/// The buffers of one forward pass at a time (docs/engine.md, "Run state"): allocated once per engine, grown to the
/// largest batch and context seen, and reused across layers and tokens, so a decoded token allocates nothing on its
/// way through the layers. An engine keeps a pool of them; each call of `forward` or `logitsStreamed` holds one.
final class RunState: @unchecked Sendable {
    // Sendable: used by one forward pass at a time (the engine's pool hands it out under its lock).

    /// A growable f32 buffer, 64-byte aligned; its contents are undefined after it grows.
    final class Buffer {
        private(set) var pointer: UnsafeMutablePointer<Float>
        private(set) var capacity: Int

        init() {
            capacity = 16
            pointer = Self.allocate(capacity)
        }

        deinit { UnsafeMutableRawPointer(pointer).deallocate() }

        private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
            UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
                .bindMemory(to: Float.self, capacity: count)
        }

        /// At least `count` bytes of raw storage (integer or half-precision data), 64-byte aligned.
        func reserve(bytes count: Int) -> UnsafeMutableRawPointer {
            UnsafeMutableRawPointer(reserve((count + 3) / 4))
        }

        /// At least `count` floats; grows geometrically (a decode's score rows grow by one position per token).
        func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
            if count > capacity {
                UnsafeMutableRawPointer(pointer).deallocate()
                capacity = max(count, capacity + capacity / 2)
                pointer = Self.allocate(capacity)
            }
            return pointer
        }

        /// `count` floats set to zero.
        func zeroed(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = reserve(count)
            p.update(repeating: 0, count: count)
            return p
        }
    }

    /// A growable buffer of integers (routing), same policy as ``Buffer``.
    final class Indices {
        private(set) var pointer: UnsafeMutablePointer<Int>
        private(set) var capacity: Int

        init() {
            capacity = 16
            pointer = .allocate(capacity: capacity)
        }

        deinit { pointer.deallocate() }

        func reserve(_ count: Int) -> UnsafeMutablePointer<Int> {
            if count > capacity {
                pointer.deallocate()
                capacity = max(count, capacity + capacity / 2)
                pointer = .allocate(capacity: capacity)
            }
            return pointer
        }
    }

    /// One worker's private buffers (attention heads, routed experts).
    final class Worker {
        let qcat = Buffer(), scores = Buffer(), context = Buffer()
        let input = Buffer(), gate = Buffer(), up = Buffer()
        /// The GEMM's packed weight panel (attention products for many tokens).
        let panel = Buffer()
        /// The linear products this worker runs alone (a routed expert's).
        let linear = LinearScratch(workers: 1)
    }

    /// The normed hidden rows, the attention's and the FFN's outputs [T × hidden].
    let normed = Buffer(), attention = Buffer(), ffn = Buffer()
    /// Several sequences' hidden rows side by side for one feed-forward pass (layer-wise evaluation).
    let batchRows = Buffer()
    /// Attention: q's compressed form, q, the new latents, the heads' outputs, kv_b widened for many tokens.
    let compressedQ = Buffer(), q = Buffer(), latents = Buffer(), heads = Buffer(), kvB = Buffer()
    /// Attention for many tokens: the cached compressed latents transposed [kv_lora_rank × positions].
    let latentsT = Buffer()
    /// Each head's W_UK transposed ([heads × kv_lora_rank × qk_nope_head_dim]) for many tokens' q̃ product.
    let kvUKT = Buffer()
    /// Dense MLP and shared experts: gate and up projections; the shared experts' output.
    let gate = Buffer(), up = Buffer(), shared = Buffer()
    /// MoE: router logits [T × experts], one token's scores and choice scores [experts], the routed experts' output
    /// rows [T × k × hidden], group scores.
    let router = Buffer(), scores = Buffer(), choice = Buffer(), expertRows = Buffer(), groupScores = Buffer()
    /// MoE: chosen experts and weights per token [T × k]; per expert the number of its rows and where they start;
    /// the (token, weight) of each row, grouped by expert.
    let chosen = Indices(), rowCount = Indices(), rowStart = Indices(), rowToken = Indices(), active = Indices(), top = Indices()
    let chosenWeight = Buffer(), rowWeight = Buffer()
    /// Logits handed to a consumer one sequence at a time [rows × vocab] (``InferenceEngine/logitsLayerwise(_:hook:routing:logitRows:batchRows:consume:)``).
    let logits = Buffer()
    /// Per worker thread.
    let workers: [Worker]
    /// The linear products that run on all workers.
    let linear: LinearScratch

    init(threads: Int) {
        workers = (0..<max(1, threads)).map { _ in Worker() }
        linear = LinearScratch(workers: threads)
    }
}
