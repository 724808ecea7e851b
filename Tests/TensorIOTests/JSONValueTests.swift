import TensorIO
import Testing

@Suite("strict JSON parser")
struct JSONValueTests {
    @Test("duplicate keys are reported with the key")
    func duplicates() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"a":1,"b":{"c":1,"c":2}}"#) }
        do {
            _ = try JSONValue.parse(#"{"k":1,"k":1}"#)
        } catch {
            #expect(error.duplicateKey == "k")
        }
    }

    @Test("64-bit integers stay exact; escapes and surrogate pairs decode")
    func values() throws {
        let v = try JSONValue.parse(#"{"n":18446744073709551615,"s":"a\"\u00e9\ud83d\ude00\n","f":1e-05,"x":[true,false,null]}"#)
        #expect(v["n"]?.uint64Value == UInt64.max)
        #expect(v["s"]?.stringValue == "a\"é😀\n")
        #expect(v["f"]?.doubleValue == 1e-5)
        #expect(v["x"] == .array([.bool(true), .bool(false), .null]))
        #expect(try JSONValue.parse(v.compactText) == v)
        #expect(try JSONValue.parse(v.prettyText) == v)
    }

    @Test("malformed texts are rejected", arguments: [#"{"a":}"#, #"[1,]"#, #"01"#, #""\ud800""#, "\"a\u{01}\"", #"{"a" 1}"#, "nul"])
    func malformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }
}
