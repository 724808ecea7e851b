/// A regular expression with the syntax and matching rules of Python's `re` module for `str` patterns, which is
/// what `jsonschema` uses for `pattern`, `patternProperties` and the metaschema's `regex` format (see
/// docs/evaluation.md, "Schema validation"). Patterns Python rejects are rejected here with Python's reason;
/// `search` finds a match anywhere in the text (`re.search`), by backtracking over code points.
///
/// Supported: literals and escapes (`\n`, `\x41`, `\u00e9`, `\U0001F600`, `\N{name}`, octal), classes with
/// ranges and `\d \w \s` (Unicode by default, ASCII under `(?a)`), `.`, `^ $ \A \Z \b \B`, greedy, lazy and
/// possessive quantifiers, capturing, named (`(?P<n>…)`), non-capturing and atomic groups, backreferences,
/// look-ahead and fixed-width look-behind, conditionals `(?(1)…|…)`, comments, and the flags `a i m s x u`
/// (global at the start or scoped `(?i:…)`).
struct PythonRegex: Sendable {
    fileprivate let root: RegexNode
    fileprivate let groupCount: Int
    /// Only the first position can match (`\A`, or `^` without MULTILINE, leads every alternative).
    fileprivate let anchoredAtStart: Bool

    /// Compiles `pattern` as `re.compile` would, or throws Python's complaint.
    init(_ pattern: String) throws(PythonRegexError) {
        var parser = RegexParser(pattern: pattern.unicodeScalars.map(\.value))
        let node = try parser.parseWhole()
        root = node
        groupCount = parser.groupCount
        anchoredAtStart = node.anchorsAtStart
    }

    /// `re.search(pattern, text) is not None`; nil when the match needed more than the backtracking budget.
    func search(_ text: String) -> Bool? {
        let run = RegexRun(text: text.unicodeScalars.map(\.value), groups: groupCount)
        let last = anchoredAtStart ? 0 : run.text.count
        for start in 0...last {
            run.resetCaptures()
            if run.match(root, start, { _ in true }) { return true }
            if run.aborted { return nil }
        }
        return false
    }
}

/// Why Python's `re.compile` rejects a pattern (its message) and where (code-point offset).
struct PythonRegexError: Error, Equatable, Sendable, CustomStringConvertible {
    var message: String
    var position: Int
    var description: String { "\(message) at position \(position)" }
}

// MARK: - Program

/// Inline flags (`re.I`, `re.M`, `re.S`, `re.X`, `re.A`, `re.U`, `re.T`).
private struct RegexFlags: OptionSet, Sendable {
    let rawValue: Int
    static let ignoreCase = RegexFlags(rawValue: 1)
    static let multiline = RegexFlags(rawValue: 2)
    static let dotAll = RegexFlags(rawValue: 4)
    static let verbose = RegexFlags(rawValue: 8)
    static let ascii = RegexFlags(rawValue: 16)
    static let unicode = RegexFlags(rawValue: 32)
    static let template = RegexFlags(rawValue: 64)
    static let typeFlags: RegexFlags = [.ascii, .unicode]

    init(rawValue: Int) { self.rawValue = rawValue }

    init?(letter: UInt32) {
        switch letter {
        case 0x69: self = .ignoreCase
        case 0x6D: self = .multiline
        case 0x73: self = .dotAll
        case 0x78: self = .verbose
        case 0x61: self = .ascii
        case 0x75: self = .unicode
        case 0x74: self = .template
        case 0x4C: self = RegexFlags(rawValue: 128)  // LOCALE: accepted by the grammar, refused for str patterns
        default: return nil
        }
    }

    /// How flags of a scoped group combine with the enclosing ones (a type flag replaces the other type flags).
    func adding(_ add: RegexFlags, removing remove: RegexFlags) -> RegexFlags {
        var base = self
        if !add.intersection(.typeFlags).isEmpty { base.subtract(.typeFlags) }
        return base.union(add).subtracting(remove)
    }
}

/// Case-insensitive comparison mode of a node: none, ASCII letters only (`(?ai)`), or Unicode simple case.
private enum CaseFold: Sendable {
    case none, ascii, unicode

    init(_ flags: RegexFlags) {
        self = !flags.contains(.ignoreCase) ? .none : flags.contains(.ascii) ? .ascii : .unicode
    }
}

/// `\d \D \s \S \w \W`, Unicode or ASCII.
private struct RegexCategory: Sendable {
    enum Kind: Sendable { case digit, space, word }
    var kind: Kind
    var negated: Bool
    var ascii: Bool

    func contains(_ c: UInt32) -> Bool {
        let member: Bool
        switch kind {
        case .digit: member = ascii ? (0x30...0x39).contains(c) : CodePoint.isDecimal(c)
        case .space: member = ascii ? CodePoint.isASCIISpace(c) : CodePoint.isPythonSpace(c)
        case .word: member = ascii ? CodePoint.isASCIIWord(c) : CodePoint.isWord(c)
        }
        return member != negated
    }
}

private enum SetItem: Sendable {
    case literal(UInt32)
    case range(UInt32, UInt32)
    case category(RegexCategory)

    func contains(_ c: UInt32) -> Bool {
        switch self {
        case .literal(let x): c == x
        case .range(let lo, let hi): lo <= c && c <= hi
        case .category(let category): category.contains(c)
        }
    }
}

private struct CharacterSet: Sendable {
    var items: [SetItem]
    var negated: Bool
    var fold: CaseFold

