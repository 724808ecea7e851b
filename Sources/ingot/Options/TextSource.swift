import ArgumentParser
import BundleFormat
import Foundation
import Inference
import TensorIO
import Tokenizer

/// The folder that holds a model's tokenizer files (``modelFilesFolder(_:)``).
func tokenizerFolder(_ model: String) throws -> String { try modelFilesFolder(model) }

/// The model's K2 tokenizer (tiktoken.model + tokenizer_config.json beside the weights).
func loadTokenizer(_ model: String) throws -> BPETokenizer {
    try BPETokenizer(folder: try tokenizerFolder(model))
}

/// `--text FILE` (tokenized by the model's tokenizer, special names as plain text) or `--tokens-file FILE`
/// (token ids, comma/space/newline separated).
struct TextOptions: ParsableArguments {
    @Option(help: "A UTF-8 text file, tokenized with the model's tokenizer.")
    var text: String?

    @Option(help: "A file of token ids (comma, space or newline separated) instead of --text.")
    var tokensFile: String?

    func validate() throws {
        guard text == nil || tokensFile == nil else { throw ValidationError("give --text or --tokens-file, not both") }
    }

    /// True when a text or token file was given.
    var given: Bool { text != nil || tokensFile != nil }

    /// The token stream.
    func tokens(model: String) throws -> [Int] {
        guard given else { throw ValidationError("give --text FILE or --tokens-file FILE") }
        if let tokensFile {
            let data = try FileContents.read(tokensFile)
            return try parseTokenList(String(decoding: data, as: UTF8.self), flag: "--tokens-file")
        }
        let data = try FileContents.read(text!)
        let tokenizer = try loadTokenizer(model)
        return tokenizer.encode(String(decoding: data, as: UTF8.self), allowSpecial: false)
    }
}
