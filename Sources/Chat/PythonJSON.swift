public import TensorIO

/// JSON text exactly as Python's `json.dumps(value, ensure_ascii=False, separators=…, sort_keys=…)` writes a
/// value that `json.loads` read: what HF's `tojson` filter prints inside K2's chat template.
public enum PythonJSON {
    /// `(",", ":")` (K2-Thinking's tool list) or Python's default `(", ", ": ")`.
    public enum Separators: Sendable {
        case compact
        case spaced
    }

    /// Serializes `value`; with `sortKeys`, object keys are sorted by code point at every depth
    /// (Python's `sorted` on str, which is also what the tokenizer wrapper's `deep_sort_dict` does).
    public static func dumps(_ value: JSONValue, separators: Separators, sortKeys: Bool) -> String {
        var out = ""
        write(value, separators: separators, sortKeys: sortKeys, into: &out)
        return out
    }

    private static func write(_ value: JSONValue, separators: Separators, sortKeys: Bool, into out: inout String) {
        let item = separators == .compact ? "," : ", "
        let key = separators == .compact ? ":" : ": "
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let literal): out += number(literal)
        case .string(let s): quote(s, into: &out)
        case .array(let elements):
            out += "["
            for (i, element) in elements.enumerated() {
                if i > 0 { out += item }
                write(element, separators: separators, sortKeys: sortKeys, into: &out)
            }
            out += "]"
        case .object(let members):
            let ordered = sortKeys ? members.sorted { codePointsLess($0.key, $1.key) } : members
            out += "{"
            for (i, member) in ordered.enumerated() {
                if i > 0 { out += item }
                quote(member.key, into: &out)
                out += key
                write(member.value, separators: separators, sortKeys: sortKeys, into: &out)
            }
            out += "}"
        }
    }

    /// Python's str ordering: lexicographic by code point (Swift's String `<` is not).
    static func codePointsLess(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    /// `json.encoder`'s escaping with `ensure_ascii=False`: `"` `\` `\b` `\f` `\n` `\r` `\t`, other
    /// controls below U+0020 as `\u00xx` (lowercase hex); everything else raw, including U+007F.
    public static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0..<0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// A JSON number literal as Python prints the value `json.loads` made of it: an int keeps its
    /// digits (`-0` is `0`); a float is `repr(float)` (shortest digits, exponent when the decimal
    /// point position is ≤ -4 or > 16, `e+16` / `e-05`).
    static func number(_ literal: String) -> String {
        let isFloat = literal.contains { $0 == "." || $0 == "e" || $0 == "E" }
        if !isFloat {
            let negative = literal.hasPrefix("-")
            let digits = literal.drop { $0 == "-" }.drop { $0 == "0" }
            if digits.isEmpty { return "0" }
            return (negative ? "-" : "") + digits
        }
        guard let value = Double(literal) else { return literal }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Shortest round-trip digits and decimal exponent from Swift's description.
        let text = "\(abs(value))"
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...])!
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let integer = String(parts[0])
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = integer + fraction
        var decimalPoint = integer.count + exponent
        while digits.hasPrefix("0") {
            digits.removeFirst()
            decimalPoint -= 1
        }
        while digits.hasSuffix("0") { digits.removeLast() }
        let sign = value < 0 ? "-" : ""
        if decimalPoint <= -4 || decimalPoint > 16 {
            let e = decimalPoint - 1
            let head = String(digits.prefix(1)) + (digits.count > 1 ? "." + digits.dropFirst() : "")
            let magnitude = String(abs(e))
            return sign + head + "e" + (e < 0 ? "-" : "+") + (magnitude.count < 2 ? "0" : "") + magnitude
        }
        if decimalPoint <= 0 { return sign + "0." + String(repeating: "0", count: -decimalPoint) + digits }
        if decimalPoint >= digits.count { return sign + digits + String(repeating: "0", count: decimalPoint - digits.count) + ".0" }
        return sign + digits.prefix(decimalPoint) + "." + digits.dropFirst(decimalPoint)
    }
}