    func contains(_ c: UInt32) -> Bool {
        var hit = items.contains { $0.contains(c) }
        if !hit && fold != .none {
            // Python lowers the character and every member; trying both case partners of `c` is the same test.
            // A literal member also matches its case partners that share only the uppercase (`s` and `ſ`).
            let variants = CodePoint.caseVariants(c, fold)
            hit = items.contains { item in
                if case .literal(let member) = item { return CodePoint.equal(c, member, fold) }
                return variants.contains { item.contains($0) }
            }
        }
        return hit != negated
    }
}

private enum RegexAnchor: Sendable {
    case lineStart(multiline: Bool)
    case lineEnd(multiline: Bool)
    case textStart
    case textEnd
    case boundary(ascii: Bool, negated: Bool)
}

private enum RepeatMode: Sendable { case greedy, lazy, possessive }

private indirect enum RegexNode: Sendable {
    case empty
    case literal(UInt32, CaseFold)
    case notLiteral(UInt32, CaseFold)
    case set(CharacterSet)
    case any(dotAll: Bool)
    case anchor(RegexAnchor)
    case sequence([RegexNode])
    case alternation([RegexNode])
    case group(Int, RegexNode)
    case backreference(Int, CaseFold)
    case repetition(RegexNode, min: Int, max: Int?, RepeatMode)
    case lookaround(RegexNode, ahead: Bool, negated: Bool, width: Int)
    case atomic(RegexNode)
    case conditional(Int, yes: RegexNode, no: RegexNode?)

    /// Whether `c` matches this node when it is a one-character node; nil for other nodes.
    func matchesOne(_ c: UInt32) -> Bool? {
        switch self {
        case .literal(let x, let fold): CodePoint.equal(c, x, fold)
        case .notLiteral(let x, let fold): !CodePoint.equal(c, x, fold)
        case .set(let set): set.contains(c)
        case .any(let dotAll): dotAll || c != 0x0A
        default: nil
        }
    }

    var isOneCharacter: Bool {
        switch self {
        case .literal, .notLiteral, .set, .any: true
        default: false
        }
    }

    /// Every way through starts with `\A` or a non-MULTILINE `^`, so only position 0 can match.
    var anchorsAtStart: Bool {
        switch self {
        case .anchor(.textStart), .anchor(.lineStart(multiline: false)): true
        case .sequence(let items): items.first?.anchorsAtStart ?? false
        case .alternation(let options): !options.isEmpty && options.allSatisfy(\.anchorsAtStart)
        case .group(_, let body), .atomic(let body): body.anchorsAtStart
        default: false
        }
    }
}

// MARK: - Parser (the grammar of CPython 3.11's `re` module)

private struct RegexParser {
    /// Python's MAXREPEAT on 64-bit builds; counts at or above it are refused.
    static let maxRepeat = 4_294_967_295
    static let maxWidth = Int.max / 4

    let pattern: [UInt32]
    var index = 0
    var flags: RegexFlags = []
    var scopes: [(add: RegexFlags, remove: RegexFlags)] = []
    var groupCount = 0
    var groupNames: [String: Int] = [:]
    /// Width (min, max) of each closed group, by number; nil while the group is open.
    var groupWidths: [(Int, Int)?] = [nil]
    var lookbehindGroups: Int?
    var conditionalReferences: [Int: Int] = [:]
    var sawRepeat = false

    init(pattern: [UInt32]) { self.pattern = pattern }

    var effectiveFlags: RegexFlags {
        scopes.reduce(flags) { $0.adding($1.add, removing: $1.remove) }
    }

    mutating func parseWhole() throws(PythonRegexError) -> RegexNode {
        let node = try parseAlternation(verbose: false, nested: 0)
        if index < pattern.count { throw fail("unbalanced parenthesis") }
        if flags.contains(RegexFlags(rawValue: 128)) { throw fail("bad inline flags: cannot use 'L' flag with a str pattern") }
        if flags.contains(.ascii) && flags.contains(.unicode) { throw fail("ASCII and UNICODE flags are incompatible") }
        for (group, position) in conditionalReferences.sorted(by: { $0.value < $1.value }) where group > groupCount {
            throw PythonRegexError(message: "invalid group reference \(group)", position: position)
        }
        if flags.contains(.template) && sawRepeat { throw fail("internal: unsupported template operator MAX_REPEAT") }
        return node
    }

    func fail(_ message: String, back: Int = 0) -> PythonRegexError {
        PythonRegexError(message: message, position: max(0, index - back))
    }

    // Tokens: one character, or a backslash and the character after it.

    var atEnd: Bool { index >= pattern.count }

    /// The next token without consuming it: (escaped, character).
    func peek() throws(PythonRegexError) -> (escaped: Bool, char: UInt32)? {
        guard index < pattern.count else { return nil }
        if pattern[index] == 0x5C {
            guard index + 1 < pattern.count else {
                throw PythonRegexError(message: "bad escape (end of pattern)", position: pattern.count - 1)
            }
            return (true, pattern[index + 1])
        }
        return (false, pattern[index])
    }

    mutating func next() throws(PythonRegexError) -> (escaped: Bool, char: UInt32)? {
        let token = try peek()
        if let token { index += token.escaped ? 2 : 1 }
        return token
    }

    /// Consumes the plain character `c` when it is next.
    mutating func take(_ c: UInt32) throws(PythonRegexError) -> Bool {
        if let token = try peek(), !token.escaped, token.char == c {
            index += 1
            return true
        }
        return false
    }

    func nextIsPlain(_ c: UInt32) throws(PythonRegexError) -> Bool {
        if let token = try peek(), !token.escaped, token.char == c { return true }
        return false
    }

    /// Up to `limit` plain characters from `allowed`.
    mutating func takeWhile(_ limit: Int, _ allowed: (UInt32) -> Bool) throws(PythonRegexError) -> [UInt32] {
        var out: [UInt32] = []
        while out.count < limit, let token = try peek(), !token.escaped, allowed(token.char) {
            out.append(token.char)
            index += 1
        }
        return out
    }

