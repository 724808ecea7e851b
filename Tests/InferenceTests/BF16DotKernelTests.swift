import CKernels
import Checkpoint
import Foundation
import Inference
import TestSupport
import Testing

/// The q8_0 mode's BF16 kernels (engine_bf16.c; docs/engine.md, "Kernels and numerics"): activations rounded to BF16
/// to nearest even, then VDPBF16PS arithmetic. Every `KernelISA.supported` variant (on an AVX512_BF16 CPU: the
/// instruction itself) equals the portable replay bit for bit, including subnormals, ±0, NaN and infinities; the
/// replay follows Intel's definition in the cases that tell the orders and flush rules apart; the result is within
/// the f32 rounding bound of a float64 sum of the rounded products; and the engine's q8_0 mode uses it.
@Suite struct BF16DotKernelTests {
    struct Shape: CustomStringConvertible, Sendable {
        let rows: Int, cols: Int, tokens: Int
        var description: String { "\(rows)x\(cols) T\(tokens)" }
    }

    /// Columns not a multiple of 32 (and one below 32), tokens across the 4-token tiles and the 64-token blocks; one
    /// token over more than twelve rows (the 12-row steps, then 4-row tiles).
    static let shapes = [
        Shape(rows: 7, cols: 45, tokens: 1), Shape(rows: 29, cols: 70, tokens: 1), Shape(rows: 9, cols: 77, tokens: 3),
        Shape(rows: 13, cols: 100, tokens: 17),
        Shape(rows: 6, cols: 200, tokens: 40), Shape(rows: 5, cols: 7, tokens: 3), Shape(rows: 3, cols: 130, tokens: 70),
    ]

