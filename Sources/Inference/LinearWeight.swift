import BundleFormat
internal import CKernels
import Dispatch
public import TensorIO

/// One linear layer's weight `W` [rows = out, cols = in], read in place from a mapping (or from an owned buffer for
/// decompressed bundle experts): `y = x · Wᵀ` with f32 accumulation.
public struct LinearWeight: @unchecked Sendable {
    /// How the bytes are stored.
    public enum Storage: @unchecked Sendable {
        /// BF16 / F16 / F32 rows.
        case dense(DType)
        /// F8_E4M3 with a block scale_inv [ceil(rows/b0), ceil(cols/b1)] (K2-Instruct, DeepSeek-V3).
        case fp8Block(scaleInv: UnsafeRawBufferPointer, block: (Int, Int))
        /// compressed-tensors pack-quantized INT4, group 32, symmetric: packed I32 words and BF16 scales.
        case int4Packed(scales: UnsafeRawBufferPointer)
        /// ingot bundle `int4-tiles` layout with `tileRows` rows per tile.
        case int4Tiles(tileRows: Int)
    }

    public let name: String
    public let rows: Int
    public let cols: Int
    public let storage: Storage
    /// The weight bytes (dense rows, packed words or tiles).
    public let bytes: UnsafeRawBufferPointer
    /// Keeps an owned buffer alive (decompressed experts); nil for mapped weights.
    let owner: AnyObject?
    /// True for a BF16 weight that keeps f32 activations in the q8_0 mode too: the MoE router, which llama.cpp's
    /// converter stores in F32 (docs/engine.md, "Kernels and numerics").
    public private(set) var keepsF32Activations = false

    init(name: String, rows: Int, cols: Int, storage: Storage, bytes: UnsafeRawBufferPointer, owner: AnyObject? = nil) {
        self.name = name
        self.rows = rows
        self.cols = cols
        self.storage = storage
        self.bytes = bytes
        self.owner = owner
    }

    /// This weight with f32 activations in every mode (see ``keepsF32Activations``).
    public func keepingF32Activations() -> LinearWeight {
        var w = self
        w.keepsF32Activations = true
        return w
    }

    /// True when the q8_0 mode multiplies this weight by BF16-rounded activations: dense BF16 storage.
    var roundsActivationsToBF16: Bool {
        if case .dense(.bf16) = storage { return !keepsF32Activations }
        return false
    }

    /// True for the INT4 storages.
    public var isInt4: Bool {
        switch storage {
        case .int4Packed, .int4Tiles: true
        default: false
        }
    }

    /// `y[t, r] = Σ_j x[t, j] · W[r, j]` for `tokens` rows of x (each `cols` long) into y (each `rows` long), with
    /// up to `threads` workers over row blocks. Dense weights: the direct kernel up to 16 tokens, the panel GEMM above;
    /// exact INT4: dequantized 16 rows at a time by the GEMM (never an f32 copy of the whole matrix).
    /// `activations`: `.q8_0` is llama.cpp's arithmetic: Q8_0 activations for INT4 weights, BF16-rounded activations
    /// with VDPBF16PS arithmetic for dense BF16 weights (``applyBF16(_:tokens:into:threads:isa:)``); F16,
    /// F32 and FP8 weights always use f32.
    /// `isa`: the highest instruction set the dense kernels may use (tests force the lower ones).
    /// Scratch buffers are made for this call; the engine passes its run state's instead
    /// (``apply(_:tokens:into:threads:activations:isa:scratch:)``).
    public func apply(
        _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: Int = 1,
        activations: Int4Activations = .f32, isa: KernelISA = .best
    ) {
        apply(x, tokens: tokens, into: y, threads: threads, activations: activations, isa: isa, scratch: LinearScratch(workers: threads))
    }