    /// Characters up to `terminator` (consumed), for group names.
    mutating func takeUntil(_ terminator: UInt32, what: String) throws(PythonRegexError) -> String {
        var name = String.UnicodeScalarView()
        while true {
            guard let token = try next() else {
                if name.isEmpty { throw fail("missing " + what) }
                throw fail("missing \(String(UnicodeScalar(UInt8(terminator)))), unterminated name", back: name.count)
            }
            if !token.escaped && token.char == terminator {
                if name.isEmpty { throw fail("missing " + what, back: 1) }
                return String(name)
            }
            if token.escaped { name.append("\\") }
            name.append(Unicode.Scalar(token.char) ?? "\u{FFFD}")
        }
    }

    // Alternation: a|b|c.

    mutating func parseAlternation(verbose: Bool, nested: Int) throws(PythonRegexError) -> RegexNode {
        var options: [RegexNode] = []
        var verbose = verbose
        while true {
            options.append(try parseSequence(verbose: &verbose, nested: nested + 1, first: nested == 0 && options.isEmpty))
            if !(try take(0x7C)) { break }
            if nested == 0 { verbose = flags.contains(.verbose) }
        }
        return options.count == 1 ? options[0] : .alternation(options)
    }

    /// One item of a sequence, tagged with what the repeat rules need to know about it.
    struct Item {
        enum Kind { case unit, anchor, repeated, plainGroup, other }
        var node: RegexNode
        var kind: Kind
        var width: (Int, Int)
    }

    // A sequence of items up to `|`, `)` or the end.

    mutating func parseSequence(verbose: inout Bool, nested: Int, first: Bool) throws(PythonRegexError) -> RegexNode {
        let items = try parseItems(verbose: &verbose, nested: nested, first: first)
        return Self.sequenceNode(items)
    }

    static func sequenceNode(_ items: [Item]) -> RegexNode {
        var nodes: [RegexNode] = []
        for item in items {
            if case .sequence(let inner) = item.node { nodes += inner } else { nodes.append(item.node) }
        }
        return nodes.count == 1 ? nodes[0] : nodes.isEmpty ? .empty : .sequence(nodes)
    }

    static func width(of items: [Item]) -> (Int, Int) {
        items.reduce((0, 0)) { (min($0.0 + $1.width.0, maxWidth), min($0.1 + $1.width.1, maxWidth)) }
    }

    mutating func parseItems(verbose: inout Bool, nested: Int, first: Bool) throws(PythonRegexError) -> [Item] {
        var items: [Item] = []
        while let token = try peek() {
            if !token.escaped && (token.char == 0x7C || token.char == 0x29) { break }
            index += token.escaped ? 2 : 1
            let c = token.char
            if verbose && !token.escaped {
                if CodePoint.isVerboseSpace(c) { continue }
                if c == 0x23 {
                    while let t = try next(), t.escaped || t.char != 0x0A {}
                    continue
                }
            }
            let here = effectiveFlags
            if token.escaped {
                items.append(try escape(c, flags: here))
                continue
            }
            switch c {
            case 0x5B: items.append(try characterClass(flags: here))
            case 0x2A, 0x2B, 0x3F, 0x7B:
                if let repeated = try quantifier(c, after: &items) {
                    items[items.count - 1] = repeated
                } else {
                    items.append(Item(node: .literal(c, CaseFold(here)), kind: .unit, width: (1, 1)))
                }
            case 0x2E: items.append(Item(node: .any(dotAll: here.contains(.dotAll)), kind: .unit, width: (1, 1)))
            case 0x28:
                if let item = try group(verbose: &verbose, nested: nested, first: first, itemsSoFar: items.count) {
                    items.append(item)
                }
            case 0x5E:
                items.append(Item(node: .anchor(.lineStart(multiline: here.contains(.multiline))), kind: .anchor, width: (0, 0)))
            case 0x24:
                items.append(Item(node: .anchor(.lineEnd(multiline: here.contains(.multiline))), kind: .anchor, width: (0, 0)))
            default: items.append(Item(node: .literal(c, CaseFold(here)), kind: .unit, width: (1, 1)))
            }
        }
        return items
    }

    // Escapes outside a class.

    mutating func escape(_ c: UInt32, flags here: RegexFlags) throws(PythonRegexError) -> Item {
        let ascii = here.contains(.ascii)
        func category(_ kind: RegexCategory.Kind, _ negated: Bool) -> Item {
            let set = CharacterSet(
                items: [.category(RegexCategory(kind: kind, negated: negated, ascii: ascii))], negated: false, fold: .none)
            return Item(node: .set(set), kind: .unit, width: (1, 1))
        }
        func anchor(_ a: RegexAnchor) -> Item { Item(node: .anchor(a), kind: .anchor, width: (0, 0)) }
        func literal(_ x: UInt32) -> Item { Item(node: .literal(x, CaseFold(here)), kind: .unit, width: (1, 1)) }
        switch c {
        case 0x41: return anchor(.textStart)
        case 0x5A: return anchor(.textEnd)
        case 0x62: return anchor(.boundary(ascii: ascii, negated: false))
        case 0x42: return anchor(.boundary(ascii: ascii, negated: true))
        case 0x64: return category(.digit, false)
        case 0x44: return category(.digit, true)
        case 0x73: return category(.space, false)
        case 0x53: return category(.space, true)
        case 0x77: return category(.word, false)
        case 0x57: return category(.word, true)
        default: break
        }
        if let simple = Self.simpleEscape(c) { return literal(simple) }
        if let code = try codeEscape(c) { return literal(code) }
        if c == 0x30 {
            let digits = try takeWhile(2, CodePoint.isOctalDigit)
            return literal(Self.octal([c] + digits))
        }
        if CodePoint.isDigit(c) {
            var digits = [c]
            if let t = try peek(), !t.escaped, CodePoint.isDigit(t.char) {
                digits.append(t.char)
                index += 1
                if CodePoint.isOctalDigit(digits[0]) && CodePoint.isOctalDigit(digits[1]), let t3 = try peek(), !t3.escaped,
                    CodePoint.isOctalDigit(t3.char)
                {
                    index += 1
                    let value = Self.octal(digits + [t3.char])
                    if value > 0o377 {
                        throw fail("octal escape value \\\(Self.text(digits + [t3.char])) outside of range 0-0o377", back: 4)
                    }
                    return literal(value)
                }
            }
            let group = Int(Self.text(digits))!
            if group <= groupCount {
                guard let width = groupWidths[group] else { throw fail("cannot refer to an open group", back: digits.count + 1) }
                try checkLookbehindReference(group)
                return Item(node: .backreference(group, CaseFold(here)), kind: .other, width: width)
            }
            throw fail("invalid group reference \(group)", back: digits.count)
        }
        if CodePoint.isASCIILetter(c) { throw fail("bad escape \\\(Self.text([c]))", back: 2) }
        return literal(c)
    }

