import Foundation
import GGUF
import TestSupport
import Testing

@Suite("GGUF tokenizer metadata")
struct TokenizerTests {
    /// 256 byte tokens, then "ab", "abc", "bc", " a"; ids 260… special.
    static func input() -> TokenizerInput {
        var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        tokens += [Array("ab".utf8), Array("abc".utf8), Array("bc".utf8), Array(" a".utf8)]
        var kinds = [TokenizerInput.Kind](repeating: .normal, count: tokens.count)
        tokens += [Array("[BOS]".utf8), Array("<think>".utf8), [], Array("<|tool_call_begin|>".utf8)]
        kinds += [.control, .userDefined, .unused, .userDefined]
        return TokenizerInput(tokens: tokens, kinds: kinds, bosTokenId: 260, eosTokenId: 260, chatTemplate: "{{ x }}")
    }

    @Test("merges are BPE of each token limited to lower ranks, in GPT-2 byte form")
    func merges() {
        #expect(TokenizerMetadata.merges(Self.input()) == ["a b", "ab c", "b c", "Ġ a"])
    }

    @Test("GPT-2 byte-to-unicode: printable bytes stay, the others map to U+0100 onward")
    func byteToUnicode() {
        #expect(TokenizerMetadata.gpt2String(Array("Az~".utf8)) == "Az~")
        #expect(TokenizerMetadata.gpt2String([0x00, 0x20, 0x0A, 0x7F, 0xAD, 0xFF]) == "\u{100}\u{120}\u{10A}\u{121}\u{143}ÿ")
        #expect(Set(TokenizerMetadata.byteToUnicode).count == 256)
    }

    @Test("keys: gpt2 model, kimi-k2 pre, token types keep <think> and tool markers visible")
    func keys() {
        let kv = TokenizerMetadata.keys(Self.input())
        func value(_ k: String) -> GGUFValue? { kv.first { $0.key == k }?.value }
        #expect(value("tokenizer.ggml.model") == .string("gpt2"))
        #expect(value("tokenizer.ggml.pre") == .string("kimi-k2"))
        let tokens = value("tokenizer.ggml.tokens")?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(tokens.count == 264 && tokens[32] == "Ġ" && tokens[259] == "Ġa" && tokens[261] == "<think>" && tokens[262] == "[PAD262]")
        let types = value("tokenizer.ggml.token_type")?.arrayValue?.compactMap(\.integerValue) ?? []
        #expect(Array(types[258...]) == [1, 1, 3, 4, 5, 4])
        #expect(value("tokenizer.ggml.bos_token_id") == .uint32(260))
        #expect(value("tokenizer.chat_template") == .string("{{ x }}"))
    }

    @Test("tiktoken.model + tokenizer_config.json: ranks, special ids, special:false → visible")
    func loader() throws {
        let folder = temporaryFolder("tiktoken")
        let base = Self.input().tokens[0..<260].map { Data($0).base64EncodedString() }
        try base.enumerated().map { "\($1) \($0)" }.joined(separator: "\n").write(
            toFile: folder + "/tiktoken.model", atomically: true, encoding: .utf8)
        try """
        {"added_tokens_decoder": {"260": {"content": "[BOS]", "special": true}, "261": {"content": "<think>", "special": false}},
         "chat_template": "T"}
        """.write(toFile: folder + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        let t = try #require(try TiktokenFiles.load(folder: folder, vocabSize: 263, bos: 260, eos: 260, pad: nil))
        #expect(Array(t.tokens[0..<260]) == Array(Self.input().tokens[0..<260]))
        #expect(Array(t.kinds[258...]) == [.normal, .normal, .control, .userDefined, .control])
        #expect(t.tokens[262] == Array("<|reserved_token_262|>".utf8))
        #expect(t.chatTemplate == "T")
        #expect(try TiktokenFiles.load(folder: temporaryFolder(), vocabSize: 10, bos: nil, eos: nil, pad: nil) == nil)
    }
}
