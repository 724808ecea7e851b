/// A byte-level BPE tokenizer as plain values, independent of any tokenizer implementation: what GGUF's tokenizer
/// keys and a Hugging Face `tokenizer.json` need (docs/chat-and-tokenizer.md, "Tokenizer").
///
/// For `.normal` tokens the id is the BPE merge rank (tiktoken's rule: `mergeable_ranks[bytes] == id`).
public struct TokenizerInput: Sendable, Equatable {
    /// How a token id is used.
    public enum Kind: Sendable, Equatable {
        /// A mergeable BPE token (its bytes are in the vocabulary).
        case normal
        /// A special token hidden from output text (`special: true`, e.g. `[BOS]`, `<|im_end|>`).
        case control
        /// A special token that stays visible in output text (`special: false`, e.g. `<think>`, tool-call markers).
        case userDefined
        /// No token has this id.
        case unused
    }

    /// Token bytes by id (UTF-8 text for special tokens; empty for unused ids).
    public var tokens: [[UInt8]]
    public var kinds: [Kind]
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var padTokenId: Int?
    public var unknownTokenId: Int?
    public var addBosToken: Bool?
    public var addEosToken: Bool?
    public var chatTemplate: String?

    /// Creates a value.
    ///
    /// - Precondition: `tokens` and `kinds` have the same count.
    public init(
        tokens: [[UInt8]], kinds: [Kind], bosTokenId: Int? = nil, eosTokenId: Int? = nil, padTokenId: Int? = nil,
        unknownTokenId: Int? = nil, addBosToken: Bool? = nil, addEosToken: Bool? = nil, chatTemplate: String? = nil
    ) {
        precondition(tokens.count == kinds.count)
        self.tokens = tokens
        self.kinds = kinds
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.padTokenId = padTokenId
        self.unknownTokenId = unknownTokenId
        self.addBosToken = addBosToken
        self.addEosToken = addEosToken
        self.chatTemplate = chatTemplate
    }
}