    /// `\a \f \n \r \t \v \\` (and `\b` inside a class, handled by the caller).
    static func simpleEscape(_ c: UInt32) -> UInt32? {
        switch c {
        case 0x61: 0x07
        case 0x66: 0x0C
        case 0x6E: 0x0A
        case 0x72: 0x0D
        case 0x74: 0x09
        case 0x76: 0x0B
        case 0x5C: 0x5C
        default: nil
        }
    }

    /// `\xhh`, `\uhhhh`, `\Uhhhhhhhh`, `\N{name}`; nil for other letters.
    mutating func codeEscape(_ c: UInt32) throws(PythonRegexError) -> UInt32? {
        let count: Int
        switch c {
        case 0x78: count = 2
        case 0x75: count = 4
        case 0x55: count = 8
        case 0x4E:
            guard try take(0x7B) else { throw fail("missing {") }
            let name = try takeUntil(0x7D, what: "character name")
            guard let scalar = CodePoint.named(name) else {
                throw fail("undefined character name '\(name)'", back: name.unicodeScalars.count + 4)
            }
            return scalar
        default: return nil
        }
        let digits = try takeWhile(count, CodePoint.isHexDigit)
        let escapeText = "\\" + Self.text([c] + digits)
        guard digits.count == count else { throw fail("incomplete escape \(escapeText)", back: digits.count + 2) }
        let value = UInt32(Self.text(digits), radix: 16)!
        if c == 0x55 && value > 0x10FFFF { throw fail("bad escape \(escapeText)", back: 10) }
        return value
    }

    static func octal(_ digits: [UInt32]) -> UInt32 { digits.reduce(0) { $0 * 8 + ($1 - 0x30) } }
    static func text(_ chars: [UInt32]) -> String {
        String(String.UnicodeScalarView(chars.compactMap(Unicode.Scalar.init)))
    }

    func checkLookbehindReference(_ group: Int) throws(PythonRegexError) {
        if let first = lookbehindGroups, group >= first {
            throw fail("cannot refer to group defined in the same lookbehind subpattern")
        }
    }

    // Classes: [...], [^...].

    mutating func characterClass(flags here: RegexFlags) throws(PythonRegexError) -> Item {
        let start = index - 1
        var items: [SetItem] = []
        let negated = try take(0x5E)
        let ascii = here.contains(.ascii)
        while true {
            guard let token = try next() else { throw PythonRegexError(message: "unterminated character set", position: start) }
            if !token.escaped && token.char == 0x5D && !items.isEmpty { break }
            let first = try classItem(token, ascii: ascii)
            if try take(0x2D) {
                guard let that = try next() else { throw PythonRegexError(message: "unterminated character set", position: start) }
                if !that.escaped && that.char == 0x5D {
                    items.append(first)
                    items.append(.literal(0x2D))
                    break
                }
                let second = try classItem(that, ascii: ascii)
                guard case .literal(let lo) = first, case .literal(let hi) = second, lo <= hi else {
                    throw fail("bad character range", back: 3)
                }
                items.append(.range(lo, hi))
            } else {
                items.append(first)
            }
        }
        let set = CharacterSet(items: items, negated: negated, fold: CaseFold(here))
        return Item(node: .set(set), kind: .unit, width: (1, 1))
    }

    mutating func classItem(_ token: (escaped: Bool, char: UInt32), ascii: Bool) throws(PythonRegexError) -> SetItem {
        token.escaped ? try classEscape(token.char, ascii: ascii) : .literal(token.char)
    }

    mutating func classEscape(_ c: UInt32, ascii: Bool) throws(PythonRegexError) -> SetItem {
        if c == 0x62 { return .literal(0x08) }
        if let simple = Self.simpleEscape(c) { return .literal(simple) }
        switch c {
        case 0x64: return .category(RegexCategory(kind: .digit, negated: false, ascii: ascii))
        case 0x44: return .category(RegexCategory(kind: .digit, negated: true, ascii: ascii))
        case 0x73: return .category(RegexCategory(kind: .space, negated: false, ascii: ascii))
        case 0x53: return .category(RegexCategory(kind: .space, negated: true, ascii: ascii))
        case 0x77: return .category(RegexCategory(kind: .word, negated: false, ascii: ascii))
        case 0x57: return .category(RegexCategory(kind: .word, negated: true, ascii: ascii))
        default: break
        }
        if let code = try codeEscape(c) { return .literal(code) }
        if CodePoint.isOctalDigit(c) {
            let digits = [c] + (try takeWhile(2, CodePoint.isOctalDigit))
            let value = Self.octal(digits)
            if value > 0o377 { throw fail("octal escape value outside of range 0-0o377", back: digits.count + 1) }
            return .literal(value)
        }
        if CodePoint.isDigit(c) || CodePoint.isASCIILetter(c) { throw fail("bad escape \\\(Self.text([c]))", back: 2) }
        return .literal(c)
    }

