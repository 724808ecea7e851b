public import ArgumentParser
public import Chat
import Foundation
import TensorIO

extension Ingot {
    struct ToolCallsParse: IngotCommand {
        static let configuration = CommandConfiguration(
            commandName: "parse",
            abstract: "Split K2 output into reasoning, content and tool calls (vLLM's kimi_k2 rules).",
            discussion: """
                With --tools (a request file with "tools", or a tools array), bare-counter ids are named from the \
                declared tools and each call's arguments are validated against its schema as K2-Vendor-Verifier does. \
                Exit 1 when a call has arguments that are not JSON, is cut off, or fails its schema.
                """)

        @Option(help: "The model output text.")
        var text: String?
        @Option(help: "A file holding the model output text.")
        var file: String?
        @Option(help: "Reasoning split: auto (when the text starts with <think>), on, off.")
        var reasoning: ToolCallParser.ReasoningMode = .auto
        @Option(help: "A JSON file: an OpenAI request with \"tools\", or the tools array.")
        var tools: String?
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (text == nil) != (file == nil) else { throw ValidationError("give exactly one of --text and --file") }
        }

        func execute() throws {
            let input: String
            if let text {
                input = text
            } else {
                let data = try FileContents.read(file!)
                input = String(decoding: data, as: UTF8.self)
            }
            var declared: [JSONValue]?
            if let tools {
                let data = try FileContents.read(tools)
                let json = try data.withUnsafeBytes { try JSONValue.parse($0) }
                declared = json.elements ?? json["tools"]?.elements ?? []
            }
            let parser = ToolCallParser(reasoning: reasoning, tools: declared.map(ToolSignature.from(tools:)))
            let parsed = parser.parse(input)
            var findings = 0
            var calls: [JSONValue] = []
            for call in parsed.toolCalls {
                let problems =
                    declared.map { JSONSchemaValidator.validateToolCall(name: call.name, arguments: call.arguments, tools: $0) } ?? []
                if !call.argumentsAreValidJSON || !call.isComplete || !problems.isEmpty { findings += 1 }
                var members: [(key: String, value: JSONValue)] = [
                    ("index", .int(call.index)), ("id", .string(call.id)), ("name", .string(call.name)),
                    ("arguments", .string(call.arguments)), ("valid_json", .bool(call.argumentsAreValidJSON)),
                    ("complete", .bool(call.isComplete)),
                ]
                if declared != nil { members.append(("schema_errors", .array(problems.map { .string($0.description) }))) }
                calls.append(.object(members))
            }
            let optional = { (s: String?) -> JSONValue in s.map(JSONValue.string) ?? .null }
            if output.json {
                let document: JSONValue = .object([
                    ("reasoning", optional(parsed.reasoning)), ("content", optional(parsed.content)),
                    ("tool_calls", .array(calls)), ("trailing", optional(parsed.trailing)),
                ])
                print(document.prettyText)
            } else {
                if let r = parsed.reasoning { print("reasoning  \(JSONValue.quote(r))") }
                print("content    \(parsed.content.map(JSONValue.quote) ?? "none")")
                for call in parsed.toolCalls {
                    let flags = [call.argumentsAreValidJSON ? nil : "invalid JSON", call.isComplete ? nil : "cut off"].compactMap { $0 }
                    print(
                        "call \(call.index)     \(call.name) id=\(call.id) \(call.arguments)\(flags.isEmpty ? "" : "  [\(flags.joined(separator: ", "))]")"
                    )
                }
                if let t = parsed.trailing { print("trailing   \(JSONValue.quote(t))") }
            }
            if findings > 0 { throw ExitCode(1) }
        }
    }
}

extension ToolCallParser.ReasoningMode: ExpressibleByArgument {}