    /// The BF16 value of bits.
    static func value(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Random BF16 bits: mostly normal values over a range of exponents; with `edges`, also subnormals, ±0, tiny
    /// normals (whose products underflow); NaN and infinities are placed by ``data(_:edges:)``.
    static func bits(_ rng: inout SplitMix64, edges: Bool) -> UInt16 {
        if edges {
            switch rng.next() % 100 {
            case 0..<6: return UInt16(truncatingIfNeeded: rng.next()) & 0x807F  // subnormal or ±0
            case 6..<9: return 0x8000
            case 9..<12: return 0x0000
            case 12..<20: return UInt16(truncatingIfNeeded: rng.next()) & 0x80FF | 0x0080  // exponent 1 or 2
            default: break
            }
        }
        let v = normal(&rng) * Float(sign: .plus, exponent: Int(rng.next() % 9) - 4, significand: 1)
        return UInt16(v.bitPattern >> 16)
    }

    /// (weights, activation bits) of a shape.
    static func data(_ s: Shape, edges: Bool) -> (w: [UInt16], x: [UInt16]) {
        var rng = SplitMix64(seed: UInt64(s.rows * 131 + s.cols * 7 + s.tokens) + (edges ? 1 : 0))
        var w = (0..<(s.rows * s.cols)).map { _ in bits(&rng, edges: edges) }
        var x = (0..<(s.tokens * s.cols)).map { _ in bits(&rng, edges: edges) }
        if edges {
            // NaN in row 0, +∞ in the last row, −∞ in token 0 (if there are others): NaN, ±∞ and finite outputs.
            w[s.cols / 2] = 0x7FC1
            w[(s.rows - 1) * s.cols + 1] = 0x7F80
            if s.tokens > 1 { x[s.cols - 1] = 0xFF80 }
        }
        return (w, x)
    }

    static func run(_ w: [UInt16], _ x: [UInt16], _ s: Shape, isa: KernelISA) -> [Float] {
        var y = [Float](repeating: -1, count: s.tokens * s.rows)
        ingot_bf16_dot_matmul(
            w, Int64(s.cols), x, Int64(s.cols), &y, Int64(s.rows), Int64(s.tokens), 0, Int64(s.rows), isa.rawValue)
        return y
    }

    /// Outputs whose bits differ (both NaN counts as equal: NaN payloads are not part of the contract).
    static func differences(_ a: [Float], _ b: [Float]) -> [Int] {
        a.indices.filter { a[$0].bitPattern != b[$0].bitPattern && !(a[$0].isNaN && b[$0].isNaN) }
    }

    // MARK: - Rounding the activations

    /// ingot_f32_to_bf16 against a rounding decided here from the two neighbouring BF16 values (ties to even),
    /// over random bit patterns and the halfway cases.
    @Test func activationsRoundToNearestEven() {
        var rng = SplitMix64(seed: 5)
        var inputs: [UInt32] = (0..<20_000).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
        for high: UInt32 in [0x3F80, 0x3F81, 0x7F7F, 0xFF7F, 0x0000, 0x8000, 0x007F, 0x7F80, 0x7FC0] {
            for low: UInt32 in [0x0000, 0x7FFF, 0x8000, 0x8001, 0xFFFF] { inputs.append(high << 16 | low) }
        }
        let x = inputs.map { Float(bitPattern: $0) }
        var out = [UInt16](repeating: 0, count: x.count)
        ingot_f32_to_bf16(x, Int64(x.count), &out)
        var wrong = 0
        for (i, v) in x.enumerated() {
            let got = out[i]
            if v.isNaN {
                if !Self.value(got).isNaN || (got & 0x8000) != UInt16(inputs[i] >> 16) & 0x8000 { wrong += 1 }
                continue
            }
            let down = UInt16(inputs[i] >> 16), up = down &+ 1
            // Distances in Double; the step above the largest finite BF16 rounds toward 2^128 (infinity).
            let lower = Double(Self.value(down))
            let upper = (down & 0x7FFF) == 0x7F7F ? Double(sign: v.sign, exponent: 128, significand: 1) : Double(Self.value(up))
            let dl = abs(Double(v) - lower), du = abs(Double(v) - upper)
            let expected: UInt16 = dl < du ? down : du < dl ? up : (down & 1 == 0 ? down : up)
            if got != expected { wrong += 1 }
        }
        #expect(wrong == 0, "\(wrong) of \(x.count) values rounded differently")
    }

    // MARK: - Variants

    @Test(arguments: shapes, KernelISA.supported)
    func variantsEqualPortable(shape: Shape, isa: KernelISA) {
        Self.expectEqualToPortable(shape, isa, kernel: "direct", run: Self.run)
    }

    /// `run` on `isa` against portable C on the same data, with and without edge values: every output's bits equal
    /// (NaN payloads aside).
    static func expectEqualToPortable(
        _ shape: Shape, _ isa: KernelISA, kernel: String, run: ([UInt16], [UInt16], Shape, KernelISA) -> [Float]
    ) {
        for edges in [false, true] {
            let (w, x) = data(shape, edges: edges)
            let got = run(w, x, shape, isa), portable = run(w, x, shape, .portable)
            let differing = differences(got, portable)
            #expect(
                differing.isEmpty,
                "\(kernel) \(shape) \(isa) edges \(edges): \(differing.count) outputs differ from portable C, first \(differing.first.map { "\($0): \(got[$0]) vs \(portable[$0])" } ?? "")"
            )
            if edges { #expect(got.contains { $0.isNaN } && got.contains { $0.isFinite && $0 != 0 }) }
        }
    }

    /// Cases that only the instruction's exact definition gets right, on every variant: the odd element of a pair
    /// is accumulated first; a subnormal BF16 input is read as zero; a result is tiny (and flushed to a zero of its
    /// sign) when it is below FLT_MIN after rounding to 24 bits with an unbounded exponent.
    @Test(arguments: KernelISA.supported)
    func followsTheInstructionsDefinition(isa: KernelISA) {
        func dot(_ pairs: [(UInt16, UInt16)]) -> Float {
            let s = Shape(rows: 1, cols: pairs.count, tokens: 1)
            return Self.run(pairs.map(\.0), pairs.map(\.1), s, isa: isa)[0]
        }
        let one: UInt16 = 0x3F80
        func bf16(_ v: Float) -> UInt16 { UInt16(v.bitPattern >> 16) }
        // Lane 0 holds 1 after the first chunk; then columns 33 (odd) and 32 (even) add 2^-24 and 2^-23. Odd first:
        // 1 + 2^-24 is a tie and stays 1, then 1 + 2^-23. Even first: 1 + 2^-23, then the tie goes up to 1 + 2^-22.
        var pairs = [(UInt16, UInt16)](repeating: (0, 0), count: 34)
        pairs[0] = (one, one)
        pairs[33] = (bf16(0x1p-24), one)
        pairs[32] = (bf16(0x1p-23), one)
        #expect(dot(pairs) == 1 + 0x1p-23, "\(isa): odd element first")
        // A subnormal weight is zero: 2^-133 × 2^100 would be 2^-33.
        #expect(dot([(0x0001, bf16(0x1p100))]) == 0, "\(isa): subnormal input read as zero")
        // FLT_MIN (odd element) minus d · 2^-152 (even element, a product of normal BF16 values): tiny after
        // rounding for d ≥ 3, FLT_MIN for d ≤ 2 (d = 2 is the tie, to even: FLT_MIN).
        for d in 1...6 {
            let got = dot([(bf16(-Float(d) * 0x1p-76), bf16(0x1p-76)), (0x0080, one)])
            #expect(got == (d >= 3 ? 0 : Float.leastNormalMagnitude), "\(isa): FLT_MIN − \(d)·2^-152 gave \(got)")
        }
        // A subnormal result is flushed: 2^-70 × 2^-70.
        #expect(dot([(bf16(0x1p-70), bf16(0x1p-70))]) == 0, "\(isa): subnormal product flushed")
    }

    /// Normal data: within the rounding bound of a float64 sum of the same products (each output is a chain of
    /// cols/16 fused steps per lane and 4 pairwise additions).
    @Test(arguments: shapes)
    func matchesFloat64Reference(shape s: Shape) {
        let (w, x) = Self.data(s, edges: false)
        let got = Self.run(w, x, s, isa: .best)
        let u = 0x1p-24, steps = Double((s.cols + 31) / 32 * 2 + 4)
        var worst = 0.0
        for t in 0..<s.tokens {
            for r in 0..<s.rows {
                var sum = 0.0, magnitude = 0.0
                for c in 0..<s.cols {
                    let p = Double(Self.value(w[r * s.cols + c])) * Double(Self.value(x[t * s.cols + c]))
                    sum += p
                    magnitude += abs(p)
                }
                worst = max(worst, abs(Double(got[t * s.rows + r]) - sum) / (steps * u * magnitude))
            }
        }
        #expect(worst <= 1, "\(s): error \(worst) of the bound")
    }

    // MARK: - Many tokens: the packed-panel GEMM

    /// Even column counts across the 256-column panels (one partial), rows across the 64-row panels, tokens across
    /// the 6-token tiles.
    static let gemmShapes = [
        Shape(rows: 70, cols: 300, tokens: 17), Shape(rows: 64, cols: 512, tokens: 6), Shape(rows: 5, cols: 34, tokens: 23),
        Shape(rows: 130, cols: 258, tokens: 13),
    ]

    static func runGEMM(_ w: [UInt16], _ x: [UInt16], _ s: Shape, isa: KernelISA) -> [Float] {
        var y = [Float](repeating: -1, count: s.tokens * s.rows)
        var panel = [UInt32](repeating: 0, count: Int(ingot_bf16_gemm_scratch_words()))
        // Two workers' row ranges, split at a panel boundary, as the engine calls it.
        let split = min(s.rows, 64)
        for (begin, end) in [(0, split), (split, s.rows)] where begin < end {
            ingot_bf16_gemm(
                w, Int64(s.cols), x, Int64(s.cols), &y, Int64(s.rows), Int64(s.tokens), Int64(begin), Int64(end), &panel,
                isa.rawValue)
        }
        return y
    }

    @Test(arguments: gemmShapes, KernelISA.supported)
    func gemmVariantsEqualPortable(shape: Shape, isa: KernelISA) {
        Self.expectEqualToPortable(shape, isa, kernel: "GEMM", run: Self.runGEMM)
    }

    /// One accumulation chain per output, pairs in order, the odd element first: a portable float chain of the same
    /// steps (fused multiply-add of the widened values, no subnormals in this data) gives the same bits, and the
    /// result is within the f32 bound of a float64 sum.
    @Test(arguments: gemmShapes)
    func gemmIsOneChainPerOutput(shape s: Shape) {
        let (w, x) = Self.data(s, edges: false)
        let got = Self.runGEMM(w, x, s, isa: .best)
        var mismatches = 0, worst = 0.0
        for t in 0..<s.tokens {
            for r in 0..<s.rows {
                var acc: Float = 0, sum = 0.0, magnitude = 0.0
                for p in 0..<(s.cols / 2) {
                    for c in [2 * p + 1, 2 * p] {
                        let a = Self.value(w[r * s.cols + c]), b = Self.value(x[t * s.cols + c])
                        acc = acc.addingProduct(a, b)
                        sum += Double(a) * Double(b)
                        magnitude += abs(Double(a) * Double(b))
                    }
                }
                if acc.bitPattern != got[t * s.rows + r].bitPattern { mismatches += 1 }
                worst = max(worst, abs(Double(got[t * s.rows + r]) - sum) / (Double(s.cols) * 0x1p-24 * magnitude))
            }
        }
        #expect(mismatches == 0, "\(s): \(mismatches) outputs are not the single chain")
        #expect(worst <= 1, "\(s): error \(worst) of the bound")
    }

    // MARK: - The engine

    /// The q8_0 mode on a BF16 model: logits equal on every ISA that shares the arithmetic (all of them for ≤ 16
    /// tokens; for more, AVX512_BF16 sums in the instruction's chain, the others in the f32 GEMM's order, so there the
    /// two agree within a rounding-level tolerance), close to exact mode's, and the arithmetic named.
    @Test(arguments: KernelISA.supported)
    func engineQ8ModeOnEveryISA(isa: KernelISA) throws {
        let folder = fixturesFolder() + "/engine/k2like"
        let tokens = Array(try EngineGoldenTests.golden("k2like").tokens.prefix(20))
        let engine = try InferenceEngine(source: openWeights(folder), int4Activations: .q8_0, isa: isa)
        #expect(engine.config.arithmetic.contains("dense BF16 × BF16-rounded activations"))
        let exact = try InferenceEngine(source: openWeights(folder), isa: isa)
        #expect(exact.config.arithmetic.hasPrefix("INT4 exact (f32 activations), dense f32"))
        let q8 = try engine.logits(tokens), reference = try exact.logits(tokens)
        let error = EngineGoldenTests.relativeError(q8, reference)
        #expect(error > 0 && error < 0.05, "\(isa): q8_0 vs exact relative error \(error)")
        if isa != .portable {
            let portable = try InferenceEngine(source: openWeights(folder), int4Activations: .q8_0, isa: .portable)
            let decode = Array(tokens.prefix(8))
            DenseKernelTests.expectIdentical(
                try engine.logits(decode), try portable.logits(decode), "\(isa): q8_0 decode-size logits differ from portable C")
            let many = try portable.logits(tokens)
            if isa == .avx512bf16 {
                let e = EngineGoldenTests.relativeError(q8, many)
                #expect(e < 1e-4, "\(isa): q8_0 many-token logits vs portable C relative error \(e)")
            } else {
                DenseKernelTests.expectIdentical(q8, many, "\(isa): q8_0 logits differ from portable C")
            }
        }
    }
}