    // Quantifiers: * + ? {m,n}, then ? (lazy) or + (possessive). Returns nil when `{` is a literal.

    mutating func quantifier(_ c: UInt32, after items: inout [Item]) throws(PythonRegexError) -> Item? {
        let here = index
        var low = 0
        var high: Int?
        switch c {
        case 0x3F: high = 1
        case 0x2A: break
        case 0x2B: low = 1
        default:
            if try nextIsPlain(0x7D) { return nil }
            let lo = try takeWhile(Int.max, CodePoint.isDigit)
            var hi = lo
            if try take(0x2C) { hi = try takeWhile(Int.max, CodePoint.isDigit) }
            guard try take(0x7D) else {
                index = here
                return nil
            }
            if !lo.isEmpty {
                guard let value = Int(Self.text(lo)), value < Self.maxRepeat else { throw fail("the repetition number is too large") }
                low = value
            }
            if !hi.isEmpty {
                guard let value = Int(Self.text(hi)), value < Self.maxRepeat else { throw fail("the repetition number is too large") }
                high = value
                if value < low { throw fail("min repeat greater than max repeat", back: index - here) }
            }
        }
        guard let previous = items.last, previous.kind != .anchor else { throw fail("nothing to repeat", back: index - here + 1) }
        if previous.kind == .repeated { throw fail("multiple repeat", back: index - here + 1) }
        var mode = RepeatMode.greedy
        if try take(0x3F) {
            mode = .lazy
        } else if try take(0x2B) {
            mode = .possessive
        }
        sawRepeat = true
        let body = previous.width
        let maxWidth: Int
        if let high { maxWidth = min(body.1 * high, Self.maxWidth) } else { maxWidth = body.1 == 0 ? 0 : Self.maxWidth }
        let width = (min(body.0 * low, Self.maxWidth), maxWidth)
        return Item(node: .repetition(previous.node, min: low, max: high, mode), kind: .repeated, width: width)
    }

    // Groups and extensions.

    mutating func group(verbose: inout Bool, nested: Int, first: Bool, itemsSoFar: Int) throws(PythonRegexError) -> Item? {
        let start = index - 1
        var capture = true
        var atomic = false
        var name: String?
        var add: RegexFlags = []
        var remove: RegexFlags = []
        if try take(0x3F) {
            guard let token = try next() else { throw fail("unexpected end of pattern") }
            let c = token.escaped ? 0 : token.char
            switch c {
            case 0x50:
                if try take(0x3C) {
                    name = try takeUntil(0x3E, what: "group name")
                    try checkGroupName(name!)
                } else if try take(0x3D) {
                    let reference = try takeUntil(0x29, what: "group name")
                    try checkGroupName(reference)
                    guard let group = groupNames[reference] else { throw fail("unknown group name '\(reference)'") }
                    guard let width = groupWidths[group] else { throw fail("cannot refer to an open group") }
                    try checkLookbehindReference(group)
                    return Item(node: .backreference(group, CaseFold(effectiveFlags)), kind: .other, width: width)
                } else {
                    guard let t = try next() else { throw fail("unexpected end of pattern") }
                    throw fail("unknown extension ?P" + Self.text([t.char]))
                }
            case 0x3A: capture = false
            case 0x23:
                while true {
                    guard let t = try next() else { throw PythonRegexError(message: "missing ), unterminated comment", position: start) }
                    if !t.escaped && t.char == 0x29 { break }
                }
                return nil
            case 0x3D, 0x21, 0x3C:
                var kind = c
                var ahead = true
                var outerLookbehind: Int?
                if c == 0x3C {
                    guard let t = try next() else { throw fail("unexpected end of pattern") }
                    guard !t.escaped, t.char == 0x3D || t.char == 0x21 else { throw fail("unknown extension ?<" + Self.text([t.char])) }
                    kind = t.char
                    ahead = false
                    outerLookbehind = lookbehindGroups
                    if lookbehindGroups == nil { lookbehindGroups = groupCount + 1 }
                }
                let (body, width) = try parseSub(verbose: verbose, nested: nested + 1)
                if !ahead && outerLookbehind == nil { lookbehindGroups = nil }
                guard try take(0x29) else { throw PythonRegexError(message: "missing ), unterminated subpattern", position: start) }
                if !ahead && width.0 != width.1 { throw fail("look-behind requires fixed-width pattern") }
                let node = RegexNode.lookaround(body, ahead: ahead, negated: kind == 0x21, width: width.0)
                return Item(node: node, kind: .other, width: (0, 0))
            case 0x28: return try conditional(verbose: verbose, nested: nested, start: start)
            case 0x3E:
                capture = false
                atomic = true
            default:
                guard RegexFlags(letter: c) != nil || c == 0x2D else { throw fail("unknown extension ?" + Self.text([token.char])) }
                if let scoped = try inlineFlags(c) {
                    (add, remove) = scoped
                    capture = false
                } else {
                    if !first || itemsSoFar > 0 {
                        throw PythonRegexError(message: "global flags not at the start of the expression", position: start)
                    }
                    verbose = flags.contains(.verbose)
                    return nil
                }
            }
        }
        var group: Int?
        if capture {
            groupCount += 1
            groupWidths.append(nil)
            if let name {
                if let old = groupNames[name] {
                    throw fail("redefinition of group name '\(name)' as group \(groupCount); was group \(old)")
                }
                groupNames[name] = groupCount
            }
            group = groupCount
        }
        let innerVerbose = (verbose || add.contains(.verbose)) && !remove.contains(.verbose)
        scopes.append((add, remove))
        let (body, width) = try parseSub(verbose: innerVerbose, nested: nested + 1)
        scopes.removeLast()
        guard try take(0x29) else { throw PythonRegexError(message: "missing ), unterminated subpattern", position: start) }
        if let group {
            groupWidths[group] = width
            return Item(node: .group(group, body), kind: .other, width: width)
        }
        if atomic { return Item(node: .atomic(body), kind: .other, width: width) }
        return Item(node: body, kind: add.isEmpty && remove.isEmpty ? .plainGroup : .other, width: width)
    }

