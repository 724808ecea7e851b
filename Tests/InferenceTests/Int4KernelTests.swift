import BundleFormat
import CKernels
import Checkpoint
import Quantization
import TensorIO
import TestSupport
import Testing

/// The INT4 matrix kernels: compressed-tensors layout and bundle tile layout, AVX2 and portable paths, agree bit for
/// bit, and match a float64 reference of Σ (scale × q) · x.
@Suite struct Int4KernelTests {
    struct Case: CustomStringConvertible, Sendable {
        let rows: Int, cols: Int, tokens: Int
        var description: String { "\(rows)x\(cols) t\(tokens)" }
    }

    static let cases: [Case] = [
        .init(rows: 1, cols: 32, tokens: 1), .init(rows: 7, cols: 96, tokens: 1), .init(rows: 8, cols: 64, tokens: 3),
        .init(rows: 13, cols: 256, tokens: 2), .init(rows: 64, cols: 128, tokens: 17), .init(rows: 33, cols: 32, tokens: 5),
    ]

    @Test(arguments: cases)
    func layoutsAndPathsAgree(c: Case) throws {
        var rng = SplitMix64(seed: UInt64(c.rows * 1000 + c.cols + c.tokens))
        let groups = c.cols / 32
        let q: [Int8] = (0..<(c.rows * c.cols)).map { _ in Int8(Int(rng.next() % 16) - 8) }
        // Scales with varied exponents (BF16 bits), positive.
        let scales: [UInt16] = (0..<(c.rows * groups)).map { _ in FloatConversion.bf16(Float(0.001 + Double(rng.next() % 1000) / 997)) }
        let x: [Float] = (0..<(c.tokens * c.cols)).map { _ in normal(&rng) }
        let packed = PackQuantized.pack(q, rows: c.rows, columns: c.cols, bits: 4)
        let layout = TileLayout(tileRows: 8)
        var tiles = [UInt8](repeating: 0, count: layout.projectionBytes(rows: c.rows, columns: c.cols))
        packed.withUnsafeBytes { p in
            scales.withUnsafeBytes { s in
                tiles.withUnsafeMutableBytes { layout.tile(packed: p, scales: s, rows: c.rows, columns: c.cols, into: $0) }
            }
        }
        func run(tiled: Bool, portable: Int32) -> [Float] {
            var y = [Float](repeating: .nan, count: c.tokens * c.rows)
            packed.withUnsafeBytes { p in
                scales.withUnsafeBufferPointer { s in
                    tiles.withUnsafeBufferPointer { tp in
                        if tiled {
                            ingot_int4_tiles_matmul(
                                tp.baseAddress!, 8, Int64(c.rows), Int64(c.cols), x, Int64(c.cols), &y, Int64(c.rows), Int64(c.tokens), 0,
                                Int64((c.rows + 7) / 8), portable)
                        } else {
                            ingot_int4_ct_matmul(
                                p.baseAddress!.assumingMemoryBound(to: UInt8.self), s.baseAddress!, Int64(c.cols), x, Int64(c.cols), &y,
                                Int64(c.rows), Int64(c.tokens), 0, Int64(c.rows), portable)
                        }
                    }
                }
            }
            return y
        }
        let reference = run(tiled: false, portable: 1)
        #expect(run(tiled: false, portable: 0) == reference)
        #expect(run(tiled: true, portable: 0) == reference)
        #expect(run(tiled: true, portable: 1) == reference)
        for t in 0..<c.tokens {
            for r in 0..<c.rows {
                var exact = 0.0, magnitude = 0.0
                for j in 0..<c.cols {
                    let w = Double(FloatConversion.float(bf16: scales[r * groups + j / 32])) * Double(q[r * c.cols + j])
                    exact += w * Double(x[t * c.cols + j])
                    magnitude += abs(w * Double(x[t * c.cols + j]))
                }
                let got = Double(reference[t * c.rows + r])
                #expect(abs(got - exact) <= 1e-6 * max(magnitude, 1e-30), "row \(r) token \(t): \(got) vs \(exact)")
            }
        }
    }
}
