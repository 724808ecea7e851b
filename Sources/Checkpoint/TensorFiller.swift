public import Foundation
public import TensorIO

/// Deterministic synthetic contents of one tensor, produced in 1 MiB blocks that depend only on
/// (seed, tensor name, block index), so any chunking and any thread count give the same bytes.
struct TensorFiller: Sendable {
    static let blockBytes = 1 << 20

    enum Content: Sendable {
        case int4Levels
        case fp8Values
        case scales
        case shape([Int])
        case normal(std: Float)
        case ones
        case smallUniform
    }

    let spec: TensorSpec
    let seed: UInt64
    let content: Content

    /// - Parameter logicalShape: for a `weight_shape` tensor, the [rows, columns] it must hold.
    init(spec: TensorSpec, seed: UInt64, logicalShape: [Int]? = nil) {
        self.spec = spec
        self.seed = SplitMix64.mix(seed ^ SplitMix64.hash(spec.name))
        let address = TensorAddress(name: spec.name)
        switch address?.part {
        case .weightPacked?: content = .int4Levels
        case .weightScale?: content = .scales
        case .weightShape?:
            content = .shape(logicalShape ?? [])
        case .correctionBias?: content = .smallUniform
        case .weightScaleInv?: content = .smallUniform
        default:
            if spec.dtype == .f8E4M3 {
                content = .fp8Values
            } else if spec.shape.count == 1 {
                content = .ones
            } else {
                content = .normal(std: 0.02)
            }
        }
    }

    /// Bell-shaped INT4 levels over −7..7 (never −8), stored as u = q + 8: a byte → nibble table.
    private static let levelTable: [UInt8] = {
        // Discretized normal with σ = 2.2 over q ∈ −7…7, as 256 equally likely byte values.
        let weights = (-7...7).map { q in exp(-Double(q * q) / (2 * 2.2 * 2.2)) }
        let total = weights.reduce(0, +)
        var table: [UInt8] = []
        var cumulative = 0.0
        for (i, w) in weights.enumerated() {
            cumulative += w
            let end = i == weights.count - 1 ? 256 : Int((cumulative / total * 256).rounded())
            while table.count < end { table.append(UInt8(i + 1)) }  // u = q + 8 = i + 1
        }
        return table
    }()

    /// Log-uniform BF16 scales in [1e-3, 1e-2].
    private static let scaleTable: [UInt16] = (0..<1024).map { i in
        FloatConversion.bf16(Float(1e-3 * pow(10, (Double(i) + 0.5) / 1024)))
    }

    /// N(0, 1) quantiles as floats, indexed by 12 random bits.
    private static let normalTable: [Float] = (0..<4096).map { i in
        Float(inverseNormal((Double(i) + 0.5) / 4096))
    }

    /// Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9).
    private static func inverseNormal(_ p: Double) -> Double {
        let a = [
            -3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
            -3.066479806614716e+01, 2.506628277459239e+00,
        ]
        let b = [
            -5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771011e+01,
            -1.328068155288572e+01,
        ]
        let c = [
            -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
            4.374664141464968e+00, 2.938163982698783e+00,
        ]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - 0.02425 { return -inverseNormal(1 - p) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }

    /// Fills `buffer` with the tensor's bytes starting at byte `offset` (a multiple of the block size).
    func fill(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int, threads: Int) {
        precondition(offset % Self.blockBytes == 0, "chunks start on block boundaries")
        let blocks = (buffer.count + Self.blockBytes - 1) / Self.blockBytes
        let out = UnsafeTransfer(buffer)
        let firstBlock = offset / Self.blockBytes
        let work: @Sendable (Int) -> Void = { b in
            let start = b * Self.blockBytes
            let end = min(out.value.count, start + Self.blockBytes)
            self.fillBlock(
                UnsafeMutableRawBufferPointer(rebasing: out.value[start..<end]), block: firstBlock + b,
                byteOffset: offset + start)
        }
        // The blocks do not throw.
        try? parallelItems(count: blocks, workers: threads <= 1 ? 1 : blocks) { _, b in work(b) }
    }

    private func fillBlock(_ out: UnsafeMutableRawBufferPointer, block: Int, byteOffset: Int) {
        var rng = SplitMix64(seed: SplitMix64.mix(seed &+ UInt64(block)))
        switch content {
        case .int4Levels:
            Self.levelTable.withUnsafeBufferPointer { table in
                for w in 0..<(out.count / 4) {
                    let r = rng.next()
                    var word: UInt32 = 0
                    for j in 0..<8 { word |= UInt32(table[Int((r >> (8 * UInt64(j))) & 0xFF)]) << (4 * UInt32(j)) }
                    out.storeBytes(of: word.littleEndian, toByteOffset: w * 4, as: UInt32.self)
                }
            }
        case .fp8Values:
            // Any finite E4M3 code (0x7F and 0xFF are NaN).
            for i in 0..<out.count {
                var b = UInt8(truncatingIfNeeded: rng.next() >> 56)
                if b & 0x7F == 0x7F { b &= 0xFE }
                out[i] = b
            }
        case .scales:
            Self.scaleTable.withUnsafeBufferPointer { table in
                fill16(out, rng: &rng) { bits in table[Int(bits & 0x3FF)] }
            }
        case .normal(let std):
            Self.normalTable.withUnsafeBufferPointer { table in
                fill16(out, rng: &rng) { bits in FloatConversion.bf16(table[Int(bits & 0xFFF)] * std) }
            }
        case .ones:
            fill16(out, rng: &rng) { bits in FloatConversion.bf16(1 + (Float(bits & 0xFFF) / 4096 - 0.5) * 0.2) }
        case .smallUniform:
            let positive = TensorAddress(name: spec.name)?.part == .weightScaleInv
            for i in 0..<(out.count / 4) {
                let u = Float(rng.next() >> 40) / Float(1 << 24)
                let v = positive ? 1e-4 + u * 9e-4 : (u - 0.5) * 0.02
                out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
            }
        case .shape:
            // weight_shape holds the logical [rows, columns] of the packed sibling: rows × (words × 8).
            let values = logicalShape()
            let width = spec.dtype.byteSize ?? 8
            for (i, v) in values.enumerated() where (i * width) >= byteOffset && (i * width) < byteOffset + out.count {
                let at = i * width - byteOffset
                if width == 8 {
                    out.storeBytes(of: Int64(v).littleEndian, toByteOffset: at, as: Int64.self)
                } else {
                    out.storeBytes(of: Int32(v).littleEndian, toByteOffset: at, as: Int32.self)
                }
            }
        }
    }

    /// 16-bit elements, four per random draw.
    private func fill16(_ out: UnsafeMutableRawBufferPointer, rng: inout SplitMix64, _ value: (UInt64) -> UInt16) {
        let n = out.count / 2
        var i = 0
        while i < n {
            let r = rng.next()
            for j in 0..<min(4, n - i) {
                out.storeBytes(of: value(r >> (16 * UInt64(j))).littleEndian, toByteOffset: (i + j) * 2, as: UInt16.self)
            }
            i += 4
        }
    }

    private func logicalShape() -> [Int] {
        if case .shape(let s) = content { return s }
        return []
    }
}
