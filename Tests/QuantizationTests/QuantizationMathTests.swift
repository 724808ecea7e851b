import Checkpoint
import Foundation
import Quantization
import TensorIO
import TestSupport
import Testing

@Suite("INT4 bit layout, qat grid, Q4_0 and statistics")
struct QuantizationMathTests {
    /// The worked examples of docs/quantization.md ("compressed-tensors pack-quantized"): q values of columns 0…7 → the stored word and its bytes.
    @Test(
        "the §5.2 test vectors pack and unpack bit-exactly",
        arguments: [
            ([-8, -7, -6, -5, -4, -3, -2, -1], UInt32(0x7654_3210), [0x10, 0x32, 0x54, 0x76] as [UInt8]),
            ([0, 1, 2, 3, 4, 5, 6, 7], UInt32(0xFEDC_BA98), [0x98, 0xBA, 0xDC, 0xFE]),
            ([1, 2, 3, 4, 5, 6, 7, -1], UInt32(0x7FED_CBA9), [0xA9, 0xCB, 0xED, 0x7F]),
            ([0, 0, 0, 0, 0, 0, 0, 0], UInt32(0x8888_8888), [0x88, 0x88, 0x88, 0x88]),
        ])
    func testVectors(q: [Int], word: UInt32, bytes: [UInt8]) {
        let packed = PackQuantized.pack(q.map { Int8($0) }, rows: 1, columns: 8, bits: 4)
        #expect(packed == [Int32(bitPattern: word)])
        #expect(withUnsafeBytes(of: packed[0].littleEndian) { Array($0) } == bytes)
        #expect(PackQuantized.unpack(packed, rows: 1, columns: 8, bits: 4) == q.map { Int8($0) })
    }

    @Test("the qat grid uses levels −7…7 and scale = BF16(absmax / 7)")
    func qatGrid() throws {
        var rng = SplitMix64(seed: 1)
        let x = (0..<(4 * 64)).map { _ in FloatConversion.float(bf16: FloatConversion.bf16(normal(&rng) * 0.02)) }
        let out = try GroupQuantizer(groupSize: 32, grid: .qatGrid).quantize(x, rows: 4, columns: 64)
        #expect(out.q.allSatisfy { (-7...7).contains($0) })
        #expect(out.q.contains(7) && out.q.contains(-7))
        for g in 0..<8 {
            let group = x[(g * 32)..<(g * 32 + 32)]
            let absmax = group.map(abs).max()!
            #expect(out.scales[g] == FloatConversion.float(bf16: FloatConversion.bf16(absmax / 7)))
        }
        let rtn = try GroupQuantizer(groupSize: 32).quantize(x, rows: 4, columns: 64)
        #expect(rtn.q.contains(-8) || rtn.q.contains(7))
    }

    @Test("a group size that does not divide the row is an error naming the tensor")
    func groupSizeDoesNotDivide() {
        #expect(throws: QuantizationError.groupSizeDoesNotDivide(tensor: "w", columns: 48, groupSize: 32)) {
            try GroupQuantizer(groupSize: 32).quantize([Float](repeating: 0, count: 48), rows: 1, columns: 48, tensor: "w")
        }
    }

    @Test("Q4_0 block: 18 bytes, nibble reorder from CT pairs to split halves, exact dequantization when the scale fits F16")
    func q4_0() {
        #expect(Q4_0Block.byteCount == 2 + 16)
        let q: [Int8] = (0..<32).map { Int8(($0 * 5) % 15 - 7) }
        let packed = PackQuantized.pack(q, rows: 1, columns: 32, bits: 4)
        let scaleBits = FloatConversion.bf16(0.00390625 * 1.5)
        let (block, exact) = packed.withUnsafeBytes { Q4_0Conversion.block(packed: $0, scaleBF16: scaleBits) }
        #expect(exact)
        #expect(block.bytes.count == 18)
        let s = FloatConversion.float(bf16: scaleBits)
        #expect(Q4_0Conversion.dequantize(block) == q.map { Float($0) * s })
        for j in 0..<16 {
            #expect(Int(block.byte(j) & 0x0F) - 8 == Int(q[j]))
            #expect(Int(block.byte(j) >> 4) - 8 == Int(q[j + 16]))
        }
    }

    @Test("F16 exactness of BF16 scales: every positive finite BF16 in [2^-14, 65504] is exact, 2^-25 and 1e-38 are not")
    func fp16Exactness() {
        var inexactInRange = 0
        for bits in UInt16(0x0001)..<0x7F80 {
            let v = FloatConversion.float(bf16: bits)
            if v >= 0x1p-14 && v <= 65504 && !Q4_0Conversion.isScaleExact(bf16: bits) { inexactInRange += 1 }
        }
        #expect(inexactInRange == 0)
        #expect(!Q4_0Conversion.isScaleExact(bf16: FloatConversion.bf16(0x1p-25 * 1.5)))
        #expect(!Q4_0Conversion.isScaleExact(bf16: FloatConversion.bf16(1e-38)))
        #expect(!Q4_0Conversion.isScaleExact(bf16: FloatConversion.bf16(70000)))
    }

    @Test(
        "the fast nibble histogram equals the reference at sizes that break remainders",
        arguments: [0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 63, 67, 127, 129, 255, 1023, 100_003])
    func histogram(count: Int) {
        var rng = SplitMix64(seed: UInt64(count))
        let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        bytes.withUnsafeBytes { raw in
            var fast = [Int](repeating: 0, count: 16)
            fast.withUnsafeMutableBufferPointer { Int4Statistics.addHistogram(raw, into: $0.baseAddress!) }
            #expect(fast == Int4Statistics.histogramReference(raw))
            #expect(fast.reduce(0, +) == 2 * count)
        }
    }

    @Test("scale statistics classify NaN, inf, zero, negative and F16-inexact values")
    func scaleStatistics() {
        let values: [UInt16] = [
            FloatConversion.bf16(0.001), FloatConversion.bf16(0.01), 0x7FC0, 0x7F80, 0x0000, 0x8000,
            FloatConversion.bf16(-0.002), FloatConversion.bf16(1e-30),
        ]
        var s = ScaleStatistics()
        values.withUnsafeBytes { s.add(bf16: $0) }
        #expect(s.count == 8 && s.nan == 1 && s.infinite == 1 && s.zero == 2 && s.negative == 1)
        #expect(s.notFP16Exact == 1)
        #expect(s.maximum == FloatConversion.float(bf16: FloatConversion.bf16(0.01)))
        #expect(s.minimum == FloatConversion.float(bf16: FloatConversion.bf16(-0.002)))
        #expect(s.bad == 5)
    }

    @Test("dense non-finite counts for BF16, F16 and F32")
    func denseNonFinite() {
        let bf: [UInt16] = [0x3F80, 0x7FC1, 0xFF80, 0x7F80]
        #expect(bf.withUnsafeBytes { DenseStatistics.nonFinite($0, dtype: .bf16) } == (1, 2))
        let f: [Float] = [1, .nan, -.infinity]
        #expect(f.withUnsafeBytes { DenseStatistics.nonFinite($0, dtype: .f32) } == (1, 1))
        let h: [UInt16] = [0x7C00, 0x7E00, 0x3C00]
        #expect(h.withUnsafeBytes { DenseStatistics.nonFinite($0, dtype: .f16) } == (1, 1))
    }
}

