public import Foundation

/// Why a tokenizer folder or an id list cannot be used. Each message names the file or value.
public enum TokenizerError: Error, Equatable, Sendable {
    /// A file could not be read.
    case unreadable(file: String, reason: String)
    /// A `tiktoken.model` line is not `base64 rank`.
    case malformedLine(file: String, line: Int, text: String)
    /// Two lines of `tiktoken.model` have the same rank.
    case duplicateRank(file: String, line: Int, rank: Int)
    /// Two lines of `tiktoken.model` have the same token bytes.
    case duplicateToken(file: String, line: Int)
    /// A single byte has no rank, so byte-pair merging could not encode every text.
    case missingByte(file: String, byte: UInt8)
    /// `tokenizer_config.json` is not JSON or `added_tokens_decoder` has the wrong shape.
    case invalidConfig(file: String, reason: String)
    /// Two special slots have the same name.
    case duplicateSpecialName(file: String, name: String)
    /// An id given to decode is not in the vocabulary.
    case unknownID(Int)
    /// A line of an input file is not a JSON string.
    case invalidInputLine(file: String, line: Int, reason: String)
    /// The tokenizer has more ids than the model's `vocab_size`.
    case exceedsVocabularySize(file: String, reason: String)
}

extension TokenizerError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .unreadable(let file, let reason): "\(file): cannot read: \(reason)"
        case .malformedLine(let file, let line, let text):
            "\(file):\(line): expected 'base64 rank', found '\(text.prefix(60))'; is this a tiktoken.model file?"
        case .duplicateRank(let file, let line, let rank): "\(file):\(line): rank \(rank) appears twice; the vocabulary is corrupt"
        case .duplicateToken(let file, let line): "\(file):\(line): these token bytes already have a rank; the vocabulary is corrupt"
        case .missingByte(let file, let byte):
            "\(file): the single byte 0x\(String(byte, radix: 16)) has no rank; a byte-level BPE vocabulary needs all 256"
        case .invalidConfig(let file, let reason): "\(file): \(reason)"
        case .duplicateSpecialName(let file, let name): "\(file): special token '\(name)' names two slots; names must be unique"
        case .unknownID(let id): "token id \(id) is not in the vocabulary (base ranks plus the special block)"
        case .invalidInputLine(let file, let line, let reason): "\(file):\(line): expected one JSON string per line: \(reason)"
        case .exceedsVocabularySize(let file, let reason): "\(file): \(reason)"
        }
    }
}
