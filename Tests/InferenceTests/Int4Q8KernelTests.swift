import BundleFormat
import CKernels
import Checkpoint
import Quantization
import TensorIO
import TestSupport
import Testing

/// The opt-in Q8_0-activation INT4 kernels (engine_q8.c): activation quantization equals the `gguf` package's Q8_0
/// (fixtures/scripts/make_q8_golden.py), both layouts and both code paths agree bit for bit, and the product equals a
/// float64 evaluation of Σ_g scale·d·Σ (u − 8)·q.
@Suite struct Int4Q8KernelTests {
    /// Quantizes `x` (a multiple of 32 values) with ingot's C quantizer.
    static func quantize(_ x: [Float], portable: Int32) -> (q: [Int8], d: [Float], sums: [Int32]) {
        var q = [Int8](repeating: 0, count: x.count)
        var d = [Float](repeating: .nan, count: x.count / 32)
        var s = [Int32](repeating: 0, count: x.count / 32)
        ingot_quantize_q8_0(x, Int64(x.count), &q, &d, &s, portable)
        return (q, d, s)
    }

    @Test func quantizationMatchesGGUFPackage() throws {
        let file = try SafetensorsFile(path: fixturesFolder() + "/engine/q8-golden.safetensors")
        let x = try file.floats(named: "x")
        let q = try file.integers(named: "q")
        let d = try file.floats(named: "d")
        for portable: Int32 in [0, 1] {
            let got = Self.quantize(x, portable: portable)
            #expect(got.q.map(Int.init) == q, "portable \(portable): Q8_0 values differ from gguf's")
            #expect(got.d == d, "portable \(portable): block scales differ from gguf's")
            for g in 0..<(x.count / 32) {
                #expect(Int(got.sums[g]) == q[(32 * g)..<(32 * g + 32)].reduce(0, +))
            }
        }
        // The zero group quantizes to d = 0, q = 0.
        #expect(d.contains(0))
    }

