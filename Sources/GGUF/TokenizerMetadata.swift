/// A byte-level BPE tokenizer as plain values, independent of any tokenizer implementation: what the GGUF
/// tokenizer keys need.
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

/// Turns a ``TokenizerInput`` into llama.cpp's `gpt2` tokenizer keys with the `kimi-k2` pre-tokenizer, the way
/// llama.cpp's converter does for Kimi K2 (conversion/deepseek.py, `DeepseekV2Model.set_vocab`), except that
/// special tokens marked `special: false` become USER_DEFINED instead of CONTROL, so `<think>` and the tool-call
/// markers stay in the text llama.cpp returns (docs/gguf-export.md, "Metadata keys").
public enum TokenizerMetadata {
    /// llama.cpp token types (`llama_token_type`).
    public static func tokenType(_ kind: TokenizerInput.Kind) -> Int32 {
        switch kind {
        case .normal: 1
        case .control: 3
        case .userDefined: 4
        case .unused: 5
        }
    }

    /// GPT-2's byte → character table: printable Latin-1 bytes map to themselves, the other 68 bytes to
    /// U+0100 onwards in byte order (`bytes_to_unicode` in GPT-2's encoder.py).
    public static let byteToUnicode: [Character] = {
        var printable = Set<Int>()
        for r in [0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF] { printable.formUnion(r) }
        var table = [Character](repeating: " ", count: 256)
        var next = 256
        for b in 0..<256 {
            if printable.contains(b) {
                table[b] = Character(Unicode.Scalar(UInt32(b)).unsafelyUnwrapped)
            } else {
                table[b] = Character(Unicode.Scalar(UInt32(next)).unsafelyUnwrapped)
                next += 1
            }
        }
        return table
    }()

    /// A token's bytes in GPT-2 byte-to-unicode form.
    public static func gpt2String(_ bytes: [UInt8]) -> String {
        var s = ""
        s.reserveCapacity(bytes.count)
        for b in bytes { s.append(byteToUnicode[Int(b)]) }
        return s
    }

    /// The merges list recovered from the ranks: for each normal token of two or more bytes, in id order, BPE
    /// of its bytes using only merges ranked below it; when that ends in exactly two parts, "left right" in GPT-2
    /// form (llama.cpp's converter, `QwenModel.bpe` with `max_rank`).
    public static func merges(_ input: TokenizerInput) -> [String] {
        var ranks: [[UInt8]: Int] = [:]
        for (id, kind) in input.kinds.enumerated() where kind == .normal { ranks[input.tokens[id]] = id }
        var out: [String] = []
        var parts: [[UInt8]] = []
        for (id, kind) in input.kinds.enumerated() where kind == .normal && input.tokens[id].count > 1 {
            let token = input.tokens[id]
            parts.removeAll(keepingCapacity: true)
            for b in token { parts.append([b]) }
            while true {
                var best: (index: Int, rank: Int)?
                for i in 0..<(parts.count - 1) {
                    if let r = ranks[parts[i] + parts[i + 1]], best == nil || r < best.unsafelyUnwrapped.rank { best = (i, r) }
                }
                guard let b = best, b.rank < id else { break }
                parts[b.index] += parts[b.index + 1]
                parts.remove(at: b.index + 1)
            }
            if parts.count == 2 { out.append(gpt2String(parts[0]) + " " + gpt2String(parts[1])) }
        }
        return out
    }

    /// The tokenizer keys: model, pre, tokens, token types, merges, special ids, add-bos/eos, chat template.
    public static func keys(_ input: TokenizerInput) -> [(key: String, value: GGUFValue)] {
        var tokens: [String] = []
        tokens.reserveCapacity(input.tokens.count)
        for (id, kind) in input.kinds.enumerated() {
            switch kind {
            case .normal: tokens.append(gpt2String(input.tokens[id]))
            case .control, .userDefined: tokens.append(String(decoding: input.tokens[id], as: UTF8.self))
            case .unused: tokens.append("[PAD\(id)]")
            }
        }
        var kv: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("kimi-k2")),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.token_type", .int32s(input.kinds.map(tokenType))),
            ("tokenizer.ggml.merges", .strings(merges(input))),
        ]
        if let id = input.bosTokenId { kv.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(id)))) }
        if let id = input.eosTokenId { kv.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(id)))) }
        if let id = input.unknownTokenId { kv.append(("tokenizer.ggml.unknown_token_id", .uint32(UInt32(id)))) }
        if let id = input.padTokenId { kv.append(("tokenizer.ggml.padding_token_id", .uint32(UInt32(id)))) }
        if let b = input.addBosToken { kv.append(("tokenizer.ggml.add_bos_token", .bool(b))) }
        if let b = input.addEosToken { kv.append(("tokenizer.ggml.add_eos_token", .bool(b))) }
        if let t = input.chatTemplate { kv.append(("tokenizer.chat_template", .string(t))) }
        return kv
    }
}
