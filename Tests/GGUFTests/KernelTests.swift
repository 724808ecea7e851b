import Checkpoint
import GGUF
import Quantization
import TensorIO
import TestSupport
import Testing

/// Regression guard for the nibble-order bug of llama.cpp#17083: the fast Q4_0 repack must equal the
/// one-element-at-a-time reference (`Q4_0Conversion.block`) bit for bit, and dequantize to exactly q × scale.
@Suite("Q4_0 repack and Q8_0 kernels")
struct KernelTests {
    static func randomRow(groups: Int, rng: inout SplitMix64, scales: [UInt16]? = nil) -> (packed: [UInt8], scales: [UInt16]) {
        let packed = (0..<(16 * groups)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let s = scales ?? (0..<groups).map { _ in UInt16(truncatingIfNeeded: rng.next() & 0x7FFF) | (rng.next() & 1 == 0 ? 0 : 0x8000) }
        return (packed, s)
    }

    static func repack(_ packed: [UInt8], _ scales: [UInt16]) -> (bytes: [UInt8], inexact: [Int]) {
        let groups = scales.count
        var out = [UInt8](repeating: 0, count: 18 * groups)
        var inexact: [Int] = []
        packed.withUnsafeBytes { p in
            scales.withUnsafeBytes { s in
                out.withUnsafeMutableBytes { o in
                    let n = GGUFKernels.q4_0Row(packed: p.baseAddress!, scales: s.baseAddress!, groups: groups, into: o.baseAddress!) {
                        g, _ in
                        inexact.append(g)
                    }
                    #expect(n == inexact.count)
                }
            }
        }
        return (out, inexact)
    }

    @Test("fast repack equals the reference conversion bit for bit", arguments: [1, 2, 3, 7, 64, 224])
    func matchesReference(groups: Int) {
        var rng = SplitMix64(seed: UInt64(groups))
        let (packed, scales) = Self.randomRow(groups: groups, rng: &rng)
        let (bytes, inexact) = Self.repack(packed, scales)
        var expectedInexact: [Int] = []
        for g in 0..<groups {
            let (block, exact) = packed[(16 * g)..<(16 * g + 16)].withUnsafeBytes { Q4_0Conversion.block(packed: $0, scaleBF16: scales[g]) }
            #expect(Array(bytes[(18 * g)..<(18 * g + 18)]) == block.bytes, "group \(g)")
            if !exact { expectedInexact.append(g) }
        }
        #expect(inexact == expectedInexact)
    }

    @Test("dequantized Q4_0 equals q × scale exactly for every exact scale")
    func dequantizesExactly() {
        var rng = SplitMix64(seed: 9)
        // Scales across F16's whole exact range: 2^-17 … 65280, both signs.
        let scales: [UInt16] = (0..<256).map { i in
            let exponent = UInt16(127 - 17 + (i % 33))
            return (exponent << 7) | UInt16(i * 5 % 128) | (i % 2 == 0 ? 0 : 0x8000)
        }
        let columns = 32 * scales.count
        let q: [Int8] = (0..<columns).map { _ in Int8(Int(rng.next() % 16) - 8) }
        let words = PackQuantized.pack(q, rows: 1, columns: columns, bits: 4)
        let packed = words.flatMap { w in withUnsafeBytes(of: w.littleEndian) { Array($0) } }
        let (bytes, inexact) = Self.repack(packed, scales)
        #expect(inexact.isEmpty)
        for g in 0..<scales.count {
            let block = bytes[(18 * g)..<(18 * g + 18)]
            let d = FloatConversion.float(f16: UInt16(block[block.startIndex]) | UInt16(block[block.startIndex + 1]) << 8)
            let s = FloatConversion.float(bf16: scales[g])
            for j in 0..<16 {
                let b = block[block.startIndex + 2 + j]
                #expect(Float(Int(b & 0x0F) - 8) * d == Float(q[32 * g + j]) * s)
                #expect(Float(Int(b >> 4) - 8) * d == Float(q[32 * g + j + 16]) * s)
            }
        }
    }

    @Test(
        "scales F16 cannot hold are reported, the rest are exact",
        arguments: [
            (UInt16(0x0001), false), (0x3300, false), (0x3381, false), (0x3380, true), (0x3400, true), (0x3A83, true),
            (0x477F, true), (0x4780, false), (0x0000, true), (0x8000, true), (0xC77F, true), (0x3F81, true),
        ] as [(UInt16, Bool)])
    func scaleExactness(bits: UInt16, exact: Bool) {
        let (_, inexact) = Self.repack([UInt8](repeating: 0x88, count: 16), [bits])
        #expect(inexact.isEmpty == exact)
        #expect(Q4_0Conversion.isScaleExact(bf16: bits) == exact)
    }

    @Test("Q8_0 follows quantize_row_q8_0_ref: d = amax/127 in F16, q = round-half-away(x/d)")
    func q8_0() {
        var rng = SplitMix64(seed: 3)
        var x = (0..<96).map { _ in normal(&rng) }
        x[32..<64] = ArraySlice(repeating: 0, count: 32)  // an all-zero block: d = 0, q = 0
        var out = [UInt8](repeating: 0xFF, count: 3 * 34)
        x.withUnsafeBufferPointer { xs in
            out.withUnsafeMutableBytes { GGUFKernels.q8_0Row(xs.baseAddress!, count: 96, into: $0.baseAddress!) }
        }
        for b in 0..<3 {
            let block = Array(x[(32 * b)..<(32 * b + 32)])
            let d = (block.map(abs).max() ?? 0) / 127
            let id: Float = d == 0 ? 0 : 1 / d
            #expect(UInt16(out[34 * b]) | UInt16(out[34 * b + 1]) << 8 == FloatConversion.f16(d))
            for j in 0..<32 {
                let q = Int8(bitPattern: out[34 * b + 2 + j])
                #expect(Float(q) == (block[j] * id).rounded(.toNearestOrAwayFromZero))
                #expect(abs(Float(q)) <= 127)
            }
        }
    }
}
