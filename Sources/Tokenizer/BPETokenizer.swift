import Foundation
import TensorIO

/// One slot of the special block.
public struct SpecialToken: Sendable, Equatable {
    public let id: Int
    public let name: String
    /// HF's `special` flag from `added_tokens_decoder` (false for the tool-call markers and `<think>`);
    /// true for unnamed reserved slots.
    public let isSpecial: Bool
}

/// Kimi K2's tokenizer: tiktoken byte-level BPE with K2's pat_str and a special block of 256 (or 258)
/// slots after the base ranks, wrapped the way HF `tokenization_kimi.py` wraps tiktoken.
public struct BPETokenizer: Sendable {
    /// Ranks in `tiktoken.model` (ids 0 ..< numBaseTokens); the special block starts here.
    public let numBaseTokens: Int
    /// The special block, in id order.
    public let specialTokens: [SpecialToken]
    private let ranks: RankTable
    private let specials: RankTable
    /// Distinct byte lengths of special names, longest first.
    private let specialLengths: [Int]
    /// Whether a special name starts with this byte.
    fileprivate let specialFirstByte: [Bool]
    /// Bytes of every id: base tokens then specials.
    private let idStart: [Int32]
    private let idLength: [Int32]
    private let idBytes: [UInt8]

    /// The HF wrapper cuts text into chunks of this many characters ...
    static let maxChunkCharacters = 400_000
    /// ... and each chunk so that no run of whitespace or non-whitespace is longer than this (tiktoken issue 195).
    static let maxRunCharacters = 25_000

    /// Loads `tiktoken.model` and `tokenizer_config.json` from a model folder.
    /// - Parameter reservedSlots: 256 (K2's 163584 + 256 = vocab_size) or 258 (some Moonshot copies).
    public init(folder: String, reservedSlots: Int = 256) throws(TokenizerError) {
        let modelPath = (folder as NSString).appendingPathComponent("tiktoken.model")
        let configPath = (folder as NSString).appendingPathComponent("tokenizer_config.json")
        let model = try Self.read(modelPath)
        let config = try Self.read(configPath)
        let parsed = config.withUnsafeBytes { raw in Result { () throws(JSONParseError) in try JSONValue.parse(raw) } }
        guard case .success(let json) = parsed else {
            if case .failure(let error) = parsed { throw .invalidConfig(file: configPath, reason: "not valid JSON: \(error.description)") }
            preconditionFailure()
        }
        try self.init(
            tiktokenModel: model, file: modelPath, addedTokens: try Self.addedTokens(json, file: configPath),
            configFile: configPath, reservedSlots: reservedSlots)
    }

