import BundleFormat
import CKernels
import Checkpoint
import Foundation
import Inference
import Quantization
import TensorIO
import TestSupport
import Testing

/// The engine's dense kernels (engine_dense.c, engine_gemm.c): every `KernelISA.supported` variant equals the
/// portable C path bit for bit, the portable path performs exactly the f32 operations the header promises (replayed
/// here in Swift with fused multiply-adds), and the results are within the f32 rounding bound of a float64
/// reference on the exactly widened (or dequantized) weights. Then the engine itself on every ISA.
@Suite struct DenseKernelTests {
    // MARK: - Test data

    /// A weight matrix in one of the kernels' stored forms, with its exact f32 values.
    struct Weight {
        let kind: Int32
        let rows: Int, cols: Int
        /// Dense rows, or compressed-tensors packed words.
        let bytes: [UInt8]
        /// BF16 scales [rows, cols / 32] (INT4 only).
        let scales: [UInt16]
        /// The bundle tiles of the same INT4 matrix (INT4 only).
        let tiles: [UInt8]
        let tileRows: Int
        /// W[r][c] exactly as f32, computed in Swift (FloatConversion, Dequantize), not by the C kernels.
        let values: [Float]

        /// Calls `body` with the kernels' descriptor (INT4_TILES when `tiled`).
        func withDescriptor<R>(tiled: Bool = false, _ body: (inout ingot_weight) -> R) -> R {
            bytes.withUnsafeBytes { b in
                scales.withUnsafeBufferPointer { s in
                    tiles.withUnsafeBytes { t in
                        var w = ingot_weight(
                            kind: tiled ? INGOT_W_INT4_TILES : kind, data: tiled ? t.baseAddress : b.baseAddress,
                            scales: tiled ? nil : s.baseAddress, rows: Int64(rows), cols: Int64(cols),
                            tile_rows: Int64(tiled ? tileRows : 0))
                        return body(&w)
                    }
                }
            }
        }
    }

    /// The dense stored forms (raw values: the kernels' INGOT_W_* kinds).
    enum DenseKind: Int32, CaseIterable, CustomStringConvertible, Sendable {
        case bf16, f16, f32
        var description: String { DenseKernelTests.kindName(rawValue) }
    }

    static let denseKinds = DenseKind.allCases

    static func kindName(_ kind: Int32) -> String {
        ["BF16", "F16", "F32", "INT4_CT", "INT4_TILES"][Int(kind)]
    }

    static func appendLittleEndian(_ bits: UInt16, to bytes: inout [UInt8]) {
        bytes.append(UInt8(truncatingIfNeeded: bits))
        bytes.append(UInt8(truncatingIfNeeded: bits >> 8))
    }

    /// A dense matrix of normal values over a range of exponents; F16 also gets subnormals, zeros and −0, which
    /// the portable widening handles in its own code.
    static func denseWeight(kind: Int32, rows: Int, cols: Int, seed: UInt64) -> Weight {
        var rng = SplitMix64(seed: seed)
        var bytes: [UInt8] = [], values: [Float] = []
        for _ in 0..<(rows * cols) {
            let v = normal(&rng) * Float(sign: .plus, exponent: Int(rng.next() % 7) - 3, significand: 1)
            switch kind {
            case INGOT_W_BF16:
                let bits = FloatConversion.bf16(v)
                appendLittleEndian(bits, to: &bytes)
                values.append(FloatConversion.float(bf16: bits))
            case INGOT_W_F16:
                var bits = FloatConversion.f16(v)
                switch rng.next() % 10 {
                case 0: bits = UInt16(truncatingIfNeeded: rng.next()) & 0x83FF  // subnormal (or ±0)
                case 1: bits = 0x8000
                default: break
                }
                appendLittleEndian(bits, to: &bytes)
                values.append(FloatConversion.float(f16: bits))
            default:
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
                values.append(v)
            }
        }
        return Weight(kind: kind, rows: rows, cols: cols, bytes: bytes, scales: [], tiles: [], tileRows: 0, values: values)
    }

