import TensorIO

/// Applies a (metaschema-valid) schema to an instance keyword by keyword, in the schema's member order, with
/// the rules of jsonschema's Draft7Validator or Draft202012Validator (see docs/evaluation.md, "Schema
/// validation"). Sub-checks that only need a yes/no (`not`, `if`, `contains`, the second pass of `oneOf`) stop
/// at the first violation, as jsonschema's `is_valid` does.
final class SchemaEvaluator {
    /// A failure that ends the whole validation (an unresolvable `$ref`, endless recursion).
    struct Abort: Error {
        var violation: SchemaViolation
    }

    static let maxDepth = 600

    let draft: SchemaDraft
    let registry: SchemaRegistry
    private var patterns = RegexCache()
    private var depth = 0

    init(root: JSONValue, draft: SchemaDraft) {
        self.draft = draft
        registry = SchemaRegistry(root: root, draft: draft)
    }

    /// Every violation of the root schema by `instance`.
    func validate(_ instance: JSONValue, path: String) throws(Abort) -> [SchemaViolation] {
        var out: [SchemaViolation] = []
        try check(instance, registry.root, base: registry.rootBase, path: path, into: &out, firstOnly: false)
        return out
    }

    private func isValid(_ instance: JSONValue, _ schema: JSONValue, base: String, path: String) throws(Abort) -> Bool {
        var scratch: [SchemaViolation] = []
        try check(instance, schema, base: base, path: path, into: &scratch, firstOnly: true)
        return scratch.isEmpty
    }

    /// Descends into a subschema: its own `$id` (if any) sets the base URI inside it.
    private func descend(
        _ instance: JSONValue, _ schema: JSONValue, base: String, path: String, into out: inout [SchemaViolation], firstOnly: Bool
    ) throws(Abort) {
        try check(instance, schema, base: draft.base(of: schema, within: base), path: path, into: &out, firstOnly: firstOnly)
    }

    private func isValidChild(_ instance: JSONValue, _ schema: JSONValue, base: String, path: String) throws(Abort) -> Bool {
        try isValid(instance, schema, base: draft.base(of: schema, within: base), path: path)
    }

    private func resolve(_ reference: JSONValue, base: String) throws(Abort) -> (schema: JSONValue, base: String) {
        guard let text = reference.stringValue else {
            throw Abort(violation: SchemaViolation(path: "$ref", message: "a reference must be a string", kind: .invalidSchema))
        }
        do {
            return try registry.resolve(text, base: base)
        } catch {
            let message = "the reference '\(text)' cannot be resolved: \(error.reason)"
            throw Abort(violation: SchemaViolation(path: "$ref", message: message, kind: .invalidSchema))
        }
    }

    // MARK: - Keywords

    private func check(
        _ instance: JSONValue, _ schema: JSONValue, base: String, path: String, into out: inout [SchemaViolation], firstOnly: Bool
    ) throws(Abort) {
        guard case .object(let members) = schema else {
            if case .bool(false) = schema { out.append(SchemaViolation(path: path, message: "no value is allowed here")) }
            return
        }
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth {
            throw Abort(violation: SchemaViolation(path: path, message: "the schema recurses without end", kind: .invalidSchema))
        }
        // Draft-07: next to `$ref`, every other keyword is ignored.
        if draft == .draft7, let reference = schema["$ref"], reference != .null {
            let target = try resolve(reference, base: base)
            try check(instance, target.schema, base: target.base, path: path, into: &out, firstOnly: firstOnly)
            return
        }
        for (key, value) in members {
            if firstOnly && !out.isEmpty { return }
            try keyword(key, value, instance, schema, base: base, path: path, into: &out, firstOnly: firstOnly)
        }
    }

