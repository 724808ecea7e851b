public import Foundation

/// A validated, memory-mapped safetensors file with zero-copy views of its tensors.
public final class SafetensorsFile: @unchecked Sendable {
    // Sendable: immutable after init; the mapping is read-only.
    /// The path as opened.
    public let path: String
    /// The validated header.
    public let header: SafetensorsHeader
    /// The mapping, kept alive as long as this object.
    public let mapping: MappedFile
    private let byName: [String: Int]

    /// Maps `path` and validates its header and length.
    ///
    /// - Throws: ``FileError`` when the file cannot be read, ``SafetensorsError`` when it is malformed.
    public init(path: String) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        header = try SafetensorsHeader(parsing: mapping.bytes, file: path)
        var byName: [String: Int] = [:]
        for (i, t) in header.tensors.enumerated() { byName[t.name] = i }
        self.byName = byName
    }

    /// Entries in header order.
    public var tensors: [TensorInfo] { header.tensors }

    /// The entry named `name`, or nil.
    public func info(_ name: String) -> TensorInfo? {
        byName[name].map { header.tensors[$0] }
    }

    /// The raw bytes of `tensor`, valid while this file is alive.
    public func bytes(of tensor: TensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[(header.dataStart + tensor.begin)..<(header.dataStart + tensor.end)])
    }

    /// The raw bytes of the tensor named `name`.
    ///
    /// - Throws: ``SafetensorsError/missingTensor(file:tensor:)``.
    public func bytes(named name: String) throws(SafetensorsError) -> UnsafeRawBufferPointer {
        guard let t = info(name) else { throw .missingTensor(file: path, tensor: name) }
        return bytes(of: t)
    }

    /// Converts a float tensor (F32, F16, BF16, F8_E4M3, F64) to a new `[Float]`.
    ///
    /// - Throws: ``SafetensorsError`` when the tensor is missing or not a float type.
    public func floats(named name: String) throws(SafetensorsError) -> [Float] {
        guard let t = info(name) else { throw .missingTensor(file: path, tensor: name) }
        guard t.dtype.isConvertibleToFloat else { throw .dtypeMismatch(file: path, tensor: name, expected: .f32, actual: t.dtype) }
        let raw = bytes(of: t)
        return [Float](unsafeUninitializedCapacity: t.elementCount) { buffer, count in
            if let base = raw.baseAddress, let out = buffer.baseAddress {
                FloatConversion.convert(base, dtype: t.dtype, count: t.elementCount, into: out)
            }
            count = t.elementCount
        }
    }

    /// Reads an integer tensor (I8..I64, U8..U64, BOOL) widened to `Int`.
    ///
    /// - Throws: ``SafetensorsError`` when the tensor is missing or not an integer type.
    public func integers(named name: String) throws(SafetensorsError) -> [Int] {
        guard let t = info(name) else { throw .missingTensor(file: path, tensor: name) }
        let raw = bytes(of: t)
        let n = t.elementCount
        switch t.dtype {
        case .i64: return (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self).littleEndian) }
        case .u64: return (0..<n).map { Int(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
        case .i32: return (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self).littleEndian) }
        case .u32: return (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian) }
        case .i16: return (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self).littleEndian) }
        case .u16: return (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self).littleEndian) }
        case .i8: return (0..<n).map { Int(raw.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool: return (0..<n).map { Int(raw.load(fromByteOffset: $0, as: UInt8.self)) }
        default: throw .dtypeMismatch(file: path, tensor: name, expected: .i64, actual: t.dtype)
        }
    }
}
