public import Tokenizer

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

    /// The tokenizer keys: model, pre, tokens, token types, merges, special ids, add-bos/eos, chat template.
    public static func keys(_ input: TokenizerInput) -> [(key: String, value: GGUFValue)] {
        var tokens: [String] = []
        tokens.reserveCapacity(input.tokens.count)
        for (id, kind) in input.kinds.enumerated() {
            switch kind {
            case .normal: tokens.append(ByteLevelBPE.gpt2String(input.tokens[id]))
            case .control, .userDefined: tokens.append(String(decoding: input.tokens[id], as: UTF8.self))
            case .unused: tokens.append("[PAD\(id)]")
            }
        }
        var kv: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("kimi-k2")),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.token_type", .int32s(input.kinds.map(tokenType))),
            ("tokenizer.ggml.merges", .strings(ByteLevelBPE.merges(input))),
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
