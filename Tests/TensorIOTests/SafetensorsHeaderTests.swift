import Foundation
import TensorIO
import TestSupport
import Testing

/// One test per rule of the Rust reader (docs/safetensors-rules.md), named after the attack, on in-memory images.
@Suite("safetensors header validation")
struct SafetensorsHeaderTests {
    func parse(_ image: [UInt8]) throws(SafetensorsError) -> SafetensorsHeader {
        let result = image.withUnsafeBytes { bytes in
            Result { () throws(SafetensorsError) in try SafetensorsHeader(parsing: bytes, file: "t") }
        }
        return try result.get()
    }

    @Test("a file shorter than the length prefix is rejected")
    func headerTooSmall() {
        #expect(throws: SafetensorsError.headerTooSmall(file: "t", fileLength: 5)) { try parse([1, 2, 3, 4, 5]) }
    }

    @Test("a header length over 100,000,000 is rejected before anything is read")
    func headerTooLarge() {
        var n = UInt64(100_000_001).littleEndian
        let image = withUnsafeBytes(of: &n) { Array($0) } + [UInt8](repeating: 0x20, count: 16)
        #expect(throws: SafetensorsError.headerTooLarge(file: "t", headerLength: 100_000_001)) { try parse(image) }
    }

    @Test("a header length past the end of the file is rejected, including UInt64 overflow")
    func headerLengthPastEndOfFile() {
        var image = fileImage(header: #"{}"#, dataBytes: 0)
        image[0] = 200
        #expect(throws: SafetensorsError.headerLengthPastEndOfFile(file: "t", headerLength: 200, fileLength: 10)) { try parse(image) }
        var huge = UInt64.max.littleEndian
        let overflow = withUnsafeBytes(of: &huge) { Array($0) } + [0x7B, 0x7D]
        #expect(throws: SafetensorsError.headerTooLarge(file: "t", headerLength: UInt64.max)) { try parse(overflow) }
    }

    @Test("a header that is not UTF-8 is rejected")
    func headerNotUTF8() {
        var image = fileImage(header: #"{"a":1}"#, dataBytes: 0)
        image[10] = 0xFF
        #expect(throws: SafetensorsError.headerNotUTF8(file: "t")) { try parse(image) }
    }

    @Test(
        "JSON attacks: truncated object, a top-level array, trailing garbage", arguments: [#"{"#, #"[]"#, #"{}x"#, #"{"a":{"dtype":"F32""#])
    func headerNotJSON(text: String) {
        #expect { try parse(fileImage(header: text, dataBytes: 0)) } throws: { error in
            if case SafetensorsError.headerNotJSON = error { return true } else { return false }
        }
    }

    @Test("a tensor name appearing twice is refused (the Rust reader silently keeps the last)")
    func duplicateTensor() {
        let header = #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#
        #expect(throws: SafetensorsError.duplicateTensor(file: "t", tensor: "w")) { try parse(fileImage(header: header, dataBytes: 2)) }
    }

    @Test("__metadata__ values must be strings")
    func metadataNotStrings() {
        #expect(throws: SafetensorsError.metadataNotStrings(file: "t", key: "x", found: "number")) {
            try parse(fileImage(header: #"{"__metadata__":{"x":1}}"#, dataBytes: 0))
        }
        #expect(throws: SafetensorsError.metadataNotStrings(file: "t", key: "__metadata__", found: "array")) {
            try parse(fileImage(header: #"{"__metadata__":[]}"#, dataBytes: 0))
        }
    }

    @Test("an unknown dtype string is rejected with its name")
    func unknownDType() {
        #expect(throws: SafetensorsError.unknownDType(file: "t", tensor: "w", dtype: "Q4")) {
            try parse(fileImage(header: #"{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, dataBytes: 1))
        }
    }

    @Test(
        "negative, fractional or missing shapes are rejected",
        arguments: [
            #"{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}"#,
            #"{"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}"#,
            #"{"w":{"dtype":"U8","data_offsets":[0,1]}}"#,
            #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}}"#,
            #"{"w":{"shape":[1],"data_offsets":[0,1]}}"#,
            #"{"w":7}"#,
        ])
    func invalidTensorEntry(header: String) {
        #expect { try parse(fileImage(header: header, dataBytes: 1)) } throws: { error in
            if case SafetensorsError.invalidTensorEntry = error { return true } else { return false }
        }
    }

    @Test("data_offsets with END before BEGIN are rejected")
    func endBeforeBegin() {
        #expect(throws: SafetensorsError.invalidOffsets(file: "t", tensor: "w", begin: 4, end: 0)) {
            try parse(fileImage(header: #"{"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#, dataBytes: 4))
        }
    }

    @Test("a hole before the first tensor is rejected")
    func offsetsHole() {
        #expect(throws: SafetensorsError.offsetsNotContiguous(file: "t", tensor: "w", expectedStart: 0, actualStart: 4)) {
            try parse(fileImage(header: #"{"w":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}"#, dataBytes: 8))
        }
    }

    @Test("overlapping tensors are rejected")
    func offsetsOverlap() {
        let header = #"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}"#
        #expect(throws: SafetensorsError.offsetsNotContiguous(file: "t", tensor: "b", expectedStart: 4, actualStart: 2)) {
            try parse(fileImage(header: header, dataBytes: 6))
        }
    }

    @Test("a shape whose element count overflows is rejected, not wrapped")
    func sizeOverflow() {
        let header = #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#
        #expect(throws: SafetensorsError.sizeOverflow(file: "t", tensor: "w", shape: [4_294_967_296, 4_294_967_296])) {
            try parse(fileImage(header: header, dataBytes: 4))
        }
        let bits = #"{"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]}}"#
        #expect(throws: SafetensorsError.sizeOverflow(file: "t", tensor: "w", shape: [2_305_843_009_213_693_952])) {
            try parse(fileImage(header: bits, dataBytes: 4))
        }
    }

    @Test("a sub-byte tensor that does not end on a byte is rejected")
    func misalignedSubByte() {
        #expect(throws: SafetensorsError.misalignedSubByte(file: "t", tensor: "w", bits: 12)) {
            try parse(fileImage(header: #"{"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, dataBytes: 2))
        }
    }

    @Test("data_offsets that disagree with shape × dtype are rejected")
    func sizeMismatch() {
        #expect(throws: SafetensorsError.sizeMismatch(file: "t", tensor: "w", expectedBytes: 8, actualBytes: 4)) {
            try parse(fileImage(header: #"{"w":{"dtype":"I32","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 4))
        }
    }

    @Test("a truncated download fails instead of reading zeros past the end")
    func truncatedDownload() {
        let image = fileImage(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 16)
        let truncated = Array(image.dropLast(3))
        #expect(throws: SafetensorsError.fileLengthMismatch(file: "t", expectedLength: image.count, actualLength: truncated.count)) {
            try parse(truncated)
        }
    }

    @Test("trailing bytes after the last tensor (a polyglot file) are rejected")
    func trailingBytes() {
        let image = fileImage(header: #"{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#, dataBytes: 3)
        #expect(throws: SafetensorsError.fileLengthMismatch(file: "t", expectedLength: image.count - 1, actualLength: image.count)) {
            try parse(image)
        }
    }

    @Test("accepted as the Rust reader does: leading and trailing whitespace, extra fields, any header order, scalars, empty tensors")
    func lenientWhereTheReferenceIs() throws {
        let header =
            "  \t\n" + #"{"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6],"foo":1},"#
            + #""a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"BF16","shape":[0,5],"data_offsets":[6,6]}}"# + "   "
        let h = try parse(fileImage(header: header, dataBytes: 6))
        #expect(h.tensors.map(\.name) == ["b", "a", "e"])
        #expect(h.tensors[1].shape == [] && h.tensors[1].elementCount == 1)
        #expect(h.tensors[2].byteCount == 0)
    }

    @Test("random mutations and truncations of a valid file throw or parse, never trap")
    func fuzzNeverTraps() {
        let valid = fileImage(
            header:
                #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}"#,
            dataBytes: 24)
        var rng = SystemRandomNumberGenerator()
        var rejected = 0
        for _ in 0..<3000 {
            var image = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                image[Int.random(in: 0..<image.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { image = Array(image.prefix(Int.random(in: 0...image.count, using: &rng))) }
            if (try? parse(image)) == nil { rejected += 1 }
        }
        #expect(rejected > 1000)
    }
}
