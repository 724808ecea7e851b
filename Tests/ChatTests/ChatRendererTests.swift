import Foundation
import TensorIO
import Testing

@testable import Chat

/// Parses JSON text written in a test (a typo is a test bug, so it traps).
func json(_ text: String) -> JSONValue {
    do { return try JSONValue.parse(text) } catch { preconditionFailure("test JSON: \(error)") }
}

/// A worked example of the K2-Thinking format (docs/chat-and-tokenizer.md, "Chat format"), as an OpenAI request.
enum WorkedExample {
    static let tools: JSONValue = json(
        #"""
        [{"type": "function", "function": {"name": "get_weather",
          "description": "Get weather information. Call this tool when the user needs to get weather information",
          "parameters": {"type": "object", "required": ["city"],
                         "properties": {"city": {"type": "string", "description": "City name"}}}}}]
        """#)
    static let system: JSONValue = .object([("role", .string("system")), ("content", .string(ChatRenderer.defaultSystemPrompt))])
    static let user: JSONValue = .object([("role", .string("user")), ("content", .string("What's the weather like in Beijing today?"))])
    static let assistantCall: JSONValue = json(
        #"""
        {"role": "assistant", "content": "",
         "reasoning_content": "The user wants the weather in Beijing. I should call get_weather.",
         "tool_calls": [{"id": "functions.get_weather:0", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\": \"Beijing\"}"}}]}
        """#)
    static func toolResult(named: Bool) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [("role", .string("tool")), ("tool_call_id", .string("functions.get_weather:0"))]
        if named { members.append(("name", .string("get_weather"))) }
        members.append(("content", .string(#"{"weather": "Sunny"}"#)))
        return .object(members)
    }

    static let declaration =
        #"<|im_system|>tool_declare<|im_middle|>[{"function":{"description":"Get weather information. Call this tool when the user needs to get weather information","name":"get_weather","parameters":{"properties":{"city":{"description":"City name","type":"string"}},"required":["city"],"type":"object"}},"type":"function"}]<|im_end|>"#
    static let systemTurn = "<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI.<|im_end|>"
    static let userTurn = "<|im_user|>user<|im_middle|>What's the weather like in Beijing today?<|im_end|>"
    static let callSection =
        #"<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Beijing"}<|tool_call_end|><|tool_calls_section_end|>"#
    static let generationPrompt = "<|im_assistant|>assistant<|im_middle|>"
}

@Suite("K2 chat renderer")
struct ChatRendererTests {
    typealias W = WorkedExample

    @Test("the worked example of §2.3 renders to the exact reference string")
    func workedExample() throws {
        let prompt = try ChatRenderer().render(
            messages: [W.system, W.user, W.assistantCall, W.toolResult(named: true)], tools: W.tools.elements!)
        let expected =
            W.declaration + W.systemTurn + W.userTurn
            + "<|im_assistant|>assistant<|im_middle|><think>The user wants the weather in Beijing. I should call get_weather.</think>"
            + W.callSection + "<|im_end|>"
            + "<|im_system|>get_weather<|im_middle|>## Return of functions.get_weather:0\n{\"weather\": \"Sunny\"}<|im_end|>"
            + W.generationPrompt
        #expect(prompt == expected)
    }

    @Test("variant: a tool message without name gets the header <|im_system|>tool<|im_middle|>")
    func toolWithoutName() throws {
        let prompt = try ChatRenderer().render(
            messages: [W.system, W.user, W.assistantCall, W.toolResult(named: false)], tools: W.tools.elements!)
        #expect(
            prompt.hasSuffix(
                "<|im_system|>tool<|im_middle|>## Return of functions.get_weather:0\n{\"weather\": \"Sunny\"}<|im_end|>"
                    + W.generationPrompt))
        #expect(!prompt.contains("<|im_system|>get_weather<|im_middle|>"))
    }

    @Test("variant: after a final answer and a new user turn, every earlier reasoning is dropped")
    func finalAnswerThenUser() throws {
        let answer: JSONValue = .object([
            ("role", .string("assistant")), ("content", .string("It is sunny in Beijing today.")),
            ("reasoning_content", .string("Tool says sunny.")),
        ])
        let thanks: JSONValue = .object([("role", .string("user")), ("content", .string("Thanks!"))])
        let prompt = try ChatRenderer().render(
            messages: [W.system, W.user, W.assistantCall, W.toolResult(named: true), answer, thanks], tools: W.tools.elements!)
        let expected =
            W.declaration + W.systemTurn + W.userTurn
            + "<|im_assistant|>assistant<|im_middle|><think></think>" + W.callSection + "<|im_end|>"
            + "<|im_system|>get_weather<|im_middle|>## Return of functions.get_weather:0\n{\"weather\": \"Sunny\"}<|im_end|>"
            + "<|im_assistant|>assistant<|im_middle|><think></think>It is sunny in Beijing today.<|im_end|>"
            + "<|im_user|>user<|im_middle|>Thanks!<|im_end|>" + W.generationPrompt
        #expect(prompt == expected)
    }

    @Test("variant: no tools and no system message gives the default system prompt only")
    func noToolsNoSystem() throws {
        let prompt = try ChatRenderer().render(request: .object([("messages", .array([W.user]))]))
        #expect(
            prompt
                == "<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI.<|im_end|><|im_user|>user<|im_middle|>What's the weather like in Beijing today?<|im_end|><|im_assistant|>assistant<|im_middle|>"
        )
    }

    @Test("the tool declaration comes before the default system prompt; no generation prompt when off")
    func declarationOrder() throws {
        let prompt = try ChatRenderer(addGenerationPrompt: false).render(messages: [W.user], tools: W.tools.elements!)
        #expect(prompt == W.declaration + W.systemTurn + W.userTurn)
    }

    @Test("K2-Instruct: no <think>, tool JSON with Python's default separators, keys still sorted")
    func instruct() throws {
        let prompt = try ChatRenderer(variant: .instruct).render(
            messages: [W.user, W.assistantCall, W.toolResult(named: true)], tools: W.tools.elements!)
        #expect(
            prompt.hasPrefix(
                #"<|im_system|>tool_declare<|im_middle|>[{"function": {"description": "Get weather information. Call this tool when the user needs to get weather information", "name": "get_weather", "parameters": {"properties": {"city": {"description": "City name", "type": "string"}}, "required": ["city"], "type": "object"}}, "type": "function"}]<|im_end|>"#
            ))
        #expect(prompt.contains("<|im_assistant|>assistant<|im_middle|>" + W.callSection + "<|im_end|>"))
        #expect(!prompt.contains("<think>"))
    }

    @Test("content lists: text parts joined, an empty text part and null render nothing, images give the placeholder")
    func contentLists() throws {
        let messages = try JSONValue.parse(
            #"""
            [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "b"}]},
             {"role": "assistant", "content": [{"type": "text", "text": ""}]},
             {"role": "user", "name": "", "content": null}]
            """#)
        let prompt = try ChatRenderer(addGenerationPrompt: false).render(messages: messages.elements!, tools: [])
        #expect(
            prompt
                == W.systemTurn
                + "<|im_user|>user<|im_middle|>a<|media_start|>image<|media_content|><|media_pad|><|media_end|>\nb<|im_end|>"
                + "<|im_assistant|>assistant<|im_middle|><think></think><|im_end|><|im_user|>user<|im_middle|><|im_end|>")
    }

    @Test("arguments given as an object are written with tojson's default separators, keys in their order")
    func objectArguments() throws {
        let call = try JSONValue.parse(
            #"{"role": "assistant", "tool_calls": [{"id": "functions.f:0", "function": {"name": "f", "arguments": {"b": 1, "a": [true, null, "é"]}}}]}"#
        )
        let prompt = try ChatRenderer().render(messages: [W.user, call], tools: [])
        #expect(prompt.contains(#"<|tool_call_argument_begin|>{"b": 1, "a": [true, null, "é"]}<|tool_call_end|>"#))
        #expect(prompt.contains("<|im_assistant|>assistant<|im_middle|><think></think><|tool_calls_section_begin|>"))
    }

    @Test("a request without messages is rejected naming the file")
    func invalidRequest() {
        #expect(throws: ChatError.invalidRequest(file: "r.json", reason: "expected a 'messages' array")) {
            try ChatRenderer().render(request: .object([]), file: "r.json")
        }
    }
}

@Suite("Python-compatible JSON")
struct PythonJSONTests {
    @Test("keys sort by code point at every depth; non-ASCII stays raw; escapes as json.dumps")
    func sortingAndEscaping() throws {
        let value = try JSONValue.parse(#"{"é": 1, "b": {"z": "\u0001\b\f\n\r\t\"\\\u007f/", "Z": []}, "a": null, "B": {}}"#)
        #expect(
            PythonJSON.dumps(value, separators: .compact, sortKeys: true)
                == #"{"B":{},"a":null,"b":{"Z":[],"z":"\u0001\b\f\n\r\t\"\\"# + "\u{7f}" + #"/"},"é":1}"#)
        #expect(PythonJSON.dumps(.array([.bool(true), .null]), separators: .spaced, sortKeys: false) == "[true, null]")
    }

    @Test(
        "numbers print as Python prints what json.loads made of them",
        arguments: [
            ("10", "10"), ("-0", "0"), ("1.0", "1.0"), ("1.50", "1.5"), ("1e5", "100000.0"), ("1E16", "1e+16"),
            ("1234567890123456.0", "1234567890123456.0"), ("0.0001", "0.0001"), ("0.00001", "1e-05"), ("-2.5e-7", "-2.5e-07"),
            ("123456789012345678901234567890", "123456789012345678901234567890"), ("-0.0", "-0.0"), ("34.0522", "34.0522"),
            ("1.5e300", "1.5e+300"),
        ])
    func numbers(literal: String, python: String) {
        #expect(PythonJSON.number(literal) == python)
    }
}

@Suite("tool-call id normalisation")
struct ToolCallIDTests {
    @Test("history ids become functions.NAME:IDX with one counter over the conversation; tool results follow")
    func normalize() throws {
        let messages = try JSONValue.parse(
            #"""
            [{"role": "user", "content": "q"},
             {"role": "assistant", "tool_calls": [{"id": "search:0", "type": "function", "function": {"name": "search", "arguments": "{}"}},
                                                  {"id": "call_abc", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}]},
             {"role": "tool", "tool_call_id": "search:0", "content": "r1"},
             {"role": "tool", "tool_call_id": "call_abc", "content": "r2"},
             {"role": "assistant", "tool_calls": [{"id": "search:0", "type": "function", "function": {"name": "search", "arguments": "{}"}}]},
             {"role": "tool", "tool_call_id": "search:0", "content": "r3"},
             {"role": "tool", "tool_call_id": "unknown", "content": "r4"}]
            """#
        ).elements!
        let out = ToolCallIDs.normalize(messages)
        #expect(out[1]["tool_calls"]?.elements?.map { $0["id"]!.stringValue! } == ["functions.search:0", "functions.fetch:1"])
        #expect(out[2]["tool_call_id"]?.stringValue == "functions.search:0")
        #expect(out[3]["tool_call_id"]?.stringValue == "functions.fetch:1")
        #expect(out[4]["tool_calls"]?.elements?.first?["id"]?.stringValue == "functions.search:2")
        #expect(out[5]["tool_call_id"]?.stringValue == "functions.search:2")
        #expect(out[6]["tool_call_id"]?.stringValue == "unknown")
        #expect(out[0] == messages[0])
        #expect(ToolCallIDs.make(name: "get_weather", index: 3) == "functions.get_weather:3")
    }
}
