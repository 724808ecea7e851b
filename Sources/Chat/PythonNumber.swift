import TensorIO

/// A JSON number as Python's `json.loads` reads it, which is what `jsonschema` compares (see docs/evaluation.md,
/// "Schema validation"): a literal without `.`, `e` or `E` is an `int` of any size, every other literal a
/// binary64 `float` (overflowing to ±inf). Comparisons between the two are exact, as in Python.
enum PythonNumber: Sendable {
    case int(BigInteger)
    case float(Double)

    init?(_ value: JSONValue) {
        guard case .number(let literal) = value else { return nil }
        self.init(literal: literal)
    }

    init(literal: String) {
        let isFloat = literal.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
        if !isFloat, let integer = BigInteger(decimal: literal) {
            self = .int(integer)
        } else {
            self = .float(Double(literal) ?? .nan)
        }
    }

    init(_ n: Int) { self = .int(BigInteger(n)) }

    /// jsonschema's `integer` type: an int, or a float with no fraction (`1.0`), never ±inf.
    var isInteger: Bool {
        switch self {
        case .int: true
        case .float(let d): d.isFinite && d.rounded(.towardZero) == d
        }
    }

    /// The value as Python's `float(x)` would give it (an int too large becomes ±inf here; Python would raise).
    var double: Double {
        switch self {
        case .int(let i): i.double
        case .float(let d): d
        }
    }

    /// Python's `<`, `==`, `>` between numbers: -1, 0, 1, or nil when unordered (NaN).
    static func compare(_ a: PythonNumber, _ b: PythonNumber) -> Int? {
        switch (a, b) {
        case (.int(let x), .int(let y)): x.compare(y)
        case (.float(let x), .float(let y)): x.isNaN || y.isNaN ? nil : x < y ? -1 : x > y ? 1 : 0
        case (.int(let x), .float(let y)): x.compare(y)
        case (.float(let x), .int(let y)): y.compare(x).map { -$0 }
        }
    }

    /// jsonschema's `multipleOf`: for a float divisor the quotient must be integral in floating point (so 0.3 is
    /// not a multiple of 0.1), with an exact rational test when the quotient overflows; for an int divisor,
    /// Python's `%` (exact for ints, `fmod` for floats).
    static func isMultiple(_ value: PythonNumber, of divisor: PythonNumber) -> Bool {
        switch divisor {
        case .float(let d):
            // Python raises converting an int beyond the double range for `/`: jsonschema fails the call.
            if case .int = value, !value.double.isFinite { return false }
            let quotient = value.double / d
            if quotient.isFinite { return quotient.rounded(.towardZero) == quotient }
            return exactlyDivides(value, d)
        case .int(let d):
            switch value {
            case .int(let v): return d.isZero ? false : v.isDivisible(by: d)
            case .float(let v):
                // `float % int` converts the int first, which raises beyond the double range.
                guard d.double.isFinite else { return false }
                let r = v.truncatingRemainder(dividingBy: d.double)
                return r == 0
            }
        }
    }

    /// `Fraction(value) / Fraction(divisor)` has denominator 1.
    private static func exactlyDivides(_ value: PythonNumber, _ divisor: Double) -> Bool {
        guard divisor.isFinite, divisor != 0 else { return false }
        let (dm, de) = BigInteger.decompose(divisor)
        let vm: BigInteger
        let ve: Int
        switch value {
        case .int(let i):
            vm = i
            ve = 0
        case .float(let v):
            guard v.isFinite else { return false }
            (vm, ve) = BigInteger.decompose(v)
        }
        let base = min(ve, de)
        return vm.shiftedLeft(ve - base).isDivisible(by: dm.shiftedLeft(de - base))
    }
}

/// A signed integer of any size (little-endian 32-bit limbs), with the few operations the validator needs.
struct BigInteger: Sendable, Equatable {
    var negative: Bool
    /// Magnitude, no trailing zero limbs; empty for zero.
    var limbs: [UInt32]

    init(_ n: Int) {
        negative = n < 0
        var m = n.magnitude
        limbs = []
        while m > 0 {
            limbs.append(UInt32(truncatingIfNeeded: m))
            m >>= 32
        }
    }

    private init(negative: Bool, limbs: [UInt32]) {
        var limbs = limbs
        while limbs.last == 0 { limbs.removeLast() }
        self.negative = negative && !limbs.isEmpty
        self.limbs = limbs
    }

    /// `-?[0-9]+`, as a JSON integer literal is written.
    init?(decimal: String) {
        var digits = Substring(decimal)
        let negative = digits.first == "-"
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        var limbs: [UInt32] = []
        for digit in digits.utf8 {
            var carry = UInt64(digit - 0x30)
            for i in limbs.indices {
                let product = UInt64(limbs[i]) * 10 + carry
                limbs[i] = UInt32(truncatingIfNeeded: product)
                carry = product >> 32
            }
            if carry > 0 { limbs.append(UInt32(carry)) }
        }
        self.init(negative: negative, limbs: limbs)
    }

