import Foundation
import TensorIO
import TestSupport
import Testing

@testable import Chat

/// Goldens from fixtures/scripts/make_chat_golden.py: K2-Thinking's template under Jinja2 with HF's settings,
/// and Python jsonschema's verdicts.
enum ChatGolden {
    static func load(_ name: String) -> JSONValue {
        let path = fixturesFolder() + "/chat/" + name
        guard let data = FileManager.default.contents(atPath: path) else { preconditionFailure("missing \(path)") }
        do { return try data.withUnsafeBytes { try JSONValue.parse($0) } } catch { preconditionFailure("\(path): \(error)") }
    }
    static let render = load("render_cases.json")
    static let schema = load("schema_cases.json")
}

@Suite("chat goldens from Jinja2 and jsonschema")
struct ChatGoldenTests {
    static let renderNames = ChatGolden.render["cases"]!.elements!.map { $0["name"]!.stringValue! }

    @Test("the renderer gives the template's exact prompt", arguments: renderNames)
    func render(name: String) throws {
        let item = try #require(ChatGolden.render["cases"]!.elements!.first { $0["name"]?.stringValue == name })
        let prompt = try ChatRenderer().render(request: item["request"]!)
        #expect(prompt == item["prompt"]!.stringValue!)
    }

    @Test("the validator agrees with jsonschema.validate on every instance")
    func schema() {
        let schema = ChatGolden.schema["schema"]!
        for item in ChatGolden.schema["cases"]!.elements! {
            let violations = JSONSchemaValidator.validate(item["instance"]!, schema: schema)
            #expect(violations.isEmpty == item["valid"]!.boolValue!, "\(item["instance"]!.compactText): \(violations)")
        }
    }
}

@Suite("JSON-schema validator")
struct JSONSchemaValidatorTests {
    @Test("violations name the path and the rule")
    func messages() {
        let schema = json(
            #"{"type": "object", "required": ["a"], "additionalProperties": false, "properties": {"b": {"type": "array", "items": {"enum": [1, "x"]}}}}"#
        )
        let violations = JSONSchemaValidator.validate(json(#"{"b": [1, 2], "c": true}"#), schema: schema).map(\.description)
        #expect(
            violations == [
                "$: required property 'a' is missing", "$: property 'c' is not allowed", #"$.b[1]: 2 is not one of [1,"x"]"#,
            ])
        #expect(
            JSONSchemaValidator.validate(json("1.5"), schema: json(#"{"type": "integer"}"#)).map(\.description) == [
                "$: expected integer, found number"
            ])
    }

    @Test("a tool call passes only with a declared name and arguments that validate (K2VV's check)")
    func toolCall() {
        let tools = WorkedExample.tools.elements!
        #expect(JSONSchemaValidator.validateToolCall(name: "get_weather", arguments: #"{"city": "Paris"}"#, tools: tools).isEmpty)
        #expect(JSONSchemaValidator.validateToolCall(name: "get_weather", arguments: "{}", tools: tools).count == 1)
        #expect(
            JSONSchemaValidator.validateToolCall(name: "img_gen", arguments: "{}", tools: tools).map(\.message) == [
                "tool 'img_gen' is not declared in the request"
            ])
        #expect(JSONSchemaValidator.validateToolCall(name: "get_weather", arguments: "{bad", tools: tools).count == 1)
    }
}
