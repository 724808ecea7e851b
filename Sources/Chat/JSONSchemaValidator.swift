public import TensorIO

/// One way a value breaks its schema: where (a JSON-pointer-like path) and why.
public struct SchemaViolation: Equatable, Sendable, CustomStringConvertible {
    /// `$`, `$.city`, `$.items[2]`.
    public var path: String
    public var message: String

    public var description: String { "\(path): \(message)" }
}

/// The JSON Schema subset tool parameters use (K2-Vendor-Verifier validates arguments with
/// `jsonschema.validate` against them, Draft 2020-12 when no `$schema` is given): `type` (one or a list),
/// `properties`, `required`, `enum`, `items` (one schema), `additionalProperties` (boolean or schema), nested
/// to any depth.
/// Other keywords (`description`, `title`, `default`, …) are annotations and are ignored.
public enum JSONSchemaValidator {
    /// Every violation of `schema` by `value`; empty when it conforms.
    public static func validate(_ value: JSONValue, schema: JSONValue, path: String = "$") -> [SchemaViolation] {
        var out: [SchemaViolation] = []
        check(value, schema, path, &out)
        return out
    }

    private static func check(_ value: JSONValue, _ schema: JSONValue, _ path: String, _ out: inout [SchemaViolation]) {
        if case .bool(let allowed) = schema {
            if !allowed { out.append(SchemaViolation(path: path, message: "no value is allowed here")) }
            return
        }
        guard case .object = schema else { return }
        if let type = schema["type"] {
            let names = type.stringValue.map { [$0] } ?? type.elements?.compactMap(\.stringValue) ?? []
            if !names.isEmpty && !names.contains(where: { matches(value, type: $0) }) {
                out.append(SchemaViolation(path: path, message: "expected \(names.joined(separator: " or ")), found \(kind(value))"))
                return
            }
        }
        if let options = schema["enum"]?.elements, !options.contains(where: { equal($0, value) }) {
            out.append(SchemaViolation(path: path, message: "\(value.compactText) is not one of \(JSONValue.array(options).compactText)"))
        }
        if case .object(let members) = value {
            let properties = schema["properties"]?.members ?? []
            for name in schema["required"]?.elements?.compactMap(\.stringValue) ?? [] where !members.contains(where: { $0.key == name }) {
                out.append(SchemaViolation(path: path, message: "required property '\(name)' is missing"))
            }
            for member in members {
                let childPath = path + "." + member.key
                if let propertySchema = properties.first(where: { $0.key == member.key })?.value {
                    check(member.value, propertySchema, childPath, &out)
                } else if let additional = schema["additionalProperties"] {
                    if case .bool(false) = additional {
                        out.append(SchemaViolation(path: path, message: "property '\(member.key)' is not allowed"))
                    } else {
                        check(member.value, additional, childPath, &out)
                    }
                }
            }
        }
        if case .array(let elements) = value, let items = schema["items"] {
            for (i, element) in elements.enumerated() { check(element, items, "\(path)[\(i)]", &out) }
        }
    }

    /// JSON Schema's types: integers are numbers with no fraction (1.0 counts); booleans are not numbers.
    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null), ("number", .number):
            true
        case ("integer", .number(let literal)): Double(literal).map { $0.rounded() == $0 && $0.isFinite } ?? false
        default: false
        }
    }

    private static func kind(_ value: JSONValue) -> String {
        if case .number(let literal) = value, let d = Double(literal), d.rounded() == d { return "integer" }
        return value.kindName
    }

    /// Equality as jsonschema's `enum` uses it: 1 equals 1.0, but true does not equal 1.
    private static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): Double(x) == Double(y)
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            x.count == y.count && x.allSatisfy { m in y.contains { $0.key == m.key && equal($0.value, m.value) } }
        default: a == b
        }
    }

    /// K2VV's check of one call: the name is a declared tool and the arguments (JSON text) validate
    /// against its `parameters`. Returns the problems; empty when the call passes.
    public static func validateToolCall(name: String, arguments: String, tools: [JSONValue]) -> [SchemaViolation] {
        guard let tool = tools.first(where: { $0["function"]?["name"]?.stringValue == name }) else {
            return [SchemaViolation(path: "$", message: "tool '\(name)' is not declared in the request")]
        }
        let value: JSONValue
        do { value = try JSONValue.parse(arguments) } catch {
            return [SchemaViolation(path: "$", message: "arguments are not JSON: \(error.description)")]
        }
        return validate(value, schema: tool["function"]?["parameters"] ?? .object([]))
    }
}
