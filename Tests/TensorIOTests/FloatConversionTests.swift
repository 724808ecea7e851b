import TensorIO
import Testing

@Suite("exact float conversions")
struct FloatConversionTests {
    @Test("every BF16 bit pattern widens exactly and narrows back to itself")
    func bf16AllPatterns() {
        for bits in 0...UInt16.max {
            let f = FloatConversion.float(bf16: bits)
            #expect(f.bitPattern == UInt32(bits) << 16)
            if f.isNaN {
                #expect(FloatConversion.float(bf16: FloatConversion.bf16(f)).isNaN)
            } else if FloatConversion.bf16(f) != bits {
                Issue.record("BF16 \(bits) did not round-trip")
            }
        }
    }

    @Test("every F16 bit pattern widens exactly and narrows back to itself")
    func f16AllPatterns() {
        for bits in 0...UInt16.max {
            let f = FloatConversion.float(f16: bits)
            if f.isNaN { continue }
            if FloatConversion.f16(f) != bits { Issue.record("F16 \(bits) did not round-trip") }
            // Exact: the value is an integer multiple of 2^-24 and reproduced by Double arithmetic.
            let sign = bits & 0x8000 != 0 ? -1.0 : 1.0
            let e = Int((bits >> 10) & 0x1F), m = Double(bits & 0x3FF)
            let expected = e == 0 ? sign * m * 0x1p-24 : e == 31 ? sign * .infinity : sign * (1024 + m) * pow2(e - 25)
            if Double(f) != expected { Issue.record("F16 \(bits) widened to \(f), expected \(expected)") }
        }
    }

    private func pow2(_ k: Int) -> Double { Double(sign: .plus, exponent: k, significand: 1) }

    @Test("F32 → BF16 rounds to nearest, ties to even")
    func bf16Rounding() {
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even gives 1.
        #expect(FloatConversion.bf16(1 + 0x1p-8) == 0x3F80)
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up to even.
        #expect(FloatConversion.bf16(1 + 3 * 0x1p-8) == 0x3F82)
        #expect(FloatConversion.bf16(1 + 0x1p-8 + 0x1p-20) == 0x3F81)
        #expect(FloatConversion.bf16(Float.greatestFiniteMagnitude) == 0x7F80)  // overflows to +inf
        #expect(FloatConversion.bf16(-0.0) == 0x8000)
    }

    @Test("F8 E4M3FN: all 256 codes decode per the spec and re-encode to themselves")
    func f8AllPatterns() {
        for code in 0...UInt8.max {
            let f = FloatConversion.float(f8E4M3: code)
            if code & 0x7F == 0x7F {
                #expect(f.isNaN)
                continue
            }
            #expect(FloatConversion.f8E4M3(f) == code || (f == 0 && code & 0x7F == 0))
        }
        #expect(FloatConversion.float(f8E4M3: 0x7E) == 448)
        #expect(FloatConversion.float(f8E4M3: 0x01) == 0x1p-9)
        #expect(FloatConversion.float(f8E4M3: 0x38) == 1)
        #expect(FloatConversion.f8E4M3(470) == 0x7E)
        #expect(FloatConversion.f8E4M3(480) == 0x7F)
    }

    @Test("bulk conversion of each float dtype matches the scalar functions")
    func bulk() {
        let bf: [UInt16] = [0x3F80, 0xC000, 0x0001, 0x7F7F]
        var out = [Float](repeating: 0, count: 4)
        bf.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { FloatConversion.convert(raw.baseAddress!, dtype: .bf16, count: 4, into: $0.baseAddress!) }
        }
        #expect(out == bf.map { FloatConversion.float(bf16: $0) })
    }
}
