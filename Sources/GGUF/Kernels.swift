internal import TensorIO

/// Row kernels of the export: compressed-tensors INT4 → Q4_0 by nibble reorder, floats → BF16/F32/Q8_0.
///
/// Each works on raw pointers the caller obtained once; nothing allocates inside.
public enum GGUFKernels {
    /// Converts one row of compressed-tensors pack-quantized INT4 into Q4_0 blocks, keeping every nibble.
    ///
    /// Source group g is bytes 16g…16g+15 of `packed` (byte m holds column 32g+2m in its low nibble and 32g+2m+1
    /// in its high nibble) and BF16 scale g of `scales`. Q4_0 block g is the F16 scale then 16 bytes where byte j
    /// holds column 32g+j (low) and 32g+j+16 (high) (docs/quantization.md, "Q4_0"). The stored nibble is q + 8 in both.
    ///
    /// - Parameters:
    ///   - packed: `groups × 16` bytes.
    ///   - scales: `groups` BF16 values (little-endian bit patterns, unaligned allowed).
    ///   - out: `groups × 18` bytes.
    ///   - onInexact: called with the group index and BF16 bits of each scale that F16 does not hold exactly.
    /// - Returns: the number of inexact groups in the row.
    @discardableResult
    public static func q4_0Row(
        packed: UnsafeRawPointer, scales: UnsafeRawPointer, groups: Int, into out: UnsafeMutableRawPointer,
        onInexact: (Int, UInt16) -> Void = { _, _ in }
    ) -> Int {
        var inexact = 0
        let lowMask: UInt64 = 0x0F0F_0F0F_0F0F_0F0F
        for g in 0..<groups {
            let scale = UInt16(littleEndian: scales.loadUnaligned(fromByteOffset: 2 * g, as: UInt16.self))
            let f = FloatConversion.float(bf16: scale)
            let d = FloatConversion.f16(f)
            if FloatConversion.float(f16: d).bitPattern != f.bitPattern {
                inexact += 1
                onInexact(g, scale)
            }
            let block = out + 18 * g
            block.storeBytes(of: d.littleEndian, toByteOffset: 0, as: UInt16.self)
            // a: columns 0…15 (byte k = columns 2k, 2k+1); b: columns 16…31.
            let a = UInt64(littleEndian: packed.loadUnaligned(fromByteOffset: 16 * g, as: UInt64.self))
            let b = UInt64(littleEndian: packed.loadUnaligned(fromByteOffset: 16 * g + 8, as: UInt64.self))
            // Byte k of x is Q4_0 byte 2k (columns 2k | 2k+16); byte k of y is Q4_0 byte 2k+1 (columns 2k+1 | 2k+17).
            let x = (a & lowMask) | ((b & lowMask) << 4)
            let y = ((a >> 4) & lowMask) | (b & ~lowMask)
            for k in 0..<8 {
                block.storeBytes(of: UInt8(truncatingIfNeeded: x >> (8 * UInt64(k))), toByteOffset: 2 + 2 * k, as: UInt8.self)
                block.storeBytes(of: UInt8(truncatingIfNeeded: y >> (8 * UInt64(k))), toByteOffset: 3 + 2 * k, as: UInt8.self)
            }
        }
        return inexact
    }

    /// Quantizes `count` floats (a multiple of 32) to Q8_0 as ggml's `quantize_row_q8_0_ref` does:
    /// d = max|x| / 127, stored as F16; q = round-half-away(x / d) using the F32 reciprocal; d = 0 gives q = 0.
    public static func q8_0Row(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer) {
        precondition(count % 32 == 0)
        for b in 0..<(count / 32) {
            let src = x + 32 * b
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(src[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            let block = out + 34 * b
            block.storeBytes(of: FloatConversion.f16(d).littleEndian, toByteOffset: 0, as: UInt16.self)
            for j in 0..<32 {
                let q = (src[j] * id).rounded(.toNearestOrAwayFromZero)
                block.storeBytes(of: Int8(q), toByteOffset: 2 + j, as: Int8.self)
            }
        }
    }

    /// Writes `count` floats in `type` (F32, F16, BF16 or Q8_0); BF16 and F16 round to nearest even.
    ///
    /// - Precondition: for Q8_0, `count` is a multiple of 32.
    public static func encode(_ x: UnsafePointer<Float>, count: Int, as type: GGMLType, into out: UnsafeMutableRawPointer) {
        switch type {
        case .f32:
            for i in 0..<count { out.storeBytes(of: x[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .bf16:
            for i in 0..<count { out.storeBytes(of: FloatConversion.bf16(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .f16:
            for i in 0..<count { out.storeBytes(of: FloatConversion.f16(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            q8_0Row(x, count: count, into: out)
        case .q4_0:
            preconditionFailure("Q4_0 is written only from INT4 sources (q4_0Row)")
        }
    }
}
