import ArgumentParser
import Foundation
import TensorIO
import Tokenizer

extension Ingot {
    struct Tokenize: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "Token ids of a text with a K2 tokenizer (tiktoken.model + tokenizer_config.json).",
            discussion: "Prints one JSON array of ids per input: the --text, or each line of --file (one JSON string per line).")

        @Argument(help: "A folder with tiktoken.model and tokenizer_config.json.")
        var model: String
        @Option(help: "The text to encode.")
        var text: String?
        @Option(help: "A file with one JSON string per line; each line is encoded on its own.")
        var file: String?
        @Flag(help: "Encode special-token names as ordinary text (HF allow_special_tokens=False).")
        var noSpecial = false
        @Option(help: "Special block size after the base ranks: 256 (K2) or 258 (some Moonshot copies).")
        var reservedSlots = 256
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (text == nil) != (file == nil) else { throw ValidationError("give exactly one of --text and --file") }
            guard reservedSlots >= 1 else { throw ValidationError("--reserved-slots must be at least 1, got \(reservedSlots)") }
        }

        func execute() throws {
            let tokenizer = try BPETokenizer(folder: model, reservedSlots: reservedSlots)
            let inputs = try text.map { [$0] } ?? Self.readLines(file!)
            let ids = inputs.map { tokenizer.encode($0, allowSpecial: !noSpecial) }
            if output.json {
                let document: JSONValue = .object([
                    ("model", .string(model)), ("allow_special", .bool(!noSpecial)),
                    ("ids", .array(ids.map { .array($0.map(JSONValue.int)) })),
                ])
                print(document.compactText)
            } else {
                for line in ids { print(JSONValue.array(line.map(JSONValue.int)).compactText) }
            }
        }

        /// Each non-empty line of `path` as the JSON string it holds.
        static func readLines(_ path: String) throws -> [String] {
            let file = try JSONLines(path: path)
            if let bad = file.bad.first { throw TokenizerError.invalidInputLine(file: path, line: bad.line, reason: bad.reason) }
            return try file.lines.map { line in
                guard let text = line.value.stringValue else {
                    throw TokenizerError.invalidInputLine(file: path, line: line.number, reason: "found a \(line.value.kindName)")
                }
                return text
            }
        }
    }
}