    /// An INT4 matrix (every level −8…7, scales of varied exponent and sign) packed as compressed-tensors, and the
    /// same matrix tiled by the bundle's own `TileLayout`; `values` from `Dequantize.weights` (exact).
    static func int4Weight(rows: Int, cols: Int, tileRows: Int, seed: UInt64) -> Weight {
        var rng = SplitMix64(seed: seed)
        let groups = cols / 32
        let q: [Int8] = (0..<(rows * cols)).map { _ in Int8(Int(rng.next() % 16) - 8) }
        let scales: [UInt16] = (0..<(rows * groups)).map { _ in
            let magnitude =
                Float(0.001 + Double(rng.next() % 1000) / 997) * Float(sign: .plus, exponent: Int(rng.next() % 9) - 4, significand: 1)
            return FloatConversion.bf16(rng.next() % 5 == 0 ? -magnitude : magnitude)
        }
        let words = PackQuantized.pack(q, rows: rows, columns: cols, bits: 4)
        let packed = words.withUnsafeBytes { Array($0) }
        let layout = TileLayout(tileRows: tileRows)
        var tiles = [UInt8](repeating: 0, count: layout.projectionBytes(rows: rows, columns: cols))
        packed.withUnsafeBytes { p in
            scales.withUnsafeBytes { s in
                tiles.withUnsafeMutableBytes { layout.tile(packed: p, scales: s, rows: rows, columns: cols, into: $0) }
            }
        }
        let values = Dequantize.weights(
            q: q, scales: scales.map { FloatConversion.float(bf16: $0) }, rows: rows, columns: cols, groupSize: 32, rounding: .exact)
        return Weight(
            kind: INGOT_W_INT4_CT, rows: rows, cols: cols, bytes: packed, scales: scales, tiles: tiles, tileRows: tileRows,
            values: values)
    }

    /// Activations [tokens, ld] with NaN in the padding columns (a kernel reading past `width` poisons its output).
    static func activations(tokens: Int, width: Int, ld: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var x = [Float](repeating: .nan, count: tokens * ld)
        for t in 0..<tokens {
            for j in 0..<width { x[t * ld + j] = normal(&rng) }
        }
        return x
    }

    /// What the output buffers start as: outputs a kernel must not write keep these bits.
    static let sentinel = Float(bitPattern: 0x7FC0_1234)

    /// Expects `got` and `expected` to be the same floats bit for bit; on failure names how many differ and the first
    /// one (index, both values), not the whole arrays.
    static func expectIdentical(
        _ got: [Float], _ expected: [Float], _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let differing = got.count == expected.count ? got.indices.filter { got[$0].bitPattern != expected[$0].bitPattern } : []
        guard got.count != expected.count || !differing.isEmpty else { return }
        let first = differing.first.map { "; first at [\($0)]: \(got[$0]) vs \(expected[$0])" } ?? ""
        Issue.record(
            "\(what()): \(got.count == expected.count ? "\(differing.count) of \(got.count) values differ" : "\(got.count) values, expected \(expected.count)")\(first)",
            sourceLocation: sourceLocation)
    }

    // MARK: - The promised orders, replayed in Swift (`addingProduct` is a fused multiply-add)

    /// engine_dense.c: 16 lanes, lane j mod 16, missing columns 0 · 0, then the fixed tree.
    static func directOrder(cols: Int, _ w: (Int) -> Float, _ x: (Int) -> Float) -> Float {
        var acc = [Float](repeating: 0, count: 16)
        for j in 0..<((cols + 15) / 16 * 16) {
            acc[j % 16] = acc[j % 16].addingProduct(j < cols ? w(j) : 0, j < cols ? x(j) : 0)
        }
        let s8 = (0..<8).map { acc[$0] + acc[$0 + 8] }
        let s4 = (0..<4).map { s8[$0] + s8[$0 + 4] }
        let s2 = (0..<2).map { s4[$0] + s4[$0 + 2] }
        return s2[0] + s2[1]
    }

    /// engine_gemm.c (dense kinds): one FMA chain per GEMM_KC block, the blocks' sums added in order.
    static func gemmOrder(cols: Int, _ w: (Int) -> Float, _ x: (Int) -> Float) -> Float {
        var y: Float = 0
        for k0 in stride(from: 0, to: cols, by: Int(GEMM_KC)) {
            var acc: Float = 0
            for k in k0..<min(cols, k0 + Int(GEMM_KC)) { acc = acc.addingProduct(w(k), x(k)) }
            y = k0 == 0 ? acc : y + acc
        }
        return y
    }

