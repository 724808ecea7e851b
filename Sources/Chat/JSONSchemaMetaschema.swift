import TensorIO

/// The check `jsonschema.validate` makes before it looks at the instance: the schema must validate against its
/// draft's metaschema (draft-07, or 2020-12 with all its vocabularies), including the metaschema's `regex` format
/// on `pattern` and `patternProperties` names (see docs/evaluation.md, "Schema validation"). Each rule below is one
/// constraint of that metaschema, applied at every place the metaschema treats as a subschema.
struct MetaschemaCheck {
    let draft: SchemaDraft
    private(set) var problems: [SchemaViolation] = []
    private var patterns = RegexCache()

    init(draft: SchemaDraft) { self.draft = draft }

    /// Problems with `schema` as a whole document.
    static func problems(in schema: JSONValue, draft: SchemaDraft) -> [SchemaViolation] {
        var check = MetaschemaCheck(draft: draft)
        check.schema(schema, at: "#")
        return check.problems
    }

    private mutating func report(_ pointer: String, _ message: String) {
        problems.append(SchemaViolation(path: pointer, message: message, kind: .invalidSchema))
    }

    /// Whether `value` would pass `rule` without recording anything (for the metaschema's `anyOf`).
    private mutating func passes(_ rule: (inout MetaschemaCheck) -> Void) -> Bool {
        var scratch = MetaschemaCheck(draft: draft)
        scratch.patterns = patterns
        rule(&scratch)
        patterns = scratch.patterns
        return scratch.problems.isEmpty
    }

    static func child(_ pointer: String, _ segment: String) -> String {
        pointer + "/" + segment.replacing("~", with: "~0").replacing("/", with: "~1")
    }

    /// A schema: an object or a boolean, each keyword's value checked.
    mutating func schema(_ value: JSONValue, at pointer: String) {
        guard case .object(let members) = value else {
            if case .bool = value { return }
            report(pointer, "a schema must be an object or a boolean, not \(JSONTypes.describe(value))")
            return
        }
        for (key, value) in members {
            keyword(key, value, at: Self.child(pointer, key))
        }
    }

    private mutating func keyword(_ key: String, _ value: JSONValue, at pointer: String) {
        let modern = draft == .draft2020
        switch key {
        case "$id":
            string(value, at: pointer)
            if modern, let id = value.stringValue, patterns.search(#"^[^#]*#?$"#, id) == false {
                report(pointer, "'$id' must not have a non-empty fragment")
            }
        case "$schema", "$ref", "$comment", "title", "description", "format", "contentMediaType", "contentEncoding":
            string(value, at: pointer)
        case "$anchor", "$dynamicAnchor", "$recursiveAnchor", "$dynamicRef", "$recursiveRef":
            guard modern, string(value, at: pointer) else { return }
            if key == "$anchor" || key == "$dynamicAnchor", let name = value.stringValue,
                patterns.search("^[A-Za-z_][-A-Za-z0-9._]*$", name) == false
            {
                report(pointer, "'\(name)' is not a valid anchor name")
            }
        case "$vocabulary":
            guard modern, let members = object(value, at: pointer) else { return }
            for member in members where member.value.boolValue == nil {
                report(Self.child(pointer, member.key), "must be a boolean")
            }
        case "readOnly", "uniqueItems": boolean(value, at: pointer)
        case "deprecated", "writeOnly": if modern { boolean(value, at: pointer) }
        case "examples", "enum": if value.elements == nil { report(pointer, "must be an array") }
        case "multipleOf":
            guard number(value, at: pointer), let n = PythonNumber(value) else { return }
            if PythonNumber.compare(n, PythonNumber(0)).map({ $0 <= 0 }) ?? false { report(pointer, "must be greater than 0") }
        case "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum": _ = number(value, at: pointer)
        case "maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties": nonNegativeInteger(value, at: pointer)
        case "maxContains", "minContains": if modern { nonNegativeInteger(value, at: pointer) }
        case "pattern":
            guard string(value, at: pointer), let text = value.stringValue else { return }
            regex(text, at: pointer)
        case "required": stringArray(value, at: pointer)
        case "dependentRequired":
            guard modern, let members = object(value, at: pointer) else { return }
            for member in members { stringArray(member.value, at: Self.child(pointer, member.key)) }
        case "type": type(value, at: pointer)
        case "properties", "definitions", "$defs", "dependentSchemas", "patternProperties":
            guard draft.objectSubschemaKeywords.contains(key), let members = object(value, at: pointer) else { return }
            for member in members {
                if key == "patternProperties" { regex(member.key, at: Self.child(pointer, member.key)) }
                schema(member.value, at: Self.child(pointer, member.key))
            }
        case "dependencies":
            guard let members = object(value, at: pointer) else { return }
            for member in members {
                let at = Self.child(pointer, member.key)
                let ok = passes { $0.schema(member.value, at: at) } || passes { $0.stringArray(member.value, at: at) }
                if !ok { report(at, "must be a schema or an array of unique strings") }
            }
        case "items" where draft == .draft7:
            if !passes({ $0.schema(value, at: pointer) }) && !passes({ $0.schemaArray(value, at: pointer) }) {
                if value.elements != nil { schemaArray(value, at: pointer) } else { schema(value, at: pointer) }
            }
        case _ where draft.singleSubschemaKeywords.contains(key): schema(value, at: pointer)
        case _ where draft.arraySubschemaKeywords.contains(key): schemaArray(value, at: pointer)
        default: break
        }
    }

