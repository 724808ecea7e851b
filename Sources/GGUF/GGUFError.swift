public import Foundation
public import Tokenizer

/// A GGUF file that cannot be read or written, or an export that cannot proceed; each case names the file,
/// tensor or key and the offending value.
public enum GGUFError: Error, Equatable, Sendable, LocalizedError {
    /// The file does not start with the bytes "GGUF".
    case badMagic(file: String, found: UInt32)
    /// A version other than 3.
    case unsupportedVersion(file: String, version: UInt32)
    /// The file ends inside the header, a key, a value or a tensor info.
    case truncated(file: String, offset: Int, needed: Int)
    /// A metadata value carries a type tag outside 0…12.
    case unknownValueType(file: String, key: String, type: UInt32)
    /// A string is not valid UTF-8.
    case invalidString(file: String, offset: Int)
    /// A key appears twice.
    case duplicateKey(file: String, key: String)
    /// A tensor name appears twice.
    case duplicateTensor(file: String, tensor: String)
    /// A tensor uses a ggml type ingot does not handle.
    case unsupportedTensorType(file: String, tensor: String, type: UInt32)
    /// A tensor's dimensions are not usable (more than 4, zero, or not a whole number of blocks).
    case invalidShape(file: String, tensor: String, dims: [Int], reason: String)
    /// A tensor's offset is not aligned, overlaps another or runs past the end of the file.
    case invalidOffset(file: String, tensor: String, offset: UInt64, reason: String)
    /// `general.alignment` is zero, not a multiple of 8, or not a u32.
    case invalidAlignment(file: String, value: String)
    /// Writer: a tensor got a different number of bytes than its type and shape need.
    case wrongByteCount(file: String, tensor: String, expected: Int, actual: Int)
    /// Export: a source tensor is missing, or has a dtype or shape the export cannot convert.
    case unsupportedSource(tensor: String, reason: String)
    /// Export: the checkpoint's quantization is not the INT4 group-32 symmetric pack-quantized form.
    case unsupportedQuantization(file: String, reason: String)
    /// Export: the tokenizer does not fit the model (more ids than `vocab_size`).
    case invalidTokenizer(file: String, reason: String)
    /// Export: the Tokenizer module could not read `tiktoken.model` or `tokenizer_config.json`.
    case tokenizer(TokenizerError)
    /// A `--split-max-size` text that is not N, NK, NM or NG.
    case invalidSize(text: String)
    /// Export: a slice that cannot be written (no split size, or an index outside 1…count).
    case invalidShard(reason: String)

    public var errorDescription: String? {
        switch self {
        case .badMagic(let f, let m): "\(f): not a GGUF file (magic 0x\(String(m, radix: 16)), expected 0x46554747 \"GGUF\")"
        case .unsupportedVersion(let f, let v): "\(f): GGUF version \(v); only version 3 is supported"
        case .truncated(let f, let o, let n): "\(f): truncated: \(n) bytes needed at offset \(o)"
        case .unknownValueType(let f, let k, let t): "\(f): key '\(k)' has value type \(t), not one of 0…12"
        case .invalidString(let f, let o): "\(f): string at offset \(o) is not valid UTF-8"
        case .duplicateKey(let f, let k): "\(f): key '\(k)' appears twice"
        case .duplicateTensor(let f, let t): "\(f): tensor '\(t)' appears twice"
        case .unsupportedTensorType(let f, let t, let ty): "\(f): tensor '\(t)' has ggml type \(ty), which ingot does not handle"
        case .invalidShape(let f, let t, let d, let r): "\(f): tensor '\(t)' dims \(d): \(r)"
        case .invalidOffset(let f, let t, let o, let r): "\(f): tensor '\(t)' offset \(o): \(r)"
        case .invalidAlignment(let f, let v): "\(f): general.alignment \(v) is not a non-zero multiple of 8"
        case .wrongByteCount(let f, let t, let e, let a): "\(f): tensor '\(t)' got \(a) bytes, its type and shape need \(e)"
        case .unsupportedSource(let t, let r): "source tensor '\(t)': \(r)"
        case .unsupportedQuantization(let f, let r): "\(f): \(r)"
        case .invalidTokenizer(let f, let r): "\(f): \(r)"
        case .tokenizer(let e): e.errorDescription
        case .invalidSize(let t): "'\(t)' is not a size: use a byte count with an optional K, M or G suffix (decimal, as llama-gguf-split)"
        case .invalidShard(let reason): "--shard: \(reason)"
        }
    }
}
