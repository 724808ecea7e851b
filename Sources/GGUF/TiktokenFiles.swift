import Foundation
import TensorIO

/// A minimal reader for a Kimi tokenizer folder: `tiktoken.model` (one `base64-token rank` per line) and
/// `tokenizer_config.json` (`added_tokens_decoder`, `add_bos_token`, `chat_template`), plus `chat_template.jinja`
/// when present. It exists only so the export does not depend on the Tokenizer module, which should replace it.
///
/// Special ids follow Kimi's `tokenization_kimi.py`: every id from the number of BPE ranks up to the vocabulary
/// size is a special token, named by `added_tokens_decoder` or `<|reserved_token_{id}|>`.
public enum TiktokenFiles {
    /// The tokenizer in `folder`, or nil when it has no `tiktoken.model`.
    ///
    /// - Parameters:
    ///   - vocabSize: ids 0..<vocabSize get an entry (config.json's `vocab_size`).
    ///   - bos, eos, pad: special ids from config.json.
    /// - Throws: ``GGUFError/invalidTokenizer(file:reason:)`` naming the file and line.
    public static func load(folder: String, vocabSize: Int, bos: Int?, eos: Int?, pad: Int?) throws -> TokenizerInput? {
        let modelPath = (folder as NSString).appendingPathComponent("tiktoken.model")
        guard FileManager.default.fileExists(atPath: modelPath) else { return nil }
        let mapping = try MappedFile(path: modelPath)
        var tokens = [[UInt8]](repeating: [], count: vocabSize)
        var kinds = [TokenizerInput.Kind](repeating: .unused, count: vocabSize)
        var rankCount = 0
        var lineNumber = 0
        // The mapping must outlive every slice of it taken below.
        defer { withExtendedLifetime(mapping) {} }
        for line in mapping.bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            lineNumber += 1
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count == 2, let base64 = String(bytes: fields[0], encoding: .ascii),
                let data = Data(base64Encoded: base64), let rankText = String(bytes: fields[1], encoding: .ascii),
                let rank = Int(rankText.trimmingCharacters(in: .whitespaces)), rank >= 0
            else {
                throw GGUFError.invalidTokenizer(file: modelPath, reason: "line \(lineNumber) is not 'BASE64 RANK'")
            }
            guard rank < vocabSize else {
                throw GGUFError.invalidTokenizer(file: modelPath, reason: "line \(lineNumber): rank \(rank) ≥ vocab_size \(vocabSize)")
            }
            guard kinds[rank] == .unused else {
                throw GGUFError.invalidTokenizer(file: modelPath, reason: "line \(lineNumber): rank \(rank) appears twice")
            }
            tokens[rank] = Array(data)
            kinds[rank] = .normal
            rankCount = max(rankCount, rank + 1)
        }
        let configPath = (folder as NSString).appendingPathComponent("tokenizer_config.json")
        var decoder: [Int: (content: String, special: Bool)] = [:]
        var addBos: Bool?
        var addEos: Bool?
        var template: String?
        if FileManager.default.fileExists(atPath: configPath) {
            let json: JSONValue
            do {
                let configMapping = try MappedFile(path: configPath)
                json = try withExtendedLifetime(configMapping) { try JSONValue.parse(configMapping.bytes) }
            } catch {
                throw GGUFError.invalidTokenizer(file: configPath, reason: "not valid JSON: \(error)")
            }
            for (key, entry) in json["added_tokens_decoder"]?.members ?? [] {
                guard let id = Int(key), let content = entry["content"]?.stringValue else {
                    throw GGUFError.invalidTokenizer(file: configPath, reason: "added_tokens_decoder['\(key)'] has no id or content")
                }
                decoder[id] = (content, entry["special"]?.boolValue ?? true)
            }
            addBos = json["add_bos_token"]?.boolValue
            addEos = json["add_eos_token"]?.boolValue
            template = json["chat_template"]?.stringValue
        }
        let jinja = (folder as NSString).appendingPathComponent("chat_template.jinja")
        if template == nil, let text = try? String(contentsOfFile: jinja, encoding: .utf8) { template = text }
        for id in rankCount..<vocabSize {
            let entry = decoder[id]
            tokens[id] = Array((entry?.content ?? "<|reserved_token_\(id)|>").utf8)
            kinds[id] = entry?.special == false ? .userDefined : .control
        }
        return TokenizerInput(
            tokens: tokens, kinds: kinds, bosTokenId: bos, eosTokenId: eos, padTokenId: pad, addBosToken: addBos,
            addEosToken: addEos, chatTemplate: template)
    }
}
