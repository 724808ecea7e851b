import Foundation
import TensorIO

/// A parsed GGUF v3 file: metadata, tensor infos and zero-copy views of the tensor data.
///
/// Checks: magic, version 3, every count and length within the file, UTF-8 strings, unique keys and tensor
/// names, known value and tensor types, 1…4 positive dims whose first is a whole number of blocks, offsets
/// that are aligned, in bounds and do not overlap.
public final class GGUFFile: @unchecked Sendable {
    // Sendable: immutable after init; the mapping is read-only.
    /// The path as opened.
    public let path: String
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// Offsets relative to ``dataStart``.
    public let offsets: [Int]
    /// `general.alignment` or 32.
    public let alignment: Int
    /// File offset of the data section.
    public let dataStart: Int
    private let mapping: MappedFile?
    private let image: [UInt8]?
    private let byName: [String: Int]

    /// Maps and parses `path`.
    ///
    /// - Throws: ``FileError`` or ``GGUFError``.
    public convenience init(path: String) throws {
        let mapping = try MappedFile(path: path)
        try self.init(path: path, mapping: mapping, image: nil)
    }

    /// Parses an in-memory file image (tests, fuzzing).
    ///
    /// - Throws: ``GGUFError``.
    public convenience init(image: [UInt8], name: String = "image") throws {
        try self.init(path: name, mapping: nil, image: image)
    }

    private init(path: String, mapping: MappedFile?, image: [UInt8]?) throws {
        self.path = path
        self.mapping = mapping
        self.image = image
        let parsed: Parsed
        if let mapping {
            parsed = try Parser.parse(mapping.bytes, file: path)
        } else {
            parsed = try image.unsafelyUnwrapped.withUnsafeBytes { try Parser.parse($0, file: path) }
        }
        metadata = parsed.metadata
        tensors = parsed.tensors
        offsets = parsed.offsets
        alignment = parsed.alignment
        dataStart = parsed.dataStart
        var byName: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { byName[t.name] = i }
        self.byName = byName
    }

    /// The value of `key`, or nil.
    public func value(_ key: String) -> GGUFValue? { metadata.first { $0.key == key }?.value }

    /// The info of the tensor named `name`, or nil.
    public func tensor(_ name: String) -> GGUFTensorInfo? { byName[name].map { tensors[$0] } }

    /// Calls `body` with the data bytes of tensor `name`.
    ///
    /// - Throws: ``GGUFError/invalidOffset(file:tensor:offset:reason:)`` when there is no such tensor, or what
    ///   `body` throws.
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let i = byName[name] else { throw GGUFError.invalidOffset(file: path, tensor: name, offset: 0, reason: "no such tensor") }
        let start = dataStart + offsets[i]
        let range = start..<(start + tensors[i].byteCount)
        if let mapping { return try body(UnsafeRawBufferPointer(rebasing: mapping.bytes[range])) }
        return try image.unsafelyUnwrapped.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    struct Parsed {
        var metadata: [(key: String, value: GGUFValue)] = []
        var tensors: [GGUFTensorInfo] = []
        var offsets: [Int] = []
        var alignment = GGUFHeader.defaultAlignment
        var dataStart = 0
    }

    /// A bounds-checked little-endian cursor.
    struct Parser {
        let bytes: UnsafeRawBufferPointer
        let file: String
        var offset = 0

        mutating func need(_ n: Int) throws(GGUFError) {
            guard n >= 0, n <= bytes.count - offset else { throw .truncated(file: file, offset: offset, needed: n) }
        }

        mutating func load<T: FixedWidthInteger>(_: T.Type) throws(GGUFError) -> T {
            try need(MemoryLayout<T>.size)
            let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
            offset += MemoryLayout<T>.size
            return T(littleEndian: v)
        }

        mutating func count() throws(GGUFError) -> Int {
            let n = try load(UInt64.self)
            guard n <= UInt64(bytes.count - offset) else { throw .truncated(file: file, offset: offset, needed: Int(clamping: n)) }
            return Int(n)
        }

