/// A tensor as a GGUF tensor info describes it.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The llama.cpp tensor name (`blk.3.ffn_gate_exps.weight`), at most 64 bytes.
    public let name: String
    /// ggml order: `dims[0]` is the contiguous (innermost) dimension, the reverse of PyTorch's shape.
    public let dims: [Int]
    public let type: GGMLType

    /// Creates an info.
    ///
    /// - Precondition: 1…4 positive dims, and `dims[0]` a whole number of the type's blocks.
    public init(name: String, dims: [Int], type: GGMLType) {
        precondition((1...4).contains(dims.count) && dims.allSatisfy { $0 > 0 }, "\(name): dims \(dims)")
        precondition(dims[0] % type.blockSize == 0, "\(name): \(dims[0]) is not a multiple of \(type)'s block")
        self.name = name
        self.dims = dims
        self.type = type
    }

    /// Number of elements.
    public var elementCount: Int { dims.reduce(1, *) }
    /// Bytes of one row (`dims[0]` elements).
    public var rowBytes: Int { dims[0] / type.blockSize * type.blockBytes }
    /// Number of rows (product of the outer dims).
    public var rowCount: Int { dims.dropFirst().reduce(1, *) }
    /// Data bytes, without padding.
    public var byteCount: Int { rowBytes * rowCount }
}

/// The part of a GGUF file before the tensor data: header, metadata, tensor infos, padding.
///
/// Layout (little-endian, ggml docs/gguf.md v3): magic "GGUF", version u32 = 3, tensor count u64, KV count
/// u64, the KVs (key string, type u32, value), the tensor infos (name string, n_dims u32, dims u64 each,
/// type u32, offset u64 relative to the data section), zero padding to the alignment, then the data with
/// every tensor starting at a multiple of the alignment and padded with zeros to the next one.
public struct GGUFHeader: Sendable {
    /// The metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// The tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment` when present, else 32.
    public let alignment: Int
    /// Each tensor's offset from the start of the data section.
    public let offsets: [Int]

    /// The default alignment when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// "GGUF" read as a little-endian u32.
    public static let magic: UInt32 = 0x4655_4747

    /// Lays out `tensors` after `metadata`.
    ///
    /// - Throws: ``GGUFError`` for a duplicate key or tensor, an alignment that is not a u32 multiple of 8, or a
    ///   tensor name longer than 64 bytes.
    public init(metadata: [(key: String, value: GGUFValue)], tensors: [GGUFTensorInfo], file: String) throws(GGUFError) {
        var keys = Set<String>()
        for (key, _) in metadata where !keys.insert(key).inserted { throw .duplicateKey(file: file, key: key) }
        var names = Set<String>()
        for t in tensors {
            guard names.insert(t.name).inserted else { throw .duplicateTensor(file: file, tensor: t.name) }
            guard t.name.utf8.count <= 64 else {
                throw .invalidShape(file: file, tensor: t.name, dims: t.dims, reason: "name longer than 64 bytes")
            }
        }
        var alignment = Self.defaultAlignment
        if let value = metadata.first(where: { $0.key == "general.alignment" })?.value {
            guard case .uint32(let a) = value, a > 0, a % 8 == 0 else { throw .invalidAlignment(file: file, value: "\(value)") }
            alignment = Int(a)
        }
        self.metadata = metadata
        self.tensors = tensors
        self.alignment = alignment
        var offsets: [Int] = []
        var offset = 0
        for t in tensors {
            offsets.append(offset)
            offset = Self.align(offset + t.byteCount, alignment)
        }
        self.offsets = offsets
    }

    /// `n` rounded up to a multiple of `alignment`.
    public static func align(_ n: Int, _ alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Bytes of the data section, the last tensor's padding included.
    public var dataBytes: Int {
        guard let t = tensors.last, let o = offsets.last else { return 0 }
        return Self.align(o + t.byteCount, alignment)
    }

    /// The encoded header, padded to the alignment (the data section starts right after).
    public func encoded() -> [UInt8] {
        var e = GGUFEncoder()
        e.u32(Self.magic)
        e.u32(3)
        e.u64(UInt64(tensors.count))
        e.u64(UInt64(metadata.count))
        for (key, value) in metadata {
            e.string(key)
            e.u32(value.type.rawValue)
            e.value(value)
        }
        for (t, offset) in zip(tensors, offsets) {
            e.string(t.name)
            e.u32(UInt32(t.dims.count))
            for d in t.dims { e.u64(UInt64(d)) }
            e.u32(t.type.rawValue)
            e.u64(UInt64(offset))
        }
        e.bytes.append(contentsOf: [UInt8](repeating: 0, count: Self.align(e.bytes.count, alignment) - e.bytes.count))
        return e.bytes
    }

    /// Bytes of the whole file.
    public var fileBytes: Int { encodedCount + dataBytes }

    /// Length of ``encoded()`` without building it.
    public var encodedCount: Int {
        var n = 4 + 4 + 8 + 8
        for (key, value) in metadata { n += 8 + key.utf8.count + 4 + value.encodedSize }
        for t in tensors { n += 8 + t.name.utf8.count + 4 + 8 * t.dims.count + 4 + 8 }
        return Self.align(n, alignment)
    }
}

/// Appends little-endian GGUF primitives to a byte array.
struct GGUFEncoder {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }

    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    mutating func value(_ v: GGUFValue) {
        switch v {
        case .uint8(let x): bytes.append(x)
        case .int8(let x): bytes.append(UInt8(bitPattern: x))
        case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) }
        case .int16(let x): withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) }
        case .uint32(let x): u32(x)
        case .int32(let x): u32(UInt32(bitPattern: x))
        case .float32(let x): u32(x.bitPattern)
        case .bool(let x): bytes.append(x ? 1 : 0)
        case .string(let s): string(s)
        case .array(let type, let elements):
            u32(type.rawValue)
            u64(UInt64(elements.count))
            for element in elements {
                precondition(element.type == type, "array of \(type) holds a \(element.type)")
                value(element)
            }
        case .uint64(let x): u64(x)
        case .int64(let x): u64(UInt64(bitPattern: x))
        case .float64(let x): u64(x.bitPattern)
        }
    }
}
