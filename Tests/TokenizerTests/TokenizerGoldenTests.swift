import Checkpoint
import Foundation
import TensorIO
import TestSupport
import Testing

@testable import Tokenizer

/// The test vocabulary and golden ids from Python tiktoken (fixtures/scripts/make_tokenizer_golden.py).
enum Golden {
    static let folder = fixturesFolder() + "/tokenizer"
    static let tokenizer: BPETokenizer = {
        do { return try BPETokenizer(folder: folder + "/model") } catch { preconditionFailure("\(error)") }
    }()
    static let json: JSONValue = {
        guard let data = FileManager.default.contents(atPath: folder + "/golden.json") else { preconditionFailure("golden.json") }
        do { return try data.withUnsafeBytes { try JSONValue.parse($0) } } catch { preconditionFailure("\(error)") }
    }()

    /// A corpus case's text: given, or built from its recipe (prefix + repeat × count + suffix).
    static func text(_ item: JSONValue) -> String {
        if let text = item["text"]?.stringValue { return text }
        let recipe = item["recipe"]!
        let repeated = String(repeating: recipe["repeat"]!.stringValue!, count: recipe["count"]!.intValue!)
        return (recipe["prefix"]?.stringValue ?? "") + repeated + (recipe["suffix"]?.stringValue ?? "")
    }

    static func ints(_ value: JSONValue?) -> [Int] { value?.elements?.map { $0.intValue! } ?? [] }

    /// FNV-1a-64 of the ids joined by ",", as the script digests long and random cases.
    static func digest(_ ids: [Int]) -> String {
        let hex = String(SplitMix64.hash(ids.map(String.init).joined(separator: ",")), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The script's random strings: SplitMix64(seed); length next() % 257; entries alphabet[next() % count].
    static func randomStrings() -> [String] {
        let random = json["random"]!
        let alphabet = random["alphabet"]!.elements!.map { $0.stringValue! }
        var rng = SplitMix64(seed: random["seed"]!.uint64Value!)
        return (0..<random["count"]!.intValue!).map { _ in
            let n = Int(rng.next() % 257)
            return (0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined()
        }
    }
}

@Suite("K2 tokenizer against Python tiktoken")
struct TokenizerGoldenTests {
    static let caseNames: [String] = Golden.json["cases"]!.elements!.map { $0["name"]!.stringValue! }

    @Test("corpus case gives tiktoken's ids, specials allowed and not", arguments: caseNames)
    func corpusCase(name: String) throws {
        let item = try #require(Golden.json["cases"]!.elements!.first { $0["name"]?.stringValue == name })
        let text = Golden.text(item)
        for (key, allow) in [("allow", true), ("disallow", false)] {
            let ids = Golden.tokenizer.encode(text, allowSpecial: allow)
            let expected = try #require(item[key])
            if expected.elements != nil {
                #expect(ids == Golden.ints(expected), "\(name) \(key)")
            } else {
                #expect(ids.count == expected["count"]!.intValue!, "\(name) \(key)")
                #expect(Array(ids.prefix(64)) == Golden.ints(expected["head"]), "\(name) \(key)")
                #expect(Array(ids.suffix(64)) == Golden.ints(expected["tail"]), "\(name) \(key)")
                #expect(Golden.digest(ids) == expected["digest"]!.stringValue!, "\(name) \(key)")
            }
            #expect(try Golden.tokenizer.decode(ids) == text, "\(name) \(key) round trip")
        }
    }

    @Test("1,000 seeded random strings give tiktoken's ids (digests) and decode back")
    func randomStrings() throws {
        let digests = Golden.json["random"]!["digests"]!.elements!
        let strings = Golden.randomStrings()
        #expect(strings.count == 1000 && digests.count == 1000)
        var mismatches: [Int] = []
        for (i, text) in strings.enumerated() {
            let allow = Golden.tokenizer.encode(text, allowSpecial: true)
            let disallow = Golden.tokenizer.encode(text, allowSpecial: false)
            let expected = digests[i].elements!.map { $0.stringValue! }
            if Golden.digest(allow) != expected[0] || Golden.digest(disallow) != expected[1] { mismatches.append(i) }
            #expect(try Golden.tokenizer.decode(allow) == text)
            #expect(try Golden.tokenizer.decode(disallow) == text)
        }
        #expect(mismatches.isEmpty, "random strings with different ids: \(mismatches.prefix(20))")
    }

    @Test("decode replaces invalid UTF-8 with U+FFFD exactly as Python's errors='replace'")
    func decodeReplacement() throws {
        for item in Golden.json["decode"]!.elements! {
            let ids = Golden.ints(item["ids"])
            #expect(try Golden.tokenizer.decode(ids) == item["text"]!.stringValue!, "\(ids)")
        }
    }

    @Test("the 258-slot block adds two reserved names; 256 slots encode them as text")
    func slots258() throws {
        let wide = try BPETokenizer(folder: Golden.folder + "/model", reservedSlots: 258)
        for item in Golden.json["slots258"]!.elements! {
            let text = item["text"]!.stringValue!
            #expect(Golden.tokenizer.encode(text) == Golden.ints(item["ids256"]))
            #expect(wide.encode(text) == Golden.ints(item["ids258"]))
        }
        #expect(wide.vocabularySize == Golden.tokenizer.vocabularySize + 2)
    }
}
