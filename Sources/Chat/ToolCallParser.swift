public import TensorIO

/// One tool call parsed from K2 output.
public struct ToolCall: Equatable, Sendable {
    /// Position among the kept calls of the section, from 0.
    public var index: Int
    /// The model's id, verbatim (`functions.get_weather:0`, `get_weather:0`, or a bare counter `0`).
    public var id: String
    /// The function name: the id cut at the first `:`, then after the last `.`; inferred for bare counters.
    public var name: String
    /// The arguments text, whitespace around it trimmed, kept raw even when it is not JSON.
    public var arguments: String
    /// Whether `arguments` parses as JSON (invalid JSON is kept and flagged, not dropped).
    public var argumentsAreValidJSON: Bool
    /// False when the text ended (or the next call began) before `<|tool_call_end|>`.
    public var isComplete: Bool
}

/// K2 output split into reasoning, content and tool calls.
public struct ParsedOutput: Equatable, Sendable {
    /// Reasoning text (between `<think>` and `</think>` or the tool section), or nil when not split.
    public var reasoning: String?
    /// Text before the tool section (or all of it when there is none), nil when empty.
    public var content: String?
    public var toolCalls: [ToolCall]
    /// Text after the section end: not content (as the latest vLLM parser), but not lost either.
    public var trailing: String?

    public init(reasoning: String? = nil, content: String? = nil, toolCalls: [ToolCall] = [], trailing: String? = nil) {
        self.reasoning = reasoning
        self.content = content
        self.toolCalls = toolCalls
        self.trailing = trailing
    }
}

/// A declared tool, as the parser needs it to name bare-counter ids.
public struct ToolSignature: Equatable, Sendable {
    public var name: String
    public var properties: Set<String>

    public init(name: String, properties: Set<String>) {
        self.name = name
        self.properties = properties
    }

    /// From an OpenAI `tools` array (`[{"type":"function","function":{"name":…,"parameters":{…}}}]`).
    public static func from(tools: [JSONValue]) -> [ToolSignature] {
        tools.compactMap { tool in
            guard let function = tool["function"], let name = function["name"]?.stringValue else { return nil }
            let keys = function["parameters"]?["properties"]?.members?.map(\.key) ?? []
            return ToolSignature(name: name, properties: Set(keys))
        }
    }
}

/// Parses K2 / K2-Thinking output (docs/chat-and-tokenizer.md, "What the model writes for a tool call"): the
/// reasoning split of vLLM's `kimi_k2` reasoning parser and the tool-call rules of vLLM's `kimi_k2` tool parser, both
/// section-marker spellings.
///
/// Rules:
/// - Reasoning (mode `.on`, or `.auto` when the text starts with `<think>`): an optional leading `<think>`
///   is consumed; reasoning ends at `</think>` or at the tool-section begin, whichever comes first
///   (K2-Thinking may open the section inside its thinking). Without either, all of it is reasoning.
/// - Content is the text before the first section begin; the section runs to the first section end
///   (or the end of the text). Text between the markers that is not a call is dropped, unless more than
///   ``maxSectionNoise`` bytes come before the first call begin: then the section is not a section and
///   its text is content (vLLM's forced exit).
/// - A call is `<|tool_call_begin|>` id `<|tool_call_argument_begin|>` arguments `<|tool_call_end|>`; the
///   arguments stop at the next call begin. Ids must match `[^<]+:\d+` after trimming (else the call is
///   skipped), or be a bare counter whose name is inferred from the declared tools (see
///   ``inferName(arguments:)``; otherwise skipped). A begin without an argument
///   begin is discarded. A call cut off by the end of text or by the next call is kept, `isComplete` false.
public struct ToolCallParser: Sendable {
    public enum ReasoningMode: String, Sendable, CaseIterable {
        /// No reasoning split.
        case off
        /// Always split (vLLM's reasoning parser: K2-Thinking output after the generation prompt).
        case on
        /// Split when the text starts with `<think>`.
        case auto
    }

