internal import Checkpoint
import Dispatch
import Foundation
import Synchronization
import TensorIO

/// The latent KV cache of one sequence: per layer and position, the normalised compressed KV (kv_lora_rank values)
/// followed by the rotated shared rope key (qk_rope_head_dim values) — 576 floats per token per layer for K2.
public final class KVCache: @unchecked Sendable {
    // Sendable: used by one sequence's forward pass at a time.
    var layers: [[Float]]
    /// Positions already in the cache.
    public internal(set) var count: Int = 0

    init(layers: Int) {
        self.layers = [[Float]](repeating: [], count: layers)
    }
}

/// The DeepSeek-V3 / Kimi-K2 forward pass on CPU, configured entirely from config.json, with weights read in place
/// (docs/engine.md).
public final class InferenceEngine: @unchecked Sendable {
    // Sendable: immutable after init but for the layer-weight cache, filled under `lock`.
    public let config: EngineConfig
    public let source: any WeightSource
    /// Worker threads for kernels (both cores by default).
    public let threads: Int
    let embed: LinearWeight
    let finalNorm: [Float]
    let lmHead: LinearWeight
    private let lock = NSLock()
    private var layerWeights: [LayerWeights?]
    private var lastStreamTiming: StreamTiming?
    /// Run states not in use (one per concurrent forward pass; docs/engine.md, "Run state").
    private var runStates: [RunState] = []

    /// Where the time of the last layer-streamed evaluation went.
    public var streamTiming: StreamTiming? {
        lock.lock()
        defer { lock.unlock() }
        return lastStreamTiming
    }

    /// Called after each decoder layer with the hidden states [tokens × hidden] (layer index 0-based).
    public typealias HiddenStateHook = (_ layer: Int, _ hidden: UnsafeBufferPointer<Float>, _ tokens: Int) -> Void

    /// Routing decisions of one MoE layer: for each token, the selected experts (ascending).
    public typealias RoutingHook = (_ layer: Int, _ experts: [[Int]]) -> Void

    /// Routing decisions when several sequences are evaluated: the sequence's index comes first.
    public typealias SequenceRoutingHook = (_ sequence: Int, _ layer: Int, _ experts: [[Int]]) -> Void

    public init(
        source: any WeightSource, threads: Int = defaultThreads,
        latentNormEps: EngineConfig.LatentNormEps = .transformers, int4Activations: Int4Activations = .f32,
        isa: KernelISA = .best
    ) throws {
        self.source = source
        self.threads = max(1, threads)
        var c = EngineConfig(source.config, latentNormEps: latentNormEps)
        c.int4Activations = int4Activations
        c.isa = min(isa, KernelISA.best)
        config = c
        embed = try source.linear(TensorAddress(component: .embedTokens), rows: c.vocab, cols: c.hidden)
        finalNorm = try source.vector(TensorAddress(component: .finalNorm), count: c.hidden)
        lmHead = try source.linear(TensorAddress(component: .lmHead), rows: c.vocab, cols: c.hidden)
        layerWeights = [LayerWeights?](repeating: nil, count: c.layers)
        BLAS.useOneThread()
    }

    /// A fresh cache for one sequence.
    public func makeCache() -> KVCache { KVCache(layers: config.layers) }

    /// Runs `body` with a run state of the pool (created on first need, returned afterwards).
    func withRunState<R>(_ body: (RunState) throws -> R) rethrows -> R {
        lock.lock()
        let state = runStates.popLast() ?? RunState(threads: threads)
        lock.unlock()
        defer {
            lock.lock()
            runStates.append(state)
            lock.unlock()
        }
        return try body(state)
    }

    func weights(_ l: Int) throws -> LayerWeights {
        lock.lock()
        defer { lock.unlock() }
        if let w = layerWeights[l] { return w }
        let w = try LayerWeights(layer: l, config: config, source: source)
        layerWeights[l] = w
        return w
    }

    func forget(_ l: Int) {
        lock.lock()
        layerWeights[l] = nil
        lock.unlock()
    }

