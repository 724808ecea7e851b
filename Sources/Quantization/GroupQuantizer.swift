public import TensorIO

/// Group-wise round-to-nearest quantization of a weight matrix.
///
/// `.compressedTensors` reproduces the compressed-tensors library step by step, including its dtypes
/// (`calculate_qparams` and `_quantize`, docs/quantization.md, "Quantizers"), for a BF16 source:
/// - per group, min ← min(min, 0), max ← max(max, 0); symmetric absmax = max(|min|, |max|);
/// - scale = absmax / 7.5 (bit range 15 / 2), computed in f32 and rounded to the weight dtype (BF16);
///   a zero scale becomes the dtype's eps;
/// - q = round-half-even(clamp(x / scale, −8, 7)) with x / scale rounded to BF16 first, as torch does
///   for a BF16 tensor; so −8 occurs.
/// `.qatGrid` is K2's observed grid: scale = BF16(absmax / 7) from the f32 absmax, q =
/// round-half-even(x / scale) in f32, clamped to −7…7; never −8.
public struct GroupQuantizer: Sendable {
    /// The rounding grid.
    public enum Grid: String, Sendable, CaseIterable {
        case compressedTensors = "rtn"
        case qatGrid = "qat"
    }

    public let bits: Int
    public let groupSize: Int
    public let symmetric: Bool
    public let grid: Grid
    /// The dtype scales are stored in (BF16 for K2).
    public let scaleDType: DType

    /// Creates a quantizer.
    ///
    /// - Precondition: bits 4 or 8, groupSize ≥ 1; the qat grid is symmetric only.
    public init(bits: Int = 4, groupSize: Int = 32, symmetric: Bool = true, grid: Grid = .compressedTensors, scaleDType: DType = .bf16) {
        precondition(bits == 4 || bits == 8 && groupSize >= 1)
        precondition(symmetric || grid == .compressedTensors, "the qat grid is symmetric")
        precondition(scaleDType == .bf16 || scaleDType == .f16 || scaleDType == .f32)
        self.bits = bits
        self.groupSize = groupSize
        self.symmetric = symmetric
        self.grid = grid
        self.scaleDType = scaleDType
    }

    /// Smallest and largest level.
    public var levels: ClosedRange<Int> {
        let half = 1 << (bits - 1)
        return grid == .qatGrid ? (-(half - 1))...(half - 1) : (-half)...(half - 1)
    }

    /// The result: levels, scales (as stored, raw dtype bits widened in `Float`), zero points.
    public struct Output: Sendable, Equatable {
        /// Row-major levels [rows, columns].
        public var q: [Int8]
        /// Row-major scales [rows, groups], exactly representable in the scale dtype.
        public var scales: [Float]
        /// Row-major zero points [rows, groups]; nil when symmetric.
        public var zeroPoints: [Int8]?
    }

    /// Rounds an f32 to the scale dtype and back.
    func roundToScaleDType(_ v: Float) -> Float {
        switch scaleDType {
        case .bf16: FloatConversion.float(bf16: FloatConversion.bf16(v))
        case .f16: FloatConversion.float(f16: FloatConversion.f16(v))
        default: v
        }
    }

    /// The dtype's machine epsilon (torch.finfo(dtype).eps), used for zero scales.
    var scaleEps: Float {
        switch scaleDType {
        case .bf16: 0x1p-7
        case .f16: 0x1p-10
        default: .ulpOfOne
        }
    }