    public var reasoning: ReasoningMode
    /// Declared tools, for bare-counter ids; nil when unknown (bare counters are then skipped).
    public var tools: [ToolSignature]?

    public static let maxSectionNoise = 8192

    public init(reasoning: ReasoningMode = .auto, tools: [ToolSignature]? = nil) {
        self.reasoning = reasoning
        self.tools = tools
    }

    static let sectionBegins = [Array("<|tool_calls_section_begin|>".utf8), Array("<|tool_call_section_begin|>".utf8)]
    static let sectionEnds = [Array("<|tool_calls_section_end|>".utf8), Array("<|tool_call_section_end|>".utf8)]
    static let callBegin = Array("<|tool_call_begin|>".utf8)
    static let argumentBegin = Array("<|tool_call_argument_begin|>".utf8)
    static let callEnd = Array("<|tool_call_end|>".utf8)
    static let thinkBegin = Array("<think>".utf8)
    static let thinkEnd = Array("</think>".utf8)
    static let allMarkers = sectionBegins + sectionEnds + [callBegin, argumentBegin, callEnd, thinkBegin, thinkEnd]

    /// Parses a whole output.
    public func parse(_ text: String) -> ParsedOutput {
        parse(bytes: Array(text.utf8), final: true)
    }

    /// Where the end of the text lies, for the streaming parser's fast path: text without `<` appended
    /// there only extends that field.
    enum OpenRegion: Sendable, Equatable {
        case reasoning, content, trailing, other
        /// The arguments of the last call, still open; they start at this byte offset.
        case arguments(index: Int, start: Int)
    }

    /// Parses `bytes`; when not `final` (streaming), a bare-counter call still open is left out, since
    /// its name depends on arguments still to come.
    func parse(bytes b: [UInt8], final: Bool) -> ParsedOutput { parseWithRegion(bytes: b, final: final).output }

    func parseWithRegion(bytes b: [UInt8], final: Bool) -> (output: ParsedOutput, region: OpenRegion) {
        var output = ParsedOutput()
        var rest = 0..<b.count
        let split = reasoning == .on || (reasoning == .auto && b.starts(with: Self.thinkBegin))
        if split {
            let start = b.starts(with: Self.thinkBegin) ? Self.thinkBegin.count : 0
            let thinkEnd = Self.find(Self.thinkEnd, in: b, from: start, to: b.count)
            let section = Self.findAny(Self.sectionBegins, in: b, from: start, to: b.count)
            if let thinkEnd, section == nil || thinkEnd < section!.start {
                output.reasoning = Self.text(b, start..<thinkEnd)
                rest = (thinkEnd + Self.thinkEnd.count)..<b.count
            } else if let section {
                output.reasoning = Self.text(b, start..<section.start)
                rest = section.start..<b.count
            } else {
                output.reasoning = Self.text(b, start..<b.count)
                return (output, .reasoning)
            }
        }
        guard let begin = Self.findAny(Self.sectionBegins, in: b, from: rest.lowerBound, to: rest.upperBound) else {
            output.content = Self.nonEmpty(b, rest)
            return (output, .content)
        }
        let before = rest.lowerBound..<begin.start
        let bodyStart = begin.start + begin.length
        let end = Self.findAny(Self.sectionEnds, in: b, from: bodyStart, to: rest.upperBound)
        let bodyEnd = end?.start ?? rest.upperBound
        if let end { output.trailing = Self.nonEmpty(b, (end.start + end.length)..<rest.upperBound) }
        let firstCall = Self.find(Self.callBegin, in: b, from: bodyStart, to: bodyEnd)
        if (firstCall ?? bodyEnd) - bodyStart > Self.maxSectionNoise {
            let noise = Self.text(b, bodyStart..<bodyEnd)
            output.content = Self.nonEmpty(b, before).map { $0 + noise } ?? (noise.isEmpty ? nil : noise)
            return (output, end == nil ? .other : .trailing)
        }
        output.content = Self.nonEmpty(b, before)
        var position = firstCall
        var region = end == nil ? OpenRegion.other : .trailing
        while let callStart = position {
            let idStart = callStart + Self.callBegin.count
            let next = Self.find(Self.callBegin, in: b, from: idStart, to: bodyEnd)
            let callEnd = next ?? bodyEnd
            position = next
            let isOpen = next == nil && end == nil && !final
            guard let argumentMarker = Self.find(Self.argumentBegin, in: b, from: idStart, to: callEnd) else { continue }
            let id = Self.trimmed(Self.text(b, idStart..<argumentMarker))
            let argumentStart = argumentMarker + Self.argumentBegin.count
            let closing = Self.find(Self.callEnd, in: b, from: argumentStart, to: callEnd)
            let arguments = Self.trimmed(Self.text(b, argumentStart..<(closing ?? callEnd)))
            let valid = Self.isJSON(arguments)
            let name: String
            if let named = Self.name(fromID: id) {
                name = named
            } else if Self.isBareCounter(id), !(isOpen && closing == nil), let inferred = inferName(arguments: arguments) {
                name = inferred
            } else {
                continue
            }
            if isOpen && closing == nil { region = .arguments(index: output.toolCalls.count, start: argumentStart) }
            output.toolCalls.append(
                ToolCall(
                    index: output.toolCalls.count, id: id, name: name, arguments: arguments, argumentsAreValidJSON: valid,
                    isComplete: closing != nil))
        }
        return (output, region)
    }

