import Crypto
import Foundation
import GGUF
import TensorIO
import TestSupport
import Testing
import Tokenizer

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
        #expect(ByteLevelBPE.merges(Self.input()) == ["a b", "ab c", "b c", "Ġ a"])
    }

    @Test("GPT-2 byte-to-unicode: printable bytes stay, the others map to U+0100 onward")
    func byteToUnicode() {
        #expect(ByteLevelBPE.gpt2String(Array("Az~".utf8)) == "Az~")
        #expect(ByteLevelBPE.gpt2String([0x00, 0x20, 0x0A, 0x7F, 0xAD, 0xFF]) == "\u{100}\u{120}\u{10A}\u{121}\u{143}ÿ")
        #expect(Set(ByteLevelBPE.byteToUnicode).count == 256)
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

    /// fixtures/tokenizer/model/ (2,048 ranks + 256 specials) with the chat template and add_bos_token the golden
    /// script gave gguf-py's SpecialVocab, in a fresh folder.
    static func testVocabularyFolder() throws -> String {
        let folder = temporaryFolder("gguf-tokenizer")
        let model = fixturesFolder() + "/tokenizer/model"
        try FileManager.default.copyItem(atPath: model + "/tiktoken.model", toPath: folder + "/tiktoken.model")
        let golden = try Self.golden()
        var config = try String(contentsOfFile: model + "/tokenizer_config.json", encoding: .utf8)
        let template = try #require(golden["chat_template_written"]?.stringValue)
        config = String(config[..<(try #require(config.lastIndex(of: "}")))])
        config += ", \"chat_template\": " + JSONValue.quote(template) + ", \"add_bos_token\": false}"
        try config.write(toFile: folder + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        return folder
    }

    /// fixtures/gguf/tokenizer_golden.json (fixtures/scripts/make_gguf_tokenizer_golden.py).
    static func golden() throws -> JSONValue {
        try JSONValue.parse(String(contentsOfFile: fixturesFolder() + "/gguf/tokenizer_golden.json", encoding: .utf8))
    }

    @Test("the test vocabulary gives llama.cpp's converter's tokens, merges and special ids; special:false ids are user-defined")
    func converterGolden() throws {
        let golden = try Self.golden()
        let config = try #require(golden["config"])
        let vocab = try #require(config["vocab_size"]?.intValue)
        let input = try #require(
            try TokenizerInput.load(
                folder: try Self.testVocabularyFolder(), vocabSize: vocab, bos: config["bos_token_id"]?.intValue,
                eos: config["eos_token_id"]?.intValue, pad: config["pad_token_id"]?.intValue))
        let kv = TokenizerMetadata.keys(input)
        func value(_ k: String) -> GGUFValue? { kv.first { $0.key == k }?.value }
        let tokens = value("tokenizer.ggml.tokens")?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(tokens == golden["tokens"]?.elements?.compactMap(\.stringValue))
        #expect(tokens.count == vocab && tokens[2303] == "[PAD]" && tokens[2304] == "[PAD2304]")
        let merges = value("tokenizer.ggml.merges")?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(merges.count == 1792)
        #expect(merges == golden["merges"]?.elements?.compactMap(\.stringValue))
        // The converter's types, except that special:false entries (tool-call markers, <think>) stay visible.
        let visible = Set(golden["special_false_ids"]?.elements?.compactMap(\.intValue) ?? [])
        #expect(visible == [2059, 2060, 2061, 2062, 2063, 2070, 2071])
        let expectedTypes = (golden["token_type"]?.elements?.compactMap(\.intValue) ?? []).enumerated().map {
            visible.contains($0.offset) ? 4 : $0.element
        }
        let types = value("tokenizer.ggml.token_type")?.arrayValue?.compactMap(\.integerValue).map(Int.init) ?? []
        #expect(types == expectedTypes)
        #expect(tokens[2061] == "<|tool_call_begin|>" && types[2061] == 4 && tokens[2070] == "<think>" && types[2070] == 4)
        #expect(tokens[2048] == "[BOS]" && types[2048] == 3 && tokens[2053] == "<|reserved_token_2053|>" && types[2053] == 3)
        #expect(types[2305] == 5 && types[0] == 1)
        // gguf-py SpecialVocab: ids from config.json, add_bos_token and the template from tokenizer_config.json.
        let ids = try #require(golden["special_token_ids"])
        #expect(value("tokenizer.ggml.bos_token_id") == ids["bos"]?.intValue.map { .uint32(UInt32($0)) })
        #expect(value("tokenizer.ggml.eos_token_id") == ids["eos"]?.intValue.map { .uint32(UInt32($0)) })
        #expect(value("tokenizer.ggml.padding_token_id") == ids["pad"]?.intValue.map { .uint32(UInt32($0)) })
        #expect(value("tokenizer.ggml.add_bos_token") == golden["add_special_token"]?["bos"]?.boolValue.map(GGUFValue.bool))
        #expect(value("tokenizer.chat_template") == golden["chat_template"]?.stringValue.map(GGUFValue.string))
    }

    @Test("the golden was made from the committed test vocabulary")
    func goldenSource() throws {
        let golden = try Self.golden()
        for name in ["tiktoken.model", "tokenizer_config.json"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: fixturesFolder() + "/tokenizer/model/" + name))
            let hex = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            #expect(golden["source_sha256"]?[name]?.stringValue == hex, "\(name)")
        }
    }

    @Test("chat_template.jinja is the template when tokenizer_config.json has none; no tiktoken.model gives nil")
    func jinjaTemplate() throws {
        let folder = temporaryFolder("gguf-tokenizer")
        let model = fixturesFolder() + "/tokenizer/model"
        for name in ["tiktoken.model", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: model + "/" + name, toPath: folder + "/" + name)
        }
        try "{{ jinja }}".write(toFile: folder + "/chat_template.jinja", atomically: true, encoding: .utf8)
        let input = try #require(try TokenizerInput.load(folder: folder, vocabSize: 2304, bos: nil, eos: nil, pad: nil))
        #expect(input.chatTemplate == "{{ jinja }}" && input.addBosToken == nil && input.bosTokenId == nil)
        #expect(input.tokens.count == 2304 && !input.kinds.contains(.unused))
        #expect(try TokenizerInput.load(folder: temporaryFolder(), vocabSize: 10, bos: nil, eos: nil, pad: nil) == nil)
    }

    @Test("a vocabulary larger than config.json's vocab_size, or a broken tiktoken.model, is refused")
    func refused() throws {
        let folder = try Self.testVocabularyFolder()
        #expect(
            throws: TokenizerError.exceedsVocabularySize(
                file: folder, reason: "2048 ranks + 256 special slots exceed config.json vocab_size 2300")
        ) {
            try TokenizerInput.load(folder: folder, vocabSize: 2300, bos: nil, eos: nil, pad: nil)
        }
        try "not base64 at all\n".write(toFile: folder + "/tiktoken.model", atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.malformedLine(file: folder + "/tiktoken.model", line: 1, text: "not base64 at all")) {
            try TokenizerInput.load(folder: folder, vocabSize: 2310, bos: nil, eos: nil, pad: nil)
        }
    }
}
