import Checkpoint
import Foundation
import TensorIO
import Testing

@testable import Chat

let sectionBegin = "<|tool_calls_section_begin|>"
let sectionEnd = "<|tool_calls_section_end|>"
let callBegin = "<|tool_call_begin|>"
let argumentBegin = "<|tool_call_argument_begin|>"
let callEnd = "<|tool_call_end|>"

/// A call as vLLM's latest test file writes it: `<|tool_call_begin|>{id} <|tool_call_argument_begin|>{args}<|tool_call_end|>`.
func call(_ id: String, _ arguments: String) -> String { callBegin + id + " " + argumentBegin + arguments + callEnd }

/// `(name, arguments)` of each parsed call.
func calls(_ output: ParsedOutput) -> [String] { output.toolCalls.map { "\($0.name) \($0.arguments)" } }

/// Streams `text` in chunks of `size` characters; returns the deltas folded into an output, and the parser.
func stream(_ text: String, size: Int, parser: ToolCallParser = ToolCallParser()) -> (ParsedOutput, StreamingToolCallParser) {
    var streaming = StreamingToolCallParser(parser: parser)
    var deltas: [StreamDelta] = []
    var chunk = ""
    for character in text {
        chunk.append(character)
        if chunk.count == size {
            deltas += streaming.feed(chunk)
            chunk = ""
        }
    }
    if !chunk.isEmpty { deltas += streaming.feed(chunk) }
    deltas += streaming.finish()
    return (fold(deltas), streaming)
}

/// Rebuilds reasoning, content, calls and trailing text from deltas.
func fold(_ deltas: [StreamDelta]) -> ParsedOutput {
    var out = ParsedOutput()
    for delta in deltas {
        switch delta {
        case .reasoning(let s): out.reasoning = (out.reasoning ?? "") + s
        case .content(let s): out.content = (out.content ?? "") + s
        case .trailing(let s): out.trailing = (out.trailing ?? "") + s
        case .toolCallStart(let index, let id, let name):
            #expect(index == out.toolCalls.count, "calls start in order")
            out.toolCalls.append(ToolCall(index: index, id: id, name: name, arguments: "", argumentsAreValidJSON: false, isComplete: false))
        case .toolCallArguments(let index, let s): out.toolCalls[index].arguments += s
        }
    }
    return out
}

/// Streaming at 1, 2, 3, 5, 8 and one chunk gives the whole-text parse (content, reasoning, calls, trailing).
func expectStreamingMatches(_ text: String, parser: ToolCallParser = ToolCallParser(), sourceLocation: SourceLocation = #_sourceLocation) {
    let whole = parser.parse(text)
    for size in [1, 2, 3, 5, 8, max(1, text.count)] {
        let (folded, streaming) = stream(text, size: size, parser: parser)
        #expect(streaming.emitted == whole, "chunk size \(size)", sourceLocation: sourceLocation)
        #expect(folded.reasoning ?? "" == whole.reasoning ?? "", "chunk size \(size)", sourceLocation: sourceLocation)
        #expect(folded.content == whole.content, "chunk size \(size)", sourceLocation: sourceLocation)
        #expect(folded.trailing == whole.trailing, "chunk size \(size)", sourceLocation: sourceLocation)
        #expect(
            folded.toolCalls.map { [$0.id, $0.name, $0.arguments] } == whole.toolCalls.map { [$0.id, $0.name, $0.arguments] },
            "chunk size \(size)", sourceLocation: sourceLocation)
    }
}

@Suite("tool-call parser: vLLM tests/tool_use (03d5dc96, d88f433f)")
struct VLLMToolUseCases {
    @Test("1. plain text: no tools, content unchanged")
    func plain() {
        let out = ToolCallParser().parse("This is a test")
        #expect(out.toolCalls.isEmpty && out.content == "This is a test")
        expectStreamingMatches("This is a test")
    }

    static let single =
        "I'll help you check the weather. <|tool_calls_section_begin|> <|tool_call_begin|>\nfunctions.get_weather:0 <|tool_call_argument_begin|> {\"city\": \"Beijing\"} <|tool_call_end|> <|tool_calls_section_end|>"

