internal import CKernels
public import Checkpoint
public import TensorIO

/// Statistics kernels over packed INT4 data and BF16 scales, without per-element allocation.
public enum Int4Statistics {
    /// Counts of each stored nibble u = q + 8 (index 0 is level −8, index 8 is level 0, 15 is level 7).
    ///
    /// Reference: one nibble at a time; the tests trust this one.
    public static func histogramReference(_ packed: UnsafeRawBufferPointer) -> [Int] {
        var counts = [Int](repeating: 0, count: 16)
        for b in packed {
            counts[Int(b & 0x0F)] += 1
            counts[Int(b >> 4)] += 1
        }
        return counts
    }

    /// Fast path (AVX2 in C): adds the nibble counts of `packed` into `counts` (16 entries) and returns
    /// ``contentHash(_:seed:)`` of the same bytes, in one pass.
    @discardableResult
    public static func addHistogram(_ packed: UnsafeRawBufferPointer, into counts: UnsafeMutablePointer<Int>, seed: UInt64 = 0) -> UInt64 {
        var local = [Int64](repeating: 0, count: 16)
        let hash = local.withUnsafeMutableBufferPointer { c in
            ingot_nibble_histogram(packed.baseAddress?.assumingMemoryBound(to: UInt8.self), packed.count, c.baseAddress, seed)
        }
        for v in 0..<16 { counts[v] += Int(local[v]) }
        return hash
    }

    /// Reference content hash (for finding byte-identical experts; confirm with a byte compare): four 64-bit
    /// lanes s[k] = seed + k·G; per 32-byte block with words w[k], t = s[k] ^ w[k], s[k] = lo32(t)·0x9E3779B1 +
    /// t >> 32; trailing bytes fold into lane 0 with FNV-1a; the lanes and the length are mixed with SplitMix64.
    /// ``addHistogram(_:into:seed:)`` and ``contentHashFast(_:seed:)`` compute the same value.
    public static func contentHash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let g: UInt64 = 0x9E37_79B9_7F4A_7C15
        var s: [UInt64] = [seed, seed &+ g, seed &+ 2 &* g, seed &+ 3 &* g]
        let blocks = bytes.count / 32
        for b in 0..<blocks {
            for k in 0..<4 {
                let t = s[k] ^ bytes.loadUnaligned(fromByteOffset: b * 32 + k * 8, as: UInt64.self)
                s[k] = (t & 0xFFFF_FFFF) &* 0x9E37_79B1 &+ (t >> 32)
            }
        }
        for i in (blocks * 32)..<bytes.count { s[0] = (s[0] ^ UInt64(bytes[i])) &* 0x100_0000_01B3 }
        var h: UInt64 = 0
        for k in 0..<4 { h = SplitMix64.mix(h ^ s[k]) }
        return SplitMix64.mix(h ^ UInt64(bytes.count))
    }

    /// ``contentHash(_:seed:)`` computed in C.
    public static func contentHashFast(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        ingot_content_hash(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, seed)
    }
}

/// Summary of a set of BF16 scales.
public struct ScaleStatistics: Sendable, Equatable {
    public var count = 0
    /// Smallest and largest finite value (+inf / −inf when there is none).
    public var minimum = Float.infinity
    public var maximum = -Float.infinity
    public var nan = 0
    public var infinite = 0
    public var zero = 0
    public var negative = 0
    /// Scales that change when converted to F16 (each makes a Q4_0 block inexact).
    public var notFP16Exact = 0

    /// Creates an empty summary.
    public init() {}

    /// Scales that make a weight unusable (NaN, ±inf, zero or negative).
    public var bad: Int { nan + infinite + zero + negative }