@Suite("C kernels agree with their Swift reference twins")
struct KernelTwinTests {
    static let sizes = [0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 63, 67, 127, 129, 255, 1023, 4064, 4065, 100_003]

    @Test("nibble histogram and content hash", arguments: sizes)
    func histogramAndHash(count: Int) {
        var rng = SplitMix64(seed: UInt64(count) &+ 99)
        let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        bytes.withUnsafeBytes { raw in
            var fast = [Int](repeating: 0, count: 16)
            let hash = fast.withUnsafeMutableBufferPointer { Int4Statistics.addHistogram(raw, into: $0.baseAddress!, seed: 5) }
            #expect(fast == Int4Statistics.histogramReference(raw))
            #expect(hash == Int4Statistics.contentHash(raw, seed: 5))
            #expect(Int4Statistics.contentHashFast(raw, seed: 5) == hash)
        }
    }

    @Test("BF16 scale statistics, with specials sprinkled in", arguments: sizes)
    func scales(count: Int) {
        var rng = SplitMix64(seed: UInt64(count) &+ 7)
        let specials: [UInt16] = [0x7FC0, 0x7F80, 0xFF80, 0x0000, 0x8000, 0xBB00, 0x3300, 0x4780, 0x0001]
        let values: [UInt16] = (0..<count).map { i in
            let r = rng.next()
            if r % 37 == 0 { return specials[Int(r >> 8) % specials.count] }
            return 0x3A80 + UInt16(truncatingIfNeeded: r >> 20) % 0x0300  // ≈ 1e-3 … 1e-2
        }
        var fast = ScaleStatistics(), reference = ScaleStatistics()
        values.withUnsafeBytes {
            fast.add(bf16: $0)
            reference.addReference(bf16: $0)
        }
        #expect(fast == reference)
    }

    @Test("non-finite counts of BF16, F16 and F32", arguments: sizes)
    func nonFinite(count: Int) {
        var rng = SplitMix64(seed: UInt64(count) &+ 3)
        let specials: [UInt16] = [0x7F80, 0x7FC0, 0x7C00, 0x7E00, 0xFF81]
        var halves: [UInt16] = []
        for _ in 0..<count {
            let r = rng.next()
            let plain = UInt16(truncatingIfNeeded: r >> 16) & 0x3FFF
            halves.append(r % 11 == 0 ? specials[Int(r >> 8) % 5] : plain)
        }
        let floats: [Float] = (0..<count).map { (i: Int) -> Float in
            if i % 13 != 0 { return Float(i) }
            return i % 2 == 0 ? Float.nan : -Float.infinity
        }
        halves.withUnsafeBytes { raw in
            for dtype in [DType.bf16, .f16] {
                #expect(DenseStatistics.nonFinite(raw, dtype: dtype) == DenseStatistics.nonFiniteReference(raw, dtype: dtype))
            }
        }
        floats.withUnsafeBytes { raw in
            #expect(DenseStatistics.nonFinite(raw, dtype: .f32) == DenseStatistics.nonFiniteReference(raw, dtype: .f32))
        }
    }
}

@Suite("parallel quantization")
struct ParallelQuantizationTests {
    @Test(
        "quantizeParallel equals quantize for every grid and symmetry, at row counts that split unevenly",
        arguments: [(GroupQuantizer.Grid.compressedTensors, true), (.compressedTensors, false), (.qatGrid, true)])
    func sameAsSerial(grid: GroupQuantizer.Grid, symmetric: Bool) throws {
        var rng = SplitMix64(seed: 41)
        for rows in [1, 7, 8, 17, 64] {
            let x = (0..<(rows * 96)).map { _ in FloatConversion.float(bf16: FloatConversion.bf16(normal(&rng) * 0.02)) }
            let q = GroupQuantizer(groupSize: 32, symmetric: symmetric, grid: grid)
            let serial = try q.quantize(x, rows: rows, columns: 96)
            for threads in [1, 2, 3] {
                #expect(try q.quantizeParallel(x, rows: rows, columns: 96, threads: threads) == serial, "rows \(rows) threads \(threads)")
            }
        }
    }
}