    /// `_parse_sub` with its width.
    mutating func parseSub(verbose: Bool, nested: Int) throws(PythonRegexError) -> (RegexNode, (Int, Int)) {
        var options: [[Item]] = []
        var verbose = verbose
        repeat {
            options.append(try parseItems(verbose: &verbose, nested: nested + 1, first: false))
        } while try take(0x7C)
        let widths = options.map(Self.width(of:))
        let width = (widths.map(\.0).min()!, widths.map(\.1).max()!)
        if options.count == 1 { return (Self.sequenceNode(options[0]), width) }
        return (.alternation(options.map(Self.sequenceNode)), width)
    }

    mutating func conditional(verbose: Bool, nested: Int, start: Int) throws(PythonRegexError) -> Item {
        let reference = try takeUntil(0x29, what: "group name")
        let group: Int
        if CodePoint.isIdentifier(reference) {
            guard let known = groupNames[reference] else { throw fail("unknown group name '\(reference)'") }
            group = known
        } else {
            guard reference.unicodeScalars.allSatisfy({ CodePoint.isDigit($0.value) }), let number = Int(reference) else {
                throw fail("bad character in group name '\(reference)'")
            }
            if number == 0 { throw fail("bad group number") }
            if number >= 1_073_741_823 { throw fail("invalid group reference \(number)") }
            if conditionalReferences[number] == nil { conditionalReferences[number] = index - reference.unicodeScalars.count - 1 }
            group = number
        }
        try checkLookbehindReference(group)
        var verboseYes = verbose
        let yes = try parseItems(verbose: &verboseYes, nested: nested + 1, first: false)
        var no: [Item]?
        if try take(0x7C) {
            var verboseNo = verbose
            no = try parseItems(verbose: &verboseNo, nested: nested + 1, first: false)
            if try nextIsPlain(0x7C) { throw fail("conditional backref with more than two branches") }
        }
        guard try take(0x29) else { throw PythonRegexError(message: "missing ), unterminated subpattern", position: start) }
        let yesWidth = Self.width(of: yes)
        let noWidth = no.map(Self.width(of:))
        let width = (noWidth.map { min(yesWidth.0, $0.0) } ?? 0, max(yesWidth.1, noWidth?.1 ?? 0))
        let node = RegexNode.conditional(group, yes: Self.sequenceNode(yes), no: no.map(Self.sequenceNode))
        return Item(node: node, kind: .other, width: width)
    }

    /// After `(?` and a flag letter or `-`: nil for global flags `(?aiLmsux)`, else the scoped (add, remove).
    mutating func inlineFlags(_ firstChar: UInt32) throws(PythonRegexError) -> (RegexFlags, RegexFlags)? {
        var add: RegexFlags = []
        var remove: RegexFlags = []
        var c = firstChar
        if c != 0x2D {
            while true {
                let flag = RegexFlags(letter: c)!
                if flag.rawValue == 128 { throw fail("bad inline flags: cannot use 'L' flag with a str pattern") }
                add.insert(flag)
                if !flag.intersection(.typeFlags).isEmpty && add.intersection(.typeFlags) != flag {
                    throw fail("bad inline flags: flags 'a', 'u' and 'L' are incompatible")
                }
                guard let t = try next() else { throw fail("missing -, : or )") }
                c = t.escaped ? 0 : t.char
                if c == 0x29 || c == 0x2D || c == 0x3A { break }
                guard RegexFlags(letter: c) != nil else {
                    throw fail(CodePoint.isAlpha(c) ? "unknown flag" : "missing -, : or )")
                }
            }
        }
        if c == 0x29 {
            flags.formUnion(add)
            return nil
        }
        if add.contains(.template) { throw fail("bad inline flags: cannot turn on global flag") }
        if c == 0x2D {
            guard let t = try next() else { throw fail("missing flag") }
            c = t.escaped ? 0 : t.char
            guard RegexFlags(letter: c) != nil else { throw fail(CodePoint.isAlpha(c) ? "unknown flag" : "missing flag") }
            while true {
                let flag = RegexFlags(letter: c)!
                if !flag.intersection(.typeFlags).isEmpty || flag.rawValue == 128 {
                    throw fail("bad inline flags: cannot turn off flags 'a', 'u' and 'L'")
                }
                remove.insert(flag)
                guard let t = try next() else { throw fail("missing :") }
                c = t.escaped ? 0 : t.char
                if c == 0x3A { break }
                guard RegexFlags(letter: c) != nil else { throw fail(CodePoint.isAlpha(c) ? "unknown flag" : "missing :") }
            }
        }
        if remove.contains(.template) { throw fail("bad inline flags: cannot turn off global flag") }
        if !add.intersection(remove).isEmpty { throw fail("bad inline flags: flag turned on and off") }
        return (add, remove)
    }

    func checkGroupName(_ name: String) throws(PythonRegexError) {
        if !CodePoint.isIdentifier(name) { throw fail("bad character in group name '\(name)'") }
    }
}

