import BundleFormat
import Evaluation
import Foundation
import Inference
import Testing

/// One real call into each system library, so a broken link or header shows up here first.
@Suite("system libraries: zstd, OpenBLAS, HDF5")
struct SystemLibraryTests {
    @Test("zstd compresses and decompresses one frame, and rejects a corrupt one")
    func zstdRoundTrip() throws {
        let input = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 % 251 ^ ($0 >> 7)) }
        let frame = try input.withUnsafeBytes { try Zstd.compress($0, level: 3) }
        #expect(frame.count < input.count)
        let back = try frame.withUnsafeBytes { try Zstd.decompress($0, expectedCount: input.count) }
        #expect(back == input)
        var corrupt = frame
        corrupt[0] ^= 0xFF  // the frame magic: zstd frames carry no checksum by default; bundles add SHA-256
        #expect(throws: ZstdError.self) { try corrupt.withUnsafeBytes { try Zstd.decompress($0, expectedCount: input.count) } }
        #expect(throws: ZstdError.self) { try frame.withUnsafeBytes { try Zstd.decompress($0, expectedCount: input.count + 1) } }
        #expect(Zstd.version.hasPrefix("1."))
    }

    @Test("OpenBLAS sgemm computes x · Wᵀ like a naive triple loop")
    func sgemm() {
        let (m, n, k) = (3, 5, 7)
        let a = (0..<(m * k)).map { Float($0 % 5) - 2 }
        let b = (0..<(n * k)).map { Float($0 % 3) * 0.5 - 0.25 }
        var c = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.matmulTransposedB(ap, bp, into: cp, m: m, n: n, k: k)
                }
            }
        }
        for i in 0..<m {
            for j in 0..<n {
                let expected = (0..<k).reduce(Float(0)) { $0 + a[i * k + $1] * b[j * k + $1] }
                #expect(c[i * n + j] == expected)  // small integers and halves: exact in f32
            }
        }
    }

    @Test("HDF5 writes a dataset and a string attribute and reads them back")
    func hdf5RoundTrip() throws {
        let path = NSTemporaryDirectory() + "/ingot-\(UUID().uuidString).h5"
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let file = try HDF5File(creating: path)
            try file.write([1, 2.5, -3, 4, 5, 6], shape: [2, 3], name: "stats")
            try file.setAttribute("generator", "ingot test")
        }
        let file = try HDF5File(reading: path)
        let (values, shape) = try file.readFloats("stats")
        #expect(shape == [2, 3])
        #expect(values == [1, 2.5, -3, 4, 5, 6])
        #expect(try file.attribute("generator") == "ingot test")
        #expect(throws: HDF5Error.self) { try file.readFloats("missing") }
    }
}