    /// Folds in BF16 scale values (raw little-endian bits): the AVX2 kernel in C.
    public mutating func add(bf16 bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count % 2 == 0)
        var c = ingot_scale_counts()
        var lo = minimum, hi = maximum
        Self.exactTable.withUnsafeBufferPointer { table in
            ingot_bf16_scale_stats(
                bytes.baseAddress?.assumingMemoryBound(to: UInt16.self), bytes.count / 2, table.baseAddress, &c, &lo, &hi)
        }
        count += bytes.count / 2
        nan += Int(c.nan)
        infinite += Int(c.infinite)
        zero += Int(c.zero)
        negative += Int(c.negative)
        notFP16Exact += Int(c.not_fp16_exact)
        minimum = lo
        maximum = hi
    }

    /// Reference: one scale at a time; the tests trust this one.
    public mutating func addReference(bf16 bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count % 2 == 0)
        let n = bytes.count / 2
        count += n
        for i in 0..<n {
            let bits = bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
            let magnitude = bits & 0x7FFF
            if magnitude > 0x7F80 { nan += 1; continue }
            if magnitude == 0x7F80 { infinite += 1; continue }
            if magnitude == 0 { zero += 1; continue }
            if bits & 0x8000 != 0 { negative += 1 }
            if !Q4_0Conversion.isScaleExact(bf16: bits) { notFP16Exact += 1 }
            let v = FloatConversion.float(bf16: bits)
            minimum = min(minimum, v)
            maximum = max(maximum, v)
        }
    }

    /// Merges another summary.
    public mutating func merge(_ o: ScaleStatistics) {
        count += o.count
        minimum = min(minimum, o.minimum)
        maximum = max(maximum, o.maximum)
        nan += o.nan
        infinite += o.infinite
        zero += o.zero
        negative += o.negative
        notFP16Exact += o.notFP16Exact
    }

    /// 1 where a BF16 pattern survives BF16 → F16 → BF16 unchanged.
    static let exactTable: [UInt8] = (0...UInt16.max).map { Q4_0Conversion.isScaleExact(bf16: $0) ? 1 : 0 }
}

/// Non-finite counts of a dense float tensor.
public enum DenseStatistics {
    /// NaN and ±inf counts of a BF16, F16, F32 or F64 tensor's bytes; (0, 0) for other dtypes. AVX2 kernel in C
    /// for the 16- and 32-bit types.
    public static func nonFinite(_ bytes: UnsafeRawBufferPointer, dtype: DType) -> (nan: Int, infinite: Int) {
        let kind: Int32
        switch dtype {
        case .bf16: kind = 2
        case .f16: kind = 3
        case .f32: kind = 4
        default: return nonFiniteReference(bytes, dtype: dtype)
        }
        var nan: Int64 = 0, inf: Int64 = 0
        ingot_nonfinite(bytes.baseAddress, bytes.count / (kind == 4 ? 4 : 2), kind, &nan, &inf)
        return (Int(nan), Int(inf))
    }

    /// Reference: one value at a time.
    public static func nonFiniteReference(_ bytes: UnsafeRawBufferPointer, dtype: DType) -> (nan: Int, infinite: Int) {
        var nan = 0, inf = 0
        switch dtype {
        case .bf16, .f16:
            let (expMask, mantMask): (UInt16, UInt16) = dtype == .bf16 ? (0x7F80, 0x007F) : (0x7C00, 0x03FF)
            for i in 0..<(bytes.count / 2) {
                let b = bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                if b & expMask == expMask { if b & mantMask != 0 { nan += 1 } else { inf += 1 } }
            }
        case .f32:
            for i in 0..<(bytes.count / 4) {
                let b = bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                if b & 0x7F80_0000 == 0x7F80_0000 { if b & 0x007F_FFFF != 0 { nan += 1 } else { inf += 1 } }
            }
        case .f64:
            for i in 0..<(bytes.count / 8) {
                let v = bytes.loadUnaligned(fromByteOffset: i * 8, as: Double.self)
                if v.isNaN { nan += 1 } else if v.isInfinite { inf += 1 }
            }
        default: break
        }
        return (nan, inf)
    }
}