        mutating func string() throws(GGUFError) -> String {
            let n = try count()
            let start = offset
            guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + n)]), as: UTF8.self) else {
                throw .invalidString(file: file, offset: start)
            }
            offset += n
            return s
        }

        mutating func value(_ type: GGUFValueType, key: String, depth: Int) throws(GGUFError) -> GGUFValue {
            switch type {
            case .uint8: return .uint8(try load(UInt8.self))
            case .int8: return .int8(try load(Int8.self))
            case .uint16: return .uint16(try load(UInt16.self))
            case .int16: return .int16(try load(Int16.self))
            case .uint32: return .uint32(try load(UInt32.self))
            case .int32: return .int32(try load(Int32.self))
            case .float32: return .float32(Float(bitPattern: try load(UInt32.self)))
            case .bool: return .bool(try load(UInt8.self) != 0)
            case .string: return .string(try string())
            case .uint64: return .uint64(try load(UInt64.self))
            case .int64: return .int64(try load(Int64.self))
            case .float64: return .float64(Double(bitPattern: try load(UInt64.self)))
            case .array:
                let raw = try load(UInt32.self)
                guard let elementType = GGUFValueType(rawValue: raw), depth < 8 else {
                    throw .unknownValueType(file: file, key: key, type: raw)
                }
                let n = try count()
                var elements: [GGUFValue] = []
                elements.reserveCapacity(n)
                for _ in 0..<n { elements.append(try value(elementType, key: key, depth: depth + 1)) }
                return .array(elementType, elements)
            }
        }

        static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws(GGUFError) -> Parsed {
            var p = Parser(bytes: bytes, file: file)
            var out = Parsed()
            let magic = try p.load(UInt32.self)
            guard magic == GGUFHeader.magic else { throw .badMagic(file: file, found: magic) }
            let version = try p.load(UInt32.self)
            guard version == 3 else { throw .unsupportedVersion(file: file, version: version) }
            let tensorCount = try p.load(UInt64.self)
            let kvCount = try p.load(UInt64.self)
            guard kvCount < UInt64(bytes.count), tensorCount < UInt64(bytes.count) else {
                throw .truncated(file: file, offset: p.offset, needed: Int(clamping: max(kvCount, tensorCount)))
            }
            var keys = Set<String>()
            for _ in 0..<Int(kvCount) {
                let key = try p.string()
                guard keys.insert(key).inserted else { throw .duplicateKey(file: file, key: key) }
                let raw = try p.load(UInt32.self)
                guard let type = GGUFValueType(rawValue: raw) else { throw .unknownValueType(file: file, key: key, type: raw) }
                let value = try p.value(type, key: key, depth: 0)
                if key == "general.alignment" {
                    guard case .uint32(let a) = value, a > 0, a % 8 == 0 else { throw .invalidAlignment(file: file, value: "\(value)") }
                    out.alignment = Int(a)
                }
                out.metadata.append((key, value))
            }
            var names = Set<String>()
            var rawOffsets: [UInt64] = []
            for _ in 0..<Int(tensorCount) {
                let name = try p.string()
                guard names.insert(name).inserted else { throw .duplicateTensor(file: file, tensor: name) }
                let nDims = try p.load(UInt32.self)
                guard (1...4).contains(nDims) else { throw .invalidShape(file: file, tensor: name, dims: [], reason: "\(nDims) dims") }
                var dims: [Int] = []
                for _ in 0..<nDims {
                    let d = try p.load(UInt64.self)
                    guard d > 0, d < 1 << 40 else {
                        throw .invalidShape(file: file, tensor: name, dims: dims + [Int(clamping: d)], reason: "bad dim")
                    }
                    dims.append(Int(d))
                }
                let rawType = try p.load(UInt32.self)
                guard let type = GGMLType(rawValue: rawType) else { throw .unsupportedTensorType(file: file, tensor: name, type: rawType) }
                guard dims[0] % type.blockSize == 0 else {
                    throw .invalidShape(file: file, tensor: name, dims: dims, reason: "first dim not a multiple of \(type.blockSize)")
                }
                guard dims.reduce(UInt64(1), { $0 * UInt64($1) }) < 1 << 48 else {
                    throw .invalidShape(file: file, tensor: name, dims: dims, reason: "too many elements")
                }
                out.tensors.append(GGUFTensorInfo(name: name, dims: dims, type: type))
                rawOffsets.append(try p.load(UInt64.self))
            }
            out.dataStart = GGUFHeader.align(p.offset, out.alignment)
            let dataBytes = bytes.count - min(out.dataStart, bytes.count)
            var ranges: [(Int, Int, String)] = []
            for (t, raw) in zip(out.tensors, rawOffsets) {
                guard raw % UInt64(out.alignment) == 0 else {
                    throw .invalidOffset(file: file, tensor: t.name, offset: raw, reason: "not a multiple of \(out.alignment)")
                }
                guard raw <= UInt64(dataBytes), UInt64(t.byteCount) <= UInt64(dataBytes) - raw else {
                    throw .invalidOffset(file: file, tensor: t.name, offset: raw, reason: "runs past the end of the file")
                }
                out.offsets.append(Int(raw))
                ranges.append((Int(raw), Int(raw) + t.byteCount, t.name))
            }
            ranges.sort { $0.0 < $1.0 }
            for (a, b) in zip(ranges, ranges.dropFirst()) where b.0 < a.1 {
                throw .invalidOffset(file: file, tensor: b.2, offset: UInt64(b.0), reason: "overlaps '\(a.2)'")
            }
            return out
        }
    }
}