    /// Whether `got` is within the f32 error bound of a sum where every product passes through at most `depth`
    /// roundings: γ_depth · Σ |w x| (plus the underflow floor).
    static func isClose(_ got: Float, exact: Double, magnitude: Double, depth: Int) -> Bool {
        let u = Double(depth) * 0x1p-24
        return abs(Double(got) - exact) <= u / (1 - u) * magnitude + Double(depth) * Double(Float.leastNonzeroMagnitude)
    }

    /// Failed element checks of one case, reported as one issue (how many, and the first) rather than one each.
    struct Findings {
        var count = 0
        var first: String?

        mutating func add(_ finding: @autoclosure () -> String) {
            count += 1
            if first == nil { first = finding() }
        }

        func record(_ what: String, of total: Int, sourceLocation: SourceLocation = #_sourceLocation) {
            guard let first else { return }
            Issue.record("\(what): \(count) of \(total) outputs; first \(first)", sourceLocation: sourceLocation)
        }
    }

    /// Σ_j w(j) x(j) and Σ |w(j) x(j)| in float64.
    static func reference(count: Int, _ w: (Int) -> Float, _ x: (Int) -> Float) -> (exact: Double, magnitude: Double) {
        var exact = 0.0, magnitude = 0.0
        for j in 0..<count {
            let p = Double(w(j)) * Double(x(j))
            exact += p
            magnitude += abs(p)
        }
        return (exact, magnitude)
    }

    /// Rows outside [r0, r1), the padding columns of y and nothing else keep the sentinel; rows inside do not.
    static func expectOnlyRowsWritten(
        _ y: [Float], tokens: Int, ldy: Int, rows r0: Int, _ r1: Int, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var wrong = Findings()
        for t in 0..<tokens {
            for r in 0..<ldy {
                let written = y[t * ldy + r].bitPattern != sentinel.bitPattern
                if written != (r0..<r1).contains(r) { wrong.add("y[\(t)][\(r)] \(written ? "written" : "not written")") }
            }
        }
        wrong.record("\(what): only rows \(r0)..<\(r1) may be written", of: tokens * ldy, sourceLocation: sourceLocation)
    }

    // MARK: - ingot_dense_matmul

    struct Shape: CustomStringConvertible, Sendable {
        let rows: Int, cols: Int, tokens: Int
        var r0 = 0, r1: Int? = nil
        var rowRange: Range<Int> { r0..<(r1 ?? rows) }
        var description: String { "\(rows)x\(cols) t\(tokens) rows \(rowRange)" }
    }

    static let directShapes: [Shape] = [
        .init(rows: 1, cols: 1, tokens: 1), .init(rows: 5, cols: 7, tokens: 3), .init(rows: 13, cols: 33, tokens: 7),
        .init(rows: 70, cols: 100, tokens: 5, r0: 3, r1: 67), .init(rows: 9, cols: 16, tokens: 4), .init(rows: 6, cols: 263, tokens: 2),
        .init(rows: 11, cols: 48, tokens: 6, r0: 1, r1: 10), .init(rows: 7, cols: 15, tokens: 16), .init(rows: 3, cols: 17, tokens: 17),
        .init(rows: 4, cols: 31, tokens: 1, r0: 2, r1: 3),
        // One token: 12-row steps (twice here), then 4-row tiles for the other 3 rows.
        .init(rows: 30, cols: 37, tokens: 1, r0: 1, r1: 28),
    ]