    @discardableResult
    private mutating func string(_ value: JSONValue, at pointer: String) -> Bool {
        if value.stringValue != nil { return true }
        report(pointer, "must be a string, not \(JSONTypes.describe(value))")
        return false
    }

    private mutating func boolean(_ value: JSONValue, at pointer: String) {
        if value.boolValue == nil { report(pointer, "must be a boolean, not \(JSONTypes.describe(value))") }
    }

    private mutating func number(_ value: JSONValue, at pointer: String) -> Bool {
        if case .number = value { return true }
        report(pointer, "must be a number, not \(JSONTypes.describe(value))")
        return false
    }

    private mutating func object(_ value: JSONValue, at pointer: String) -> [(key: String, value: JSONValue)]? {
        if let members = value.members { return members }
        report(pointer, "must be an object, not \(JSONTypes.describe(value))")
        return nil
    }

    private mutating func nonNegativeInteger(_ value: JSONValue, at pointer: String) {
        guard let n = PythonNumber(value), n.isInteger, let sign = PythonNumber.compare(n, PythonNumber(0)), sign >= 0 else {
            report(pointer, "must be a non-negative integer, not \(value.compactText)")
            return
        }
    }

    private mutating func stringArray(_ value: JSONValue, at pointer: String) {
        guard let elements = value.elements else {
            report(pointer, "must be an array of unique strings, not \(JSONTypes.describe(value))")
            return
        }
        for (i, element) in elements.enumerated() where element.stringValue == nil {
            report(Self.child(pointer, String(i)), "must be a string, not \(JSONTypes.describe(element))")
        }
        if !JSONTypes.allUnique(elements) { report(pointer, "has repeated strings") }
    }

    private mutating func schemaArray(_ value: JSONValue, at pointer: String) {
        guard let elements = value.elements, !elements.isEmpty else {
            report(pointer, "must be a non-empty array of schemas")
            return
        }
        for (i, element) in elements.enumerated() { schema(element, at: Self.child(pointer, String(i))) }
    }

    private mutating func type(_ value: JSONValue, at pointer: String) {
        if let name = value.stringValue {
            if !JSONTypes.names.contains(where: { $0.utf8.elementsEqual(name.utf8) }) { report(pointer, "'\(name)' is not a JSON type") }
            return
        }
        guard let elements = value.elements, !elements.isEmpty else {
            report(pointer, "must be a JSON type name or a non-empty array of them")
            return
        }
        for (i, element) in elements.enumerated() {
            guard let name = element.stringValue, JSONTypes.names.contains(where: { $0.utf8.elementsEqual(name.utf8) }) else {
                report(Self.child(pointer, String(i)), "\(element.compactText) is not a JSON type")
                continue
            }
        }
        if !JSONTypes.allUnique(elements) { report(pointer, "has repeated types") }
    }

    /// The metaschema's `format: regex`: Python's `re.compile` must accept it.
    private mutating func regex(_ text: String, at pointer: String) {
        if case .failure(let error) = patterns.compile(text) {
            report(pointer, "'\(text)' is not a Python regular expression: \(error)")
        }
    }
}

/// Compiled patterns by exact text (Swift's `String ==` would merge canonically equivalent patterns).
struct RegexCache {
    private var compiled: [[UInt8]: Result<PythonRegex, PythonRegexError>] = [:]

    mutating func compile(_ pattern: String) -> Result<PythonRegex, PythonRegexError> {
        let key = Array(pattern.utf8)
        if let hit = compiled[key] { return hit }
        let result = Result { () throws(PythonRegexError) in try PythonRegex(pattern) }
        compiled[key] = result
        return result
    }

    /// `re.search(pattern, text) is not None`; nil when the pattern does not compile or the match is too costly.
    mutating func search(_ pattern: String, _ text: String) -> Bool? {
        guard case .success(let regex) = compile(pattern) else { return nil }
        return regex.search(text)
    }
}

/// JSON values as jsonschema sees them: type names, equality, uniqueness.
enum JSONTypes {
    static let names = ["array", "boolean", "integer", "null", "number", "object", "string"]

    /// Whether `value` has the JSON Schema type `name` (booleans are not numbers; 1.0 is an integer).
    static func matches(_ value: JSONValue, _ name: String) -> Bool {
        switch (name, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null), ("number", .number):
            true
        case ("integer", .number): PythonNumber(value)?.isInteger ?? false
        default: false
        }
    }

    /// The type name for messages: `integer` for integral numbers.
    static func describe(_ value: JSONValue) -> String {
        if let n = PythonNumber(value), n.isInteger { return "integer" }
        return value.kindName
    }

    /// jsonschema's equality: 1 == 1.0, true != 1, strings by code point, arrays in order, objects by key.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x.utf8.elementsEqual(y.utf8)
        case (.number, .number): PythonNumber.compare(PythonNumber(a)!, PythonNumber(b)!) == 0
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            x.count == y.count
                && x.allSatisfy { m in y.contains { $0.key.utf8.elementsEqual(m.key.utf8) && equal($0.value, m.value) } }
        default: false
        }
    }

    /// No two elements are equal in jsonschema's sense.
    static func allUnique(_ elements: [JSONValue]) -> Bool {
        for i in elements.indices {
            for j in elements.indices where j > i && equal(elements[i], elements[j]) { return false }
        }
        return true
    }
}
