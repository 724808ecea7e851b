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
    /// Bytes already parsed (the rest is a held-back marker prefix), and where their end lies.
    private var visibleCount = 0
    private var region: ToolCallParser.OpenRegion = .other
    /// In an open call's arguments: the end of what was emitted (trailing whitespace excluded).
    private var argumentsEnd: Int?
    /// What has been emitted so far (the parse of the visible prefix).
    public private(set) var emitted = ParsedOutput()

    public init(parser: ToolCallParser) { self.parser = parser }

    /// Forgets everything, for the next request.
    public mutating func reset() {
        bytes = []
        visibleCount = 0
        region = .other
        argumentsEnd = nil
        emitted = ParsedOutput()
    }

    /// Adds a chunk of model output; returns the deltas it completes. Text that cannot hold a marker (no
    /// `<`) appended to reasoning, content, trailing text or an open call's arguments extends that field
    /// without a re-parse, so long outputs stream in linear time. (`argumentsAreValidJSON` of an open call
    /// is brought up to date at its next marker and by `finish()`.)
    public mutating func feed(_ chunk: String) -> [StreamDelta] {
        bytes += chunk.utf8
        let visible = bytes.count - Self.heldBack(bytes)
        let added = bytes[visibleCount..<visible]
        let decided = parser.reasoning != .auto || visibleCount >= ToolCallParser.thinkBegin.count
        if region != .other && decided && (region == .trailing || !added.contains(0x3C)) {
            visibleCount = visible
            if added.isEmpty { return [] }
            let text = String(decoding: added, as: UTF8.self)
            switch region {
            case .reasoning:
                Self.append(text, to: &emitted.reasoning)
                return [.reasoning(text)]
            case .content:
                Self.append(text, to: &emitted.content)
                return [.content(text)]
            case .arguments(let index, let start):
                // Trimmed like the whole parse: whitespace at the end waits until something follows it.
                guard let last = Self.lastNonWhitespaceEnd(bytes, from: max(start, visible - added.count), to: visible) else { return [] }
                let from = argumentsEnd ?? Self.firstNonWhitespace(bytes, from: start, to: visible)
                argumentsEnd = last
                let delta = String(decoding: bytes[from..<last], as: UTF8.self)
                emitted.toolCalls[index].arguments += delta
                return [.toolCallArguments(index: index, delta)]
            case .trailing, .other:
                Self.append(text, to: &emitted.trailing)
                return [.trailing(text)]
            }
        }
        visibleCount = visible
        let (next, nextRegion) = parser.parseWithRegion(bytes: Array(bytes[0..<visible]), final: false)
        region = nextRegion
        if case .arguments(_, let start) = nextRegion {
            argumentsEnd = Self.lastNonWhitespaceEnd(bytes, from: start, to: visible)
        } else {
            argumentsEnd = nil
        }
        return advance(to: next)
    }

    private static func append(_ text: String, to field: inout String?) {
        if field == nil { field = text } else { field!.append(text) }
    }

    /// The byte offset just after the last non-whitespace character of bytes[from..<to], or nil.
    static func lastNonWhitespaceEnd(_ b: [UInt8], from: Int, to: Int) -> Int? {
        var end: Int?
        var offset = from
        for scalar in String(decoding: b[from..<to], as: UTF8.self).unicodeScalars {
            offset += UTF8.width(scalar)
            if !scalar.properties.isWhitespace { end = offset }
        }
        return end
    }

    /// The byte offset of the first non-whitespace character of bytes[from..<to] (`to` if none).
    static func firstNonWhitespace(_ b: [UInt8], from: Int, to: Int) -> Int {
        var offset = from
        for scalar in String(decoding: b[from..<to], as: UTF8.self).unicodeScalars {
            if !scalar.properties.isWhitespace { return offset }
            offset += UTF8.width(scalar)
        }
        return to
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