// MARK: - Matching (backtracking, leftmost alternative first, as Python's sre)

private final class RegexRun {
    /// Work and nesting limits; a pathological pattern gives up instead of hanging or exhausting the stack.
    static let stepLimit = 20_000_000
    static let depthLimit = 200_000

    let text: [UInt32]
    var captures: [Int]
    var steps = 0
    var depth = 0
    var aborted = false

    init(text: [UInt32], groups: Int) {
        self.text = text
        captures = Array(repeating: -1, count: 2 * (groups + 1))
    }

    func resetCaptures() {
        for i in captures.indices { captures[i] = -1 }
    }

    /// An atomic group: `attempt` keeps only its first way to match (no backtracking into it), then `next` runs
    /// from where that match ended; on failure the captures are as before.
    private func atomically(_ attempt: ((Int) -> Bool) -> Bool, then next: (Int) -> Bool) -> Bool {
        var end = -1
        let saved = captures
        guard
            attempt({ j in
                end = j
                return true
            })
        else { return false }
        if next(end) { return true }
        captures = saved
        return false
    }

    func match(_ node: RegexNode, _ i: Int, _ next: (Int) -> Bool) -> Bool {
        steps += 1
        depth += 1
        defer { depth -= 1 }
        if steps > Self.stepLimit || depth > Self.depthLimit { aborted = true }
        if aborted { return false }
        switch node {
        case .empty: return next(i)
        case .literal, .notLiteral, .set, .any:
            return i < text.count && node.matchesOne(text[i])! && next(i + 1)
        case .anchor(let anchor): return at(anchor, i) && next(i)
        case .sequence(let items): return sequence(items, 0, i, next)
        case .alternation(let options):
            for option in options where match(option, i, next) { return true }
            return false
        case .group(let number, let body):
            let saved = (captures[2 * number], captures[2 * number + 1])
            let matched = match(body, i) { j in
                let inner = (self.captures[2 * number], self.captures[2 * number + 1])
                self.captures[2 * number] = i
                self.captures[2 * number + 1] = j
                if next(j) { return true }
                self.captures[2 * number] = inner.0
                self.captures[2 * number + 1] = inner.1
                return false
            }
            if !matched {
                captures[2 * number] = saved.0
                captures[2 * number + 1] = saved.1
            }
            return matched
        case .backreference(let number, let fold):
            let start = captures[2 * number]
            let end = captures[2 * number + 1]
            guard start >= 0, end >= 0 else { return false }
            let length = end - start
            guard i + length <= text.count else { return false }
            for k in 0..<length where !CodePoint.equal(text[i + k], text[start + k], fold) { return false }
            return next(i + length)
        case .repetition(let body, let low, let high, let mode):
            if body.isOneCharacter { return repeatOne(body, low, high ?? Int.max, mode, i, next) }
            switch mode {
            case .greedy: return greedy(body, low, high ?? Int.max, 0, i, -1, next)
            case .lazy: return lazy(body, low, high ?? Int.max, 0, i, -1, next)
            case .possessive:
                // A possessive repetition is an atomic group around the greedy one.
                return atomically({ greedy(body, low, high ?? Int.max, 0, i, -1, $0) }, then: next)
            }
        case .lookaround(let body, let ahead, let negated, let width):
            let saved = captures
            let matched: Bool
            if ahead {
                matched = match(body, i) { _ in true }
            } else {
                matched = i >= width && match(body, i - width) { j in j == i }
            }
            if negated {
                captures = saved
                return !matched && !aborted && next(i)
            }
            guard matched else { return false }
            if next(i) { return true }
            captures = saved
            return false
        case .atomic(let body):
            return atomically({ match(body, i, $0) }, then: next)
        case .conditional(let number, let yes, let no):
            if captures[2 * number + 1] >= 0 { return match(yes, i, next) }
            if let no { return match(no, i, next) }
            return next(i)
        }
    }

    private func sequence(_ items: [RegexNode], _ k: Int, _ i: Int, _ next: (Int) -> Bool) -> Bool {
        var k = k
        var i = i
        // Runs of one-character nodes need no continuation.
        while k < items.count, items[k].isOneCharacter {
            guard i < text.count, items[k].matchesOne(text[i])! else { return false }
            k += 1
            i += 1
        }
        if k == items.count { return next(i) }
        return match(items[k], i) { j in self.sequence(items, k + 1, j, next) }
    }

    private func repeatOne(_ body: RegexNode, _ low: Int, _ high: Int, _ mode: RepeatMode, _ i: Int, _ next: (Int) -> Bool) -> Bool {
        var count = 0
        while count < high, i + count < text.count, body.matchesOne(text[i + count])! { count += 1 }
        steps += count
        guard count >= low else { return false }
        switch mode {
        case .greedy:
            var n = count
            while n >= low {
                if next(i + n) { return true }
                if aborted { return false }
                n -= 1
            }
            return false
        case .lazy:
            for n in low...count {
                if next(i + n) { return true }
                if aborted { return false }
            }
            return false
        case .possessive: return next(i + count)
        }
    }

    /// sre's MAX_UNTIL: iterate while allowed, but never twice in a row at the same position.
    private func greedy(
        _ body: RegexNode, _ low: Int, _ high: Int, _ count: Int, _ i: Int, _ last: Int, _ next: (Int) -> Bool
    ) -> Bool {
        if count < low {
            return match(body, i) { j in self.greedy(body, low, high, count + 1, j, last, next) }
        }
        if count < high && i != last {
            if match(body, i, { j in self.greedy(body, low, high, count + 1, j, i, next) }) { return true }
            if aborted { return false }
        }
        return next(i)
    }