    /// ``apply(_:tokens:into:threads:activations:isa:)`` with the scratch buffers of a run state (at least `threads`
    /// workers'): nothing is allocated once they have grown to the model's shapes.
    func apply(
        _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: Int,
        activations: Int4Activations, isa: KernelISA, scratch: LinearScratch
    ) {
        guard tokens > 0, rows > 0 else { return }
        precondition(scratch.workers >= threads, "\(name): scratch for \(scratch.workers) workers, \(threads) threads")
        if isInt4, activations == .q8_0 {
            applyQ8(x, tokens: tokens, into: y, threads: threads, scratch: scratch)
            return
        }
        if roundsActivationsToBF16, activations == .q8_0 {
            applyBF16(x, tokens: tokens, into: y, threads: threads, isa: isa, scratch: scratch)
            return
        }
        switch storage {
        case .int4Packed, .int4Tiles:
            // Exact INT4, any number of tokens: 16 rows dequantized once (exact), then multiplied with every token
            // (faster than dequantizing per token even for one token).
            gemm(x, tokens: tokens, into: y, threads: threads, isa: isa, scratch: scratch)
        case .dense where tokens > DenseKernel.directTokens:
            // Many tokens: each weight panel widened once, then multiplied with every token.
            gemm(x, tokens: tokens, into: y, threads: threads, isa: isa, scratch: scratch)
        case .dense(let dtype):
            let kind = DenseKernel.kind(dtype)
            let w = bytes.baseAddress!, cols = self.cols, rows = self.rows
            // Few tokens (decode, small batches): every weight read once in its stored dtype, widened in registers;
            // memory-bound, so workers take runs of rows as they become free.
            parallelRuns(count: rows, run: Self.directRunRows, threads: threads) { begin, end in
                ingot_dense_matmul(
                    w, kind, Int64(cols), x, Int64(cols), y, Int64(rows), Int64(tokens), Int64(begin), Int64(end), isa.rawValue)
            }
        case .fp8Block:
            // Row blocks widened to f32 (value × its block's scale_inv), then the same kernels as an F32 weight, so
            // an FP8 matrix gives exactly the logits of its f32 dequantization.
            let cols = self.cols, rows = self.rows
            let blockRows = max(1, min(rows, (1 << 20) / max(cols, 1)))
            var probe = ingot_weight(kind: INGOT_W_F32, data: nil, scales: nil, rows: Int64(blockRows), cols: Int64(cols), tile_rows: 0)
            let panelFloats = Int(ingot_gemm_scratch_floats(&probe))
            parallelBlocks(count: rows, block: blockRows, threads: threads) { worker, begin, end in
                let w = scratch.widened[worker].reserve(blockRows * cols)
                let panel = scratch.panels[worker].reserve(panelFloats)
                var r0 = begin
                while r0 < end {
                    let r1 = min(end, r0 + blockRows), n = r1 - r0
                    convertRows(r0, r1, into: w)
                    if tokens <= DenseKernel.directTokens {
                        ingot_dense_matmul(
                            w, INGOT_W_F32, Int64(cols), x, Int64(cols), y + r0, Int64(rows), Int64(tokens), 0, Int64(n), isa.rawValue)
                    } else {
                        var block = ingot_weight(kind: INGOT_W_F32, data: w, scales: nil, rows: Int64(n), cols: Int64(cols), tile_rows: 0)
                        ingot_gemm(
                            &block, x, Int64(cols), y + r0, Int64(rows), Int64(tokens), 0, Int64(n), panel, isa.rawValue)
                    }
                    r0 = r1
                }
            }
        }
    }

    /// ``apply(_:tokens:into:threads:activations:isa:)`` through the C GEMM (engine_gemm.c), workers over row blocks.
    private func gemm(
        _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: Int, isa: KernelISA,
        scratch: LinearScratch
    ) {
        guard let weight = gemmWeight else { preconditionFailure("\(name): no GEMM descriptor (FP8 blocks are widened first)") }
        let cols = self.cols, rows = self.rows
        var descriptor = weight
        let panelFloats = Int(ingot_gemm_scratch_floats(&descriptor))
        parallelBlocks(count: rows, block: Int(GEMM_NR), threads: threads) { worker, begin, end in
            let panel = scratch.panels[worker].reserve(panelFloats)
            var w = weight
            ingot_gemm(&w, x, Int64(cols), y, Int64(rows), Int64(tokens), Int64(begin), Int64(end), panel, isa.rawValue)
        }
    }

    /// Rows per run of the few-token dense products (``parallelRuns(count:run:threads:_:)``): 3.7 MB of a K2 BF16
    /// matrix, so a run takes about a tenth of a millisecond and lm_head is 640 runs.
    static let directRunRows = 256

    /// The weight as the C GEMM's descriptor (nil for FP8 blocks, which are widened in row blocks first).
    var gemmWeight: ingot_weight? {
        let data = bytes.baseAddress
        switch storage {
        case .dense(let dtype):
            return ingot_weight(kind: DenseKernel.kind(dtype), data: data, scales: nil, rows: Int64(rows), cols: Int64(cols), tile_rows: 0)
        case .int4Packed(let scales):
            return ingot_weight(
                kind: INGOT_W_INT4_CT, data: data, scales: scales.baseAddress?.assumingMemoryBound(to: UInt16.self), rows: Int64(rows),
                cols: Int64(cols), tile_rows: 0)
        case .int4Tiles(let tileRows):
            return ingot_weight(
                kind: INGOT_W_INT4_TILES, data: data, scales: nil, rows: Int64(rows), cols: Int64(cols), tile_rows: Int64(tileRows))
        case .fp8Block:
            return nil
        }
    }

