import Checkpoint
import Foundation
import TestSupport
import Testing

@testable import Tokenizer

@Suite("K2 pre-tokenizer and vocabulary")
struct TokenizerUnitTests {
    /// Reference §1.2: computed with Python `regex` in V1 mode.
    static let pins: [(String, [String])] = [
        ("HELLOWorld", ["HELLOWorld"]),
        ("ABC汉DEF", ["ABC", "汉", "DEF"]),
        ("Don't stop", ["Don't", " stop"]),
        ("  leading", [" ", " leading"]),
        ("trailing  ", ["trailing", "  "]),
        ("multiple   spaces", ["multiple", "  ", " spaces"]),
        ("tabs\tand\nnewlines\r\nok", ["tabs", "\tand", "\n", "newlines", "\r\n", "ok"]),
        ("1234567890", ["123", "456", "789", "0"]),
        ("CamelCaseWord", ["Camel", "Case", "Word"]),
        ("I'LL", ["I'LL"]),
        (#"{"city": "Beijing"}"#, [#"{""#, "city", #"":"#, #" ""#, "Beijing", #""}"#]),
    ]

    @Test("pre-token pins of the reference", arguments: 0..<pins.count)
    func pin(index: Int) {
        let (text, pieces) = Self.pins[index]
        #expect(BPETokenizer.preTokenize(text) == pieces)
    }

    /// Reference §1.6: K2's real tokens for this text (two implementations agreed). Tokens never cross a
    /// pre-token boundary, so every boundary of our pre-tokens must be a boundary of these tokens.
    @Test("pre-token boundaries are token boundaries of the known-good K2 id vector")
    func knownGoodVector() {
        let tokens = [
            "Hello", "世界", "!", " ", "今天是", "202", "4", "年", "3", "月", "15", "日", "。", " The", " weather", " is", " ", "晴朗",
            " (", "s", "unny", ")", " with", " ", "温度", "23", "°C", ".", " ", "我们去", "Mc", "Donald", "'s", "吃午饭", "吧", "？",
            " Email", " me", " at", ":", " test", "用户", "@", "example", ".com", " ", "或者", "visit", " https", "://", "测试",
            "网站", ".cn", "/page", "123", ".",
        ]
        let text = tokens.joined()
        let pieces = BPETokenizer.preTokenize(text)
        #expect(pieces.joined() == text)
        func boundaries(_ parts: [String]) -> Set<Int> {
            var offsets: Set<Int> = [0]
            var offset = 0
            for part in parts {
                offset += part.unicodeScalars.count
                offsets.insert(offset)
            }
            return offsets
        }
        #expect(boundaries(pieces).isSubset(of: boundaries(tokens)), "\(pieces)")
    }

    @Test("Script=Han, not Script_Extensions: U+3002 is punctuation; 々 and 〇 are Han")
    func hanIsScript() {
        #expect(BPETokenizer.preTokenize("晴朗。好") == ["晴朗", "。", "好"])
        #expect(BPETokenizer.preTokenize("〇々x") == ["〇々", "x"])
    }

    @Test("\\s is White_Space: U+000B and U+0085 are whitespace, U+200B is not")
    func whiteSpace() {
        #expect(BPETokenizer.preTokenize("a\u{0B}\u{0B}b") == ["a", "\u{0B}", "\u{0B}b"])
        #expect(BPETokenizer.preTokenize("a\u{85}\u{85}") == ["a", "\u{85}\u{85}"])
        #expect(BPETokenizer.preTokenize("a\u{200B}b") == ["a", "\u{200B}b"])
    }

    @Test("contractions are case-insensitive, and 's also matches long s (U+017F)")
    func contractions() {
        #expect(BPETokenizer.preTokenize("IT'S it'ſ we'Re") == ["IT'S", " it'ſ", " we'Re"])
    }

    @Test("special ids: named slots from added_tokens_decoder, reserved names for the rest")
    func specialBlock() {
        let t = Golden.tokenizer
        #expect(t.numBaseTokens == 2048)
        #expect(t.specialTokens.count == 256)
        #expect(t.specialID("<|im_end|>") == 2048 + 2)
        #expect(t.specialID("<|reserved_token_2053|>") == 2053)
        #expect(t.specialID("<|tool_call_begin|>") == 2048 + 13)
        #expect(t.specialTokens[13].isSpecial == false)
        #expect(t.specialTokens[0].isSpecial)
        #expect(t.specialID("<|reserved_token_2050|>") == nil)
        #expect(t.bytes(forID: 2048 + 22) == Array("<think>".utf8))
        #expect(t.bytes(forID: t.vocabularySize) == nil)
        #expect(t.id(forBytes: [0x61]) != nil)
        #expect(throws: TokenizerError.unknownID(99999)) { try t.decode([1, 99999]) }
    }

    @Test("heap merge equals tiktoken's scanning merge on random pieces")
    func heapEqualsScan() {
        var rng = SplitMix64(seed: 7)
        let alphabet = Array("aab abc the er in 汉字 ing".utf8)
        for _ in 0..<300 {
            let n = 2 + Int(rng.next() % 300)
            let piece = (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            var scan: [Int] = []
            var heap: [Int] = []
            var scratch: [Int] = []
            piece.withUnsafeBufferPointer { buffer in
                BytePairMerge.encodeByScanning(buffer, ranks: Golden.tokenizer.rankTableForTests, scratch: &scratch, output: &scan)
                BytePairMerge.encodeWithHeap(buffer, ranks: Golden.tokenizer.rankTableForTests, output: &heap)
            }
            #expect(scan == heap, "\(String(decoding: piece, as: UTF8.self))")
        }
    }

    @Test("a tiktoken.model line that is not 'base64 rank' is rejected with its line number")
    func malformedLine() {
        let model = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }.joined(separator: "\n") + "\nnot-a-line\n"
        #expect(throws: TokenizerError.malformedLine(file: "m", line: 257, text: "not-a-line")) {
            try BPETokenizer(tiktokenModel: Array(model.utf8), file: "m", addedTokens: [:])
        }
    }

