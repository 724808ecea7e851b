public import Foundation
import TensorIO

extension TokenizerInput {
    /// The tokenizer of a model folder, or nil when it has no `tiktoken.model`.
    ///
    /// The vocabulary comes from the Tokenizer module's ``BPETokenizer`` (`tiktoken.model` and the special block
    /// of `tokenizer_config.json`, as Kimi's `tokenization_kimi.py` builds it); the keys gguf-py's `SpecialVocab`
    /// reads besides it (`chat_template`, `add_bos_token`, `add_eos_token`, or `chat_template.jinja` when the config
    /// has no template) come from the same files here.
    ///
    /// - Parameters:
    ///   - folder: the folder with `tiktoken.model` and `tokenizer_config.json`.
    ///   - vocabSize: config.json's `vocab_size`: ids past the tokenizer's vocabulary become unused `[PAD{id}]`.
    ///   - bos, eos, pad: special ids from config.json.
    /// - Throws: ``TokenizerError`` for unreadable or malformed files, and
    ///   ``TokenizerError/exceedsVocabularySize(file:reason:)`` when the tokenizer has more ids than `vocabSize`.
    public static func load(folder: String, vocabSize: Int, bos: Int?, eos: Int?, pad: Int?) throws(TokenizerError) -> TokenizerInput? {
        guard FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("tiktoken.model")) else {
            return nil
        }
        let tokenizer = try BPETokenizer(folder: folder)
        var input = try TokenizerInput(tokenizer: tokenizer, vocabSize: vocabSize, file: folder)
        input.bosTokenId = bos
        input.eosTokenId = eos
        input.padTokenId = pad
        let configPath = (folder as NSString).appendingPathComponent("tokenizer_config.json")
        // BPETokenizer has parsed this file already; only its extra keys are read here.
        if let data = FileManager.default.contents(atPath: configPath),
            let json = try? data.withUnsafeBytes({ try JSONValue.parse($0) })
        {
            input.addBosToken = json["add_bos_token"]?.boolValue
            input.addEosToken = json["add_eos_token"]?.boolValue
            input.chatTemplate = json["chat_template"]?.stringValue
        }
        let jinja = (folder as NSString).appendingPathComponent("chat_template.jinja")
        if input.chatTemplate == nil, let text = try? String(contentsOfFile: jinja, encoding: .utf8) { input.chatTemplate = text }
        return input
    }

    /// The ids 0..<vocabSize of `tokenizer`: base ranks as `.normal` (a rank missing from `tiktoken.model` is
    /// `.unused`), special slots `.control` when `special: true` (unnamed reserved slots included) and
    /// `.userDefined` when `special: false` (`<think>`, the tool-call markers), ids past the special block `.unused`.
    ///
    /// - Throws: ``TokenizerError/exceedsVocabularySize(file:reason:)`` when the tokenizer has more ids than
    ///   `vocabSize`.
    public init(tokenizer: BPETokenizer, vocabSize: Int, file: String = "tokenizer") throws(TokenizerError) {
        guard tokenizer.vocabularySize <= vocabSize else {
            throw .exceedsVocabularySize(
                file: file,
                reason:
                    "\(tokenizer.numBaseTokens) ranks + \(tokenizer.specialTokens.count) special slots exceed config.json vocab_size \(vocabSize)"
            )
        }
        var tokens = [[UInt8]](repeating: [], count: vocabSize)
        var kinds = [Kind](repeating: .unused, count: vocabSize)
        for id in 0..<tokenizer.numBaseTokens {
            guard let bytes = tokenizer.bytes(forID: id) else { continue }
            tokens[id] = bytes
            kinds[id] = .normal
        }
        for special in tokenizer.specialTokens {
            tokens[special.id] = Array(special.name.utf8)
            kinds[special.id] = special.isSpecial ? .control : .userDefined
        }
        self.init(tokens: tokens, kinds: kinds)
    }
}
