public import TensorIO

/// One GGML Q4_0 block: 32 weights as an F16 scale `d` and 16 bytes where byte j holds element j in its
/// low nibble and element j + 16 in its high nibble; weight = (nibble − 8) × d (docs/quantization.md, "Q4_0").
public struct Q4_0Block: Equatable, Sendable {
    /// F16 bits of the scale.
    public var d: UInt16
    /// The 16 nibble-pair bytes.
    public var qs: (UInt64, UInt64)

    /// Bytes in the file: 2 + 16.
    public static let byteCount = 18

    public static func == (a: Q4_0Block, b: Q4_0Block) -> Bool { a.d == b.d && a.qs == b.qs }

    /// Byte j of `qs`.
    public func byte(_ j: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: (j < 8 ? qs.0 : qs.1) >> (8 * UInt64(j % 8)))
    }

    /// The block's 18 bytes in file order.
    public var bytes: [UInt8] {
        [UInt8(d & 0xFF), UInt8(d >> 8)] + (0..<16).map(byte)
    }
}

/// Direct conversion of a compressed-tensors INT4 group of 32 into a Q4_0 block (docs/quantization.md, "Q4_0"):
/// nibble values are kept, only their order changes (CT byte m = columns 2m, 2m+1 → Q4_0 byte j = columns
/// j, j + 16), and the BF16 scale becomes F16.
public enum Q4_0Conversion {
    /// True when the BF16 scale converts to F16 without change, so the Q4_0 block reproduces q × scale exactly.
    @inlinable
    public static func isScaleExact(bf16 bits: UInt16) -> Bool {
        let f = FloatConversion.float(bf16: bits)
        return FloatConversion.float(f16: FloatConversion.f16(f)).bitPattern == f.bitPattern
    }

    /// Converts one group: `packed` are the 16 CT bytes (4 words) of columns 32g…32g+31 of one row.
    ///
    /// - Returns: the block and whether it is exact.
    public static func block(packed: UnsafeRawBufferPointer, scaleBF16: UInt16) -> (block: Q4_0Block, exact: Bool) {
        precondition(packed.count == 16)
        var nibbles = [UInt8](repeating: 0, count: 32)
        for m in 0..<16 {
            let b = packed[m]
            nibbles[2 * m] = b & 0x0F
            nibbles[2 * m + 1] = b >> 4
        }
        var lo: UInt64 = 0, hi: UInt64 = 0
        for j in 0..<16 {
            let byte = UInt64(nibbles[j] | (nibbles[j + 16] << 4))
            if j < 8 { lo |= byte << (8 * UInt64(j)) } else { hi |= byte << (8 * UInt64(j - 8)) }
        }
        let f = FloatConversion.float(bf16: scaleBF16)
        return (Q4_0Block(d: FloatConversion.f16(f), qs: (lo, hi)), isScaleExact(bf16: scaleBF16))
    }

    /// Dequantizes a block to 32 floats the way ggml does: (nibble − 8) × f32(d).
    public static func dequantize(_ block: Q4_0Block) -> [Float] {
        let d = FloatConversion.float(f16: block.d)
        var out = [Float](repeating: 0, count: 32)
        for j in 0..<16 {
            let b = block.byte(j)
            out[j] = Float(Int(b & 0x0F) - 8) * d
            out[j + 16] = Float(Int(b >> 4) - 8) * d
        }
        return out
    }
}
