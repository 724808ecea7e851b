import Foundation
import TensorIO
import TestSupport
import Testing

@testable import Chat

/// fixtures/chat/jsonschema_cases.jsonl from fixtures/scripts/make_jsonschema_golden.py: Python jsonschema's
/// `validate` verdict on each (schema, instance) case, which is K2-Vendor-Verifier's schema check.
@Suite("jsonschema.validate verdicts")
struct JSONSchemaGoldenTests {
    struct Case {
        var index: Int
        var verdict: String
        var schema: JSONValue
        var instance: JSONValue
    }

    static let cases: [Case] = {
        let path = fixturesFolder() + "/chat/jsonschema_cases.jsonl"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { preconditionFailure("missing \(path)") }
        return text.split(separator: "\n").map { line in
            do {
                let item = try JSONValue.parse(String(line))
                return Case(
                    index: item["index"]!.intValue!, verdict: item["verdict"]!.stringValue!, schema: item["schema"]!,
                    instance: item["instance"]!)
            } catch {
                preconditionFailure("\(path): \(error)")
            }
        }
    }()

    @Test("the golden file covers at least 600 cases, each verdict kind among them")
    func coverage() {
        #expect(Self.cases.count >= 600)
        let verdicts = Set(Self.cases.map { $0.verdict.hasPrefix("exception:") ? "exception" : $0.verdict })
        #expect(verdicts == ["valid", "ValidationError", "SchemaError", "exception"])
    }

    @Test("ingot accepts exactly the cases jsonschema.validate accepts")
    func verdicts() {
        var mismatches: [String] = []
        for item in Self.cases {
            let violations = JSONSchemaValidator.validate(item.instance, schema: item.schema)
            // Drafts ingot does not implement must be refused as such (see docs/evaluation.md).
            if violations.count == 1, violations[0].message.contains("which ingot's validator does not implement") { continue }
            if violations.isEmpty != (item.verdict == "valid") {
                let ours = violations.first.map(\.description) ?? "valid"
                mismatches.append(
                    "#\(item.index) \(item.schema.compactText) ← \(item.instance.compactText): Python \(item.verdict), ingot \(ours)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(Self.cases.count) cases differ:\n\(mismatches.joined(separator: "\n"))")
    }

    @Test("a schema that fails its metaschema gives schema violations that say why")
    func invalidSchema() {
        for item in Self.cases where item.verdict == "SchemaError" {
            let violations = JSONSchemaValidator.validate(item.instance, schema: item.schema)
            #expect(!violations.isEmpty && violations.allSatisfy { $0.kind == .invalidSchema }, "#\(item.index): \(violations)")
        }
        let violations = JSONSchemaValidator.validate(json("1"), schema: json(#"{"properties": {"a": {"type": "strin"}}}"#))
        #expect(violations.map(\.description) == ["invalid schema: #/properties/a/type: 'strin' is not a JSON type"])
    }
}