    /// Embedding rows of `tokens` [T × hidden].
    func embedTokens(_ tokens: [Int]) throws -> [Float] {
        let hd = config.hidden
        var h = [Float](repeating: 0, count: tokens.count * hd)
        for (t, id) in tokens.enumerated() {
            guard id >= 0 && id < config.vocab else { throw InferenceError.tokenOutOfRange(token: id, vocab: config.vocab) }
            h.withUnsafeMutableBufferPointer { embed.convertRows(id, id + 1, into: $0.baseAddress! + t * hd) }
        }
        return h
    }

    /// Final norm and lm_head for the positions `rows` of the T hidden rows in `h`: logits [rows.count × vocab].
    /// Positions outside `rows` are never normed nor multiplied (perplexity scores only the second half of a chunk).
    func head(_ h: [Float], rows: Range<Int>, state: RunState) -> [Float] {
        var logits = [Float](repeating: 0, count: rows.count * config.vocab)
        logits.withUnsafeMutableBufferPointer { head(h, rows: rows, state: state, into: $0.baseAddress!) }
        return logits
    }

    /// ``head(_:rows:state:)`` into `out` [rows.count × vocab].
    func head(_ h: [Float], rows: Range<Int>, state: RunState, into out: UnsafeMutablePointer<Float>) {
        let hd = config.hidden, n = rows.count
        guard n > 0 else { return }
        let x = state.normed.reserve(n * hd)
        h.withUnsafeBufferPointer { x.update(from: $0.baseAddress! + rows.lowerBound * hd, count: n * hd) }
        rmsNorm(x, rows: n, width: hd, weight: finalNorm, eps: config.rmsEps)
        linear(lmHead, x, tokens: n, threads: threads, scratch: state.linear, into: out)
    }

    /// The positions of `tokens` new positions whose logits are wanted: all of them, or `wanted` clamped to them.
    static func headRows(_ tokens: Int, _ wanted: Range<Int>?) -> Range<Int> {
        guard let wanted else { return 0..<tokens }
        return wanted.clamped(to: 0..<tokens)
    }

    /// Runs `tokens` (appended after what `cache` holds) through the model; returns logits for every new position
    /// [T × vocab], or only for the new positions in `logitRows` ([logitRows.count × vocab], row i is position
    /// logitRows.lowerBound + i). The cache grows by T positions.
    public func forward(
        _ tokens: [Int], cache: KVCache, hook: HiddenStateHook? = nil, routing: RoutingHook? = nil, logitRows: Range<Int>? = nil
    ) throws -> [Float] {
        guard !tokens.isEmpty else { return [] }
        var h = try embedTokens(tokens)
        return try withRunState { state in
            for l in 0..<config.layers {
                try layerStep(l, try weights(l), h: &h, tokens: tokens.count, cache: cache, routing: routing, state: state)
                if let hook { h.withUnsafeBufferPointer { hook(l, $0, tokens.count) } }
            }
            cache.count += tokens.count
            return head(h, rows: Self.headRows(tokens.count, logitRows), state: state)
        }
    }

    /// Logits for every position of a sequence (a fresh cache), or for the positions in `logitRows`.
    public func logits(
        _ tokens: [Int], hook: HiddenStateHook? = nil, routing: RoutingHook? = nil, logitRows: Range<Int>? = nil
    ) throws -> [Float] {
        try forward(tokens, cache: makeCache(), hook: hook, routing: routing, logitRows: logitRows)
    }

    /// Logits of several independent sequences (each from a fresh cache), computed layer by layer: every sequence
    /// passes layer L before any touches layer L+1, and the feed-forward half takes consecutive sequences together
    /// (``feedForwardBatchRows``), so a routed expert's weights are dequantized once for the tokens of all of them.
    /// The same logits as ``logits(_:hook:routing:logitRows:)`` per sequence, bit for bit, whatever `batchRows` (the
    /// batch's size in rows; tests make it small); the weights stay resident
    /// (``logitsStreamed(_:hook:routing:progress:logitRows:serial:)`` is the form for models larger than memory).
    public func logitsLayerwise(
        _ sequences: [[Int]], hook: ((_ sequence: Int, _ layer: Int, _ hidden: UnsafeBufferPointer<Float>) -> Void)? = nil,
        routing: SequenceRoutingHook? = nil, logitRows: Range<Int>? = nil, batchRows: Int = feedForwardBatchRows
    ) throws -> [[Float]] {
        var out = [[Float]](repeating: [], count: sequences.count)
        try logitsLayerwise(sequences, hook: hook, routing: routing, logitRows: logitRows, batchRows: batchRows) { i, logits in
            out[i] = Array(logits)
        }
        return out
    }