    /// `[^<]+:\d+` → the part before the first `:`, after the last `.`; nil for other ids.
    static func name(fromID id: String) -> String? {
        guard !id.contains("<"), let colon = id.lastIndex(of: ":"), colon != id.startIndex else { return nil }
        let digits = id[id.index(after: colon)...]
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let head = id[..<id.firstIndex(of: ":")!]
        guard let dot = head.lastIndex(of: ".") else { return String(head) }
        return String(head[head.index(after: dot)...])
    }

    static func isBareCounter(_ id: String) -> Bool { !id.isEmpty && id.allSatisfy { $0.isASCII && $0.isNumber } }

    /// A bare counter's name. Arguments that are a JSON object pick the declared tool whose properties
    /// hold every key, when exactly one does; arguments that are not JSON name the tool only when a single
    /// tool is declared (vLLM keeps such a call, raw).
    func inferName(arguments: String) -> String? {
        guard let tools, !tools.isEmpty else { return nil }
        guard let members = (try? JSONValue.parse(arguments))?.members else { return tools.count == 1 ? tools[0].name : nil }
        let keys = Set(members.map(\.key))
        let candidates = tools.filter { keys.isSubset(of: $0.properties) }
        return candidates.count == 1 ? candidates[0].name : nil
    }

    static func isJSON(_ text: String) -> Bool { (try? JSONValue.parse(text)) != nil }

    static func trimmed(_ s: String) -> String {
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }

    static func text(_ b: [UInt8], _ range: Range<Int>) -> String { String(decoding: b[range], as: UTF8.self) }

    static func nonEmpty(_ b: [UInt8], _ range: Range<Int>) -> String? { range.isEmpty ? nil : text(b, range) }

    static func find(_ needle: [UInt8], in b: [UInt8], from: Int, to: Int) -> Int? {
        guard to - from >= needle.count, let first = needle.first else { return nil }
        var i = from
        let last = to - needle.count
        while i <= last {
            if b[i] == first {
                var k = 1
                while k < needle.count && b[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    static func findAny(_ needles: [[UInt8]], in b: [UInt8], from: Int, to: Int) -> (start: Int, length: Int)? {
        var best: (start: Int, length: Int)?
        for needle in needles {
            if let i = find(needle, in: b, from: from, to: best.map { min(to, $0.start + needle.count) } ?? to),
                best == nil || i < best!.start
            {
                best = (i, needle.count)
            }
        }
        return best
    }
}
