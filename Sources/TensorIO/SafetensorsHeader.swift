/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable, Equatable {
    /// The tensor's name, the header key.
    public let name: String
    /// Element type.
    public let dtype: DType
    /// Dimensions, row-major; `[]` is a scalar.
    public let shape: [Int]
    /// Start of the data, relative to the byte buffer after the header.
    public let begin: Int
    /// One past the last data byte, relative to the byte buffer.
    public let end: Int

    /// Creates an entry (the reader checks the fields; callers building plans supply consistent ones).
    public init(name: String, dtype: DType, shape: [Int], begin: Int, end: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.begin = begin
        self.end = end
    }

    /// Number of elements (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
    /// Number of data bytes.
    public var byteCount: Int { end - begin }
}

/// A parsed and validated safetensors header.
///
/// Layout: bytes 0..<8 hold N (UInt64 LE); bytes 8..<8+N hold the JSON header; tensor data follows,
/// every tensor back to back from offset 0 to the end of the file.
///
/// Checks, in the Rust reader's order (`SafeTensors::read_metadata`, `Metadata::validate`): length
/// prefix present, N ≤ 100,000,000, 8 + N inside the file, UTF-8, JSON object (leading and trailing
/// JSON whitespace allowed), string-only `__metadata__`, known dtypes, then entries sorted by
/// (BEGIN, END): contiguous from 0, overflow-checked element and bit counts, whole bytes, span equal
/// to the size, and finally the file length exactly 8 + N + last END. Stricter than the Rust reader:
/// a duplicate tensor name is an error instead of silently keeping the last entry.
public struct SafetensorsHeader: Sendable {
    /// The Rust reader's `MAX_HEADER_SIZE`.
    public static let maxHeaderLength = 100_000_000

    /// Entries in header order.
    public let tensors: [TensorInfo]
    /// `__metadata__` in header order.
    public let metadata: [(key: String, value: String)]
    /// File offset where tensor data starts (8 + N).
    public let dataStart: Int
    /// Header + data length the file must have.
    public var expectedFileLength: Int { dataStart + (tensors.map(\.end).max() ?? 0) }

    /// Parses and validates the header of a whole file image.
    ///
    /// - Parameters:
    ///   - bytes: the complete file contents (mapped or in memory).
    ///   - file: the name used in errors.
    /// - Throws: ``SafetensorsError`` naming the first rule broken.
    public init(parsing bytes: UnsafeRawBufferPointer, file: String) throws(SafetensorsError) {
        guard bytes.count >= 8 else { throw .headerTooSmall(file: file, fileLength: bytes.count) }
        let n = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard n <= UInt64(Self.maxHeaderLength) else { throw .headerTooLarge(file: file, headerLength: n) }
        let headerLength = Int(n)
        guard 8 + headerLength <= bytes.count else {
            throw .headerLengthPastEndOfFile(file: file, headerLength: n, fileLength: bytes.count)
        }
        let text = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
        guard String(validating: text, as: UTF8.self) != nil else { throw .headerNotUTF8(file: file) }
        let json: JSONValue
        do {
            json = try JSONValue.parse(text)
        } catch {
            if let key = error.duplicateKey { throw .duplicateTensor(file: file, tensor: key) }
            throw .headerNotJSON(file: file, reason: error.description)
        }
        guard let members = json.members else {
            throw .headerNotJSON(file: file, reason: "top level is a \(json.kindName), not an object")
        }
        var tensors: [TensorInfo] = []
        var metadata: [(key: String, value: String)] = []
        tensors.reserveCapacity(members.count)
        for (name, value) in members {
            if name == "__metadata__" {
                guard let entries = value.members else {
                    throw .metadataNotStrings(file: file, key: "__metadata__", found: value.kindName)
                }
                for (key, v) in entries {
                    guard let s = v.stringValue else { throw .metadataNotStrings(file: file, key: key, found: v.kindName) }
                    metadata.append((key, s))
                }
                continue
            }
            tensors.append(try Self.entry(name: name, value: value, file: file))
        }
        try Self.validateLayout(tensors, file: file)
        self.tensors = tensors
        self.metadata = metadata
        self.dataStart = 8 + headerLength
        let expected = expectedFileLength
        guard bytes.count == expected else {
            throw .fileLengthMismatch(file: file, expectedLength: expected, actualLength: bytes.count)
        }
    }