    /// ``logitsLayerwise(_:hook:routing:logitRows:batchRows:)`` handing each non-empty sequence's logits to
    /// `consume` in sequence order, in one buffer of the run state reused for every sequence and call: a perplexity
    /// run scores them there instead of holding every sequence's logits at once in memory touched for the first
    /// time (about 0.7 GB at ctx 512 × 4 and K2's vocabulary; docs/engine.md, "Run state").
    public func logitsLayerwise(
        _ sequences: [[Int]], hook: ((_ sequence: Int, _ layer: Int, _ hidden: UnsafeBufferPointer<Float>) -> Void)? = nil,
        routing: SequenceRoutingHook? = nil, logitRows: Range<Int>? = nil, batchRows: Int = feedForwardBatchRows,
        consume: (_ sequence: Int, _ logits: UnsafeBufferPointer<Float>) throws -> Void
    ) throws {
        var hidden = try sequences.map { try embedTokens($0) }
        try withRunState { state in
            for l in 0..<config.layers {
                try layerStep(l, try weights(l), hidden: &hidden, routing: routing, batchRows: batchRows, state: state)
                if let hook { for i in hidden.indices where !hidden[i].isEmpty { hidden[i].withUnsafeBufferPointer { hook(i, l, $0) } } }
            }
            for (i, tokens) in sequences.enumerated() where !tokens.isEmpty {
                let rows = Self.headRows(tokens.count, logitRows), count = rows.count * config.vocab
                let logits = state.logits.reserve(count)
                head(hidden[i], rows: rows, state: state, into: logits)
                try consume(i, UnsafeBufferPointer(start: logits, count: count))
            }
        }
    }

    /// Layer-streamed evaluation of several sequences: every sequence passes layer L before any touches layer L+1,
    /// and each layer's weights are released once it is done, so only one layer is resident at a time (a model far
    /// larger than RAM can be evaluated). Gives the same logits as ``logits(_:hook:routing:logitRows:)``, bit for bit.
    public func logitsStreamed(
        _ sequences: [[Int]], hook: ((_ sequence: Int, _ layer: Int, _ hidden: UnsafeBufferPointer<Float>) -> Void)? = nil,
        routing: SequenceRoutingHook? = nil, progress: ((_ layer: Int) -> Void)? = nil, logitRows: Range<Int>? = nil,
        serial: Bool = false
    ) throws -> [[Float]] {
        try withRunState { state in
            try logitsStreamed(
                sequences, hook: hook, routing: routing, progress: progress, logitRows: logitRows, serial: serial, state: state)
        }
    }