    @Test(arguments: denseKinds, directShapes)
    func directKernelIsOneOrderOnEveryISA(dense: DenseKind, shape: Shape) throws {
        let kind = dense.rawValue
        let (rows, cols, tokens) = (shape.rows, shape.cols, shape.tokens)
        let ldx = cols + 3, ldy = rows + 2, range = shape.rowRange
        let w = Self.denseWeight(kind: kind, rows: rows, cols: cols, seed: UInt64(rows * 7919 + cols * 31 + tokens) + UInt64(kind))
        let x = Self.activations(tokens: tokens, width: cols, ld: ldx, seed: UInt64(cols * 13 + tokens))
        func run(_ isa: KernelISA) -> [Float] {
            var y = [Float](repeating: Self.sentinel, count: tokens * ldy)
            w.bytes.withUnsafeBytes { b in
                ingot_dense_matmul(
                    b.baseAddress!, kind, Int64(cols), x, Int64(ldx), &y, Int64(ldy), Int64(tokens), Int64(range.lowerBound),
                    Int64(range.upperBound), isa.rawValue)
            }
            return y
        }
        let label = "\(Self.kindName(kind)) \(shape)"
        let portable = run(.portable)
        Self.expectOnlyRowsWritten(portable, tokens: tokens, ldy: ldy, rows: range.lowerBound, range.upperBound, "portable C \(label)")
        var order = Findings(), close = Findings()
        for t in 0..<tokens {
            for r in range {
                let wr = { (j: Int) in w.values[r * cols + j] }, xt = { (j: Int) in x[t * ldx + j] }
                let promised = Self.directOrder(cols: cols, wr, xt)
                let got = portable[t * ldy + r]
                if got.bitPattern != promised.bitPattern { order.add("y[\(t)][\(r)] = \(got), promised order gives \(promised)") }
                let ref = Self.reference(count: cols, wr, xt)
                if !Self.isClose(got, exact: ref.exact, magnitude: ref.magnitude, depth: (cols + 15) / 16 + 4) {
                    close.add("y[\(t)][\(r)] = \(got) vs float64 \(ref.exact)")
                }
            }
        }
        order.record("portable C \(label): not the promised order", of: tokens * range.count)
        close.record("portable C \(label): beyond γ·Σ|w x| of the float64 reference", of: tokens * range.count)
        for isa in KernelISA.supported where isa != .portable {
            Self.expectIdentical(run(isa), portable, "\(isa) \(label): y (row-major, ld \(ldy)) vs portable C")
        }
    }

    // MARK: - ingot_dense_matmul_t

    struct TShape: CustomStringConvertible, Sendable {
        let n: Int, cols: Int, tokens: Int
        var description: String { "n\(n) cols\(cols) t\(tokens)" }
    }

    static let transposedShapes: [TShape] = [
        .init(n: 1, cols: 1, tokens: 1), .init(n: 7, cols: 5, tokens: 2), .init(n: 33, cols: 7, tokens: 3),
        .init(n: 16, cols: 33, tokens: 1),
        .init(n: 40, cols: 100, tokens: 4), .init(n: 5, cols: 24, tokens: 17), .init(n: 128, cols: 15, tokens: 6),
    ]

    @Test(arguments: denseKinds, transposedShapes)
    func transposedKernelIsOneChainOnEveryISA(dense: DenseKind, shape: TShape) throws {
        let kind = dense.rawValue
        let (n, cols, tokens) = (shape.n, shape.cols, shape.tokens)
        let ldx = n + 5, ldy = cols + 3
        let w = Self.denseWeight(kind: kind, rows: n, cols: cols, seed: UInt64(n * 131 + cols * 7 + tokens) + UInt64(kind) << 20)
        let x = Self.activations(tokens: tokens, width: n, ld: ldx, seed: UInt64(n * 3 + tokens))
        func run(_ isa: KernelISA) -> [Float] {
            var y = [Float](repeating: Self.sentinel, count: tokens * ldy)
            w.bytes.withUnsafeBytes { b in
                ingot_dense_matmul_t(
                    b.baseAddress!, kind, Int64(n), Int64(cols), x, Int64(ldx), &y, Int64(ldy), Int64(tokens), isa.rawValue)
            }
            return y
        }
        let label = "\(Self.kindName(kind)) \(shape)"
        let portable = run(.portable)
        Self.expectOnlyRowsWritten(portable, tokens: tokens, ldy: ldy, rows: 0, cols, "portable C \(label)")
        var order = Findings(), close = Findings()
        for t in 0..<tokens {
            for j in 0..<cols {
                var promised: Float = 0
                for i in 0..<n { promised = promised.addingProduct(x[t * ldx + i], w.values[i * cols + j]) }
                let got = portable[t * ldy + j]
                if got.bitPattern != promised.bitPattern { order.add("y[\(t)][\(j)] = \(got), one FMA chain gives \(promised)") }
                let ref = Self.reference(count: n, { w.values[$0 * cols + j] }, { x[t * ldx + $0] })
                if !Self.isClose(got, exact: ref.exact, magnitude: ref.magnitude, depth: n) {
                    close.add("y[\(t)][\(j)] = \(got) vs float64 \(ref.exact)")
                }
            }
        }
        order.record("portable C \(label): not one FMA chain", of: tokens * cols)
        close.record("portable C \(label): beyond γ·Σ|w x| of the float64 reference", of: tokens * cols)
        for isa in KernelISA.supported where isa != .portable {
            Self.expectIdentical(run(isa), portable, "\(isa) \(label): differs from portable C")
        }
    }