    @Test func productMatchesFloat64Golden() throws {
        let file = try SafetensorsFile(path: fixturesFolder() + "/engine/q8-golden.safetensors")
        let x = try file.floats(named: "x")
        let wq = try file.integers(named: "w_q").map { Int8($0) }
        let ws = try file.floats(named: "w_scale").map { FloatConversion.bf16($0) }
        let yBytes = try file.bytes(named: "y")
        let rows = 24, cols = 256, tokens = x.count / cols
        let y64 = (0..<(tokens * rows)).map { yBytes.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self) }
        let got = Self.run(q: wq, scales: ws, x: x, rows: rows, cols: cols, tokens: tokens)
        let magnitude = y64.map(abs).max()!
        for i in y64.indices {
            #expect(abs(Double(got.reference[i]) - y64[i]) <= 2e-6 * magnitude, "y[\(i)] \(got.reference[i]) vs \(y64[i])")
        }
    }

    struct Case: CustomStringConvertible, Sendable {
        let rows: Int, cols: Int, tokens: Int
        var description: String { "\(rows)x\(cols) t\(tokens)" }
    }

    /// Odd shapes (a row, a partial tile block, several tokens) plus one K2-sized row length.
    static let cases: [Case] = [
        .init(rows: 1, cols: 32, tokens: 1), .init(rows: 7, cols: 96, tokens: 1), .init(rows: 8, cols: 64, tokens: 3),
        .init(rows: 13, cols: 256, tokens: 2), .init(rows: 64, cols: 128, tokens: 17), .init(rows: 33, cols: 32, tokens: 5),
        .init(rows: 24, cols: 2048, tokens: 1), .init(rows: 40, cols: 96, tokens: 11), .init(rows: 17, cols: 64, tokens: 4),
        .init(rows: 16, cols: 32, tokens: 9),
        // One token: AVX-512 VNNI takes whole blocks of sixteen rows, AVX2 the rest; its scales come sixteen groups
        // at a time (a row of one group, of nine, of 35 = two tables of sixteen and a partial one).
        .init(rows: 37, cols: 64, tokens: 1), .init(rows: 16, cols: 32, tokens: 1), .init(rows: 48, cols: 288, tokens: 1),
        .init(rows: 32, cols: 1120, tokens: 1),
    ]

    /// Every kernel variant on the same data: (ct portable = the reference; ct best (AVX-512 VNNI from 4 tokens where
    /// the CPU has it), tiles best, tiles portable, ct AVX2 only, tiles AVX2 only).
    static func run(q: [Int8], scales: [UInt16], x: [Float], rows: Int, cols: Int, tokens: Int) -> (reference: [Float], others: [[Float]]) {
        let packed = PackQuantized.pack(q, rows: rows, columns: cols, bits: 4)
        let layout = TileLayout(tileRows: 8)
        var tiles = [UInt8](repeating: 0, count: layout.projectionBytes(rows: rows, columns: cols))
        packed.withUnsafeBytes { p in
            scales.withUnsafeBytes { s in
                tiles.withUnsafeMutableBytes { layout.tile(packed: p, scales: s, rows: rows, columns: cols, into: $0) }
            }
        }
        let a = quantize(x, portable: 0)
        func product(tiled: Bool, portable: Int32) -> [Float] {
            var y = [Float](repeating: .nan, count: tokens * rows)
            packed.withUnsafeBytes { p in
                if tiled {
                    ingot_int4_tiles_matmul_q8(
                        tiles, 8, Int64(rows), Int64(cols), a.q, a.d, a.sums, &y, Int64(rows), Int64(tokens), 0, Int64((rows + 7) / 8),
                        portable)
                } else {
                    ingot_int4_ct_matmul_q8(
                        p.baseAddress!.assumingMemoryBound(to: UInt8.self), scales, Int64(rows), Int64(cols), a.q, a.d, a.sums, &y,
                        Int64(rows), Int64(tokens), 0, Int64(rows), portable)
                }
            }
            return y
        }
        return (
            product(tiled: false, portable: 1),
            [
                product(tiled: false, portable: 0), product(tiled: true, portable: 0), product(tiled: true, portable: 1),
                product(tiled: false, portable: 2), product(tiled: true, portable: 2),
            ]
        )
    }

    /// The largest integer partial sums: every level 15 or 0 against every activation ±127 (int16 stages must not
    /// saturate or wrap).
    @Test(arguments: [Int8(7), Int8(-8)])
    func extremeLevels(level: Int8) throws {
        let rows = 16, cols = 256, tokens = 2
        let q = [Int8](repeating: level, count: rows * cols)
        let scales = [UInt16](repeating: FloatConversion.bf16(1), count: rows * cols / 32)
        var x = [Float](repeating: 1, count: tokens * cols)
        for j in cols..<(2 * cols) { x[j] = -1 }
        let result = Self.run(q: q, scales: scales, x: x, rows: rows, cols: cols, tokens: tokens)
        for other in result.others { #expect(other == result.reference) }
        // Every activation quantizes to ±127 with d = f16(1/127): y = Σ level · (±127) · d over the row.
        let d = Double(Float(Float16(Float(1) / 127)))
        for r in 0..<rows {
            #expect(Double(result.reference[r]) == Double(level) * 127 * d * Double(cols))
            #expect(Double(result.reference[rows + r]) == -Double(level) * 127 * d * Double(cols))
        }
    }

    @Test(arguments: cases)
    func layoutsAndPathsAgree(c: Case) throws {
        var rng = SplitMix64(seed: UInt64(c.rows * 7919 + c.cols + c.tokens))
        let groups = c.cols / 32
        let q: [Int8] = (0..<(c.rows * c.cols)).map { _ in Int8(Int(rng.next() % 16) - 8) }
        let scales: [UInt16] = (0..<(c.rows * groups)).map { _ in FloatConversion.bf16(Float(0.001 + Double(rng.next() % 1000) / 997)) }
        let x: [Float] = (0..<(c.tokens * c.cols)).map { _ in normal(&rng) }
        let result = Self.run(q: q, scales: scales, x: x, rows: c.rows, cols: c.cols, tokens: c.tokens)
        for other in result.others { #expect(other == result.reference) }
        // Against float64 on the quantized activations, and (loosely) against the exact f32 product.
        let a = Self.quantize(x, portable: 1)
        for t in 0..<c.tokens {
            for r in 0..<c.rows {
                var expected = 0.0, magnitude = 0.0, exact = 0.0, rounding = 0.0
                for g in 0..<groups {
                    var isum = 0
                    let s = Double(FloatConversion.float(bf16: scales[r * groups + g]))
                    for j in (32 * g)..<(32 * g + 32) {
                        isum += Int(q[r * c.cols + j]) * Int(a.q[t * c.cols + j])
                        exact += Double(q[r * c.cols + j]) * s * Double(x[t * c.cols + j])
                        // |q·d − x| ≤ d/2 + 127·|d − amax/127| ≤ d · (1/2 + 127 · 2⁻¹¹) (d is F16-rounded)
                        rounding += abs(Double(q[r * c.cols + j]) * s) * Double(a.d[t * groups + g]) * 0.5625
                    }
                    let term = Double(FloatConversion.float(bf16: scales[r * groups + g])) * Double(a.d[t * groups + g]) * Double(isum)
                    expected += term
                    magnitude += abs(term)
                }
                let got = Double(result.reference[t * c.rows + r])
                #expect(abs(got - expected) <= 1e-6 * max(magnitude, 1e-30), "row \(r) token \(t): \(got) vs \(expected)")
                // Q8_0 moves each activation by at most ≈ d/2 (0.4 % of its group's largest value).
                #expect(abs(got - exact) <= rounding + 1e-6 * magnitude, "row \(r) token \(t): q8 \(got) vs exact \(exact)")
            }
        }
    }
}