    /// An integral finite double, exactly.
    init(exactly d: Double) {
        let (mantissa, exponent) = BigInteger.decompose(d)
        self = exponent >= 0 ? mantissa.shiftedLeft(exponent) : mantissa.shiftedRight(-exponent)
    }

    /// d = mantissa · 2^exponent with an integer mantissa.
    static func decompose(_ d: Double) -> (BigInteger, Int) {
        if d == 0 { return (BigInteger(0), 0) }
        let significand = d.exponentBitPattern == 0 ? d.significandBitPattern : d.significandBitPattern | (1 << 52)
        let exponent = d.exponentBitPattern == 0 ? -1074 : Int(d.exponentBitPattern) - 1075
        var m = BigInteger(Int(significand))
        m.negative = d < 0
        return (m, exponent)
    }

    var isZero: Bool { limbs.isEmpty }

    var bitWidth: Int { limbs.isEmpty ? 0 : (limbs.count - 1) * 32 + (32 - limbs.last!.leadingZeroBitCount) }

    func shiftedLeft(_ n: Int) -> BigInteger {
        guard n > 0, !isZero else { return self }
        var out = [UInt32](repeating: 0, count: n / 32)
        let bits = n % 32
        var carry: UInt32 = 0
        for limb in limbs {
            out.append(bits == 0 ? limb : (limb << bits) | carry)
            carry = bits == 0 ? 0 : limb >> (32 - bits)
        }
        if carry != 0 { out.append(carry) }
        return BigInteger(negative: negative, limbs: out)
    }

    /// Magnitude shifted right (toward zero).
    func shiftedRight(_ n: Int) -> BigInteger {
        guard n > 0 else { return self }
        let whole = n / 32
        guard whole < limbs.count else { return BigInteger(0) }
        let bits = n % 32
        var out: [UInt32] = []
        for i in whole..<limbs.count {
            let low = limbs[i] >> bits
            let high: UInt32 = bits == 0 || i + 1 >= limbs.count ? 0 : limbs[i + 1] << (32 - bits)
            out.append(low | high)
        }
        return BigInteger(negative: negative, limbs: out)
    }

    private static func compareMagnitudes(_ a: [UInt32], _ b: [UInt32]) -> Int {
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        for i in stride(from: a.count - 1, through: 0, by: -1) where a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
        return 0
    }

    func compare(_ other: BigInteger) -> Int {
        if negative != other.negative { return negative ? -1 : 1 }
        let magnitude = Self.compareMagnitudes(limbs, other.limbs)
        return negative ? -magnitude : magnitude
    }

    /// Exact comparison with a double, as Python compares int and float; nil for NaN.
    func compare(_ d: Double) -> Int? {
        if d.isNaN { return nil }
        if d == .infinity { return -1 }
        if d == -.infinity { return 1 }
        let floor = d.rounded(.down)
        let c = compare(BigInteger(exactly: floor))
        if c != 0 { return c }
        return floor == d ? 0 : -1
    }

    /// Whether `divisor` divides this exactly (binary long division of the magnitudes).
    func isDivisible(by divisor: BigInteger) -> Bool {
        guard !divisor.isZero else { return false }
        var remainder: [UInt32] = []
        for bit in stride(from: bitWidth - 1, through: 0, by: -1) {
            // remainder = remainder * 2 + bit
            var carry: UInt32 = (limbs[bit / 32] >> (bit % 32)) & 1
            for i in remainder.indices {
                let next = remainder[i] >> 31
                remainder[i] = (remainder[i] << 1) | carry
                carry = next
            }
            if carry != 0 { remainder.append(carry) }
            if Self.compareMagnitudes(remainder, divisor.limbs) >= 0 {
                var borrow: Int64 = 0
                for i in remainder.indices {
                    var d = Int64(remainder[i]) - borrow - Int64(i < divisor.limbs.count ? divisor.limbs[i] : 0)
                    borrow = 0
                    if d < 0 {
                        d += 1 << 32
                        borrow = 1
                    }
                    remainder[i] = UInt32(d)
                }
                while remainder.last == 0 { remainder.removeLast() }
            }
        }
        return remainder.isEmpty
    }

    /// Nearest double (ties to even), ±inf beyond the range.
    var double: Double {
        let width = bitWidth
        var magnitude: Double
        if width <= 64 {
            var m: UInt64 = 0
            for (i, limb) in limbs.enumerated() { m |= UInt64(limb) << (32 * i) }
            magnitude = Double(m)
        } else {
            let shift = width - 64
            let top = shiftedRight(shift)
            var m: UInt64 = 0
            for (i, limb) in top.limbs.enumerated() { m |= UInt64(limb) << (32 * i) }
            // A sticky bit below the 64 kept bits makes the one rounding to 53 bits correct.
            let dropped =
                (0..<(shift / 32)).contains { limbs[$0] != 0 } || (shift % 32 != 0 && limbs[shift / 32] & ((1 << (shift % 32)) - 1) != 0)
            if dropped { m |= 1 }
            magnitude = Double(sign: .plus, exponent: shift, significand: Double(m))
        }
        return negative ? -magnitude : magnitude
    }
}
