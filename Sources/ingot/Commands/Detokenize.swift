import ArgumentParser
import TensorIO
import Tokenizer

extension Ingot {
    struct Detokenize: IngotCommand {
        static let configuration = CommandConfiguration(
            abstract: "The text of token ids (invalid UTF-8 becomes U+FFFD, as HF decodes).",
            discussion: "Special ids print as their names (<|im_end|>, <|tool_call_begin|>, ...). Exit 2 for an id outside the vocabulary.")

        @Argument(help: "A folder with tiktoken.model and tokenizer_config.json.")
        var model: String
        @Option(help: "Comma-separated token ids, e.g. 1,2,3.")
        var ids: String
        @Option(help: "Special block size after the base ranks: 256 (K2) or 258.")
        var reservedSlots = 256
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard parsedIDs != nil else { throw ValidationError("--ids must be comma-separated integers, got '\(ids)'") }
        }

        var parsedIDs: [Int]? {
            let fields = ids.split(separator: ",").map { $0.trimmingPrefix(" ") }
            let values = fields.compactMap { Int($0) }
            return values.count == fields.count ? values : nil
        }

        func execute() throws {
            let tokenizer = try BPETokenizer(folder: model, reservedSlots: reservedSlots)
            let list = parsedIDs ?? []
            let bytes = try tokenizer.decodeBytes(list)
            let text = try tokenizer.decode(list)
            if output.json {
                let document: JSONValue = .object([
                    ("text", .string(text)), ("valid_utf8", .bool(String(validating: bytes, as: UTF8.self) != nil)),
                    ("tokens", .int(list.count)),
                ])
                print(document.compactText)
            } else {
                print(text)
            }
        }
    }
}
