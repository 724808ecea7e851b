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

    /// Fast path: a byte histogram in four interleaved tables (no store-to-load dependency between
    /// neighbouring bytes), folded into nibble counts at the end; adds into `counts` (16 entries).
    public static func addHistogram(_ packed: UnsafeRawBufferPointer, into counts: UnsafeMutablePointer<Int>) {
        let tables = UnsafeMutablePointer<UInt32>.allocate(capacity: 4 * 256)
        defer { tables.deallocate() }
        var n = packed.count
        var offset = 0
        // UInt32 counters cannot overflow within 2^32 − 1 bytes per table; fold every 1 GiB.
        while n > 0 {
            let chunk = min(n, 1 << 30)
            tables.initialize(repeating: 0, count: 4 * 256)
            byteHistogram(UnsafeRawBufferPointer(rebasing: packed[offset..<(offset + chunk)]), tables)
            for v in 0..<256 {
                let c = Int(tables[v]) + Int(tables[256 + v]) + Int(tables[512 + v]) + Int(tables[768 + v])
                counts[v & 0x0F] += c
                counts[v >> 4] += c
            }
            offset += chunk
            n -= chunk
        }
    }

    private static func byteHistogram(_ bytes: UnsafeRawBufferPointer, _ t: UnsafeMutablePointer<UInt32>) {
        guard let base = bytes.baseAddress else { return }
        let words = bytes.count / 8
        for w in 0..<words {
            let v = base.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self)
            t[Int(v & 0xFF)] &+= 1
            t[256 + Int((v >> 8) & 0xFF)] &+= 1
            t[512 + Int((v >> 16) & 0xFF)] &+= 1
            t[768 + Int((v >> 24) & 0xFF)] &+= 1
            t[Int((v >> 32) & 0xFF)] &+= 1
            t[256 + Int((v >> 40) & 0xFF)] &+= 1
            t[512 + Int((v >> 48) & 0xFF)] &+= 1
            t[768 + Int(v >> 56)] &+= 1
        }
        for i in (words * 8)..<bytes.count { t[Int(bytes[i])] &+= 1 }
    }

    /// A fast 64-bit content hash (for finding byte-identical experts; confirm with a byte compare).
    public static func contentHash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        guard let base = bytes.baseAddress else { return seed }
        var h0 = seed ^ 0x9E37_79B9_7F4A_7C15, h1 = seed &+ 0x632B_E59B_D9B4_E019
        let words = bytes.count / 16
        for w in 0..<words {
            let a = base.loadUnaligned(fromByteOffset: w * 16, as: UInt64.self)
            let b = base.loadUnaligned(fromByteOffset: w * 16 + 8, as: UInt64.self)
            h0 = (h0 ^ a) &* 0xFF51_AFD7_ED55_8CCD
            h1 = (h1 ^ b) &* 0xC4CE_B9FE_1A85_EC53
            h0 = h0 ^ (h0 >> 29)
            h1 = h1 ^ (h1 >> 31)
        }
        for i in (words * 16)..<bytes.count { h0 = (h0 ^ UInt64(bytes[i])) &* 0x100_0000_01B3 }
        var z = h0 ^ (h1 &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(bytes.count)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
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

    /// Folds in BF16 scale values (raw little-endian bits).
    public mutating func add(bf16 bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count % 2 == 0)
        let n = bytes.count / 2
        count += n
        Self.exactTable.withUnsafeBufferPointer { exact in
            for i in 0..<n {
                let bits = bytes.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
                let magnitude = bits & 0x7FFF
                if magnitude > 0x7F80 { nan += 1; continue }
                if magnitude == 0x7F80 { infinite += 1; continue }
                if magnitude == 0 { zero += 1; continue }
                if bits & 0x8000 != 0 { negative += 1 }
                if exact[Int(bits)] == 0 { notFP16Exact += 1 }
                let v = FloatConversion.float(bf16: bits)
                minimum = min(minimum, v)
                maximum = max(maximum, v)
            }
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
    /// NaN and ±inf counts of a BF16, F16, F32 or F64 tensor's bytes; (0, 0) for other dtypes.
    public static func nonFinite(_ bytes: UnsafeRawBufferPointer, dtype: DType) -> (nan: Int, infinite: Int) {
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
