public import Foundation

/// Quantized data that does not fit its declared scheme; each case names the tensor and the value.
public enum QuantizationError: Error, Equatable, Sendable {
    /// Bits per value other than the supported 4 and 8.
    case unsupportedBits(tensor: String, bits: Int)
    /// A group size that does not divide the row.
    case groupSizeDoesNotDivide(tensor: String, columns: Int, groupSize: Int)
    /// A packed buffer whose size disagrees with the logical shape.
    case packedSizeMismatch(tensor: String, expectedWords: Int, actualWords: Int)
    /// A scale buffer whose size disagrees with the logical shape and group size.
    case scaleCountMismatch(tensor: String, expected: Int, actual: Int)
    /// A source tensor in a dtype the quantizer does not read.
    case unsupportedSourceDType(tensor: String, dtype: String)
}

extension QuantizationError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .unsupportedBits(let t, let b): "\(t): \(b)-bit values; ingot packs 4 and 8 bits"
        case .groupSizeDoesNotDivide(let t, let c, let g): "\(t): group size \(g) does not divide the \(c) columns"
        case .packedSizeMismatch(let t, let e, let a): "\(t): \(a) packed words, the shape needs \(e)"
        case .scaleCountMismatch(let t, let e, let a): "\(t): \(a) scales, the shape and group size need \(e)"
        case .unsupportedSourceDType(let t, let d): "\(t): cannot quantize a \(d) tensor (BF16, F16, F32 or FP8 blocks)"
        }
    }
}
