import Foundation
public import TensorIO

/// One way a value breaks its schema (or the schema breaks its metaschema): where, why, and which of the two.
public struct SchemaViolation: Equatable, Sendable, CustomStringConvertible {
    /// What was wrong: the instance, or the schema itself (jsonschema's `SchemaError` and the failures it raises
    /// while evaluating, such as an unresolvable `$ref`).
    public enum Kind: Equatable, Sendable {
        case invalidInstance
        case invalidSchema
    }

    /// `$`, `$.city`, `$.items[2]` for the instance; a JSON pointer (`#/properties/a/type`) into an invalid schema.
    public var path: String
    public var message: String
    public var kind: Kind

    public init(path: String, message: String, kind: Kind = .invalidInstance) {
        self.path = path
        self.message = message
        self.kind = kind
    }

    public var description: String { kind == .invalidSchema ? "invalid schema: \(path): \(message)" : "\(path): \(message)" }
}

/// Decides as Python `jsonschema.validate(instance, schema)` does, which is K2-Vendor-Verifier's schema check:
/// the draft comes from `$schema` (Draft 2020-12 when absent or unknown; Draft-07 is the other one implemented),
/// the schema must first pass its draft's metaschema, formats are annotations, and `pattern` is a Python regular
/// expression. See docs/evaluation.md, "Schema validation", for the keywords and the regex dialect's limits.
public enum JSONSchemaValidator {
    /// Every violation of `schema` by `value`; empty when it conforms. An invalid schema gives violations of kind
    /// `.invalidSchema` (and the instance is not looked at), as `jsonschema.validate` raises `SchemaError`.
    public static func validate(_ value: JSONValue, schema: JSONValue, path: String = "$") -> [SchemaViolation] {
        onLargeStack { evaluate(value, schema: schema, path: path) }
    }

    private static func evaluate(_ value: JSONValue, schema: JSONValue, path: String) -> [SchemaViolation] {
        do throws(SchemaEvaluator.Abort) {
            let draft = try SchemaDraft.declared(by: schema)
            let problems = MetaschemaCheck.problems(in: schema, draft: draft)
            if !problems.isEmpty { return problems }
            return try SchemaEvaluator(root: schema, draft: draft).validate(value, path: path)
        } catch {
            return [error.violation]
        }
    }

    /// Runs `body` on a thread with a 1 GiB stack (address space; only the pages used are touched) and waits for
    /// it: the evaluator and the regex matcher recurse (as deep as jsonschema's own recursion limit allows, and one
    /// level per repetition of a group), which would overflow the small stacks of concurrency threads.
    private static func onLargeStack(_ body: @escaping @Sendable () -> [SchemaViolation]) -> [SchemaViolation] {
        final class Outcome: @unchecked Sendable {
            // Sendable: written once by the thread before `done` is signalled, read after the wait.
            var violations: [SchemaViolation] = []
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            outcome.violations = body()
            done.signal()
        }
        thread.stackSize = 1 << 30
        thread.start()
        done.wait()
        return outcome.violations
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

extension SchemaDraft {
    /// The draft `jsonschema.validators.validator_for` picks: by `$schema`, compared after Python's `urlsplit`
    /// normalization; 2020-12 when it is absent or names no known metaschema. A schema that is neither an object
    /// nor a boolean, a `$schema` that is not a string, and drafts ingot does not implement give a violation.
    static func declared(by schema: JSONValue) throws(SchemaEvaluator.Abort) -> SchemaDraft {
        switch schema {
        case .bool: return .draft2020
        case .object: break
        default:
            let message = "a schema must be an object or a boolean, not \(JSONTypes.describe(schema))"
            throw SchemaEvaluator.Abort(violation: SchemaViolation(path: "#", message: message, kind: .invalidSchema))
        }
        guard let declared = schema["$schema"] else { return .draft2020 }
        guard let uri = declared.stringValue else {
            let message = "'$schema' must be a string, not \(JSONTypes.describe(declared))"
            throw SchemaEvaluator.Abort(violation: SchemaViolation(path: "#/$schema", message: message, kind: .invalidSchema))
        }
        switch normalizedMetaschemaURI(uri) {
        case "http://json-schema.org/draft-07/schema": return .draft7
        case "https://json-schema.org/draft/2020-12/schema": return .draft2020
        case let other:
            let unsupported = [
                "http://json-schema.org/draft-03/schema": "draft-03", "http://json-schema.org/draft-04/schema": "draft-04",
                "http://json-schema.org/draft-06/schema": "draft-06", "https://json-schema.org/draft/2019-09/schema": "2019-09",
            ]
            if let name = unsupported[other] {
                let message =
                    "the schema declares JSON Schema \(name), which ingot's validator does not implement (only draft-07 and 2020-12)"
                throw SchemaEvaluator.Abort(violation: SchemaViolation(path: "#/$schema", message: message, kind: .invalidSchema))
            }
            return .draft2020
        }
    }

    /// `urlsplit(uri).geturl()` for the shapes a metaschema URI takes: leading blanks and tabs/newlines dropped,
    /// the scheme lowercased, an empty fragment or query dropped.
    static func normalizedMetaschemaURI(_ uri: String) -> String {
        var text = String(
            String.UnicodeScalarView(uri.unicodeScalars.drop { $0.value <= 0x20 }.filter { !"\t\r\n".unicodeScalars.contains($0) }))
        if let colon = text.firstIndex(of: ":"),
            text[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }),
            text.first?.isLetter == true
        {
            text = text[..<colon].lowercased() + text[colon...]
        }
        while text.hasSuffix("#") || text.hasSuffix("?") { text.removeLast() }
        return text
    }
}