    /// The INT4 product on Q8_0-quantized activations (engine_q8.c): x is quantized once, then the integer kernels
    /// run over row blocks in parallel.
    func applyQ8(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: Int, scratch: LinearScratch) {
        let cols = self.cols, rows = self.rows, groups = cols / TileLayout.groupSize
        let q = scratch.quantized.reserve(bytes: tokens * cols).assumingMemoryBound(to: Int8.self)
        let d = scratch.groupScales.reserve(tokens * groups)
        let sums = scratch.groupSums.reserve(bytes: tokens * groups * 4).assumingMemoryBound(to: Int32.self)
        ingot_quantize_q8_0(x, Int64(tokens * cols), q, d, sums, 0)
        switch storage {
        case .int4Packed(let scales):
            let packed = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let s = scales.baseAddress!.assumingMemoryBound(to: UInt16.self)
            parallelBlocks(count: rows, block: 16, threads: threads) { r0, r1 in
                ingot_int4_ct_matmul_q8(
                    packed, s, Int64(rows), Int64(cols), q, d, sums, y, Int64(rows), Int64(tokens), Int64(r0), Int64(r1), 0)
            }
        case .int4Tiles(let tileRows):
            let tiles = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let blocks = (rows + tileRows - 1) / tileRows
            parallelBlocks(count: blocks, block: 2, threads: threads) { b0, b1 in
                ingot_int4_tiles_matmul_q8(
                    tiles, Int64(tileRows), Int64(rows), Int64(cols), q, d, sums, y, Int64(rows), Int64(tokens), Int64(b0),
                    Int64(b1), 0)
            }
        case .dense, .fp8Block:
            preconditionFailure("applyQ8 on \(storage)")
        }
    }

    /// The q8_0 mode's product for BF16 weights (engine_bf16.c; docs/engine.md, "Kernels and numerics"): the
    /// activations are rounded to BF16 once, and every product is VDPBF16PS arithmetic (the instruction itself where
    /// the CPU has AVX512_BF16, a bit-identical replay elsewhere). Up to ``DenseKernel/directTokens`` tokens (decode),
    /// every row block is multiplied directly. For more, on AVX512_BF16 CPUs, a packed-panel GEMM with the instruction
    /// (one accumulation chain per output, so only the order of the sums differs from the direct kernel); elsewhere
    /// (where a replay would be several times slower than f32 FMA) and for an odd column count, the rounded
    /// activations go through the f32 GEMM: the same exact products, summed in its order.
    func applyBF16(
        _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: Int,
        isa: KernelISA, scratch: LinearScratch
    ) {
        let cols = self.cols, rows = self.rows, n = tokens * cols
        let xb = scratch.quantized.reserve(bytes: n * 2).assumingMemoryBound(to: UInt16.self)
        ingot_f32_to_bf16(x, Int64(n), xb)
        let w = bytes.baseAddress!.assumingMemoryBound(to: UInt16.self)
        if tokens > DenseKernel.directTokens && cols % 2 == 0 && min(isa, KernelISA.best) == .avx512bf16 {
            let words = Int(ingot_bf16_gemm_scratch_words())
            parallelBlocks(count: rows, block: Int(GEMM_NR), threads: threads) { worker, begin, end in
                let panel = UnsafeMutableRawPointer(scratch.panels[worker].reserve(words)).assumingMemoryBound(to: UInt32.self)
                ingot_bf16_gemm(
                    w, Int64(cols), xb, Int64(cols), y, Int64(rows), Int64(tokens), Int64(begin), Int64(end), panel, isa.rawValue)
            }
            return
        }
        if tokens > DenseKernel.directTokens {
            let rounded = scratch.rounded.reserve(n)
            ingot_dense_widen(xb, INGOT_W_BF16, 0, Int64(n), rounded)
            var exact = self
            exact.keepsF32Activations = true
            exact.apply(rounded, tokens: tokens, into: y, threads: threads, activations: .f32, isa: isa, scratch: scratch)
            return
        }
        parallelRuns(count: rows, run: Self.directRunRows, threads: threads) { begin, end in
            ingot_bf16_dot_matmul(
                w, Int64(cols), xb, Int64(cols), y, Int64(rows), Int64(tokens), Int64(begin), Int64(end), isa.rawValue)
        }
    }