    private func logitsStreamed(
        _ sequences: [[Int]], hook: ((_ sequence: Int, _ layer: Int, _ hidden: UnsafeBufferPointer<Float>) -> Void)?,
        routing: SequenceRoutingHook?, progress: ((_ layer: Int) -> Void)?, logitRows: Range<Int>?, serial: Bool, state: RunState
    ) throws -> [[Float]] {
        var timing = StreamTiming(serial: serial)
        let clock = { @Sendable in Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        // The next layer is read into the page cache by a background stage while this one computes (reading
        // blocks, so it must not run on the computing threads); after the last layer, lm_head is read. Pages done
        // with (the embedding, computed layers) are retired, and the reader evicts as many of them as it reads, so
        // new data lands in memory freed a moment earlier. In serial mode each layer is instead read completely
        // before it computes, timing the two apart (docs/engine.md, "Layer streaming").
        let lmHeadAddress = TensorAddress(component: .lmHead)
        // The reader may run one layer (the largest) plus a slack ahead of what was retired: it then reads the next
        // layer into this one's pages as this one's routed experts are done with, not into fresh memory. The slack is
        // 1 GiB, or the largest layer without routed experts: nothing of such a layer is retired before it is done,
        // so the next layer must fit beside it (docs/engine.md, "Layer streaming").
        let bytes = (0..<config.layers).map { source.layerBytes($0) }
        let denseLargest = bytes.indices.filter { !config.isMoE($0) }.map { bytes[$0] }.max() ?? 0
        let retired = RetiredPages(budget: serial ? nil : (bytes.max() ?? 0) + max(1 << 30, denseLargest))
        let reader = SerialStage(label: "ingot.prefetch")
        // The reader's busy seconds per job, waits for room left out: in an overlapped run, the read time of the same
        // bytes at the same moment.
        let readerSeconds = Mutex<[Double]>([])
        let read = { @Sendable (job: @escaping @Sendable () -> Void) in
            reader.submit {
                let t0 = clock(), waited = retired.waitedSeconds
                job()
                let busy = clock() - t0 - (retired.waitedSeconds - waited)
                readerSeconds.withLock { $0.append(busy) }
            }
        }
        defer {
            retired.close()  // a reader waiting for room must not wait for a computation that failed
            try? reader.drain()  // its jobs do not throw
            retired.evictAll()
        }
        if !serial { read { self.source.prefetch(layer: 0, room: retired) } }
        var hidden = try sequences.map { try embedTokens($0) }
        source.release(layer: nil)
        source.retire(TensorAddress(component: .embedTokens), to: retired)
        for l in 0..<config.layers {
            if serial {
                let t0 = clock()
                retired.evictAll()
                source.load(layer: l)
                timing.partReadSeconds.append(clock() - t0)
            } else if l + 1 < config.layers {
                read { self.source.prefetch(layer: l + 1, room: retired) }
            } else {
                // The head follows the last layer at once, so lm_head is read without waiting for room, as is the
                // rest of this layer if the reader is not done with it.
                retired.close()
                read { self.source.prefetch(lmHeadAddress, room: retired) }
            }
            let t0 = clock()
            // Half the batch of resident evaluation: a streamed run's memory is one layer plus the run state, and a
            // batch's buffers grow with its rows (the routed experts' output rows alone: rows × 8 × hidden floats).
            // In the layer's last batch, each routed expert is retired as soon as it is computed.
            try layerStep(
                l, try weights(l), hidden: &hidden, routing: routing, batchRows: Self.feedForwardBatchRows / 2, state: state,
                doneWithExpert: serial ? nil : { e in self.source.retire(layer: l, expert: e, to: retired) })
            if let hook { for i in hidden.indices where !hidden[i].isEmpty { hidden[i].withUnsafeBufferPointer { hook(i, l, $0) } } }
            let seconds = clock() - t0
            timing.computeSeconds += seconds
            timing.layerSeconds.append(seconds)
            forget(l)
            source.retire(layer: l, to: retired)
            progress?(l)
        }
        if serial {
            let t0 = clock()
            retired.evictAll()
            source.load(lmHeadAddress)
            timing.partReadSeconds.append(clock() - t0)
        }
        let t0 = clock()
        let logits = zip(hidden, sequences).map { h, tokens in
            tokens.isEmpty ? [] : head(h, rows: Self.headRows(tokens.count, logitRows), state: state)
        }
        timing.computeSeconds += clock() - t0
        source.release(layer: nil)
        if !serial {
            try reader.drain()
            timing.partReadSeconds = readerSeconds.withLock { $0 }
            timing.readWaitSeconds = retired.waitedSeconds
        }
        lock.lock()
        lastStreamTiming = timing
        lock.unlock()
        return logits
    }

    /// One decoder layer on [T × hidden], in place: h += Attn(norm(h)); h += FFN(norm(h)).
    func layerStep(
        _ l: Int, _ w: LayerWeights, h: inout [Float], tokens: Int, cache: KVCache, routing: RoutingHook?, state: RunState
    ) throws {
        try h.withUnsafeMutableBufferPointer { hb in
            attentionHalf(l, w, h: hb.baseAddress!, tokens: tokens, cache: cache, state: state)
            try feedForwardHalf(l, w, h: hb.baseAddress!, tokens: tokens, routing: routing, state: state)
        }
    }

    /// The attention half of a decoder layer on one sequence's [T × hidden] rows, in place: h += Attn(norm(h)).
    func attentionHalf(
        _ l: Int, _ w: LayerWeights, h: UnsafeMutablePointer<Float>, tokens: Int, cache: KVCache, state: RunState
    ) {
        let hd = config.hidden, n = tokens * hd
        let x = state.normed.reserve(n), a = state.attention.reserve(n)
        x.update(from: h, count: n)
        rmsNorm(x, rows: tokens, width: hd, weight: w.inputNorm, eps: config.rmsEps)
        attention(l, w, x: x, tokens: tokens, cache: cache, state: state, into: a)
        for i in 0..<n { h[i] += a[i] }
    }

    /// The feed-forward half of a decoder layer on [T × hidden] rows, in place: h += FFN(norm(h)). Within a kernel
    /// each row is computed on its own, so the rows of several sequences can go through together; which kernel runs
    /// depends on the row count, hence the conditions of the batched ``layerStep``.
    func feedForwardHalf(
        _ l: Int, _ w: LayerWeights, h: UnsafeMutablePointer<Float>, tokens: Int, routing: RoutingHook?, state: RunState,
        doneWithExpert: ((Int) -> Void)? = nil
    ) throws {
        let hd = config.hidden, n = tokens * hd
        let x = state.normed.reserve(n), f = state.ffn.reserve(n)
        x.update(from: h, count: n)
        rmsNorm(x, rows: tokens, width: hd, weight: w.postNorm, eps: config.rmsEps)
        if let dense = w.dense {
            mlp(dense, x: x, tokens: tokens, threads: threads, scratch: state.linear, gate: state.gate, up: state.up, into: f)
        } else {
            try moe(l, w.moe!, x: x, tokens: tokens, routing: routing, state: state, doneWithExpert: doneWithExpert, into: f)
        }
        for i in 0..<n { h[i] += f[i] }
    }

    /// Rows the feed-forward half takes at once when several sequences pass a layer together (layer-wise
    /// evaluation): a routed expert then meets about tokens × k / experts of them, and its INT4 weights are
    /// dequantized once for all (docs/engine.md, "Modes": many sequences, layer by layer).
    public static let feedForwardBatchRows = 2048

    /// One decoder layer for several sequences (each with a fresh cache): attention per sequence, then the
    /// feed-forward half over consecutive sequences together, up to `batchRows` rows at a time. The same bits as
    /// ``layerStep`` per sequence: a product's kernel depends on how many rows it gets (up to
    /// ``DenseKernel/directTokens`` the direct kernel, above it the GEMM, which sum in different orders), so only
    /// sequences longer than that are batched, and only where no routed expert has dense weights (an expert's row
    /// count changes with the batch; the INT4 kernels give the same bits for any count). Others go alone.
    /// `doneWithExpert` is told each routed expert the last batch has computed (no later batch reads it).
    func layerStep(
        _ l: Int, _ w: LayerWeights, hidden: inout [[Float]], routing: SequenceRoutingHook?, batchRows: Int, state: RunState,
        doneWithExpert: ((Int) -> Void)? = nil
    ) throws {
        let hd = config.hidden
        let batchable = try w.moe == nil || LayerWeights.expert(layer: l, expert: 0, config: config, source: source).gate.isInt4
        let lengths = hidden.map { $0.count / hd }
        let joins = { (s: Int) in batchable && lengths[s] > DenseKernel.directTokens }
        var i = 0
        while i < hidden.count {
            var j = i, rows = 0
            while j < hidden.count && (j == i || (joins(i) && joins(j) && rows + lengths[j] <= batchRows)) {
                rows += lengths[j]
                j += 1
            }
            for s in i..<j where !hidden[s].isEmpty {
                hidden[s].withUnsafeMutableBufferPointer { hb in
                    attentionHalf(l, w, h: hb.baseAddress!, tokens: hb.count / hd, cache: makeCache(), state: state)
                }
            }
            if rows > 0 {
                let counts = Array(lengths[i..<j])
                let first = i
                let hook: RoutingHook? = routing.map { r in
                    { layer, experts in
                        var at = 0
                        for (s, c) in counts.enumerated() {
                            if c > 0 { r(first + s, layer, Array(experts[at..<(at + c)])) }
                            at += c
                        }
                    }
                }
                let rowsBuffer = state.batchRows.reserve(rows * hd)
                var at = 0
                for s in i..<j {
                    hidden[s].withUnsafeBufferPointer { (rowsBuffer + at).update(from: $0.baseAddress!, count: $0.count) }
                    at += hidden[s].count
                }
                try feedForwardHalf(
                    l, w, h: rowsBuffer, tokens: rows, routing: hook, state: state,
                    doneWithExpert: j == hidden.count ? doneWithExpert : nil)
                at = 0
                for s in i..<j {
                    hidden[s].withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: rowsBuffer + at, count: $0.count) }
                    at += hidden[s].count
                }
            }
            i = j
        }
    }

    /// y = x · Wᵀ for T tokens (y: T × w.rows), in a run state's scratch buffers (for at least `threads` workers).
    func linear(
        _ w: LinearWeight, _ x: UnsafePointer<Float>, tokens: Int, threads: Int, scratch: LinearScratch,
        into y: UnsafeMutablePointer<Float>
    ) {
        w.apply(x, tokens: tokens, into: y, threads: threads, activations: config.int4Activations, isa: config.isa, scratch: scratch)
    }

    /// SiLU-GLU: y = down(silu(gate x) ⊙ up x), with the gate and up products in the given buffers.
    func mlp(
        _ m: LayerWeights.MLP, x: UnsafePointer<Float>, tokens: Int, threads: Int, scratch: LinearScratch, gate: RunState.Buffer,
        up: RunState.Buffer, into y: UnsafeMutablePointer<Float>
    ) {
        let n = tokens * m.gate.rows
        let g = gate.reserve(n), u = up.reserve(n)
        linear(m.gate, x, tokens: tokens, threads: threads, scratch: scratch, into: g)
        linear(m.up, x, tokens: tokens, threads: threads, scratch: scratch, into: u)
        // On all workers: for a 2048-row batch of the dense layer this is 38 M exponentials.
        parallelBlocks(count: n, block: 4096, threads: threads) { begin, end in
            for i in begin..<end { g[i] = silu(g[i]) * u[i] }
        }
        linear(m.down, g, tokens: tokens, threads: threads, scratch: scratch, into: y)
    }
}