    @Test("2. one call with spaces and a newline; content keeps its trailing space")
    func single() {
        let out = ToolCallParser().parse(Self.single)
        #expect(calls(out) == [#"get_weather {"city": "Beijing"}"#])
        #expect(out.toolCalls.first?.id == "functions.get_weather:0")
        #expect(out.content == "I'll help you check the weather. ")
        expectStreamingMatches(Self.single)
    }

    @Test("3. two calls")
    func two() {
        let text = Self.single.replacingOccurrences(
            of: " <|tool_calls_section_end|>",
            with:
                " <|tool_call_begin|> functions.get_weather:1 <|tool_call_argument_begin|> {\"city\": \"Shanghai\"} <|tool_call_end|> <|tool_calls_section_end|>"
        )
        #expect(calls(ToolCallParser().parse(text)) == [#"get_weather {"city": "Beijing"}"#, #"get_weather {"city": "Shanghai"}"#])
        expectStreamingMatches(text)
    }

    @Test("4. concatenated calls with no spaces are not merged")
    func concatenated() {
        let text =
            "I'll get the coordinates, and then get the latest news. " + sectionBegin + callBegin + "functions.get_weather:0"
            + argumentBegin
            + #"{"latitude": 34.0522, "longitude": -118.2437}"# + callEnd + callBegin + "functions.get_news:1" + argumentBegin
            + #"{"content": "Los Angeles today"}"# + callEnd + sectionEnd
        #expect(
            calls(ToolCallParser().parse(text)) == [
                #"get_weather {"latitude": 34.0522, "longitude": -118.2437}"#, #"get_news {"content": "Los Angeles today"}"#,
            ])
        expectStreamingMatches(text)
    }

    @Test("5. three concatenated calls")
    func three() {
        let text =
            sectionBegin + callBegin + "functions.get_weather:0" + argumentBegin + #"{"city": "New York"}"# + callEnd + callBegin
            + "functions.get_news:1" + argumentBegin + #"{"topic": "technology"}"# + callEnd + callBegin + "functions.send_email:2"
            + argumentBegin + #"{"to": "user@example.com", "subject": "Daily Update"}"# + callEnd + sectionEnd
        #expect(
            calls(ToolCallParser().parse(text)) == [
                #"get_weather {"city": "New York"}"#, #"get_news {"topic": "technology"}"#,
                #"send_email {"to": "user@example.com", "subject": "Daily Update"}"#,
            ])
        expectStreamingMatches(text)
    }

    @Test("6. mixed spacing")
    func mixedSpacing() {
        let text =
            "Mixed spacing test. <|tool_calls_section_begin|> <|tool_call_begin|> functions.test:0 <|tool_call_argument_begin|> {} <|tool_call_end|><|tool_call_begin|>functions.test2:1<|tool_call_argument_begin|>{}<|tool_call_end|> <|tool_calls_section_end|>"
        #expect(calls(ToolCallParser().parse(text)) == ["test {}", "test2 {}"])
        expectStreamingMatches(text)
    }

    @Test("7. angle brackets inside the JSON are kept")
    func angleBrackets() {
        let arguments = #"{"html": "<div>content</div>", "text": "normal text"}"#
        let text = sectionBegin + call("functions.render:0", arguments) + sectionEnd
        #expect(calls(ToolCallParser().parse(text)) == ["render " + arguments])
        expectStreamingMatches(text)
    }

    @Test("8. pretty-printed arguments: outer whitespace trimmed, inner newlines kept")
    func multiline() {
        let arguments = "{\n  \"name\": \"test\",\n  \"value\": 123\n}"
        let text = sectionBegin + callBegin + "functions.f:0" + argumentBegin + "\n  " + arguments + "\n\n" + callEnd + sectionEnd
        let out = ToolCallParser().parse(text)
        #expect(out.toolCalls.first?.arguments == arguments)
        #expect(out.toolCalls.first?.argumentsAreValidJSON == true)
        expectStreamingMatches(text)
    }

    @Test("9. invalid JSON is kept raw and flagged; the next call survives")
    func invalidJSON() {
        let text =
            sectionBegin + call("functions.invalid_get_weather:0", #"{"city": "Beijing""#)
            + call("functions.valid_get_weather:1", #"{"city": "Shanghai"}"#) + sectionEnd
        let out = ToolCallParser().parse(text)
        #expect(out.toolCalls.map(\.name) == ["invalid_get_weather", "valid_get_weather"])
        #expect(out.toolCalls.map(\.argumentsAreValidJSON) == [false, true])
        #expect(out.toolCalls.first?.arguments == #"{"city": "Beijing""#)
        expectStreamingMatches(text)
    }

    @Test("10. an id with a dot instead of a colon is skipped; the valid call is kept")
    func invalidID() {
        let text =
            sectionBegin + call("functions.invalid_get_weather.0", #"{"city": "Beijing"}"#)
            + call("functions.valid_get_weather:1", #"{"city": "Shanghai"}"#) + sectionEnd
        #expect(ToolCallParser().parse(text).toolCalls.map(\.name) == ["valid_get_weather"])
        expectStreamingMatches(text)
    }

    @Test("11. streaming without tool calls returns the delta as content unchanged")
    func streamingPlain() {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        #expect(streaming.feed(" without any tool calls.") == [.content(" without any tool calls.")])
        #expect(streaming.finish().isEmpty)
    }

    @Test("streaming: text between the section begin and the first call begin is suppressed")
    func spuriousText() {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        #expect(streaming.feed("Hi " + sectionBegin) == [.content("Hi ")])
        #expect(streaming.feed(" spurious text ").isEmpty)
        #expect(streaming.feed(callBegin + "functions.f:0" + argumentBegin) == [.toolCallStart(index: 0, id: "functions.f:0", name: "f")])
        #expect(streaming.feed("{}" + callEnd + sectionEnd) == [.toolCallArguments(index: 0, "{}")])
    }

    @Test("streaming: a section marker split across chunks is detected and never leaks")
    func splitMarker() {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        #expect(streaming.feed("ok <|tool_calls_sec") == [.content("ok ")])
        #expect(streaming.feed("tion_begin|> ").isEmpty)
        #expect(streaming.feed(call("functions.f:0", "{}")).count == 2)
        #expect(streaming.emitted.content == "ok ")
    }

    @Test("the singular <|tool_call_section_begin|> / _end spelling is a section too")
    func singularMarker() {
        let text = "a<|tool_call_section_begin|>" + call("functions.f:0", #"{"x": 1}"#) + "<|tool_call_section_end|>b"
        let out = ToolCallParser().parse(text)
        #expect(calls(out) == [#"f {"x": 1}"#] && out.content == "a" && out.trailing == "b")
        expectStreamingMatches(text)
    }

    @Test("after a section end, more text streams (as trailing text, not as content)")
    func afterSection() {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        _ = streaming.feed(sectionBegin + call("functions.f:0", "{}") + sectionEnd)
        #expect(streaming.feed(" More reasoning") == [.trailing(" More reasoning")])
        #expect(streaming.feed(" Done") == [.trailing(" Done")])
    }

    @Test("an empty section (begin then end, even in one chunk) yields no calls and does not get stuck")
    func emptySection() {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        #expect(streaming.feed("x" + sectionBegin + sectionEnd) == [.content("x")])
        #expect(streaming.feed(" More reasoning") == [.trailing(" More reasoning")])
        #expect(streaming.emitted.toolCalls.isEmpty)
        expectStreamingMatches(sectionBegin + sectionEnd + " Done")
    }

    @Test("more than 8192 characters in a section before any call force an exit: the text is content")
    func forcedExit() {
        let xs = String(repeating: "x", count: 10_000)
        let out = ToolCallParser().parse("a" + sectionBegin + xs)
        #expect(out.content == "a" + xs && out.toolCalls.isEmpty)
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        var content = ""
        for delta in streaming.feed("a" + sectionBegin) + streaming.feed(String(xs.prefix(5000)))
            + streaming.feed(String(xs.dropFirst(5000)))
        {
            if case .content(let s) = delta { content += s }
        }
        #expect(content == "a" + xs)
    }

    @Test("reset clears the state; a stream that ended inside a section leaves nothing behind")
    func reset() {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        #expect(streaming.feed(sectionBegin + callBegin + "functions.f:0" + argumentBegin + "{\"a\"").count == 2)
        #expect(streaming.feed(" more").count == 1)
        streaming.reset()
        #expect(streaming.emitted == ParsedOutput())
        #expect(streaming.feed("Hello") == [.content("Hello")])
    }

    @Test("begin + noise + call begin in one chunk: the noise is not emitted")
    func noiseInOneChunk() {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        let deltas = streaming.feed(sectionBegin + " noise " + callBegin + "functions.f:0" + argumentBegin + "{")
        #expect(deltas == [.toolCallStart(index: 0, id: "functions.f:0", name: "f"), .toolCallArguments(index: 0, "{")])
    }

    @Test("a whole call and the section end in one chunk: the section exits, no marker leaks, ' Done' streams")
    func wholeCallInOneChunk() {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        _ = streaming.feed(sectionBegin)
        let deltas = streaming.feed(
            #"<|tool_call_begin|>get_weather:0 <|tool_call_argument_begin|> {"city": "Paris"} <|tool_call_end|><|tool_calls_section_end|>"#)
        #expect(
            deltas == [
                .toolCallStart(index: 0, id: "get_weather:0", name: "get_weather"), .toolCallArguments(index: 0, #"{"city": "Paris"}"#),
            ])
        #expect(streaming.feed(" Done") == [.trailing(" Done")])
    }
}

@Suite("tool-call parser: vLLM tests/tool_parsers (0825a6c3)")
struct VLLMToolParserCases {
    @Test(
        "table cases",
        arguments: [
            ("I'll check. " + sectionBegin + call("functions.get_weather:0", #"{"city": "Beijing"}"#) + sectionEnd, "I'll check. ", 1),
            (
                sectionBegin + call("functions.get_weather:0", #"{"city": "Beijing"}"#)
                    + call("functions.get_weather:1", #"{"city": "Shanghai"}"#)
                    + sectionEnd, nil, 2
            ),
            (sectionBegin + call("functions.a:0", "{}") + call("functions.b:1", "{}") + call("functions.c:2", "{}") + sectionEnd, nil, 3),
            (sectionBegin + call("functions.r:0", #"{"html": "<b>x</b>"}"#) + sectionEnd, nil, 1),
            (sectionBegin + call("functions.t:0", "{\n  \"name\": \"test\",\n  \"value\": 123\n}") + sectionEnd, nil, 1),
            (sectionBegin + call("get_weather:0", #"{"city": "Beijing"}"#) + sectionEnd, nil, 1),
            (sectionBegin + call("functions.e:0", "{}") + sectionEnd, nil, 1),
        ] as [(String, String?, Int)])
    func table(text: String, content: String?, count: Int) {
        let out = ToolCallParser().parse(text)
        #expect(out.content == content)
        #expect(out.toolCalls.count == count)
        #expect(out.toolCalls.allSatisfy { $0.argumentsAreValidJSON })
        expectStreamingMatches(text)
    }

    @Test("no functions. prefix: the name is the id before the colon; the native id is kept")
    func names() {
        #expect(ToolCallParser().parse(sectionBegin + call("get_weather:0", "{}") + sectionEnd).toolCalls.first?.name == "get_weather")
        let out = ToolCallParser().parse(sectionBegin + call("functions.get_weather:0", "{}") + sectionEnd)
        #expect(out.toolCalls.first?.id == "functions.get_weather:0")
        #expect(
            ToolCallParser().parse(sectionBegin + call("functions.get_news:0", "{}") + sectionEnd).toolCalls.first?.id
                == "functions.get_news:0")
    }

    @Test("invalid JSON is still extracted (bad, good); functions.invalid.0 is skipped, functions.valid:1 kept")
    func invalids() {
        let text = sectionBegin + call("functions.bad:0", "{not json") + call("functions.good:1", "{}") + sectionEnd
        #expect(ToolCallParser().parse(text).toolCalls.map(\.name) == ["bad", "good"])
        let skipped = sectionBegin + call("functions.invalid.0", "{}") + call("functions.valid:1", "{}") + sectionEnd
        #expect(ToolCallParser().parse(skipped).toolCalls.map(\.id) == ["functions.valid:1"])
    }

    static let weather = ToolSignature(name: "get_weather", properties: ["city", "unit"])
    static let readFile = ToolSignature(name: "read_file", properties: ["path"])
    static let bookFlight = ToolSignature(name: "book_flight", properties: ["city", "date"])

    @Test("bare counter ids: one tool names it (even with invalid JSON); argument keys pick among several; ambiguity drops")
    func bareCounters() {
        let one = ToolCallParser(tools: [Self.weather])
        let bad = one.parse(sectionBegin + call("0", "{bad") + sectionEnd)
        #expect(bad.toolCalls.map { [$0.id, $0.name, $0.arguments] } == [["0", "get_weather", "{bad"]])
        let two = ToolCallParser(tools: [Self.readFile, Self.weather])
        #expect(
            two.parse(sectionBegin + call("0", #"{"city":"Tokyo","unit":"celsius"}"#) + sectionEnd).toolCalls.map(\.name) == ["get_weather"]
        )
        let ambiguous = ToolCallParser(tools: [Self.weather, Self.bookFlight])
        #expect(ambiguous.parse(sectionBegin + call("0", #"{"city":"Tokyo"}"#) + sectionEnd).toolCalls.isEmpty)
        #expect(ambiguous.parse(sectionBegin + call("0", #"{"city":"Tok"#) + sectionEnd).toolCalls.isEmpty)
        #expect(ToolCallParser().parse(sectionBegin + call("0", "{}") + sectionEnd).toolCalls.isEmpty)
        expectStreamingMatches(sectionBegin + call("0", #"{"city":"Tokyo","unit":"celsius"}"#) + sectionEnd, parser: two)
        expectStreamingMatches(sectionBegin + call("3", "{bad"), parser: one)
    }

    @Test("streaming: arguments split as '{\"ci','ty\": \"Be','ijing\"}' accumulate; id and name come first")
    func splitArguments() {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        var deltas = streaming.feed("Hi " + sectionBegin + callBegin + "functions.get_weather:0 " + argumentBegin)
        for part in [#"{"ci"#, #"ty": "Be"#, #"ijing"}"#, callEnd + sectionEnd] { deltas += streaming.feed(part) }
        deltas += streaming.finish()
        #expect(
            deltas == [
                .content("Hi "), .toolCallStart(index: 0, id: "functions.get_weather:0", name: "get_weather"),
                .toolCallArguments(index: 0, #"{"ci"#), .toolCallArguments(index: 0, #"ty": "Be"#),
                .toolCallArguments(index: 0, #"ijing"}"#),
            ])
    }

    @Test("streaming: three different tools get their own ids; truncated arguments stay partial")
    func threeAndTruncated() {
        let text = sectionBegin + call("functions.a:0", "{}") + call("functions.b:1", "{}") + call("functions.c:2", "{}") + sectionEnd
        let (folded, _) = stream(text, size: 4)
        #expect(folded.toolCalls.map(\.id) == ["functions.a:0", "functions.b:1", "functions.c:2"])
        let truncated = sectionBegin + callBegin + "functions.get_weather:0" + argumentBegin + #"{"city": "Bei"#
        let (partial, streaming) = stream(truncated, size: 3)
        #expect(partial.toolCalls.map(\.arguments) == [#"{"city": "Bei"#])
        #expect(streaming.emitted.toolCalls.first?.isComplete == false)
        expectStreamingMatches(truncated)
    }

    @Test("trailing text after the section is not content")
    func trailingDropped() {
        let out = ToolCallParser().parse("a" + sectionBegin + call("functions.f:0", "{}") + sectionEnd + " after")
        #expect(out.content == "a" && out.trailing == " after")
    }
}

@Suite("tool-call parser: sglang and tinker cases")
struct OtherParserCases {
    @Test("sglang: one call, exact arguments, no normal text; two calls")
    func sglangBasic() {
        let one = sectionBegin + callBegin + "functions.get_weather:0" + argumentBegin + #"{"city": "Paris"}"# + callEnd + sectionEnd
        let out = ToolCallParser().parse(one)
        #expect(calls(out) == [#"get_weather {"city": "Paris"}"#] && out.content == nil)
        let two = one.replacingOccurrences(
            of: sectionEnd,
            with: callBegin + "functions.get_tourist_attractions:1" + argumentBegin + #"{"city": "London"}"# + callEnd + sectionEnd)
        #expect(ToolCallParser().parse(two).toolCalls.map(\.index) == [0, 1])
        expectStreamingMatches(two)
    }

    @Test("sglang: chunks […argument_begin|>{, \"city\": \"Paris\", }, end markers] reassemble")
    func sglangChunks() {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        var deltas: [StreamDelta] = []
        for part in [
            sectionBegin + callBegin + "functions.get_weather:0" + argumentBegin + "{", #""city": "Paris""#, "}", callEnd + sectionEnd,
        ] {
            deltas += streaming.feed(part)
        }
        deltas += streaming.finish()
        #expect(calls(fold(deltas)) == [#"get_weather {"city": "Paris"}"#])
    }

    @Test("sglang: text without a section begin is not a call, and stays content")
    func noSection() {
        let text = #"invalid_tool:0<|tool_call_argument_begin|>{"a": 1}<|tool_call_end|>"#
        let out = ToolCallParser().parse(text)
        #expect(out.toolCalls.isEmpty && out.content == text)
        expectStreamingMatches(text)
    }

    @Test("sglang: a partial stream gives the unclosed arguments")
    func partial() {
        let (folded, _) = stream(sectionBegin + callBegin + "functions.get_weather:0" + argumentBegin + #"{"city": "Paris""#, size: 2)
        #expect(folded.toolCalls.map(\.arguments) == [#"{"city": "Paris""#])
    }

    @Test("sglang: content before the section; braces and code fences inside strings are not cut")
    func fences() {
        let arguments = ##"{"path": "x.md", "content": "# T\n```py\nd={'k': 1}\n```\ndone } { more"}"##
        let text =
            "Let me help. " + sectionBegin + call("functions.execute_command:0", #"{"command": "ls"}"#)
            + call("functions.write:1", arguments) + sectionEnd
        let out = ToolCallParser().parse(text)
        #expect(out.content == "Let me help. ")
        #expect(out.toolCalls.map(\.arguments) == [#"{"command": "ls"}"#, arguments])
        #expect(out.toolCalls.allSatisfy { $0.argumentsAreValidJSON })
        expectStreamingMatches(text)
    }

    @Test(
        "sglang: <|tool_call_end|> split across chunks never leaks into arguments",
        arguments: [["<|tool_call_", "end|>"], ["<|tool", "_call", "_end|>"]])
    func splitEnd(parts: [String]) {
        var streaming = StreamingToolCallParser(parser: ToolCallParser())
        var deltas = streaming.feed(sectionBegin + callBegin + "functions.f:0" + argumentBegin + #"{"a": 1}"#)
        for part in parts { deltas += streaming.feed(part) }
        deltas += streaming.feed(sectionEnd) + streaming.finish()
        #expect(fold(deltas).toolCalls.map(\.arguments) == [#"{"a": 1}"#])
    }

    @Test("sglang-jax: :5/:6 give indices 0 and 1; hyphenated names; weird ids skipped; orphans discarded; whitespace is not content")
    func jaxSubset() {
        let text =
            sectionBegin + "\n  " + call("functions.a:5", "{}") + "\n" + call("functions.b:6", "  {\"x\": 2}  ")
            + call("mcp__portal__search-docs:2", "{}")
            + call("weird@id", "{}") + callBegin + "functions.orphan:9" + call("functions.c:7", "{}") + "\n" + sectionEnd
        let out = ToolCallParser().parse(text)
        #expect(out.toolCalls.map(\.name) == ["a", "b", "mcp__portal__search-docs", "c"])
        #expect(out.toolCalls.map(\.index) == [0, 1, 2, 3])
        #expect(out.toolCalls[1].arguments == #"{"x": 2}"#)
        #expect(out.content == nil && out.trailing == nil)
        expectStreamingMatches(text)
        let bare = ToolCallParser(tools: [ToolSignature(name: "search", properties: ["q"])])
        #expect(bare.parse(sectionBegin + call("3", #"{"q": "x"}"#) + sectionEnd).toolCalls.map(\.name) == ["search"])
        #expect(bare.parse(sectionBegin + call("3", #"{"zzz": "x"}"#) + sectionEnd).toolCalls.isEmpty)
        #expect(ToolCallParser().parse("a < b <").content == "a < b <")
        expectStreamingMatches("a < b <")
    }

    @Test("tinker: <think></think> then content and a call; {invalid} is kept and flagged")
    func tinker() {
        let text =
            "<think></think>I'll search for that.\n" + sectionBegin + callBegin + "functions.search:0" + argumentBegin
            + #"{"query": "weather NYC"}"#
            + callEnd + sectionEnd + "<|im_end|>"
        let out = ToolCallParser().parse(text)
        #expect(out.reasoning == "" && out.content == "I'll search for that.\n")
        #expect(out.toolCalls.map { [$0.name, $0.id] } == [["search", "functions.search:0"]])
        expectStreamingMatches(text)
        let invalid = ToolCallParser().parse(text.replacingOccurrences(of: #"{"query": "weather NYC"}"#, with: "{invalid}"))
        #expect(invalid.toolCalls.map(\.argumentsAreValidJSON) == [false])
    }

    @Test("reasoning: ends at </think>, or at the section begin when the model opens tools inside its thinking")
    func reasoningSplit() {
        let on = ToolCallParser(reasoning: .on)
        let out = on.parse("<think>plan" + sectionBegin + call("functions.f:0", "{}") + sectionEnd)
        #expect(out.reasoning == "plan" && out.content == nil && out.toolCalls.map(\.name) == ["f"])
        let open = on.parse("still thinking")
        #expect(open.reasoning == "still thinking" && open.content == nil)
        let closed = on.parse("r</think>answer")
        #expect(closed.reasoning == "r" && closed.content == "answer")
        #expect(ToolCallParser(reasoning: .off).parse("<think>r</think>a").content == "<think>r</think>a")
        #expect(ToolCallParser().parse("r</think>a").reasoning == nil)
        expectStreamingMatches("<think>plan</think>ok" + sectionBegin + call("functions.f:0", "{}"), parser: on)
        expectStreamingMatches("<think>plan" + sectionBegin + call("functions.f:0", "{}"), parser: on)
    }
}

@Suite("tool-call parser: random streams")
struct RandomStreamTests {
    /// Marker pieces, partial markers, JSON and text, in random order and random chunkings.
    static let alphabet = [
        sectionBegin, sectionEnd, "<|tool_call_section_begin|>", "<|tool_call_section_end|>", callBegin, argumentBegin, callEnd,
        "<think>", "</think>", "<|tool_call", "<|", "|>", "<", "functions.get_weather:0", "get_weather:1", "7", "search.0", " ",
        "\n", "{\"city\": ", "\"Paris\"", "}", "{", "text", "é", "汉", "👍", "a < b",
    ]

    @Test("any text, any chunking: the stream adds up to the whole-text parse", arguments: [ToolCallParser.ReasoningMode.auto, .on, .off])
    func randomStreams(mode: ToolCallParser.ReasoningMode) {
        var rng = SplitMix64(seed: 42)
        let parser = ToolCallParser(reasoning: mode, tools: [ToolSignature(name: "get_weather", properties: ["city"])])
        for _ in 0..<300 {
            let text = (0..<Int(rng.next() % 24)).map { _ in Self.alphabet[Int(rng.next() % UInt64(Self.alphabet.count))] }.joined()
            var streaming = StreamingToolCallParser(parser: parser)
            var deltas: [StreamDelta] = []
            var rest = Substring(text)
            while !rest.isEmpty {
                let n = 1 + Int(rng.next() % 8)
                deltas += streaming.feed(String(rest.prefix(n)))
                rest = rest.dropFirst(n)
            }
            deltas += streaming.finish()
            let whole = parser.parse(text)
            #expect(streaming.emitted == whole, "\(text)")
            let folded = fold(deltas)
            #expect(folded.content == whole.content && folded.trailing == whole.trailing, "\(text)")
            #expect(folded.toolCalls.map(\.arguments) == whole.toolCalls.map(\.arguments), "\(text)")
        }
    }
}

@Suite("tool-call parser: long streams")
struct LongStreamTests {
    @Test("60 KB of reasoning, content and arguments streamed in 4-character chunks equals the whole parse")
    func longStream() {
        let reasoning = String(repeating: "Let me think about the weather in Paris, step by step. ", count: 500)
        let content = String(repeating: "Here is the plan. ", count: 800)
        let arguments = "{\"text\": \"" + String(repeating: "lorem ipsum ", count: 1200) + "\"}"
        let text =
            "<think>" + reasoning + "</think>" + content + sectionBegin + call("functions.write:0", arguments) + sectionEnd
            + String(repeating: " after", count: 300)
        let parser = ToolCallParser(reasoning: .on)
        let (folded, streaming) = stream(text, size: 4, parser: parser)
        let whole = parser.parse(text)
        #expect(streaming.emitted == whole)
        #expect(folded.reasoning == reasoning && folded.content == content && folded.trailing == whole.trailing)
        #expect(folded.toolCalls.map(\.arguments) == [arguments])
    }
}
