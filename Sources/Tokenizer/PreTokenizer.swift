/// K2's pat_str as a hand-written matcher over code points (docs/chat-and-tokenizer.md, "Pre-tokenization"):
///
///     [\p{Han}]+
///     |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
///     |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
///     |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// Each alternative is solved in closed form for the match a leftmost-first backtracking engine finds;
/// the end of the range is the end of text (tiktoken runs the pattern on each text between specials).
struct PreTokenizer {
    /// Code points of the text.
    let scalars: UnsafeBufferPointer<UInt32>
    /// ``CharacterClass`` bits per code point.
    let classes: UnsafeBufferPointer<UInt8>

    private static let cr: UInt32 = 0x0D
    private static let lf: UInt32 = 0x0A

    /// The end of the match that starts at `p` (< `end`), or nil when no alternative matches there
    /// (find_iter then skips the character; with tiktoken's classes every character matches).
    @inline(__always)
    func matchEnd(at p: Int, end: Int) -> Int? {
        let c = classes[p]
        // 1. [\p{Han}]+
        if c & CharacterClass.han != 0 {
            var e = p + 1
            while e < end && classes[e] & CharacterClass.han != 0 { e += 1 }
            return e
        }
        // 2 and 3, each with the optional prefix [^\r\n\p{L}\p{N}] tried first.
        let scalar = scalars[p]
        let prefix = c & (CharacterClass.letter | CharacterClass.number) == 0 && scalar != Self.cr && scalar != Self.lf
        if prefix && p + 1 < end, let e = lowerWord(from: p + 1, end: end) { return e }
        if let e = lowerWord(from: p, end: end) { return e }
        if prefix && p + 1 < end, let e = upperWord(from: p + 1, end: end) { return e }
        if let e = upperWord(from: p, end: end) { return e }
        // 4. \p{N}{1,3}
        if c & CharacterClass.number != 0 {
            var e = p + 1
            while e < end && e < p + 3 && classes[e] & CharacterClass.number != 0 { e += 1 }
            return e
        }
        // 5.  ?[^\s\p{L}\p{N}]+[\r\n]*
        let other = CharacterClass.space | CharacterClass.letter | CharacterClass.number
        var start = -1
        if scalar == 0x20 && p + 1 < end && classes[p + 1] & other == 0 {
            start = p + 1
        } else if c & other == 0 {
            start = p
        }
        if start >= 0 {
            var e = start + 1
            while e < end && classes[e] & other == 0 { e += 1 }
            while e < end && (scalars[e] == Self.cr || scalars[e] == Self.lf) { e += 1 }
            return e
        }
        guard c & CharacterClass.space != 0 else { return nil }
        var run = p + 1
        while run < end && classes[run] & CharacterClass.space != 0 { run += 1 }
        // 6. \s*[\r\n]+ : \s* backs off to the last CR/LF of the whitespace run.
        var j = run - 1
        while j >= p {
            if scalars[j] == Self.cr || scalars[j] == Self.lf { return j + 1 }
            j -= 1
        }
        // 7. \s+(?!\S) : the whole run at the end of text, else all but its last character.
        if run == end { return run }
        if run - p >= 2 { return run - 1 }
        // 8. \s+
        return run
    }

    /// `U* W+ C?` from q: U* gives back characters until one is lower-ish, W+ then runs on.
    @inline(__always)
    private func lowerWord(from q: Int, end: Int) -> Int? {
        var u = q
        while u < end && classes[u] & CharacterClass.upper != 0 { u += 1 }
        var k = u
        if !(u < end && classes[u] & CharacterClass.lower != 0) {
            k = u - 1
            while k >= q && classes[k] & CharacterClass.lower == 0 { k -= 1 }
            if k < q { return nil }
        }
        var e = k + 1
        while e < end && classes[e] & CharacterClass.lower != 0 { e += 1 }
        return contraction(at: e, end: end)
    }

    /// `U+ W* C?` from q.
    @inline(__always)
    private func upperWord(from q: Int, end: Int) -> Int? {
        guard q < end && classes[q] & CharacterClass.upper != 0 else { return nil }
        var e = q + 1
        while e < end && classes[e] & CharacterClass.upper != 0 { e += 1 }
        while e < end && classes[e] & CharacterClass.lower != 0 { e += 1 }
        return contraction(at: e, end: end)
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at e: the end after the contraction, or e.
    @inline(__always)
    private func contraction(at e: Int, end: Int) -> Int {
        guard e + 1 < end && scalars[e] == 0x27 else { return e }
        let a = scalars[e + 1]
        if Self.matches(a, "s") || Self.matches(a, "t") || Self.matches(a, "m") || Self.matches(a, "d") { return e + 2 }
        guard e + 2 < end else { return e }
        let b = scalars[e + 2]
        if (Self.matches(a, "r") && Self.matches(b, "e")) || (Self.matches(a, "v") && Self.matches(b, "e"))
            || (Self.matches(a, "l") && Self.matches(b, "l"))
        {
            return e + 3
        }
        return e
    }

    /// Whether `scalar` matches the ASCII `letter` case-insensitively (Unicode simple folding).
    @inline(__always)
    private static func matches(_ scalar: UInt32, _ letter: Character) -> Bool {
        let lower = UInt32(letter.asciiValue!)
        if scalar == lower || scalar == lower - 0x20 { return true }
        return scalar >= 0x80 && CharacterClass.folds[letter]?.contains(scalar) == true
    }
}