/// Where the time of a layer-streamed evaluation went.
public struct StreamTiming: Sendable, Equatable {
    /// Layers read completely before computing (a benchmark's mode), or read ahead while the previous one computes.
    public var serial: Bool
    /// Seconds computing the layers and the head (overlapped mode: including waits for pages not yet read).
    public var computeSeconds: Double = 0
    /// Seconds reading the layers and lm_head: serial mode, the loads before each layer; overlapped mode, the time
    /// the background reader was busy, its waits for room left out (the cold read time of the same bytes, measured
    /// in the same run).
    public var readSeconds: Double { partReadSeconds.reduce(0, +) }
    /// Overlapped mode: seconds the reader waited for the computation to retire pages (``RetiredPages/admit(_:offset:count:)``).
    public var readWaitSeconds: Double = 0
    /// ``readSeconds`` per part: each decoder layer in order, then lm_head.
    public var partReadSeconds: [Double] = []
    /// Seconds computing each decoder layer (all sequences), in layer order; the head's are the rest of
    /// ``computeSeconds``.
    public var layerSeconds: [Double] = []
}

@inline(__always) func silu(_ a: Float) -> Float { a / (1 + Foundation.exp(-a)) }

/// RMSNorm of each row in place: weight ⊙ x / sqrt(mean(x²) + eps), f32 statistics (HF's order: normalise, then
/// multiply by the weight). Rows start `stride` floats apart (default `width`), each at `offset`.
func rmsNorm(
    _ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, weight: [Float], eps: Float, offset: Int = 0, stride: Int? = nil
) {
    let stride = stride ?? width
    for r in 0..<rows {
        let row = x + r * stride + offset
        var sum: Float = 0
        for i in 0..<width { sum += row[i] * row[i] }
        let inv = 1 / (sum / Float(width) + eps).squareRoot()
        for i in 0..<width { row[i] = weight[i] * (row[i] * inv) }
    }
}

/// All online cores.
public let defaultThreads = ProcessInfo.processInfo.activeProcessorCount