    private func keyword(
        _ key: String, _ value: JSONValue, _ instance: JSONValue, _ schema: JSONValue, base: String, path: String,
        into out: inout [SchemaViolation], firstOnly: Bool
    ) throws(Abort) {
        let modern = draft == .draft2020
        func fail(_ message: String) { out.append(SchemaViolation(path: path, message: message)) }
        switch key {
        case "$ref", "$dynamicRef":
            guard key == "$ref" || modern else { return }
            let target = try resolve(value, base: base)
            try check(instance, target.schema, base: target.base, path: path, into: &out, firstOnly: firstOnly)
        case "type":
            let names = value.stringValue.map { [$0] } ?? value.elements?.compactMap(\.stringValue) ?? []
            if !names.contains(where: { JSONTypes.matches(instance, $0) }) {
                fail("expected \(names.joined(separator: " or ")), found \(JSONTypes.describe(instance))")
            }
        case "enum":
            let options = value.elements ?? []
            if !options.contains(where: { JSONTypes.equal($0, instance) }) {
                fail("\(instance.compactText) is not one of \(value.compactText)")
            }
        case "const":
            if !JSONTypes.equal(instance, value) { fail("\(instance.compactText) is not \(value.compactText)") }
        case "multipleOf":
            guard let n = PythonNumber(instance), let divisor = PythonNumber(value) else { return }
            if !PythonNumber.isMultiple(n, of: divisor) { fail("\(instance.compactText) is not a multiple of \(value.compactText)") }
        case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
            guard let n = PythonNumber(instance), let bound = PythonNumber(value), let order = PythonNumber.compare(n, bound) else {
                return
            }
            let ok =
                switch key {
                case "minimum": order >= 0
                case "maximum": order <= 0
                case "exclusiveMinimum": order > 0
                default: order < 0
                }
            if !ok { fail("\(instance.compactText) breaks \(key) \(value.compactText)") }
        case "minLength", "maxLength":
            guard let text = instance.stringValue else { return }
            if !within(text.unicodeScalars.count, key == "minLength", value) {
                fail("a string of \(text.unicodeScalars.count) characters breaks \(key) \(value.compactText)")
            }
        case "pattern":
            guard let text = instance.stringValue, let pattern = value.stringValue else { return }
            switch patterns.search(pattern, text) {
            case true: break
            case false: fail("\(instance.compactText) does not match \(JSONValue.quote(pattern))")
            case nil: fail("matching \(JSONValue.quote(pattern)) needs more backtracking than ingot allows")
            }
        case "minItems", "maxItems":
            guard let elements = instance.elements else { return }
            if !within(elements.count, key == "minItems", value) {
                fail("an array of \(elements.count) items breaks \(key) \(value.compactText)")
            }
        case "minProperties", "maxProperties":
            guard let properties = instance.members else { return }
            if !within(properties.count, key == "minProperties", value) {
                fail("an object with \(properties.count) properties breaks \(key) \(value.compactText)")
            }
        case "uniqueItems":
            if value.boolValue == true, let elements = instance.elements, !JSONTypes.allUnique(elements) {
                fail("array items are not unique")
            }
        case "required":
            guard let properties = instance.members else { return }
            for name in value.elements?.compactMap(\.stringValue) ?? [] where !Self.has(properties, name) {
                fail("required property '\(name)' is missing")
            }
        case "dependentRequired":
            guard modern, let properties = instance.members else { return }
            for dependency in value.members ?? [] where Self.has(properties, dependency.key) {
                for name in dependency.value.elements?.compactMap(\.stringValue) ?? [] where !Self.has(properties, name) {
                    fail("property '\(name)' is required when '\(dependency.key)' is present")
                }
            }
        case "dependentSchemas":
            guard modern, let properties = instance.members else { return }
            for dependency in value.members ?? [] where Self.has(properties, dependency.key) {
                try descend(instance, dependency.value, base: base, path: path, into: &out, firstOnly: firstOnly)
            }
        case "dependencies":
            guard draft == .draft7, let properties = instance.members else { return }
            for dependency in value.members ?? [] where Self.has(properties, dependency.key) {
                if let names = dependency.value.elements {
                    for name in names.compactMap(\.stringValue) where !Self.has(properties, name) {
                        fail("property '\(name)' is required when '\(dependency.key)' is present")
                    }
                } else {
                    try descend(instance, dependency.value, base: base, path: path, into: &out, firstOnly: firstOnly)
                }
            }
        case "properties":
            guard let properties = instance.members else { return }
            for property in value.members ?? [] {
                guard let child = Self.member(properties, property.key) else { continue }
                try descend(child, property.value, base: base, path: Self.path(path, property.key), into: &out, firstOnly: firstOnly)
                if firstOnly && !out.isEmpty { return }
            }
        case "patternProperties":
            guard let properties = instance.members else { return }
            for rule in value.members ?? [] {
                for property in properties where try search(rule.key, property.key) {
                    try descend(
                        property.value, rule.value, base: base, path: Self.path(path, property.key), into: &out, firstOnly: firstOnly)
                    if firstOnly && !out.isEmpty { return }
                }
            }
        case "additionalProperties":
            guard let properties = instance.members else { return }
            let extras = try additionalProperties(properties, schema)
            if case .object = value {
                for property in extras {
                    try descend(property.value, value, base: base, path: Self.path(path, property.key), into: &out, firstOnly: firstOnly)
                    if firstOnly && !out.isEmpty { return }
                }
            } else if value.boolValue == false {
                for property in extras { fail("property '\(property.key)' is not allowed") }
            }
        case "propertyNames":
            guard let properties = instance.members else { return }
            for property in properties {
                try descend(.string(property.key), value, base: base, path: Self.path(path, property.key), into: &out, firstOnly: firstOnly)
                if firstOnly && !out.isEmpty { return }
            }
        case "prefixItems":
            guard modern, let elements = instance.elements else { return }
            for (i, pair) in zip(elements, value.elements ?? []).enumerated() {
                try descend(pair.0, pair.1, base: base, path: "\(path)[\(i)]", into: &out, firstOnly: firstOnly)
                if firstOnly && !out.isEmpty { return }
            }
        case "items":
            guard let elements = instance.elements else { return }
            if modern {
                let prefix = schema["prefixItems"]?.elements?.count ?? 0
                guard elements.count > prefix else { return }
                if value.boolValue == false {
                    fail("expected at most \(prefix) items, found \(elements.count)")
                    return
                }
                for i in prefix..<elements.count {
                    try descend(elements[i], value, base: base, path: "\(path)[\(i)]", into: &out, firstOnly: firstOnly)
                    if firstOnly && !out.isEmpty { return }
                }
            } else {
                let subschemas = value.elements
                for (i, element) in elements.enumerated() {
                    guard let subschema = subschemas.map({ i < $0.count ? $0[i] : nil }) ?? value else { break }
                    try descend(element, subschema, base: base, path: "\(path)[\(i)]", into: &out, firstOnly: firstOnly)
                    if firstOnly && !out.isEmpty { return }
                }
            }
        case "additionalItems":
            guard draft == .draft7, let elements = instance.elements, let positional = schema["items"]?.elements else { return }
            guard elements.count > positional.count else { return }
            if case .object = value {
                for i in positional.count..<elements.count {
                    try descend(elements[i], value, base: base, path: "\(path)[\(i)]", into: &out, firstOnly: firstOnly)
                    if firstOnly && !out.isEmpty { return }
                }
            } else if value.boolValue == false {
                fail("expected at most \(positional.count) items, found \(elements.count)")
            }
        case "contains":
            guard let elements = instance.elements else { return }
            if modern {
                let least = schema["minContains"].flatMap(PythonNumber.init) ?? PythonNumber(1)
                let most = schema["maxContains"].flatMap(PythonNumber.init) ?? PythonNumber(elements.count)
                var matches = 0
                for (i, element) in elements.enumerated() where try isValidChild(element, value, base: base, path: "\(path)[\(i)]") {
                    matches += 1
                    if PythonNumber.compare(PythonNumber(matches), most) == 1 {
                        fail("more than \(most.text) items match 'contains'")
                        return
                    }
                }
                if PythonNumber.compare(PythonNumber(matches), least) == -1 {
                    fail("\(matches) items match 'contains', fewer than \(least.text)")
                }
            } else {
                var any = false
                for (i, element) in elements.enumerated() where try isValidChild(element, value, base: base, path: "\(path)[\(i)]") {
                    any = true
                    break
                }
                if !any { fail("no item matches 'contains'") }
            }
        case "allOf":
            for subschema in value.elements ?? [] {
                try descend(instance, subschema, base: base, path: path, into: &out, firstOnly: firstOnly)
                if firstOnly && !out.isEmpty { return }
            }
        case "anyOf":
            var reasons: [SchemaViolation] = []
            for subschema in value.elements ?? [] {
                var branch: [SchemaViolation] = []
                try descend(instance, subschema, base: base, path: path, into: &branch, firstOnly: false)
                if branch.isEmpty { return }
                reasons += branch
            }
            fail("not valid under any of the 'anyOf' schemas" + Self.because(reasons))
        case "oneOf":
            let subschemas = value.elements ?? []
            var reasons: [SchemaViolation] = []
            var first: Int?
            for (i, subschema) in subschemas.enumerated() {
                var branch: [SchemaViolation] = []
                try descend(instance, subschema, base: base, path: path, into: &branch, firstOnly: false)
                if branch.isEmpty {
                    first = i
                    break
                }
                reasons += branch
            }
            guard let first else {
                fail("not valid under any of the 'oneOf' schemas" + Self.because(reasons))
                return
            }
            for i in (first + 1)..<subschemas.count where try isValidChild(instance, subschemas[i], base: base, path: path) {
                fail("valid under 'oneOf' schemas \(first) and \(i); exactly one must match")
                return
            }
        case "not":
            if try isValidChild(instance, value, base: base, path: path) { fail("must not be valid under the 'not' schema") }
        case "if":
            if try isValidChild(instance, value, base: base, path: path) {
                if let then = schema["then"] { try descend(instance, then, base: base, path: path, into: &out, firstOnly: firstOnly) }
            } else if let otherwise = schema["else"] {
                try descend(instance, otherwise, base: base, path: path, into: &out, firstOnly: firstOnly)
            }
        case "unevaluatedItems":
            guard modern, let elements = instance.elements else { return }
            let evaluated = try evaluatedItems(instance, schema, base: base, path: path)
            let left = elements.indices.filter { !evaluated.contains($0) }
            if !left.isEmpty { fail("items \(left.map(String.init).joined(separator: ", ")) are not allowed by 'unevaluatedItems'") }
        case "unevaluatedProperties":
            guard modern, let properties = instance.members else { return }
            let evaluated = try evaluatedProperties(instance, schema, base: base, path: path)
            for property in properties where !evaluated.contains(where: { $0.utf8.elementsEqual(property.key.utf8) }) {
                let childPath = Self.path(path, property.key)
                if try !isValidChild(property.value, value, base: base, path: childPath) {
                    fail("property '\(property.key)' is not allowed by 'unevaluatedProperties'")
                }
            }
        default: break
        }
    }

