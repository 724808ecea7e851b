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
                The generation prompt <|im_assistant|>assistant<|im_middle|> is appended unless --no-generation-prompt. \
                With --requests (one request per line), prints one JSON object per line: {"prompt": ...}, plus "ids" \
                with --ids or --json.
                """)

        @Argument(help: "A folder with tiktoken.model and tokenizer_config.json (used for --ids).")
        var model: String
        @Option(help: "A JSON file with an OpenAI chat request: {\"messages\": [...], \"tools\": [...]}.")
        var request: String?
        @Option(help: "A JSONL file with one OpenAI chat request per line (batch mode, one JSON object out per line).")
        var requests: String?
        @Flag(help: "Print the token ids instead of the string.")
        var ids = false
        @Option(help: "Template: thinking (K2-Thinking) or instruct (K2-Instruct).")
        var variant: ChatRenderer.Variant = .thinking
        @Flag(help: "Leave out the generation prompt.")
        var noGenerationPrompt = false
        @Flag(help: "Rewrite history tool-call ids to functions.NAME:IDX (one counter over the conversation), as Moonshot's API does.")
        var normalizeIDs = false
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (request == nil) != (requests == nil) else {
                throw ValidationError("Give exactly one of --request FILE.json and --requests FILE.jsonl.")
            }
        }

        func execute() throws {
            if let requests { return try renderBatch(requests) }
            let request = request ?? ""
            let data = try FileContents.read(request)
            let json = try data.withUnsafeBytes { try JSONValue.parse($0) }
            let renderer = ChatRenderer(variant: variant, addGenerationPrompt: !noGenerationPrompt)
            let prompt = try renderer.render(request: normalized(json), file: request)
            let tokens = ids || output.json ? try BPETokenizer(folder: model).encode(prompt, allowSpecial: true) : []
            if output.json {
                print(JSONValue.object([("prompt", .string(prompt)), ("ids", .array(tokens.map(JSONValue.int)))]).compactText)
            } else if ids {
                print(JSONValue.array(tokens.map(JSONValue.int)).compactText)
            } else {
                FileHandle.standardOutput.write(Data(prompt.utf8))
            }
        }

        private func normalized(_ json: JSONValue) -> JSONValue {
            guard normalizeIDs, case .object(var members) = json, let k = members.firstIndex(where: { $0.key == "messages" }),
                let messages = members[k].value.elements
            else { return json }
            members[k].value = .array(ToolCallIDs.normalize(messages))
            return .object(members)
        }

        /// Batch mode: one request per non-empty line in (LF or CRLF, docs/evaluation.md "Input files"), one compact
        /// JSON object per line out. A bad line is reported on stderr as FILE:LINE and skipped; any bad line makes
        /// the exit status 1 after the rest are rendered.
        private func renderBatch(_ path: String) throws {
            let file = try JSONLines(path: path)
            let renderer = ChatRenderer(variant: variant, addGenerationPrompt: !noGenerationPrompt)
            let tokenizer = ids || output.json ? try BPETokenizer(folder: model) : nil
            var bad = file.bad
            var out = ""
            for line in file.lines {
                let prompt: String
                do {
                    prompt = try renderer.render(request: normalized(line.value), file: "\(path):\(line.number)")
                } catch let ChatError.invalidRequest(_, reason) {
                    bad.append(JSONLines.BadLine(file: path, line: line.number, reason: reason))
                    continue
                } catch {
                    bad.append(
                        JSONLines.BadLine(
                            file: path, line: line.number, reason: (error as? LocalizedError)?.errorDescription ?? "\(error)"))
                    continue
                }
                var members: [(key: String, value: JSONValue)] = [("prompt", .string(prompt))]
                if let tokenizer {
                    members.append(("ids", .array(tokenizer.encode(prompt, allowSpecial: true).map(JSONValue.int))))
                }
                out += JSONValue.object(members).compactText + "\n"
                if out.utf8.count > 1 << 20 {
                    FileHandle.standardOutput.write(Data(out.utf8))
                    out = ""
                }
            }
            FileHandle.standardOutput.write(Data(out.utf8))
            guard bad.isEmpty else {
                for b in bad.sorted(by: { $0.line < $1.line }) { printNote("error: \(b)") }
                printNote("\(bad.count) of \(file.lines.count + file.bad.count) requests not rendered")
                throw ExitCode(1)
            }
        }
    }
}
