import BundleFormat
internal import CKernels
import Checkpoint
import Dispatch
import Foundation
import TensorIO

/// `make bench-engine`'s measurements: INT4 matrix-vector throughput on a bundle's expert projections, against a
/// STREAM-style copy measured in the same run, and against the read ceiling: the same bytes read by a loop that
/// only loads (a matrix-vector product reads its weights once and writes almost nothing, so no kernel can be faster
/// than that loop).
public enum KernelBenchmark {
    /// One measured figure.
    public struct Figure: Sendable {
        public var name: String
        public var rows: Int
        public var cols: Int
        /// Weight bytes read per second (nibbles and scales), GB/s.
        public var gigabytesPerSecond: Double
        public var matrices: Int
        /// The kernel: exact f32 activations or Q8_0 activations; nil for the read ceiling (the same weight bytes,
        /// loads only).
        public var activations: Int4Activations?
    }

    /// STREAM "copy" (a[i] = b[i] on f64 arrays, bytes counted as read + written, STREAM's convention) with
    /// `threads` workers over `bytes` per array; the best of `repeats`.
    public static func streamCopy(bytes: Int = 512 << 20, threads: Int, repeats: Int = 5) -> Double {
        let count = bytes / 8
        let a = UnsafeMutableBufferPointer<Double>.allocate(capacity: count)
        let b = UnsafeMutableBufferPointer<Double>.allocate(capacity: count)
        defer {
            a.deallocate()
            b.deallocate()
        }
        a.initialize(repeating: 0)
        b.initialize(repeating: 1)
        var best = Double.infinity
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            parallelBlocks(count: count, block: 1 << 16, threads: threads) { i0, i1 in
                UnsafeMutableRawPointer(a.baseAddress! + i0).copyMemory(from: b.baseAddress! + i0, byteCount: (i1 - i0) * 8)
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return Double(2 * count * 8) / best / 1e9
    }

    /// STREAM-style read: the same arrays as `streamCopy`, read by AVX2 loads that are only XOR-folded (no stores),
    /// bytes counted once; the best of `repeats`.
    public static func streamRead(bytes: Int = 512 << 20, threads: Int, repeats: Int = 5) -> Double {
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 4096)
        defer { b.deallocate() }
        b.initializeMemory(as: UInt8.self, repeating: 1)
        let base = UnsafeRawPointer(b.baseAddress!)
        var best = Double.infinity
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            readAll(base, bytes: bytes, threads: threads)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return Double(bytes) / best / 1e9
    }

    /// Reads `bytes` at `base` split into one contiguous part per thread (as the kernels split a matrix's rows).
    static func readAll(_ base: UnsafeRawPointer, bytes: Int, threads: Int) {
        // An opaque C call returning the fold: the loads cannot be optimized away, and the value means nothing.
        parallelBlocks(count: bytes, block: 4096, threads: threads) { i0, i1 in
            _ = ingot_read_fold(base.assumingMemoryBound(to: UInt8.self) + i0, i1 - i0)
        }
    }

    /// Matrix-vector products over every routed-expert projection of `bundle` grouped by shape (gate/up share one,
    /// down the other), cycling through all of them so the working set is the bundle's experts, not the cache.
    /// Raw bundles only (the mapping is read in place).
    public static func int4MatVec(
        bundle: String, threads: Int, seconds: Double = 3, activations: [Int4Activations] = [.f32]
    ) throws -> [Figure] {
        let weights = BundleWeights(store: try BundleStore(folder: bundle))
        guard !weights.store.isCompressed else {
            throw InferenceError.unusableBenchmarkBundle(bundle: bundle, reason: "it is compressed; benchmark a raw bundle (ingot inflate)")
        }
        var byShape: [String: [LinearWeight]] = [:]
        for e in weights.store.reader.manifest.experts {
            for p in e.projections {
                let address = TensorAddress(ExpertID(layer: e.layer, expert: e.expert), component: p.component)
                let w = try weights.linear(address, rows: p.rows, cols: p.columns)
                byShape["\(p.rows)x\(p.columns)", default: []].append(w)
            }
        }
        guard !byShape.isEmpty else { throw InferenceError.unusableBenchmarkBundle(bundle: bundle, reason: "it has no routed experts") }
        var figures = measure(byShape, threads: threads, seconds: seconds, activations: nil)
        for mode in activations {
            figures += measure(byShape, threads: threads, seconds: seconds, activations: mode)
        }
        return figures
    }

    /// One figure per shape, cycling through all its matrices for `seconds` after one warm-up pass (which pages the
    /// bundle in: this measures memory, not disk). `activations` picks the kernel; nil reads every matrix's bytes
    /// (tiles and scales) in place with nothing else done, the read ceiling.
    static func measure(
        _ byShape: [String: [LinearWeight]], threads: Int, seconds: Double, activations mode: Int4Activations?
    ) -> [Figure] {
        var figures: [Figure] = []
        for (shape, matrices) in byShape.sorted(by: { $0.key < $1.key }) {
            let rows = matrices[0].rows, cols = matrices[0].cols
            var rng = SplitMix64(seed: 7)
            let x = (0..<cols).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) - 0.5) }
            var y = [Float](repeating: 0, count: rows)
            let bytesPer = rows * cols / 2 + rows * (cols / TileLayout.groupSize) * 2
            func pass() {
                for w in matrices {
                    if let mode {
                        w.apply(x, tokens: 1, into: &y, threads: threads, activations: mode)
                    } else {
                        readAll(w.bytes.baseAddress!, bytes: min(bytesPer, w.bytes.count), threads: threads)
                    }
                }
            }
            pass()
            var done = 0
            let t0 = DispatchTime.now().uptimeNanoseconds
            var elapsed = 0.0
            while elapsed < seconds {
                pass()
                done += matrices.count
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            }
            figures.append(
                Figure(
                    name: shape, rows: rows, cols: cols, gigabytesPerSecond: Double(done * bytesPer) / elapsed / 1e9,
                    matrices: matrices.count, activations: mode))
        }
        return figures
    }
}