    // MARK: - ingot_gemm

    static func gemm(_ w: Weight, tiled: Bool = false, x: [Float], ldx: Int, ldy: Int, tokens: Int, rows: Range<Int>, isa: KernelISA)
        -> [Float]
    {
        var y = [Float](repeating: sentinel, count: tokens * ldy)
        w.withDescriptor(tiled: tiled) { d in
            let floats = Int(ingot_gemm_scratch_floats(&d))
            let panel = UnsafeMutableRawPointer.allocate(byteCount: floats * 4, alignment: 64)
            defer { panel.deallocate() }
            panel.initializeMemory(as: Float.self, repeating: .nan, count: floats)
            ingot_gemm(
                &d, x, Int64(ldx), &y, Int64(ldy), Int64(tokens), Int64(rows.lowerBound), Int64(rows.upperBound),
                panel.assumingMemoryBound(to: Float.self), isa.rawValue)
        }
        return y
    }

    static let gemmDenseShapes: [Shape] = [
        .init(rows: 70, cols: 100, tokens: 17), .init(rows: 130, cols: 300, tokens: 40, r0: 5, r1: 129),
        .init(rows: 64, cols: 33, tokens: 1),
        .init(rows: 3, cols: 7, tokens: 6), .init(rows: 65, cols: 513, tokens: 7, r0: 1), .init(rows: 20, cols: 256, tokens: 13),
        .init(rows: 17, cols: 257, tokens: 5, r0: 16, r1: 17),
        // Two token blocks of the dense GEMM (512, then 3).
        .init(rows: 21, cols: 300, tokens: 515, r0: 1),
    ]

    @Test(arguments: denseKinds, gemmDenseShapes)
    func gemmDenseIsBlockOrderOnEveryISA(dense: DenseKind, shape: Shape) throws {
        let kind = dense.rawValue
        let (rows, cols, tokens) = (shape.rows, shape.cols, shape.tokens)
        let ldx = cols + 1, ldy = rows + 3, range = shape.rowRange
        let w = Self.denseWeight(kind: kind, rows: rows, cols: cols, seed: UInt64(rows * 17 + cols * 5 + tokens) + UInt64(kind) << 24)
        let x = Self.activations(tokens: tokens, width: cols, ld: ldx, seed: UInt64(cols + tokens * 1000))
        let label = "\(Self.kindName(kind)) GEMM \(shape)"
        let portable = Self.gemm(w, x: x, ldx: ldx, ldy: ldy, tokens: tokens, rows: range, isa: .portable)
        Self.expectOnlyRowsWritten(portable, tokens: tokens, ldy: ldy, rows: range.lowerBound, range.upperBound, "portable C \(label)")
        let blocks = (cols + Int(GEMM_KC) - 1) / Int(GEMM_KC)
        var order = Findings(), close = Findings()
        for t in 0..<tokens {
            for r in range {
                let wr = { (j: Int) in w.values[r * cols + j] }, xt = { (j: Int) in x[t * ldx + j] }
                let promised = Self.gemmOrder(cols: cols, wr, xt)
                let got = portable[t * ldy + r]
                if got.bitPattern != promised.bitPattern { order.add("y[\(t)][\(r)] = \(got), promised order gives \(promised)") }
                let ref = Self.reference(count: cols, wr, xt)
                if !Self.isClose(got, exact: ref.exact, magnitude: ref.magnitude, depth: min(cols, Int(GEMM_KC)) + blocks) {
                    close.add("y[\(t)][\(r)] = \(got) vs float64 \(ref.exact)")
                }
            }
        }
        order.record("portable C \(label): not the promised order", of: tokens * range.count)
        close.record("portable C \(label): beyond γ·Σ|w x| of the float64 reference", of: tokens * range.count)
        for isa in KernelISA.supported where isa != .portable {
            let y = Self.gemm(w, x: x, ldx: ldx, ldy: ldy, tokens: tokens, rows: range, isa: isa)
            Self.expectIdentical(y, portable, "\(isa) \(label): differs from portable C")
        }
    }