    /// `count` against a `min…`/`max…` bound (Python compares the int with the bound, which may be a float).
    private func within(_ count: Int, _ isMinimum: Bool, _ bound: JSONValue) -> Bool {
        guard let limit = PythonNumber(bound), let order = PythonNumber.compare(PythonNumber(count), limit) else { return true }
        return isMinimum ? order >= 0 : order <= 0
    }

    private func search(_ pattern: String, _ text: String) throws(Abort) -> Bool {
        switch patterns.compile(pattern) {
        case .success(let regex):
            guard let found = regex.search(text) else {
                throw Abort(
                    violation: SchemaViolation(
                        path: "$", message: "matching \(JSONValue.quote(pattern)) needs more backtracking than ingot allows"))
            }
            return found
        case .failure(let error):
            let message = "\(JSONValue.quote(pattern)) is not a Python regular expression: \(error)"
            throw Abort(violation: SchemaViolation(path: "patternProperties", message: message, kind: .invalidSchema))
        }
    }

    /// Members neither named in `properties` nor matched by the `patternProperties` regexes joined with `|`.
    private func additionalProperties(
        _ properties: [(key: String, value: JSONValue)], _ schema: JSONValue
    ) throws(Abort) -> [(key: String, value: JSONValue)] {
        let named = schema["properties"]?.members ?? []
        let joined = (schema["patternProperties"]?.members ?? []).map(\.key).joined(separator: "|")
        var extras: [(key: String, value: JSONValue)] = []
        for property in properties where !Self.has(named, property.key) {
            if !joined.isEmpty, try search(joined, property.key) { continue }
            extras.append(property)
        }
        return extras
    }

