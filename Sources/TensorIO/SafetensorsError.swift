public import Foundation

/// A safetensors file or index that breaks a rule of the format; each case names the file, the
/// tensor where there is one, and the offending value.
public enum SafetensorsError: Error, Equatable, Sendable {
    /// The file is shorter than the 8-byte header length prefix.
    case headerTooSmall(file: String, fileLength: Int)
    /// The declared header length exceeds the reader's 100,000,000-byte limit.
    case headerTooLarge(file: String, headerLength: UInt64)
    /// 8 + header length runs past the end of the file.
    case headerLengthPastEndOfFile(file: String, headerLength: UInt64, fileLength: Int)
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8(file: String)
    /// The header is not valid JSON (or not an object, or starts with something other than '{').
    case headerNotJSON(file: String, reason: String)
    /// Two header entries share one tensor name.
    case duplicateTensor(file: String, tensor: String)
    /// `__metadata__` is not an object of string values.
    case metadataNotStrings(file: String, key: String, found: String)
    /// A tensor entry lacks a field or has one of the wrong JSON type.
    case invalidTensorEntry(file: String, tensor: String, reason: String)
    /// A tensor's dtype string is not one of the format's names.
    case unknownDType(file: String, tensor: String, dtype: String)
    /// `data_offsets` has END < BEGIN or values that do not fit the host.
    case invalidOffsets(file: String, tensor: String, begin: UInt64, end: UInt64)
    /// A tensor does not start where the previous one ended (a hole or an overlap, or not at 0).
    case offsetsNotContiguous(file: String, tensor: String, expectedStart: Int, actualStart: Int)
    /// Element or bit count overflows.
    case sizeOverflow(file: String, tensor: String, shape: [Int])
    /// A sub-byte tensor whose bit count is not a whole number of bytes.
    case misalignedSubByte(file: String, tensor: String, bits: Int)
    /// shape × dtype size disagrees with the span of `data_offsets`.
    case sizeMismatch(file: String, tensor: String, expectedBytes: Int, actualBytes: Int)
    /// The file is longer or shorter than header + data (a truncated download, or trailing bytes).
    case fileLengthMismatch(file: String, expectedLength: Int, actualLength: Int)
    /// A tensor asked for by name is not in the file or checkpoint.
    case missingTensor(file: String, tensor: String)
    /// A tensor's data was read as a dtype it does not have.
    case dtypeMismatch(file: String, tensor: String, expected: DType, actual: DType)

    /// The index file is not the expected JSON shape.
    case invalidIndex(file: String, reason: String)
    /// The index names a shard file that does not exist.
    case missingShard(index: String, shard: String)
    /// A shard file name points outside the model folder (absolute, `..`, or an escaping symlink).
    case shardPathEscapes(index: String, shard: String, resolved: String)
    /// The index maps a tensor to a shard that does not contain it.
    case tensorMissingFromShard(index: String, tensor: String, shard: String)
    /// A shard contains a tensor that the index does not map to it.
    case tensorNotInIndex(shard: String, tensor: String)
    /// The same tensor name appears in two shards.
    case tensorInTwoShards(tensor: String, firstShard: String, secondShard: String)
    /// `metadata.total_size` disagrees with the sum of the shards' tensor bytes.
    case totalSizeMismatch(index: String, declared: Int, actual: Int)
    /// A folder holds no safetensors file, or several without an index.
    case noCheckpoint(path: String, reason: String)

    /// Writer: the header would exceed the format's size limit.
    case headerTooLargeToWrite(file: String, headerLength: Int)
    /// Writer: a tensor got more or fewer bytes than its shape and dtype need.
    case wrongByteCount(file: String, tensor: String, expectedBytes: Int, actualBytes: Int)
}