    /// Builds a tokenizer from the bytes of a `tiktoken.model` and the named special slots (id → (name, special)).
    public init(
        tiktokenModel: [UInt8], file: String, addedTokens: [Int: (name: String, special: Bool)], configFile: String = "",
        reservedSlots: Int = 256
    ) throws(TokenizerError) {
        precondition(reservedSlots > 0, "the special block needs at least one slot")
        var ranks = RankTable()
        var maxRank = -1
        var seenRanks = Set<Int>()
        var lineNumber = 0
        for line in tiktokenModel.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            var trimmed = line
            if trimmed.last == 0x0D { trimmed = trimmed.dropLast() }
            if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            let fields = trimmed.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 })
            let text = String(decoding: trimmed, as: UTF8.self)
            guard fields.count == 2, let token = Data(base64Encoded: Data(fields[0])),
                let rank = Int(String(decoding: fields[1], as: UTF8.self)), rank >= 0, rank < Int(Int32.max / 2)
            else { throw .malformedLine(file: file, line: lineNumber, text: text) }
            guard seenRanks.insert(rank).inserted else { throw .duplicateRank(file: file, line: lineNumber, rank: rank) }
            guard ranks.insert([UInt8](token), rank: rank) else { throw .duplicateToken(file: file, line: lineNumber) }
            maxRank = max(maxRank, rank)
        }
        for byte in 0...255 {
            let rank = withUnsafeBytes(of: UInt8(byte)) { ranks.lookup($0.bindMemory(to: UInt8.self).baseAddress!, 1) }
            if rank < 0 { throw .missingByte(file: file, byte: UInt8(byte)) }
        }
        numBaseTokens = maxRank + 1
        var specialList: [SpecialToken] = []
        var specialTable = RankTable()
        for k in 0..<reservedSlots {
            let id = numBaseTokens + k
            let named = addedTokens[id]
            let token = SpecialToken(id: id, name: named?.name ?? "<|reserved_token_\(id)|>", isSpecial: named?.special ?? true)
            guard specialTable.insert(Array(token.name.utf8), rank: id) else {
                throw .duplicateSpecialName(file: configFile, name: token.name)
            }
            specialList.append(token)
        }
        specialTokens = specialList
        specials = specialTable
        self.ranks = ranks
        specialLengths = Set(specialList.map { $0.name.utf8.count }).sorted(by: >)
        var firstBytes = [Bool](repeating: false, count: 256)
        for token in specialList { firstBytes[Int(token.name.utf8.first!)] = true }
        specialFirstByte = firstBytes
        // id → bytes, for decode.
        var starts = [Int32](repeating: -1, count: numBaseTokens + reservedSlots)
        var lengths = [Int32](repeating: 0, count: numBaseTokens + reservedSlots)
        var bytes: [UInt8] = []
        for line in tiktokenModel.split(separator: 0x0A) {
            let fields = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D })
            guard fields.count == 2, let token = Data(base64Encoded: Data(fields[0])),
                let rank = Int(String(decoding: fields[1], as: UTF8.self))
            else { continue }
            starts[rank] = Int32(bytes.count)
            lengths[rank] = Int32(token.count)
            bytes += token
        }
        for token in specialList {
            starts[token.id] = Int32(bytes.count)
            lengths[token.id] = Int32(token.name.utf8.count)
            bytes += Array(token.name.utf8)
        }
        idStart = starts
        idLength = lengths
        idBytes = bytes
    }

    /// Every id this tokenizer can produce or decode: base ranks plus the special block.
    public var vocabularySize: Int { idStart.count }

    /// The id of a special slot by name (`<|im_end|>`, `<|reserved_token_163589|>`), or nil.
    public func specialID(_ name: String) -> Int? {
        let bytes = Array(name.utf8)
        let found = bytes.withUnsafeBufferPointer { specials.lookup($0.baseAddress!, bytes.count) }
        return found < 0 ? nil : found
    }

    /// The rank of exactly these bytes in `tiktoken.model`, or nil.
    public func id(forBytes bytes: [UInt8]) -> Int? {
        let found = bytes.withUnsafeBufferPointer { ranks.lookup($0.baseAddress!, bytes.count) }
        return found < 0 ? nil : found
    }

    /// The bytes of an id (a special id gives its name), or nil for an id outside the vocabulary.
    public func bytes(forID id: Int) -> [UInt8]? {
        guard id >= 0 && id < idStart.count && idStart[id] >= 0 else { return nil }
        let start = Int(idStart[id])
        return Array(idBytes[start..<(start + Int(idLength[id]))])
    }

    /// The concatenated bytes of `ids`.
    public func decodeBytes(_ ids: [Int]) throws(TokenizerError) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            guard id >= 0 && id < idStart.count && idStart[id] >= 0 else { throw .unknownID(id) }
            let start = Int(idStart[id])
            out += idBytes[start..<(start + Int(idLength[id]))]
        }
        return out
    }

    /// The text of `ids`, invalid UTF-8 replaced by U+FFFD (as Python's `errors="replace"`).
    public func decode(_ ids: [Int]) throws(TokenizerError) -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }

    /// Token ids of `text` as HF `tokenization_kimi.py` `encode` gives them.
    /// - Parameter allowSpecial: true (HF's default): special names in the text become their ids
    ///   (tiktoken `allowed_special="all"`); false: they are encoded as ordinary text (`disallowed_special=()`).
    public func encode(_ text: String, allowSpecial: Bool = true) -> [Int] {
        var scalars: [UInt32] = []
        var classes: [UInt8] = []
        var offsets: [Int] = []
        let byteCount = text.utf8.count
        scalars.reserveCapacity(byteCount)
        classes.reserveCapacity(byteCount)
        offsets.reserveCapacity(byteCount + 1)
        var offset = 0
        CharacterClass.table.withUnsafeBufferPointer { table in
            for scalar in text.unicodeScalars {
                let v = scalar.value
                scalars.append(v)
                classes.append(table[Int(v)])
                offsets.append(offset)
                offset += v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x1_0000 ? 3 : 4
            }
        }
        offsets.append(offset)
        var utf8 = text
        var ids: [Int] = []
        ids.reserveCapacity(byteCount / 3 + 1)
        utf8.withUTF8 { bytes in
            scalars.withUnsafeBufferPointer { scalarBuffer in
                classes.withUnsafeBufferPointer { classBuffer in
                    offsets.withUnsafeBufferPointer { offsetBuffer in
                        var encoder = SegmentEncoder(
                            tokenizer: self, bytes: bytes, offsets: offsetBuffer,
                            matcher: PreTokenizer(scalars: scalarBuffer, classes: classBuffer))
                        encoder.encodeWrapped(count: scalarBuffer.count, allowSpecial: allowSpecial, into: &ids)
                    }
                }
            }
        }
        return ids
    }

    /// The pre-tokens of `text` (no special-token handling, no run split): K2's pat_str pieces.
    public static func preTokenize(_ text: String) -> [String] {
        let scalars = text.unicodeScalars.map(\.value)
        let classes = scalars.map { CharacterClass.table[Int($0)] }
        var pieces: [String] = []
        scalars.withUnsafeBufferPointer { s in
            classes.withUnsafeBufferPointer { c in
                let matcher = PreTokenizer(scalars: s, classes: c)
                var p = 0
                while p < s.count {
                    guard let e = matcher.matchEnd(at: p, end: s.count) else {
                        p += 1
                        continue
                    }
                    var piece = String.UnicodeScalarView()
                    for v in s[p..<e] { piece.append(Unicode.Scalar(v)!) }
                    pieces.append(String(piece))
                    p = e
                }
            }
        }
        return pieces
    }

    // Internals used by SegmentEncoder.

    fileprivate func rank(of bytes: UnsafePointer<UInt8>, _ count: Int) -> Int { ranks.lookup(bytes, count) }
    var rankTable: RankTable { ranks }
    fileprivate func special(at bytes: UnsafePointer<UInt8>, available: Int) -> (id: Int, length: Int)? {
        for length in specialLengths where length <= available {
            let id = specials.lookup(bytes, length)
            if id >= 0 { return (id, length) }
        }
        return nil
    }

    private static func read(_ path: String) throws(TokenizerError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied or not a file" : "no such file"
            throw .unreadable(file: path, reason: reason)
        }
        return [UInt8](data)
    }

    /// `added_tokens_decoder`: {"163584": {"content": "[BOS]", "special": true, ...}, ...}.
    private static func addedTokens(_ json: JSONValue, file: String) throws(TokenizerError) -> [Int: (name: String, special: Bool)] {
        guard case .object = json else { throw .invalidConfig(file: file, reason: "expected a JSON object") }
        guard let decoder = json["added_tokens_decoder"] else { return [:] }
        guard let members = decoder.members else {
            throw .invalidConfig(file: file, reason: "added_tokens_decoder is a \(decoder.kindName), expected an object")
        }
        var out: [Int: (name: String, special: Bool)] = [:]
        for (key, value) in members {
            guard let id = Int(key), id >= 0 else {
                throw .invalidConfig(file: file, reason: "added_tokens_decoder key '\(key)' is not a token id")
            }
            guard let content = value["content"]?.stringValue, !content.isEmpty else {
                throw .invalidConfig(file: file, reason: "added_tokens_decoder[\(key)] has no string 'content'")
            }
            out[id] = (content, value["special"]?.boolValue ?? true)
        }
        return out
    }
}

