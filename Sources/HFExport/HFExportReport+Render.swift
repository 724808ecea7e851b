import Foundation
public import TensorIO

extension HFExportReport {
    /// The human-readable report of an export that took `seconds`.
    public func text(seconds: Double) -> String {
        var lines = [
            "wrote \(output) from the \(sourceKind) \(source) in " + String(format: "%.1f s", seconds)
                + ": config.json model_type \(sourceModelType.isEmpty ? "(none)" : sourceModelType) → deepseek_v3"
        ]
        let files = { (n: Int) in n == 1 ? "1 file" : "\(n) files" }
        if !linkedFiles.isEmpty {
            lines.append("weights: \(files(linkedFiles.count)) hard-linked to the source's (\(formatBytes(weightBytes)))")
        }
        if !writtenFiles.isEmpty {
            lines.append(
                "weights: \(files(writtenFiles.count)) \(sourceKind == "bundle" ? "unpacked" : "copied") (\(formatBytes(weightBytes)))")
        }
        if vocabularyTokens > 0 {
            lines.append(
                "tokenizer.json: \(vocabularyTokens) tokens, \(merges) merges, \(addedTokens) added tokens; "
                    + (chatTemplate ? "chat template in tokenizer_config.json" : "no chat template in the source"))
        } else {
            lines.append("note: the source has no tiktoken.model; the folder has no tokenizer")
        }
        return lines.joined(separator: "\n")
    }

    /// The report as JSON (`ingot export hf --json`).
    public func json(seconds: Double) -> JSONValue {
        let files = { (names: [String]) in JSONValue.array(names.map { .string($0) }) }
        return .object([
            ("source", .string(source)), ("source_kind", .string(sourceKind)), ("output", .string(output)),
            ("source_model_type", .string(sourceModelType)), ("model_type", .string("deepseek_v3")),
            ("linked_files", files(linkedFiles)), ("written_files", files(writtenFiles)),
            ("weight_bytes", .number(String(weightBytes))), ("tokenizer_tokens", .number(String(vocabularyTokens))),
            ("tokenizer_merges", .number(String(merges))), ("tokenizer_added_tokens", .number(String(addedTokens))),
            ("chat_template", .bool(chatTemplate)), ("seconds", .number(String(format: "%.3f", seconds))),
        ])
    }
}