    /// Rows [r0, r1) of a dense or FP8 weight as f32 (exact widening; FP8 times its block's scale_inv).
    public func convertRows(_ r0: Int, _ r1: Int, into out: UnsafeMutablePointer<Float>) {
        let n = (r1 - r0) * cols
        switch storage {
        case .dense(let dtype):
            ingot_dense_widen(bytes.baseAddress!, DenseKernel.kind(dtype), Int64(r0 * cols), Int64(n), out)
        case .fp8Block(let scaleInv, let block):
            let src = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let s = scaleInv.baseAddress!.assumingMemoryBound(to: Float.self)
            let blockCols = (cols + block.1 - 1) / block.1
            for r in r0..<r1 {
                for c in 0..<cols {
                    let scale = s[(r / block.0) * blockCols + c / block.1]
                    out[(r - r0) * cols + c] = Fp8Table.values[Int(src[r * cols + c])] * scale
                }
            }
        case .int4Packed, .int4Tiles:
            preconditionFailure("convertRows on \(storage)")
        }
    }

    /// One row as f32 (embedding lookups).
    public func row(_ r: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: cols) { buffer, count in
            convertRows(r, r + 1, into: buffer.baseAddress!)
            count = cols
        }
    }
}

/// How INT4 weights meet the activations.
public enum Int4Activations: String, Sendable, CaseIterable {
    /// Exact: the f32 weights s × (u − 8) times the f32 activations (the reference; default).
    case f32
    /// llama.cpp's CPU arithmetic: for INT4 weights the activations rounded to Q8_0 per 32 values (as for Q4_0),
    /// integer dot products, about 4× faster here; for dense BF16 weights (but the router) the activations rounded
    /// to BF16 and VDPBF16PS dot products. The same numbers llama.cpp computes from the same weights, but no longer
    /// exact.
    case q8_0
}

/// F8_E4M3 → f32 for all 256 codes.
enum Fp8Table {
    static let values: [Float] = (0..<256).map { FloatConversion.float(f8E4M3: UInt8($0)) }
}

/// The instruction sets the engine's dense kernels dispatch on (engine_dense.c), lowest first.
public enum KernelISA: Int32, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case portable = 0
    /// AVX2 + FMA + F16C.
    case avx2 = 1
    /// AVX-512 F + BW.
    case avx512 = 2
    /// AVX-512 F + BW + BF16.
    case avx512bf16 = 3

    /// The best this CPU has.
    public static let best = KernelISA(rawValue: ingot_engine_isa()) ?? .portable

    /// Every variant this CPU can run (the tests run each).
    public static var supported: [KernelISA] { allCases.filter { $0 <= best } }

    public static func < (a: KernelISA, b: KernelISA) -> Bool { a.rawValue < b.rawValue }

    /// The flag spelling (`--isa avx512`).
    public var name: String {
        switch self {
        case .portable: "portable"
        case .avx2: "avx2"
        case .avx512: "avx512"
        case .avx512bf16: "avx512bf16"
        }
    }

    /// The variant of a flag spelling.
    public init?(name: String) {
        guard let v = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = v
    }

    public var description: String {
        switch self {
        case .portable: "portable C"
        case .avx2: "AVX2+FMA"
        case .avx512: "AVX-512"
        case .avx512bf16: "AVX-512+BF16"
        }
    }
}

/// How dense weights are multiplied (docs/engine.md, "Dense kernels").
enum DenseKernel {
    /// Up to this many tokens the direct kernel reads the stored dense weights once; above, the GEMM packs panels.
    static let directTokens = 16

    /// The C kernels' element kind of a dense dtype.
    static func kind(_ dtype: DType) -> Int32 {
        switch dtype {
        case .bf16: INGOT_W_BF16
        case .f16: INGOT_W_F16
        default: INGOT_W_F32
        }
    }
}

/// The buffers a linear product needs besides its input and output, kept by a run state and reused across layers
/// and tokens (docs/engine.md, "Run state"): per worker, the GEMM's packed panel and an FP8 row block widened to f32;
/// per call, the quantized or BF16-rounded activations.
final class LinearScratch: @unchecked Sendable {
    // Sendable: used by one product at a time; each worker touches only its own entries.
    /// Workers the per-worker buffers serve.
    let workers: Int
    let panels: [RunState.Buffer], widened: [RunState.Buffer]
    /// Q8_0 activations (or BF16-rounded ones, as raw bytes), their per-group scales and sums, and the BF16-rounded
    /// activations widened back to f32.
    let quantized = RunState.Buffer(), groupScales = RunState.Buffer(), groupSums = RunState.Buffer(), rounded = RunState.Buffer()

    init(workers: Int) {
        self.workers = max(1, workers)
        panels = (0..<self.workers).map { _ in RunState.Buffer() }
        widened = (0..<self.workers).map { _ in RunState.Buffer() }
    }
}