    struct Int4Shape: CustomStringConvertible, Sendable {
        let rows: Int, cols: Int, tokens: Int, tileRows: Int
        var r0 = 0, r1: Int? = nil
        var rowRange: Range<Int> { r0..<(r1 ?? rows) }
        var description: String { "\(rows)x\(cols) t\(tokens) tiles of \(tileRows) rows \(rowRange)" }
    }

    static let int4Shapes: [Int4Shape] = [
        .init(rows: 13, cols: 64, tokens: 5, tileRows: 8), .init(rows: 37, cols: 96, tokens: 17, tileRows: 8),
        .init(rows: 70, cols: 256, tokens: 40, tileRows: 16, r0: 3, r1: 69), .init(rows: 9, cols: 32, tokens: 1, tileRows: 8),
        .init(rows: 21, cols: 288, tokens: 4, tileRows: 4, r0: 17), .init(rows: 5, cols: 544, tokens: 7, tileRows: 8, r0: 1, r1: 4),
        // The AVX-512 path's column blocks (256) with a tail, and token blocks: one of 29 (six-token tiles with a
        // tail of 5), and two (48, then 5).
        .init(rows: 35, cols: 800, tokens: 29, tileRows: 8, r0: 2), .init(rows: 35, cols: 288, tokens: 53, tileRows: 8, r0: 2),
        // Decode and small batches (every exact INT4 product goes through the GEMM).
        .init(rows: 1, cols: 32, tokens: 1, tileRows: 8), .init(rows: 13, cols: 256, tokens: 2, tileRows: 8),
        .init(rows: 33, cols: 64, tokens: 3, tileRows: 8),
        // One token (decode): dequantized in registers, eight rows at a time (AVX-512) or four (AVX2), then the rest.
        .init(rows: 27, cols: 160, tokens: 1, tileRows: 8, r0: 2, r1: 25), .init(rows: 40, cols: 64, tokens: 1, tileRows: 16),
        .init(rows: 19, cols: 96, tokens: 1, tileRows: 4, r0: 3),
    ]

    @Test(arguments: int4Shapes)
    func gemmInt4LayoutsAndISAsAgree(shape: Int4Shape) throws {
        let (rows, cols, tokens) = (shape.rows, shape.cols, shape.tokens)
        let ldx = cols + 2, ldy = rows + 1, range = shape.rowRange
        let w = Self.int4Weight(rows: rows, cols: cols, tileRows: shape.tileRows, seed: UInt64(rows * 1009 + cols + tokens))
        let x = Self.activations(tokens: tokens, width: cols, ld: ldx, seed: UInt64(rows + cols * 7 + tokens))
        let label = "INT4 GEMM \(shape)"
        let portable = Self.gemm(w, x: x, ldx: ldx, ldy: ldy, tokens: tokens, rows: range, isa: .portable)
        Self.expectOnlyRowsWritten(portable, tokens: tokens, ldy: ldy, rows: range.lowerBound, range.upperBound, "portable C CT \(label)")
        var order = Findings(), close = Findings()
        for t in 0..<tokens {
            for r in range {
                // INT4 rows are dequantized (exactly) and multiplied by the direct kernel, in its order.
                let wr = { (j: Int) in w.values[r * cols + j] }, xt = { (j: Int) in x[t * ldx + j] }
                let promised = Self.directOrder(cols: cols, wr, xt)
                let got = portable[t * ldy + r]
                if got.bitPattern != promised.bitPattern { order.add("y[\(t)][\(r)] = \(got), promised order gives \(promised)") }
                let ref = Self.reference(count: cols, wr, xt)
                if !Self.isClose(got, exact: ref.exact, magnitude: ref.magnitude, depth: (cols + 15) / 16 + 4) {
                    close.add("y[\(t)][\(r)] = \(got) vs float64 \(ref.exact)")
                }
            }
        }
        order.record("portable C CT \(label): not the promised order", of: tokens * range.count)
        close.record("portable C CT \(label): beyond γ·Σ|w x| of the float64 reference", of: tokens * range.count)
        for isa in KernelISA.supported {
            for tiled in [false, true] where isa != .portable || tiled {
                let y = Self.gemm(w, tiled: tiled, x: x, ldx: ldx, ldy: ldy, tokens: tokens, rows: range, isa: isa)
                Self.expectIdentical(y, portable, "\(isa) \(tiled ? "tiles" : "CT") \(label): differs from portable C CT")
            }
        }
    }