/// One encode call's state: the text's bytes, code points, classes and a scratch buffer for merging.
private struct SegmentEncoder {
    let tokenizer: BPETokenizer
    let bytes: UnsafeBufferPointer<UInt8>
    let offsets: UnsafeBufferPointer<Int>
    let matcher: PreTokenizer
    var scratch: [Int] = []

    init(tokenizer: BPETokenizer, bytes: UnsafeBufferPointer<UInt8>, offsets: UnsafeBufferPointer<Int>, matcher: PreTokenizer) {
        self.tokenizer = tokenizer
        self.bytes = bytes
        self.offsets = offsets
        self.matcher = matcher
        scratch.reserveCapacity(2 * BytePairMerge.heapThreshold + 4)
    }

    /// HF's wrapper: 400,000-character chunks, then `_split_whitespaces_or_nonwhitespaces` at 25,000
    /// (Python `str.isspace`), then tiktoken on each piece.
    mutating func encodeWrapped(count: Int, allowSpecial: Bool, into ids: inout [Int]) {
        let classes = matcher.classes
        var chunkStart = 0
        while chunkStart < count {
            let chunkEnd = min(count, chunkStart + BPETokenizer.maxChunkCharacters)
            var sliceStart = chunkStart
            var currentIsSpace = classes[chunkStart] & CharacterClass.pythonSpace != 0
            var currentLength = 0
            for i in chunkStart..<chunkEnd {
                let isSpace = classes[i] & CharacterClass.pythonSpace != 0
                if isSpace != currentIsSpace {
                    currentLength = 1
                    currentIsSpace = isSpace
                } else {
                    currentLength += 1
                    if currentLength > BPETokenizer.maxRunCharacters {
                        encodeSegment(sliceStart, i, allowSpecial: allowSpecial, into: &ids)
                        sliceStart = i
                        currentLength = 1
                    }
                }
            }
            encodeSegment(sliceStart, chunkEnd, allowSpecial: allowSpecial, into: &ids)
            chunkStart = chunkEnd
        }
    }