    /// Quantizes a row-major [rows, columns] matrix whose values are exactly representable in `sourceDType`
    /// (BF16 for K2; the division rounds to it as torch does).
    ///
    /// - Throws: ``QuantizationError/groupSizeDoesNotDivide(tensor:columns:groupSize:)``.
    public func quantize(_ x: [Float], rows: Int, columns: Int, sourceDType: DType = .bf16, tensor: String = "") throws(QuantizationError)
        -> Output
    {
        precondition(x.count == rows * columns)
        guard columns % groupSize == 0 else {
            throw .groupSizeDoesNotDivide(tensor: tensor, columns: columns, groupSize: groupSize)
        }
        let groups = columns / groupSize
        let qMin = Float(levels.lowerBound), qMax = Float(levels.upperBound)
        let toSource: (Float) -> Float = { v in
            switch sourceDType {
            case .bf16: FloatConversion.float(bf16: FloatConversion.bf16(v))
            case .f16: FloatConversion.float(f16: FloatConversion.f16(v))
            default: v
            }
        }
        var q = [Int8](repeating: 0, count: rows * columns)
        var scales = [Float](repeating: 0, count: rows * groups)
        var zps: [Int8]? = symmetric ? nil : [Int8](repeating: 0, count: rows * groups)
        for r in 0..<rows {
            for g in 0..<groups {
                let base = r * columns + g * groupSize
                var lo: Float = 0, hi: Float = 0
                for i in 0..<groupSize {
                    lo = min(lo, x[base + i])
                    hi = max(hi, x[base + i])
                }
                var scale: Float
                var zp: Float = 0
                switch grid {
                case .qatGrid:
                    scale = roundToScaleDType(max(-lo, hi) / qMax)
                case .compressedTensors:
                    if symmetric {
                        // Computed in the weight's dtype: bf16(absmax / 7.5).
                        scale = roundToScaleDType(toSource(max(-lo, hi) / ((qMax - qMin) / 2)))
                    } else {
                        // (max − min) rounds to the weight dtype before the division, as in torch.
                        scale = roundToScaleDType(toSource(toSource(hi - lo) / (qMax - qMin)))
                    }
                }
                if !symmetric {
                    // bit_min − min/scale in the weight dtype, clamped, then rounded to int8, computed before the
                    // eps substitution: an all-zero group gives 0/0 = NaN there, which the int8 cast turns into 0.
                    zp = scale == 0 ? 0 : max(qMin, min(qMax, toSource(qMin - toSource(lo / scale)))).rounded(.toNearestOrEven)
                    zps?[r * groups + g] = Int8(zp)
                }
                if scale == 0 { scale = scaleEps }
                scales[r * groups + g] = scale
                for i in 0..<groupSize {
                    let v = x[base + i]
                    var scaled = grid == .qatGrid ? v / scale : toSource(v / scale)
                    if !symmetric { scaled = toSource(scaled + zp) }
                    let level = max(qMin, min(qMax, scaled)).rounded(.toNearestOrEven)
                    q[base + i] = Int8(level)
                }
            }
        }
        return Output(q: q, scales: scales, zeroPoints: zps)
    }

    /// ``quantize(_:rows:columns:sourceDType:tensor:)`` with the rows split over `threads` workers; the
    /// result is identical (rows are independent).
    public func quantizeParallel(
        _ x: [Float], rows: Int, columns: Int, sourceDType: DType = .bf16, tensor: String = "",
        threads: Int
    ) throws(QuantizationError) -> Output {
        let parts = max(1, min(threads, rows / 8))
        guard parts > 1 else { return try quantize(x, rows: rows, columns: columns, sourceDType: sourceDType, tensor: tensor) }
        guard columns % groupSize == 0 else { throw .groupSizeDoesNotDivide(tensor: tensor, columns: columns, groupSize: groupSize) }
        let chunk = (rows + parts - 1) / parts
        let results = UnsafeTransfer(UnsafeMutableBufferPointer<Output?>.allocate(capacity: parts))
        results.value.initialize(repeating: nil)
        defer {
            results.value.deinitialize()  // the elements own arrays: release them before the memory
            results.value.deallocate()
        }
        let me = self
        do {
            try parallelItems(count: parts, workers: parts) { _, p in
                let r0 = p * chunk, r1 = min(rows, r0 + chunk)
                guard r0 < r1 else { return }
                let slice = Array(x[(r0 * columns)..<(r1 * columns)])
                results.value[p] = try me.quantize(slice, rows: r1 - r0, columns: columns, sourceDType: sourceDType, tensor: tensor)
            }
        } catch let error as QuantizationError {
            throw error
        } catch {
            preconditionFailure("quantize throws only QuantizationError: \(error)")
        }
        var out = Output(q: [], scales: [], zeroPoints: symmetric ? nil : [])
        for p in 0..<parts {
            guard let o = results.value[p] else { continue }
            out.q += o.q
            out.scales += o.scales
            if let z = o.zeroPoints { out.zeroPoints? += z }
        }
        return out
    }
}
