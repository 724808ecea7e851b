public import ArgumentParser
public import Chat
import Foundation
import TensorIO
import Tokenizer

extension Ingot {
    struct ChatRender: IngotCommand {
        static let configuration = CommandConfiguration(
            commandName: "render",
            abstract: "The exact prompt K2's chat template gives an OpenAI chat request (messages, tools).",
            discussion: """
                Prints the prompt string exactly (no newline added), or with --ids its token ids as a JSON array. \
                The generation prompt <|im_assistant|>assistant<|im_middle|> is appended unless --no-generation-prompt.
                """)

        @Argument(help: "A folder with tiktoken.model and tokenizer_config.json (used for --ids).")
        var model: String
        @Option(help: "A JSON file with an OpenAI chat request: {\"messages\": [...], \"tools\": [...]}.")
        var request: String
        @Flag(help: "Print the token ids instead of the string.")
        var ids = false
        @Option(help: "Template: thinking (K2-Thinking) or instruct (K2-Instruct).")
        var variant: ChatRenderer.Variant = .thinking
        @Flag(help: "Leave out the generation prompt.")
        var noGenerationPrompt = false
        @Flag(help: "Rewrite history tool-call ids to functions.NAME:IDX (one counter over the conversation), as Moonshot's API does.")
        var normalizeIDs = false
        @OptionGroup var output: OutputOptions

        func execute() throws {
            guard let data = FileManager.default.contents(atPath: request) else {
                throw FileError(path: request, operation: "open", errno: ENOENT)
            }
            var json = try data.withUnsafeBytes { try JSONValue.parse($0) }
            if normalizeIDs, case .object(var members) = json, let k = members.firstIndex(where: { $0.key == "messages" }),
                let messages = members[k].value.elements
            {
                members[k].value = .array(ToolCallIDs.normalize(messages))
                json = .object(members)
            }
            let renderer = ChatRenderer(variant: variant, addGenerationPrompt: !noGenerationPrompt)
            let prompt = try renderer.render(request: json, file: request)
            let tokens = ids || output.json ? try BPETokenizer(folder: model).encode(prompt, allowSpecial: true) : []
            if output.json {
                print(JSONValue.object([("prompt", .string(prompt)), ("ids", .array(tokens.map(JSONValue.int)))]).compactText)
            } else if ids {
                print(JSONValue.array(tokens.map(JSONValue.int)).compactText)
            } else {
                FileHandle.standardOutput.write(Data(prompt.utf8))
            }
        }
    }
}

extension ChatRenderer.Variant: ExpressibleByArgument {}