    /// tiktoken `encode` on the characters lo..<hi: ordinary text between special names.
    mutating func encodeSegment(_ lo: Int, _ hi: Int, allowSpecial: Bool, into ids: inout [Int]) {
        guard allowSpecial else { return encodeOrdinary(lo, hi, into: &ids) }
        var start = lo
        var i = lo
        let base = bytes.baseAddress!
        let endByte = offsets[hi]
        while i < hi {
            let b = bytes[offsets[i]]
            if tokenizer.specialFirstByte[Int(b)],
                let found = tokenizer.special(at: base + offsets[i], available: endByte - offsets[i])
            {
                encodeOrdinary(start, i, into: &ids)
                ids.append(found.id)
                let stop = offsets[i] + found.length
                while i < hi && offsets[i] < stop { i += 1 }
                start = i
                continue
            }
            i += 1
        }
        encodeOrdinary(start, hi, into: &ids)
    }

    /// Pre-tokenize lo..<hi (end of text at hi) and byte-pair encode each piece.
    mutating func encodeOrdinary(_ lo: Int, _ hi: Int, into ids: inout [Int]) {
        var p = lo
        let base = bytes.baseAddress!
        while p < hi {
            guard let e = matcher.matchEnd(at: p, end: hi) else {
                p += 1
                continue
            }
            let start = offsets[p]
            let length = offsets[e] - start
            let whole = tokenizer.rank(of: base + start, length)
            if whole >= 0 {
                ids.append(whole)
            } else {
                BytePairMerge.encode(
                    UnsafeBufferPointer(start: base + start, count: length), ranks: tokenizer.rankTable, scratch: &scratch,
                    output: &ids)
            }
            p = e
        }
    }
}