    @Test func kindsAndISAsAreTheKernels() {
        #expect(DenseKind.allCases.map(\.rawValue) == [INGOT_W_BF16, INGOT_W_F16, INGOT_W_F32])
        #expect(KernelISA.allCases.map(\.rawValue) == [INGOT_ISA_PORTABLE, INGOT_ISA_AVX2, INGOT_ISA_AVX512, INGOT_ISA_AVX512_BF16])
        #expect(KernelISA.best.rawValue == ingot_engine_isa())
        #expect(KernelISA.supported.first == .portable && KernelISA.supported.last == .best)
    }

    @Test func gemmScratchCoversPanelAndInt4Block() {
        var d = ingot_weight(kind: INGOT_W_BF16, data: nil, scales: nil, rows: 100, cols: 7, tile_rows: 0)
        #expect(ingot_gemm_scratch_floats(&d) >= Int64(GEMM_NR) * Int64(GEMM_KC))
        d = ingot_weight(kind: INGOT_W_INT4_CT, data: nil, scales: nil, rows: 100, cols: 7168, tile_rows: 0)
        #expect(ingot_gemm_scratch_floats(&d) >= 16 * 7168)
    }

    // MARK: - ingot_int4_dequant_rows

    @Test(arguments: [(13, 64, 8), (37, 96, 8), (21, 288, 4), (70, 256, 16), (1, 32, 8)])
    func int4DequantIsScaleTimesLevel(rows: Int, cols: Int, tileRows: Int) throws {
        let w = Self.int4Weight(rows: rows, cols: cols, tileRows: tileRows, seed: UInt64(rows * 31 + cols))
        let ranges = [0..<rows, (rows / 3)..<(rows - rows / 4), (rows - 1)..<rows]
        for isa in KernelISA.supported {
            for tiled in [false, true] {
                for range in ranges {
                    let count = range.count * cols
                    var out = [Float](repeating: Self.sentinel, count: count + 5)
                    w.withDescriptor(tiled: tiled) { d in
                        ingot_int4_dequant_rows(&d, Int64(range.lowerBound), Int64(range.upperBound), &out, isa.rawValue)
                    }
                    let expected = Array(w.values[(range.lowerBound * cols)..<(range.upperBound * cols)])
                    let label = "\(isa) \(tiled ? "tiles" : "CT") \(rows)x\(cols) rows \(range)"
                    if let i = (0..<count).first(where: { out[$0].bitPattern != expected[$0].bitPattern }) {
                        Issue.record(
                            "\(label): not scale × (u − 8): row \(range.lowerBound + i / cols) col \(i % cols) is \(out[i]), expected \(expected[i])"
                        )
                    }
                    #expect(out[count...].allSatisfy { $0.bitPattern == Self.sentinel.bitPattern }, "\(label): wrote past its rows")
                }
            }
        }
    }

    // MARK: - ingot_dense_widen

    @Test func widenIsExactForEveryHalfCode() {
        let codes = (0...UInt16.max).map { $0 }
        for kind in [INGOT_W_BF16, INGOT_W_F16] {
            var out = [Float](repeating: Self.sentinel, count: codes.count)
            // An odd start and length (vector bodies and tails).
            let begin = 3, count = codes.count - 10
            codes.withUnsafeBytes { ingot_dense_widen($0.baseAddress!, kind, Int64(begin), Int64(count), &out) }
            for i in 0..<count {
                let code = codes[begin + i]
                let expected = kind == INGOT_W_BF16 ? FloatConversion.float(bf16: code) : FloatConversion.float(f16: code)
                let got = out[i]
                let same = expected.isNaN ? got.isNaN : got.bitPattern == expected.bitPattern
                #expect(same, "\(Self.kindName(kind)) code \(String(code, radix: 16)): \(got) vs \(expected)")
            }
            #expect(out[count...].allSatisfy { $0.bitPattern == Self.sentinel.bitPattern }, "\(Self.kindName(kind)): wrote past count")
        }
        let f32: [Float] = [1.5, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -3, .infinity, 7]
        var out = [Float](repeating: Self.sentinel, count: 5)
        f32.withUnsafeBytes { ingot_dense_widen($0.baseAddress!, INGOT_W_F32, 1, 4, &out) }
        Self.expectIdentical(Array(out[0..<4]), Array(f32[1..<5]), "F32 widening")
        #expect(out[4].bitPattern == Self.sentinel.bitPattern)
    }

