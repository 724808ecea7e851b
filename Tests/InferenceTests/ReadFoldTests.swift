import CKernels
import Checkpoint
import Testing

/// `ingot_read_fold`, the read ceiling of `make bench-engine`: the benchmark is only a ceiling if the loop really
/// reads every byte, so its value must equal the documented fold (at every length and misalignment).
@Suite struct ReadFoldTests {
    static func reference(_ bytes: [UInt8]) -> UInt64 {
        let whole = bytes.count / 128 * 128
        var r: UInt64 = 0
        for i in stride(from: 0, to: whole, by: 8) {
            for k in 0..<8 { r ^= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
        }
        for i in whole..<bytes.count { r ^= UInt64(bytes[i]) }
        return r
    }

    @Test(arguments: [0, 1, 7, 8, 127, 128, 129, 200, 255, 256, 1000, 4096, 4099, 65_537])
    func foldMatchesTheDefinition(length: Int) {
        var rng = SplitMix64(seed: UInt64(length) + 1)
        for offset in [0, 1, 5, 31] {
            let bytes = (0..<(length + offset)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let folded = bytes.withUnsafeBufferPointer { ingot_read_fold($0.baseAddress! + offset, length) }
            #expect(folded == Self.reference(Array(bytes[offset...])), "length \(length), offset \(offset)")
        }
    }

    @Test func everyByteCounts() {
        // Flipping any one bit of a 384-byte buffer changes the fold: no byte is skipped.
        var bytes = [UInt8](repeating: 0x5a, count: 384)
        let base = bytes.withUnsafeBufferPointer { ingot_read_fold($0.baseAddress!, $0.count) }
        for i in 0..<bytes.count {
            bytes[i] ^= 0x10
            let flipped = bytes.withUnsafeBufferPointer { ingot_read_fold($0.baseAddress!, $0.count) }
            #expect(flipped != base, "byte \(i)")
            bytes[i] ^= 0x10
        }
    }
}