    // MARK: - unevaluatedItems / unevaluatedProperties (jsonschema's annotation approximation)

    private func evaluatedItems(_ instance: JSONValue, _ schema: JSONValue, base: String, path: String) throws(Abort) -> Set<Int> {
        guard case .object = schema, let elements = instance.elements else { return [] }
        if schema["items"] != nil { return Set(elements.indices) }
        var out = Set<Int>()
        for key in ["$ref", "$dynamicRef"] {
            guard let reference = schema[key] else { continue }
            let target = try resolve(reference, base: base)
            out.formUnion(try evaluatedItems(instance, target.schema, base: target.base, path: path))
        }
        if let prefix = schema["prefixItems"]?.elements { out.formUnion(0..<prefix.count) }
        if let condition = schema["if"] {
            if try isValid(instance, condition, base: base, path: path) {
                out.formUnion(try evaluatedItems(instance, condition, base: base, path: path))
                if let then = schema["then"] { out.formUnion(try evaluatedItems(instance, then, base: base, path: path)) }
            } else if let otherwise = schema["else"] {
                out.formUnion(try evaluatedItems(instance, otherwise, base: base, path: path))
            }
        }
        for key in ["contains", "unevaluatedItems"] {
            guard let subschema = schema[key] else { continue }
            for (i, element) in elements.enumerated() where try isValid(element, subschema, base: base, path: "\(path)[\(i)]") {
                out.insert(i)
            }
        }
        for key in ["allOf", "oneOf", "anyOf"] {
            for subschema in schema[key]?.elements ?? [] where try isValidChild(instance, subschema, base: base, path: path) {
                out.formUnion(try evaluatedItems(instance, subschema, base: base, path: path))
            }
        }
        return out
    }

