import Foundation
import GGUF
import TensorIO
import TestSupport
import Testing

/// fixtures/gguf/golden_*.gguf were written by gguf-py (fixtures/scripts/make_gguf_golden.py); ingot's writer and
/// kernels must reproduce them byte for byte from the same inputs.
@Suite("GGUF golden files written by gguf-py")
struct GoldenTests {
    static func metadata(alignment: UInt32?) -> [(key: String, value: GGUFValue)] {
        var kv: [(key: String, value: GGUFValue)] = [("general.architecture", .string("ingot-golden"))]
        if let alignment { kv.append(("general.alignment", .uint32(alignment))) }
        kv += [
            ("golden.u8", .uint8(200)), ("golden.i8", .int8(-100)), ("golden.u16", .uint16(60000)),
            ("golden.i16", .int16(-30000)), ("golden.u32", .uint32(4_000_000_000)), ("golden.i32", .int32(-2_000_000_000)),
            ("golden.f32", .float32(1.5)), ("golden.bool", .bool(true)), ("golden.string", .string("héllo ✓")),
            ("golden.u64", .uint64(1 << 63 + 5)), ("golden.i64", .int64(-(1 << 62))), ("golden.f64", .float64(3.141592653589793)),
            ("golden.array_i32", .int32s([1, -2, 3])), ("golden.array_str", .strings(["a", "bc", ""])),
            ("golden.array_nested", .array(.array, [.int32s([1, 2]), .int32s([3])])),
        ]
        return kv
    }

    /// The script's compressed-tensors bytes: 2 experts × 2 rows × 2 groups of 16 bytes, and their BF16 scales.
    static let ctBytes: [UInt8] = (0..<128).map { UInt8(($0 * 37 + 11) & 0xFF) }
    static let scaleBits: [UInt16] = [0x3C00, 0x3A83, 0x0001, 0x477F, 0x4780, 0xBC00, 0x3F80, 0x0000]
    static let x: [Float] = (0..<64).map { Float((7 * $0) % 23 - 11) / 8 }

    static func data() -> (tensors: [GGUFTensorInfo], bytes: [[UInt8]], inexact: Int) {
        let f32: [Float] = [1.0, -2.5, 3.25]
        let f32Bytes = f32.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        let bf16Bytes = (0..<64).flatMap { i in withUnsafeBytes(of: UInt16(0x3F80 + 3 * i).littleEndian) { Array($0) } }
        var q4 = [UInt8](repeating: 0, count: 4 * 2 * 18)
        var inexact = 0
        let scaleBytes = scaleBits.flatMap { s in withUnsafeBytes(of: s.littleEndian) { Array($0) } }
        ctBytes.withUnsafeBytes { ct in
            scaleBytes.withUnsafeBytes { sc in
                q4.withUnsafeMutableBytes { out in
                    for row in 0..<4 {
                        inexact += GGUFKernels.q4_0Row(
                            packed: ct.baseAddress! + 32 * row, scales: sc.baseAddress! + 4 * row, groups: 2,
                            into: out.baseAddress! + 36 * row)
                    }
                }
            }
        }
        var q8 = [UInt8](repeating: 0, count: 2 * 34)
        x.withUnsafeBufferPointer { xs in
            q8.withUnsafeMutableBytes { GGUFKernels.q8_0Row(xs.baseAddress!, count: 64, into: $0.baseAddress!) }
        }
        return (
            [
                GGUFTensorInfo(name: "f32.odd", dims: [3], type: .f32),
                GGUFTensorInfo(name: "bf16.matrix", dims: [32, 2], type: .bf16),
                GGUFTensorInfo(name: "q4_0.experts", dims: [64, 2, 2], type: .q4_0),
                GGUFTensorInfo(name: "q8_0.row", dims: [64], type: .q8_0),
            ], [f32Bytes, bf16Bytes, q4, q8], inexact
        )
    }

    @Test(
        "ingot's writer reproduces each gguf-py golden byte for byte",
        arguments: [("golden_default.gguf", nil), ("golden_align64.gguf", 64)] as [(String, UInt32?)])
    func reproduce(file: String, alignment: UInt32?) throws {
        let golden = try Data(contentsOf: URL(fileURLWithPath: fixturesFolder() + "/gguf/" + file))
        let (tensors, bytes, inexact) = Self.data()
        // 0x0001 (far below F16's subnormals) and 0x4780 (65536 > 65504) are the two scales F16 cannot hold.
        #expect(inexact == 2)
        let path = temporaryFolder("gguf-golden") + "/" + file
        try GGUFFileWriter.write(
            path: path, header: try GGUFHeader(metadata: Self.metadata(alignment: alignment), tensors: tensors, file: path), data: bytes)
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(written.count == golden.count)
        #expect(written == golden)
    }

    @Test("the reader returns the golden's metadata and tensors")
    func read() throws {
        let file = try GGUFFile(path: fixturesFolder() + "/gguf/golden_align64.gguf")
        #expect(file.alignment == 64)
        let expected = Self.metadata(alignment: 64)
        #expect(file.metadata.map(\.key) == expected.map(\.key))
        for (a, b) in zip(file.metadata, expected) { #expect(a.value == b.value, "\(a.key)") }
        #expect(file.tensors == Self.data().tensors)
        for (t, bytes) in zip(Self.data().tensors, Self.data().bytes) {
            #expect(try file.withBytes(of: t.name) { Array($0) } == bytes)
            #expect(file.offsets[file.tensors.firstIndex(of: t)!] % 64 == 0)
        }
    }
}