    @Test("a vocabulary without every single byte is rejected")
    func missingByte() {
        let model = (0..<255).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }.joined(separator: "\n")
        #expect(throws: TokenizerError.missingByte(file: "m", byte: 255)) {
            try BPETokenizer(tiktokenModel: Array(model.utf8), file: "m", addedTokens: [:])
        }
    }

    @Test("duplicate ranks and duplicate tokens are rejected")
    func duplicates() {
        let bytes = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
        #expect(throws: TokenizerError.duplicateRank(file: "m", line: 257, rank: 3)) {
            try BPETokenizer(tiktokenModel: Array((bytes + ["YWI= 3"]).joined(separator: "\n").utf8), file: "m", addedTokens: [:])
        }
        #expect(throws: TokenizerError.duplicateToken(file: "m", line: 257)) {
            try BPETokenizer(tiktokenModel: Array((bytes + ["YQ== 300"]).joined(separator: "\n").utf8), file: "m", addedTokens: [:])
        }
    }

    @Test("a folder without tokenizer files names the missing file")
    func missingFiles() {
        let folder = temporaryFolder()
        #expect(throws: TokenizerError.unreadable(file: folder + "/tiktoken.model", reason: "no such file")) {
            try BPETokenizer(folder: folder)
        }
    }

    @Test("a config whose added_tokens_decoder is not an object is rejected")
    func badConfig() throws {
        let folder = temporaryFolder()
        try FileManager.default.copyItem(
            atPath: Golden.folder + "/model/tiktoken.model", toPath: folder + "/tiktoken.model")
        try Data(#"{"added_tokens_decoder": [1]}"#.utf8).write(to: URL(fileURLWithPath: folder + "/tokenizer_config.json"))
        #expect(
            throws: TokenizerError.invalidConfig(
                file: folder + "/tokenizer_config.json", reason: "added_tokens_decoder is a array, expected an object")
        ) {
            try BPETokenizer(folder: folder)
        }
    }
}

extension BPETokenizer {
    var rankTableForTests: RankTable { rankTable }
}
