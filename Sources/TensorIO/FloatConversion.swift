/// Exact conversions between the 16- and 8-bit float formats of checkpoints and `Float`.
///
/// Widening (BF16, F16, F8_E4M3 → F32) is exact for every bit pattern. Narrowing rounds to nearest,
/// ties to even, as PyTorch's `.to(torch.bfloat16)` / `.half()` do; NaN stays NaN (quiet).
public enum FloatConversion {
    /// BF16 bits → Float: the BF16 bits are the upper half of the float's bits.
    @inlinable @inline(__always)
    public static func float(bf16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Float → BF16 bits, rounded to nearest even; NaN becomes a quiet NaN with the same sign.
    @inlinable @inline(__always)
    public static func bf16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x0040) }
        let rounding = UInt32(0x7FFF) &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    /// F16 (IEEE binary16) bits → Float, exact, subnormals included.
    @inlinable @inline(__always)
    public static func float(f16 bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// Float → F16 bits, rounded to nearest even (overflow gives ±inf).
    @inlinable @inline(__always)
    public static func f16(_ value: Float) -> UInt16 {
        Float16(value).bitPattern
    }

    /// F8_E4M3 (PyTorch `float8_e4m3fn`: bias 7, no infinities, NaN = S.1111.111) bits → Float.
    @inlinable
    public static func float(f8E4M3 bits: UInt8) -> Float {
        let sign: Float = bits & 0x80 != 0 ? -1 : 1
        let exponent = Int((bits >> 3) & 0x0F)
        let mantissa = Int(bits & 0x07)
        if exponent == 0x0F && mantissa == 0x07 { return .nan }
        if exponent == 0 { return sign * Float(mantissa) * 0x1p-9 }  // subnormal: m/8 × 2^-6
        return sign * Float(8 + mantissa) * Float(sign: .plus, exponent: exponent - 7 - 3, significand: 1)
    }

    /// Float → F8_E4M3 bits, rounded to nearest even like PyTorch's non-saturating cast: magnitudes in
    /// [448, 480) give ±448, magnitudes from 480 up (and NaN) give NaN.
    public static func f8E4M3(_ value: Float) -> UInt8 {
        if value.isNaN { return 0x7F }
        let sign: UInt8 = value.sign == .minus ? 0x80 : 0
        let magnitude = abs(value)
        // Find the nearest representable magnitude by scanning the 127 non-negative finite codes.
        var best: UInt8 = 0
        var bestError = Float.infinity
        for code in UInt8(0)...0x7E {
            let candidate = float(f8E4M3: code)
            let error = abs(candidate - magnitude)
            if error < bestError || (error == bestError && code & 1 == 0) {
                best = code
                bestError = error
            }
        }
        if magnitude >= 480 { return sign | 0x7F }
        return sign | best
    }

    /// Converts `count` elements of a checkpoint float type at `source` to `Float`.
    ///
    /// - Precondition: `dtype.isConvertibleToFloat`, and `destination` holds `count` floats.
    public static func convert(
        _ source: UnsafeRawPointer, dtype: DType, count: Int,
        into destination: UnsafeMutablePointer<Float>
    ) {
        precondition(dtype.isConvertibleToFloat, "no float conversion for \(dtype.rawValue)")
        switch dtype {
        case .f32:
            for i in 0..<count { destination[i] = source.loadUnaligned(fromByteOffset: i * 4, as: Float.self) }
        case .bf16:
            for i in 0..<count {
                destination[i] = float(bf16: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
            }
        case .f16:
            for i in 0..<count {
                destination[i] = float(f16: source.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
            }
        case .f8E4M3:
            for i in 0..<count { destination[i] = float(f8E4M3: source.load(fromByteOffset: i, as: UInt8.self)) }
        case .f64:
            for i in 0..<count {
                destination[i] = Float(source.loadUnaligned(fromByteOffset: i * 8, as: Double.self))
            }
        default:
            preconditionFailure("unreachable")
        }
    }
}