    /// Decodes one tensor entry; unknown extra fields are ignored, as the Rust reader does.
    private static func entry(name: String, value: JSONValue, file: String) throws(SafetensorsError) -> TensorInfo {
        guard value.members != nil else {
            throw .invalidTensorEntry(file: file, tensor: name, reason: "entry is a \(value.kindName), not an object")
        }
        guard let dtypeValue = value["dtype"] else {
            throw .invalidTensorEntry(file: file, tensor: name, reason: "missing field 'dtype'")
        }
        guard let dtypeName = dtypeValue.stringValue else {
            throw .invalidTensorEntry(file: file, tensor: name, reason: "'dtype' is a \(dtypeValue.kindName)")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw .unknownDType(file: file, tensor: name, dtype: dtypeName)
        }
        guard let shapeValue = value["shape"], let dims = shapeValue.elements else {
            throw .invalidTensorEntry(file: file, tensor: name, reason: "missing or non-array field 'shape'")
        }
        var shape: [Int] = []
        for d in dims {
            guard let u = d.uint64Value, u <= UInt64(Int.max) else {
                throw .invalidTensorEntry(
                    file: file, tensor: name,
                    reason: "shape entry \(d.compactText) is not a non-negative integer")
            }
            shape.append(Int(u))
        }
        guard let offsets = value["data_offsets"]?.elements, offsets.count == 2 else {
            throw .invalidTensorEntry(file: file, tensor: name, reason: "'data_offsets' must be [BEGIN, END]")
        }
        guard let b = offsets[0].uint64Value, let e = offsets[1].uint64Value else {
            throw .invalidTensorEntry(
                file: file, tensor: name,
                reason: "data_offsets \(JSONValue.array(offsets).compactText) are not non-negative integers")
        }
        guard e >= b, e <= UInt64(Int.max) else { throw .invalidOffsets(file: file, tensor: name, begin: b, end: e) }
        return TensorInfo(name: name, dtype: dtype, shape: shape, begin: Int(b), end: Int(e))
    }

    /// Sorted by (BEGIN, END): contiguous from 0, overflow-checked sizes, whole bytes, exact spans.
    private static func validateLayout(_ tensors: [TensorInfo], file: String) throws(SafetensorsError) {
        let sorted = tensors.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var start = 0
        for t in sorted {
            guard t.begin == start else {
                throw .offsetsNotContiguous(file: file, tensor: t.name, expectedStart: start, actualStart: t.begin)
            }
            let bytes = try byteCount(dtype: t.dtype, shape: t.shape, file: file, tensor: t.name)
            guard bytes == t.end - t.begin else {
                throw .sizeMismatch(file: file, tensor: t.name, expectedBytes: bytes, actualBytes: t.end - t.begin)
            }
            start = t.end
        }
    }

    /// Bytes a tensor of `dtype` and `shape` occupies, overflow-checked.
    ///
    /// - Throws: ``SafetensorsError/sizeOverflow(file:tensor:shape:)`` or
    ///   ``SafetensorsError/misalignedSubByte(file:tensor:bits:)``.
    public static func byteCount(dtype: DType, shape: [Int], file: String, tensor: String) throws(SafetensorsError) -> Int {
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw .sizeOverflow(file: file, tensor: tensor, shape: shape) }
            count = product
        }
        let (bits, overflow) = count.multipliedReportingOverflow(by: dtype.bits)
        guard !overflow else { throw .sizeOverflow(file: file, tensor: tensor, shape: shape) }
        guard bits % 8 == 0 else { throw .misalignedSubByte(file: file, tensor: tensor, bits: bits) }
        return bits / 8
    }
}