extension SafetensorsError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .headerTooSmall(let f, let n):
            "\(f): file is \(n) bytes, shorter than the 8-byte header length; the download is incomplete"
        case .headerTooLarge(let f, let n):
            "\(f): header length \(n) exceeds the 100000000-byte limit; not a safetensors file or corrupt"
        case .headerLengthPastEndOfFile(let f, let n, let len):
            "\(f): header length \(n) runs past the end of the \(len)-byte file; the download is truncated or corrupt"
        case .headerNotUTF8(let f):
            "\(f): header is not valid UTF-8"
        case .headerNotJSON(let f, let r):
            "\(f): header is not a valid JSON object: \(r)"
        case .duplicateTensor(let f, let t):
            "\(f): tensor '\(t)' appears twice in the header; refusing an ambiguous file"
        case .metadataNotStrings(let f, let k, let found):
            "\(f): __metadata__ entry '\(k)' is a \(found); only string values are allowed"
        case .invalidTensorEntry(let f, let t, let r):
            "\(f): tensor '\(t)': \(r)"
        case .unknownDType(let f, let t, let d):
            "\(f): tensor '\(t)' has unknown dtype '\(d)'"
        case .invalidOffsets(let f, let t, let b, let e):
            "\(f): tensor '\(t)' has data_offsets [\(b), \(e)]; END must be ≥ BEGIN and fit in memory"
        case .offsetsNotContiguous(let f, let t, let e, let a):
            "\(f): tensor '\(t)' starts at data offset \(a), expected \(e) (a hole or an overlap)"
        case .sizeOverflow(let f, let t, let s):
            "\(f): tensor '\(t)' shape \(s) overflows the element or byte count"
        case .misalignedSubByte(let f, let t, let b):
            "\(f): tensor '\(t)' has \(b) bits, not a whole number of bytes"
        case .sizeMismatch(let f, let t, let e, let a):
            "\(f): tensor '\(t)' needs \(e) bytes for its shape and dtype, but its data_offsets span \(a)"
        case .fileLengthMismatch(let f, let e, let a):
            a < e
                ? "\(f): file is \(a) bytes but its header describes \(e); the download is truncated, fetch it again"
                : "\(f): file is \(a) bytes but its header describes \(e); \(a - e) unexpected trailing bytes"
        case .missingTensor(let f, let t):
            "\(f): no tensor named '\(t)'"
        case .dtypeMismatch(let f, let t, let e, let a):
            "\(f): tensor '\(t)' is \(a.rawValue), expected \(e.rawValue)"
        case .invalidIndex(let f, let r):
            "\(f): \(r)"
        case .missingShard(let i, let s):
            "\(i): shard '\(s)' named in weight_map does not exist; the download is incomplete"
        case .shardPathEscapes(let i, let s, let r):
            "\(i): shard name '\(s)' resolves to \(r), outside the model folder; refusing it"
        case .tensorMissingFromShard(let i, let t, let s):
            "\(i): weight_map puts tensor '\(t)' in \(s), but that shard does not contain it"
        case .tensorNotInIndex(let s, let t):
            "\(s): tensor '\(t)' is in this shard but weight_map does not map it here"
        case .tensorInTwoShards(let t, let a, let b):
            "tensor '\(t)' is present in both \(a) and \(b)"
        case .totalSizeMismatch(let i, let d, let a):
            "\(i): metadata.total_size is \(d) but the shards hold \(a) bytes of tensor data"
        case .noCheckpoint(let p, let r):
            "\(p): \(r)"
        case .headerTooLargeToWrite(let f, let n):
            "\(f): header would be \(n) bytes, over the 100000000-byte limit; split into more shards"
        case .wrongByteCount(let f, let t, let e, let a):
            "\(f): tensor '\(t)' was given \(a) bytes but needs \(e)"
        }
    }
}

/// An operating-system call on a path failed.
public struct FileError: Error, Equatable, Sendable, LocalizedError {
    /// The file or folder.
    public let path: String
    /// What was being done ("open", "mmap", "write", "rename", …).
    public let operation: String
    /// The `errno` value.
    public let errno: Int32

    /// Creates an error from the current `errno`.
    public init(path: String, operation: String, errno: Int32 = Foundation.errno) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    public var errorDescription: String? {
        "\(path): \(operation) failed: \(String(cString: strerror(errno)))"
    }
}
