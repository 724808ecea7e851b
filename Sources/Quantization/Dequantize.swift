public import TensorIO

/// Weight reconstruction from levels and group scales.
///
/// ingot's reference value is the exact f32 product `q × scale` (at most 11 significant bits, so exact in
/// f32). compressed-tensors and Hugging Face decompression multiply in the scale's dtype, so for BF16 scales
/// the result is rounded to BF16, which differs for most scales when |q| ∈ {3, 5, 6, 7}
/// (docs/quantization.md, "Dequantization"); `.bf16Product` reproduces that for parity with HF.
public enum Dequantize {
    /// Which value counts as "the weight".
    public enum Rounding: String, Sendable {
        /// The exact f32 product (ingot's reference).
        case exact
        /// The product rounded to BF16, as compressed-tensors / HF compute it.
        case bf16Product
    }

    /// Dequantizes row-major levels with one scale per group (and optional zero point).
    public static func weights(
        q: [Int8], scales: [Float], zeroPoints: [Int8]? = nil, rows: Int, columns: Int, groupSize: Int,
        rounding: Rounding = .exact
    ) -> [Float] {
        precondition(q.count == rows * columns && columns % groupSize == 0 && scales.count == rows * (columns / groupSize))
        let groups = columns / groupSize
        var out = [Float](repeating: 0, count: q.count)
        for r in 0..<rows {
            for c in 0..<columns {
                let g = r * groups + c / groupSize
                let level = Float(Int(q[r * columns + c]) - Int(zeroPoints?[g] ?? 0))
                let w = level * scales[g]
                out[r * columns + c] = rounding == .exact ? w : FloatConversion.float(bf16: FloatConversion.bf16(w))
            }
        }
        return out
    }
}