    /// sre's MIN_UNTIL: the rest first, then one more iteration.
    private func lazy(_ body: RegexNode, _ low: Int, _ high: Int, _ count: Int, _ i: Int, _ last: Int, _ next: (Int) -> Bool) -> Bool {
        if count < low {
            return match(body, i) { j in self.lazy(body, low, high, count + 1, j, last, next) }
        }
        if next(i) { return true }
        if aborted || count >= high || i == last { return false }
        return match(body, i) { j in self.lazy(body, low, high, count + 1, j, i, next) }
    }

    private func at(_ anchor: RegexAnchor, _ i: Int) -> Bool {
        switch anchor {
        case .lineStart(let multiline): return i == 0 || (multiline && text[i - 1] == 0x0A)
        case .lineEnd(let multiline):
            if i == text.count { return true }
            return text[i] == 0x0A && (multiline || i == text.count - 1)
        case .textStart: return i == 0
        case .textEnd: return i == text.count
        case .boundary(let ascii, let negated):
            if text.isEmpty { return false }
            func word(_ c: UInt32) -> Bool { ascii ? CodePoint.isASCIIWord(c) : CodePoint.isWord(c) }
            let before = i > 0 && word(text[i - 1])
            let after = i < text.count && word(text[i])
            return (before != after) != negated
        }
    }
}

// MARK: - Code-point classes as Python's str methods define them

enum CodePoint {
    static func isDigit(_ c: UInt32) -> Bool { (0x30...0x39).contains(c) }
    static func isOctalDigit(_ c: UInt32) -> Bool { (0x30...0x37).contains(c) }
    static func isHexDigit(_ c: UInt32) -> Bool { isDigit(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c) }
    static func isASCIILetter(_ c: UInt32) -> Bool { (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) }
    static func isASCIIWord(_ c: UInt32) -> Bool { isASCIILetter(c) || isDigit(c) || c == 0x5F }
    static func isASCIISpace(_ c: UInt32) -> Bool { c == 0x20 || (0x09...0x0D).contains(c) }
    /// The whitespace verbose mode skips.
    static func isVerboseSpace(_ c: UInt32) -> Bool { isASCIISpace(c) }

    /// `str.isspace`: Unicode White_Space plus the separators U+001C…U+001F.
    static func isPythonSpace(_ c: UInt32) -> Bool {
        switch c {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }

    /// `str.isdecimal` (what `\d` matches).
    static func isDecimal(_ c: UInt32) -> Bool {
        if c < 0x80 { return isDigit(c) }
        return Unicode.Scalar(c)?.properties.numericType == .decimal
    }

    /// `str.isalpha`: general categories Lu, Ll, Lt, Lm, Lo.
    static func isAlpha(_ c: UInt32) -> Bool {
        if c < 0x80 { return isASCIILetter(c) }
        guard let scalar = Unicode.Scalar(c) else { return false }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\w`: `str.isalnum` (letters and anything with a numeric type) or `_`.
    static func isWord(_ c: UInt32) -> Bool {
        if c < 0x80 { return isASCIIWord(c) }
        return isAlpha(c) || Unicode.Scalar(c)?.properties.numericType != nil
    }

    /// `str.isidentifier` for group names.
    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first else { return false }
        guard first == "_" || first.properties.isXIDStart else { return false }
        return name.unicodeScalars.dropFirst().allSatisfy { $0.properties.isXIDContinue }
    }

    static func lower(_ c: UInt32) -> UInt32 {
        if c < 0x80 { return (0x41...0x5A).contains(c) ? c + 32 : c }
        guard let scalar = Unicode.Scalar(c) else { return c }
        let mapped = scalar.properties.lowercaseMapping.unicodeScalars
        if mapped.count == 1 { return mapped.first!.value }
        // Python uses the simple (one-character) mapping; U+0130's is `i`, its full mapping adds a dot.
        return c == 0x130 ? 0x69 : c
    }

    static func upper(_ c: UInt32) -> UInt32 {
        if c < 0x80 { return (0x61...0x7A).contains(c) ? c - 32 : c }
        guard let scalar = Unicode.Scalar(c) else { return c }
        let mapped = scalar.properties.uppercaseMapping.unicodeScalars
        if mapped.count == 1 { return mapped.first!.value }
        // Where the full uppercase is two characters (ᾳ → ΑΙ), the simple one is the single-character titlecase.
        let title = scalar.properties.titlecaseMapping.unicodeScalars
        return title.count == 1 ? title.first!.value : c
    }

    /// Characters `c` equals under the fold: itself, its lower- and uppercase, and the lowercase of its uppercase.
    fileprivate static func caseVariants(_ c: UInt32, _ fold: CaseFold) -> [UInt32] {
        switch fold {
        case .none: return [c]
        case .ascii:
            if (0x41...0x5A).contains(c) { return [c, c + 32] }
            if (0x61...0x7A).contains(c) { return [c, c - 32] }
            return [c]
        case .unicode:
            let up = upper(c)
            return [c, lower(c), up, lower(up)]
        }
    }

    fileprivate static func equal(_ a: UInt32, _ b: UInt32, _ fold: CaseFold) -> Bool {
        if a == b { return true }
        switch fold {
        case .none: return false
        case .ascii: return isASCIILetter(a) && isASCIILetter(b) && lower(a) == lower(b)
        case .unicode: return lower(a) == lower(b) || upper(lower(a)) == upper(lower(b)) || upper(a) == upper(b)
        }
    }

    /// `unicodedata.lookup`: a character by its name or alias, ignoring case.
    static func named(_ name: String) -> UInt32? {
        let wanted = name.uppercased()
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            if scalar.properties.name == wanted || scalar.properties.nameAlias == wanted { return value }
        }
        return nil
    }
}
