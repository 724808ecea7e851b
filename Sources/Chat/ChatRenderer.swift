public import TensorIO
public import Tokenizer

/// Renders an OpenAI-style chat request (`messages`, `tools`) into the exact prompt K2's chat template
/// produces under HF `apply_chat_template` (docs/chat-and-tokenizer.md, "Chat format").
public struct ChatRenderer: Sendable {
    /// Which template.
    public enum Variant: String, Sendable, CaseIterable {
        /// K2-Thinking: `<think>` blocks, compact tool JSON.
        case thinking
        /// K2-Instruct (0905 lineage): no `<think>`, tool JSON with Python's default separators.
        case instruct
    }

    /// K2-Thinking's default system prompt (HF commit 6126819, "fix-default-system-prompt").
    public static let defaultSystemPrompt = "You are Kimi, an AI assistant created by Moonshot AI."

    public var variant: Variant
    public var systemPrompt: String
    public var addGenerationPrompt: Bool

    public init(variant: Variant = .thinking, systemPrompt: String = defaultSystemPrompt, addGenerationPrompt: Bool = true) {
        self.variant = variant
        self.systemPrompt = systemPrompt
        self.addGenerationPrompt = addGenerationPrompt
    }

    /// Renders a request object: `{"messages": [...], "tools": [...]}`.
    public func render(request: JSONValue, file: String = "request") throws(ChatError) -> String {
        guard case .object = request else { throw .invalidRequest(file: file, reason: "expected a JSON object, found \(request.kindName)") }
        guard let messages = request["messages"]?.elements else {
            throw .invalidRequest(file: file, reason: "expected a 'messages' array")
        }
        let tools = request["tools"]
        if let tools, tools != .null, tools.elements == nil {
            throw .invalidRequest(file: file, reason: "'tools' is a \(tools.kindName), expected an array")
        }
        return try render(messages: messages, tools: tools?.elements ?? [])
    }

    /// Renders messages and tools (OpenAI chat format).
    public func render(messages: [JSONValue], tools: [JSONValue]) throws(ChatError) -> String {
        var out = ""
        if !tools.isEmpty {
            let json = PythonJSON.dumps(.array(tools), separators: variant == .thinking ? .compact : .spaced, sortKeys: true)
            out += "<|im_system|>tool_declare<|im_middle|>" + json + "<|im_end|>"
        }
        if messages.first?["role"]?.stringValue != "system" {
            out += "<|im_system|>system<|im_middle|>" + systemPrompt + "<|im_end|>"
        }
        // The last assistant message without tool calls: reasoning is kept only after it.
        var lastPlainAssistant = -1
        for (i, message) in messages.enumerated() where message["role"]?.stringValue == "assistant" {
            if (message["tool_calls"]?.elements ?? []).isEmpty { lastPlainAssistant = i }
        }
        for (i, message) in messages.enumerated() {
            guard case .object = message else { throw .invalidMessage(index: i, reason: "expected an object") }
            guard let role = message["role"]?.stringValue else { throw .invalidMessage(index: i, reason: "no string 'role'") }
            let name = message["name"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? role
            switch role {
            case "user": out += "<|im_user|>" + name + "<|im_middle|>"
            case "assistant": out += "<|im_assistant|>" + name + "<|im_middle|>"
            default: out += "<|im_system|>" + name + "<|im_middle|>"
            }
            let content = try Self.content(message["content"], index: i)
            switch role {
            case "assistant":
                if variant == .thinking {
                    if i <= lastPlainAssistant {
                        out += "<think></think>"
                    } else {
                        let reasoning = message["reasoning_content"]?.stringValue ?? ""
                        out += "<think>" + reasoning + "</think>"
                    }
                }
                out += content
                let calls = message["tool_calls"]?.elements ?? []
                if !calls.isEmpty {
                    out += "<|tool_calls_section_begin|>"
                    for (k, call) in calls.enumerated() {
                        guard let id = call["id"]?.stringValue else {
                            throw .invalidMessage(index: i, reason: "tool_calls[\(k)] has no string 'id'")
                        }
                        let arguments: String
                        switch call["function"]?["arguments"] {
                        case .string(let s)?: arguments = s
                        case let value?: arguments = PythonJSON.dumps(value, separators: .spaced, sortKeys: false)
                        case nil: throw .invalidMessage(index: i, reason: "tool_calls[\(k)] has no function.arguments")
                        }
                        out += "<|tool_call_begin|>" + id + "<|tool_call_argument_begin|>" + arguments + "<|tool_call_end|>"
                    }
                    out += "<|tool_calls_section_end|>"
                }
            case "tool":
                let id = message["tool_call_id"]?.stringValue ?? ""
                out += "## Return of " + id + "\n" + content
            default:
                out += content
            }
            out += "<|im_end|>"
        }
        if addGenerationPrompt { out += "<|im_assistant|>assistant<|im_middle|>" }
        return out
    }

    /// Renders and encodes with special names recognised (as HF tokenizes a rendered template).
    public func renderIDs(request: JSONValue, tokenizer: BPETokenizer, file: String = "request") throws(ChatError) -> [Int] {
        tokenizer.encode(try render(request: request, file: file), allowSpecial: true)
    }

    /// A string as is; a list part by part (the image placeholder, or the part's text); null as nothing.
    static func content(_ value: JSONValue?, index: Int) throws(ChatError) -> String {
        switch value {
        case nil, .null?: return ""
        case .string(let s)?: return s
        case .array(let parts)?:
            var out = ""
            for part in parts {
                // The template's test: type "image", or an "image" / "image_url" key; any other part prints its text.
                if part["type"]?.stringValue == "image" || part["image"] != nil || part["image_url"] != nil {
                    out += "<|media_start|>image<|media_content|><|media_pad|><|media_end|>\n"
                } else {
                    out += part["text"]?.stringValue ?? ""
                }
            }
            return out
        case let other?:
            throw .invalidMessage(index: index, reason: "content is a \(other.kindName); expected a string, a list or null")
        }
    }
}