    private func evaluatedProperties(_ instance: JSONValue, _ schema: JSONValue, base: String, path: String) throws(Abort) -> [String] {
        guard case .object = schema, let properties = instance.members else { return [] }
        var out: [String] = []
        for key in ["$ref", "$dynamicRef"] {
            guard let reference = schema[key] else { continue }
            let target = try resolve(reference, base: base)
            out += try evaluatedProperties(instance, target.schema, base: target.base, path: path)
        }
        if let named = schema["properties"]?.members {
            out += properties.map(\.key).filter { Self.has(named, $0) }
        }
        for key in ["additionalProperties", "unevaluatedProperties"] {
            guard let subschema = schema[key], subschema != .null else { continue }
            for property in properties where try isValidChild(property.value, subschema, base: base, path: Self.path(path, property.key)) {
                out.append(property.key)
            }
        }
        if let rules = schema["patternProperties"]?.members {
            for property in properties {
                for rule in rules where try search(rule.key, property.key) { out.append(property.key) }
            }
        }
        for dependency in schema["dependentSchemas"]?.members ?? [] where Self.has(properties, dependency.key) {
            out += try evaluatedProperties(instance, dependency.value, base: base, path: path)
        }
        for key in ["allOf", "oneOf", "anyOf"] {
            for subschema in schema[key]?.elements ?? [] where try isValidChild(instance, subschema, base: base, path: path) {
                out += try evaluatedProperties(instance, subschema, base: base, path: path)
            }
        }
        if let condition = schema["if"] {
            if try isValid(instance, condition, base: base, path: path) {
                out += try evaluatedProperties(instance, condition, base: base, path: path)
                if let then = schema["then"] { out += try evaluatedProperties(instance, then, base: base, path: path) }
            } else if let otherwise = schema["else"] {
                out += try evaluatedProperties(instance, otherwise, base: base, path: path)
            }
        }
        return out
    }

    // MARK: - Helpers

    /// Exact (code-point) member lookup; Swift's `==` on String would also match canonically equivalent keys.
    static func member(_ members: [(key: String, value: JSONValue)], _ name: String) -> JSONValue? {
        members.first { $0.key.utf8.elementsEqual(name.utf8) }?.value
    }

    static func has(_ members: [(key: String, value: JSONValue)], _ name: String) -> Bool { member(members, name) != nil }

    static func path(_ path: String, _ key: String) -> String { path + "." + key }

    private static func because(_ reasons: [SchemaViolation]) -> String {
        guard let first = reasons.first else { return "" }
        return " (\(first.description)\(reasons.count > 1 ? ", …" : ""))"
    }
}

extension PythonNumber {
    /// The number as Python prints it, for messages.
    var text: String {
        switch self {
        case .int(let i): i.limbs.count <= 2 ? String((i.negative ? -1 : 1) * Int(i.double)) : "\(i.double)"
        case .float(let d): "\(d)"
        }
    }
}
