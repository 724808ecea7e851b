/// What a streaming parser emits for a chunk.
public enum StreamDelta: Equatable, Sendable {
    case reasoning(String)
    case content(String)
    /// A new call: index, id and name (the first delta of each call).
    case toolCallStart(index: Int, id: String, name: String)
    /// More argument text for a call.
    case toolCallArguments(index: Int, String)
    /// Text after the section end.
    case trailing(String)
}

/// The incremental form of ``ToolCallParser``: chunks in, deltas out. Markers split across chunks are
/// held back until they can be told from text, and every chunking yields deltas that add up to
/// exactly the whole-text parse (`finish()` releases what was held back).
public struct StreamingToolCallParser: Sendable {
    public let parser: ToolCallParser
    private var bytes: [UInt8] = []
    /// What has been emitted so far (the parse of the visible prefix).
    public private(set) var emitted = ParsedOutput()

    public init(parser: ToolCallParser) { self.parser = parser }

    /// Forgets everything, for the next request.
    public mutating func reset() {
        bytes = []
        emitted = ParsedOutput()
    }

    /// Adds a chunk of model output; returns the deltas it completes.
    public mutating func feed(_ chunk: String) -> [StreamDelta] {
        bytes += chunk.utf8
        let visible = bytes.count - Self.heldBack(bytes)
        return advance(to: parser.parse(bytes: Array(bytes[0..<visible]), final: false))
    }

    /// Ends the stream: releases held-back text; afterwards `emitted` equals `parser.parse(whole text)`.
    public mutating func finish() -> [StreamDelta] {
        advance(to: parser.parse(bytes: bytes, final: true))
    }

    /// Length of the longest suffix that is a proper prefix of a marker (it may still become one).
    static func heldBack(_ b: [UInt8]) -> Int {
        let window = max(0, b.count - 32)
        var i = window
        while i < b.count {
            if b[i] == 0x3C {
                let tail = b[i...]
                if ToolCallParser.allMarkers.contains(where: { $0.count > tail.count && $0.starts(with: tail) }) {
                    return b.count - i
                }
            }
            i += 1
        }
        return 0
    }

    private mutating func advance(to next: ParsedOutput) -> [StreamDelta] {
        var deltas: [StreamDelta] = []
        if let d = Self.suffix(emitted.reasoning, next.reasoning) { deltas.append(.reasoning(d)) }
        if let d = Self.suffix(emitted.content, next.content) { deltas.append(.content(d)) }
        for call in next.toolCalls {
            if call.index >= emitted.toolCalls.count {
                deltas.append(.toolCallStart(index: call.index, id: call.id, name: call.name))
                if !call.arguments.isEmpty { deltas.append(.toolCallArguments(index: call.index, call.arguments)) }
            } else if let d = Self.suffix(emitted.toolCalls[call.index].arguments, call.arguments) {
                deltas.append(.toolCallArguments(index: call.index, d))
            }
        }
        if let d = Self.suffix(emitted.trailing, next.trailing) { deltas.append(.trailing(d)) }
        emitted = next
        return deltas
    }

    /// The text `new` adds to `old` (by UTF-8 bytes), or nil when nothing was added.
    private static func suffix(_ old: String?, _ new: String?) -> String? {
        guard let new else { return nil }
        let oldBytes = Array((old ?? "").utf8)
        let newBytes = Array(new.utf8)
        precondition(newBytes.starts(with: oldBytes), "streaming parse is not monotone: '\(old ?? "")' → '\(new)'")
        return newBytes.count > oldBytes.count ? String(decoding: newBytes[oldBytes.count...], as: UTF8.self) : nil
    }
}