    // MARK: - The engine on every ISA

    static let configs = EngineGoldenTests.configs

    static func folder(_ name: String) -> String { fixturesFolder() + "/engine/\(name)" }

    /// Logits of the golden tokens three ways: one prefill of all of them (> 16 tokens: the GEMM), one prefill of
    /// the first 16 (the direct kernel), and 5 prefilled then decoded one at a time (≤ 16 tokens throughout).
    static func engineLogits(_ engine: InferenceEngine, _ tokens: [Int]) throws -> (prefill: [Float], direct: [Float], decode: [Float]) {
        let prefill = try engine.logits(tokens)
        let direct = try engine.logits(Array(tokens.prefix(16)))
        let cache = engine.makeCache()
        var decode = try engine.forward(Array(tokens[0..<5]), cache: cache)
        for t in 5..<12 { decode += try engine.forward([tokens[t]], cache: cache) }
        return (prefill, direct, decode)
    }

    @Test(arguments: configs, KernelISA.supported)
    func engineMatchesGoldensOnEveryISA(name: String, isa: KernelISA) throws {
        let g = try EngineGoldenTests.golden(name)
        #expect(g.tokens.count > 16, "\(name): the golden must be long enough for the GEMM path")
        let engine = try InferenceEngine(source: openWeights(Self.folder(name)), isa: isa)
        #expect(engine.config.isa == isa)
        let got = try Self.engineLogits(engine, g.tokens)
        let v = g.vocab
        let checks: [(String, [Float])] = [
            ("prefill \(g.tokens.count)", got.prefill), ("prefill 16", got.direct), ("decode 5+1×7", got.decode),
        ]
        for (mode, logits) in checks {
            let error = EngineGoldenTests.relativeError(logits, Array(g.logits[0..<logits.count]))
            #expect(error <= 1e-4, "\(name) \(isa) \(mode): max relative error \(error) against transformers")
        }
        #expect(got.direct.count == 16 * v && got.decode.count == 12 * v)
        if isa != .portable {
            let portable = try Self.engineLogits(InferenceEngine(source: openWeights(Self.folder(name)), isa: .portable), g.tokens)
            Self.expectIdentical(got.prefill, portable.prefill, "\(name) \(isa): prefill logits differ from portable C")
            Self.expectIdentical(got.direct, portable.direct, "\(name) \(isa): 16-token logits differ from portable C")
            Self.expectIdentical(got.decode, portable.decode, "\(name) \(isa): decode logits differ from portable C")
        }
    }

    @Test(arguments: KernelISA.supported)
    func bundleEqualsCheckpointOnEveryISA(isa: KernelISA) throws {
        let bundle = temporaryFolder() + "/int4.bundle"
        _ = try BundleRepacker.run(source: Self.folder("int4"), output: bundle, options: .init())
        let tokens = try EngineGoldenTests.golden("int4").tokens
        let checkpoint = try Self.engineLogits(InferenceEngine(source: openWeights(Self.folder("int4")), isa: isa), tokens)
        let source = try openWeights(bundle)
        #expect(source is BundleWeights)
        let fromBundle = try Self.engineLogits(InferenceEngine(source: source, isa: isa), tokens)
        Self.expectIdentical(fromBundle.prefill, checkpoint.prefill, "\(isa): bundle prefill logits differ from the checkpoint's")
        Self.expectIdentical(fromBundle.direct, checkpoint.direct, "\(isa): bundle 16-token logits differ from the checkpoint's")
        Self.expectIdentical(fromBundle.decode, checkpoint.decode, "\(isa): bundle decode logits differ from the checkpoint's")
    }
}
