import Foundation
import GGUF
import TestSupport
import Testing

@Suite("GGUF writer and reader")
struct WriterTests {
    static let everyType: [(key: String, value: GGUFValue)] = [
        ("t.u8", .uint8(255)), ("t.i8", .int8(-128)), ("t.u16", .uint16(65535)), ("t.i16", .int16(-32768)),
        ("t.u32", .uint32(.max)), ("t.i32", .int32(.min)), ("t.f32", .float32(-0.375)), ("t.bool", .bool(false)),
        ("t.string", .string("日本 \u{0}x")), ("t.u64", .uint64(.max)), ("t.i64", .int64(.min)), ("t.f64", .float64(1e300)),
        ("t.empty", .string("")), ("t.arr.u8", .array(.uint8, [.uint8(1), .uint8(2)])),
        ("t.arr.f64", .array(.float64, [.float64(0.5)])), ("t.arr.bool", .array(.bool, [.bool(true), .bool(false)])),
        ("t.arr.arr", .array(.array, [.array(.string, [.string("x")]), .array(.string, [])])),
    ]

    @Test("header: magic, version 3, tensor and KV counts, then each KV as key, type tag, value")
    func headerBytes() throws {
        let header = try GGUFHeader(
            metadata: [("a", .uint32(7))], tensors: [GGUFTensorInfo(name: "w", dims: [4, 2], type: .f32)], file: "t")
        let b = header.encoded()
        func u32(_ o: Int) -> UInt32 { b[o..<(o + 4)].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) } }
        func u64(_ o: Int) -> UInt64 { b[o..<(o + 8)].enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        #expect(Array(b[0..<4]) == Array("GGUF".utf8))
        #expect(u32(4) == 3 && u64(8) == 1 && u64(16) == 1)
        #expect(u64(24) == 1 && b[32] == UInt8(ascii: "a") && u32(33) == 4 && u32(37) == 7)
        // tensor info: name, n_dims, dims (innermost first), type, offset
        #expect(u64(41) == 1 && b[49] == UInt8(ascii: "w") && u32(50) == 2 && u64(54) == 4 && u64(62) == 2)
        #expect(u32(70) == GGMLType.f32.rawValue && u64(74) == 0)
        #expect(b.count == 96 && b[82...].allSatisfy { $0 == 0 })
        #expect(header.encodedCount == b.count)
    }

    @Test("every value type, arrays and nested arrays included, reads back equal")
    func everyValueType() throws {
        let header = try GGUFHeader(metadata: Self.everyType, tensors: [], file: "t")
        let file = try GGUFFile(image: header.encoded())
        #expect(file.metadata.map(\.key) == Self.everyType.map(\.key))
        for (a, b) in zip(file.metadata, Self.everyType) { #expect(a.value == b.value, "\(a.key)") }
        #expect(header.encodedCount == header.encoded().count)
    }

    @Test("tensor offsets are multiples of the alignment and padding is zeros", arguments: [nil, 8, 64, 256] as [UInt32?])
    func alignment(_ alignment: UInt32?) throws {
        let meta: [(key: String, value: GGUFValue)] = alignment.map { [("general.alignment", .uint32($0))] } ?? []
        let tensors = [
            GGUFTensorInfo(name: "a", dims: [3], type: .f32), GGUFTensorInfo(name: "b", dims: [32, 3], type: .q4_0),
            GGUFTensorInfo(name: "c", dims: [5, 1, 1, 2], type: .bf16),
        ]
        let path = temporaryFolder() + "/a.gguf"
        let data = tensors.map { t in [UInt8](repeating: 0xAB, count: t.byteCount) }
        try GGUFFileWriter.write(path: path, header: try GGUFHeader(metadata: meta, tensors: tensors, file: path), data: data)
        let file = try GGUFFile(path: path)
        let a = Int(alignment ?? 32)
        #expect(file.alignment == a && file.dataStart % a == 0)
        #expect(file.tensors == tensors)
        #expect(file.offsets.allSatisfy { $0 % a == 0 })
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes.count % a == 0)
        for (t, o) in zip(file.tensors, file.offsets) {
            let start = file.dataStart + o
            #expect(bytes[start..<(start + t.byteCount)].allSatisfy { $0 == 0xAB })
            let end = GGUFHeader.align(start + t.byteCount, a)
            #expect(bytes[(start + t.byteCount)..<end].allSatisfy { $0 == 0 })
        }
    }

    @Test("an alignment that is not a multiple of 8 is refused on write and read")
    func badAlignment() throws {
        #expect(throws: GGUFError.invalidAlignment(file: "t", value: "uint32(12)")) {
            try GGUFHeader(metadata: [("general.alignment", .uint32(12))], tensors: [], file: "t")
        }
        var image = try GGUFHeader(metadata: [("general.alignment", .uint32(16))], tensors: [], file: "t").encoded()
        image[24 + 8 + 17 + 4] = 12  // the u32 value: after the 24-byte header, key length, key, type tag
        #expect(throws: GGUFError.self) { try GGUFFile(image: image) }
    }

    @Test("truncated images throw and never trap")
    func truncated() throws {
        let header = try GGUFHeader(
            metadata: Self.everyType, tensors: [GGUFTensorInfo(name: "w", dims: [32], type: .q8_0)], file: "t")
        let full = header.encoded() + [UInt8](repeating: 1, count: 34) + [UInt8](repeating: 0, count: 30)
        #expect(throws: Never.self) { try GGUFFile(image: full) }
        for cut in stride(from: 0, to: full.count - 31, by: 7) {
            #expect(throws: GGUFError.self) { try GGUFFile(image: Array(full[0..<cut])) }
        }
    }

    @Test("bad magic, version 2 and duplicate keys are refused")
    func refused() throws {
        var image = try GGUFHeader(metadata: [], tensors: [], file: "t").encoded()
        image[0] = UInt8(ascii: "X")
        #expect(throws: GGUFError.badMagic(file: "image", found: 0x4655_4758)) { try GGUFFile(image: image) }
        image[0] = UInt8(ascii: "G")
        image[4] = 2
        #expect(throws: GGUFError.unsupportedVersion(file: "image", version: 2)) { try GGUFFile(image: image) }
        #expect(throws: GGUFError.duplicateKey(file: "t", key: "k")) {
            try GGUFHeader(metadata: [("k", .bool(true)), ("k", .bool(false))], tensors: [], file: "t")
        }
    }

    @Test("a writer given too few bytes refuses to close, and leaves no file behind")
    func shortTensor() throws {
        let folder = temporaryFolder()
        let path = folder + "/short.gguf"
        do {
            let w = try GGUFFileWriter(
                path: path, header: try GGUFHeader(metadata: [], tensors: [GGUFTensorInfo(name: "w", dims: [8], type: .f32)], file: path))
            try [UInt8](repeating: 0, count: 16).withUnsafeBytes { try w.write($0) }
            #expect(throws: GGUFError.wrongByteCount(file: path, tensor: "w", expected: 32, actual: 16)) { try w.close() }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }
}
