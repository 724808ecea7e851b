import TensorIO

/// The JSON Schema drafts the validator implements (see docs/evaluation.md, "Schema validation").
enum SchemaDraft: Sendable {
    case draft7
    case draft2020

    /// Keywords whose value is one subschema.
    var singleSubschemaKeywords: Set<String> {
        switch self {
        case .draft7: ["additionalItems", "additionalProperties", "contains", "else", "if", "not", "propertyNames", "then"]
        case .draft2020:
            [
                "additionalProperties", "contains", "contentSchema", "else", "if", "items", "not", "propertyNames", "then",
                "unevaluatedItems", "unevaluatedProperties",
            ]
        }
    }

    /// Keywords whose value is an array of subschemas.
    var arraySubschemaKeywords: Set<String> {
        switch self {
        case .draft7: ["allOf", "anyOf", "oneOf"]
        case .draft2020: ["allOf", "anyOf", "oneOf", "prefixItems"]
        }
    }

    /// Keywords whose value is an object of subschemas.
    var objectSubschemaKeywords: Set<String> {
        switch self {
        case .draft7: ["definitions", "patternProperties", "properties"]
        case .draft2020: ["$defs", "definitions", "dependentSchemas", "patternProperties", "properties"]
        }
    }

    /// The subschemas directly inside `schema`, with the pointer segments that reach each.
    func subschemas(of schema: JSONValue) -> [(segments: [String], schema: JSONValue)] {
        guard case .object(let members) = schema else { return [] }
        var out: [(segments: [String], schema: JSONValue)] = []
        for (key, value) in members {
            if singleSubschemaKeywords.contains(key) {
                out.append(([key], value))
            } else if arraySubschemaKeywords.contains(key), let elements = value.elements {
                for (i, element) in elements.enumerated() { out.append(([key, String(i)], element)) }
            } else if objectSubschemaKeywords.contains(key), let children = value.members {
                for child in children { out.append(([key, child.key], child.value)) }
            } else if self == .draft7 && key == "items" {
                if let elements = value.elements {
                    for (i, element) in elements.enumerated() { out.append(([key, String(i)], element)) }
                } else {
                    out.append(([key], value))
                }
            } else if self == .draft7 && key == "dependencies", let children = value.members {
                for child in children where child.value.members != nil { out.append(([key, child.key], child.value)) }
            }
        }
        return out
    }

    /// The identifier that makes `schema` a resource with its own base URI, if any: 2020-12 any `$id`; draft-07
    /// an `$id` that is not a bare fragment, ignored next to `$ref`.
    func resourceID(of schema: JSONValue) -> String? {
        guard case .object = schema, let id = schema["$id"]?.stringValue else { return nil }
        switch self {
        case .draft2020: return id
        case .draft7: return id.hasPrefix("#") || schema["$ref"] != nil ? nil : id
        }
    }

    /// Plain-name fragments `schema` declares: `$anchor` / `$dynamicAnchor` (2020-12), `"$id": "#name"` (draft-07).
    func anchors(of schema: JSONValue) -> [String] {
        guard case .object = schema else { return [] }
        switch self {
        case .draft2020: return ["$anchor", "$dynamicAnchor"].compactMap { schema[$0]?.stringValue }
        case .draft7:
            guard let id = schema["$id"]?.stringValue, id.hasPrefix("#") else { return [] }
            return [String(id.dropFirst())]
        }
    }

    /// The base URI inside `schema`, given the base around it.
    func base(of schema: JSONValue, within base: String) -> String {
        guard let id = resourceID(of: schema) else { return base }
        return URIReference.defragment(URIReference.join(base, id)).uri
    }
}

/// A reference that cannot be followed; jsonschema raises (not a validation error) when it evaluates one.
struct UnresolvableReference: Error, Sendable {
    var reference: String
    var reason: String
}

/// Every resource (root, and subschemas with their own `$id`) and anchor of one schema document, found the way
/// the `referencing` library crawls a schema.
struct SchemaRegistry: Sendable {
    let draft: SchemaDraft
    let root: JSONValue
    let rootBase: String
    private(set) var resources: [String: JSONValue] = [:]
    private(set) var anchors: [String: (schema: JSONValue, base: String)] = [:]

    init(root: JSONValue, draft: SchemaDraft) {
        self.root = root
        self.draft = draft
        rootBase = draft.resourceID(of: root).map { URIReference.defragment($0).uri } ?? ""
        resources[rootBase] = root
        register(root, resourceURI: rootBase)
    }

    /// Records the anchors of `schema` (whose resource is `resourceURI`) and crawls its subschemas.
    private mutating func register(_ schema: JSONValue, resourceURI: String) {
        for name in draft.anchors(of: schema) {
            let key = resourceURI + "#" + name
            if anchors[key] == nil { anchors[key] = (schema, resourceURI) }
        }
        for child in draft.subschemas(of: schema) {
            var uri = resourceURI
            if draft.resourceID(of: child.schema) != nil {
                uri = draft.base(of: child.schema, within: resourceURI)
                if resources[uri] == nil { resources[uri] = child.schema }
            }
            register(child.schema, resourceURI: uri)
        }
    }

    /// The schema `reference` names from a schema whose base URI is `base`, and the base URI inside it.
    func resolve(_ reference: String, base: String) throws(UnresolvableReference) -> (schema: JSONValue, base: String) {
        let uri: String
        let fragment: String
        if reference.hasPrefix("#") {
            uri = base
            fragment = String(reference.dropFirst())
        } else {
            (uri, fragment) = URIReference.defragment(URIReference.join(base, reference))
        }
        guard let resource = resources[uri] else {
            throw UnresolvableReference(reference: reference, reason: "no schema has the URI '\(uri)'")
        }
        if fragment.hasPrefix("/") { return try pointer(fragment, in: resource, base: uri, reference: reference) }
        if !fragment.isEmpty {
            guard let anchor = anchors[uri + "#" + fragment] else {
                throw UnresolvableReference(reference: reference, reason: "no anchor '\(fragment)'")
            }
            return anchor
        }
        return (resource, uri)
    }

    /// A JSON pointer (percent-decoded first, then `~1` → `/`, `~0` → `~`) into `resource`.
    private func pointer(_ pointer: String, in resource: JSONValue, base: String, reference: String) throws(UnresolvableReference) -> (
        schema: JSONValue, base: String
    ) {
        var node = resource
        var base = base
        var sinceResource: [String] = []
        for raw in URIReference.percentDecode(String(pointer.dropFirst())).split(separator: "/", omittingEmptySubsequences: false) {
            let segment: String
            switch node {
            case .array(let elements):
                guard let index = Self.pythonInt(raw), index < elements.count, index >= -elements.count else {
                    throw UnresolvableReference(reference: reference, reason: "the pointer leads nowhere")
                }
                node = elements[index < 0 ? elements.count + index : index]
                segment = String(index)
            case .object(let members):
                let key = raw.replacing("~1", with: "/").replacing("~0", with: "~")
                guard let member = members.first(where: { $0.key.utf8.elementsEqual(key.utf8) }) else {
                    throw UnresolvableReference(reference: reference, reason: "the pointer leads nowhere")
                }
                node = member.value
                segment = String(key)
            default: throw UnresolvableReference(reference: reference, reason: "the pointer leads nowhere")
            }
            sinceResource.append(segment)
            if reachesSubschema(sinceResource, node), draft.resourceID(of: node) != nil {
                base = draft.base(of: node, within: base)
                sinceResource = []
            }
        }
        return (node, base)
    }

    /// Whether pointer segments walked from a resource land on a subschema (so its `$id` takes effect).
    private func reachesSubschema(_ segments: [String], _ node: JSONValue) -> Bool {
        var i = 0
        while i < segments.count {
            let segment = segments[i]
            if draft == .draft7 && (segment == "items" || segment == "dependencies") && node.members != nil { return true }
            if draft.singleSubschemaKeywords.contains(segment) {
                i += 1
            } else if draft.arraySubschemaKeywords.contains(segment) || draft.objectSubschemaKeywords.contains(segment),
                i + 1 < segments.count
            {
                i += 2
            } else {
                return false
            }
        }
        return true
    }

    /// Python's `int()` on a pointer segment: optional sign and decimal digits.
    private static func pythonInt(_ s: Substring) -> Int? {
        let trimmed = s.trimmingPrefix(while: { $0 == " " })
        return Int(trimmed.hasPrefix("+") ? trimmed.dropFirst() : trimmed)
    }
}

/// URI-reference handling with Python's `urllib.parse` semantics (`urljoin`, `urldefrag`, `unquote`).
enum URIReference {
    /// Schemes `urljoin` resolves relative references against (others return the reference unchanged).
    private static let relativeSchemes: Set<String> = [
        "", "ftp", "http", "gopher", "nntp", "imap", "wais", "file", "https", "shttp", "mms", "prospero", "rtsp", "rtsps", "rtspu",
        "sftp", "svn", "svn+ssh", "ws", "wss",
    ]

    /// Schemes `urlunsplit` writes with `//` even when the authority is empty.
    private static let netlocSchemes: Set<String> = [
        "", "ftp", "http", "gopher", "nntp", "telnet", "imap", "wais", "file", "mms", "https", "shttp", "snews", "prospero", "rtsp",
        "rtsps", "rtspu", "rsync", "svn", "svn+ssh", "sftp", "nfs", "git", "git+ssh", "ws", "wss", "itms-services",
    ]

    private struct Parts {
        var scheme = ""
        var authority: String?
        var path = ""
        var query: String?
        var fragment: String?

        init(_ text: String) {
            var rest = Substring(text)
            if let colon = rest.firstIndex(of: ":"), colon != rest.startIndex, let first = rest.first, first.isASCII, first.isLetter,
                rest[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
            {
                scheme = rest[..<colon].lowercased()
                rest = rest[rest.index(after: colon)...]
            }
            if rest.hasPrefix("//") {
                rest = rest.dropFirst(2)
                let end = rest.firstIndex { "/?#".contains($0) } ?? rest.endIndex
                authority = String(rest[..<end])
                rest = rest[end...]
            }
            if let hash = rest.firstIndex(of: "#") {
                fragment = String(rest[rest.index(after: hash)...])
                rest = rest[..<hash]
            }
            if let question = rest.firstIndex(of: "?") {
                query = String(rest[rest.index(after: question)...])
                rest = rest[..<question]
            }
            path = String(rest)
        }

        var text: String {
            var out = path
            let authority = authority ?? ""
            if !authority.isEmpty || (!scheme.isEmpty && URIReference.netlocSchemes.contains(scheme) && !path.hasPrefix("//")) {
                if !out.isEmpty && !out.hasPrefix("/") { out = "/" + out }
                out = "//" + authority + out
            }
            if !scheme.isEmpty { out = scheme + ":" + out }
            if let query, !query.isEmpty { out += "?" + query }
            if let fragment, !fragment.isEmpty { out += "#" + fragment }
            return out
        }
    }

    /// `urllib.parse.urljoin(base, reference)`.
    static func join(_ base: String, _ reference: String) -> String {
        if base.isEmpty { return reference }
        if reference.isEmpty { return base }
        let b = Parts(base)
        var r = Parts(reference)
        if r.scheme.isEmpty { r.scheme = b.scheme }
        if r.scheme != b.scheme || !relativeSchemes.contains(r.scheme) { return reference }
        if r.authority != nil && !(r.authority ?? "").isEmpty { return r.text }
        r.authority = b.authority
        if r.path.isEmpty {
            r.path = b.path
            if r.query == nil || r.query!.isEmpty { r.query = b.query }
            return r.text
        }
        var baseParts = b.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if baseParts.last != "" { baseParts.removeLast() }
        var segments: [String]
        if r.path.hasPrefix("/") {
            segments = r.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        } else {
            segments = baseParts + r.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            if segments.count > 2 {
                segments = [segments[0]] + segments[1..<(segments.count - 1)].filter { !$0.isEmpty } + [segments[segments.count - 1]]
            }
        }
        var resolved: [String] = []
        for segment in segments {
            if segment == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
            } else if segment != "." {
                resolved.append(segment)
            }
        }
        if let last = segments.last, last == "." || last == ".." { resolved.append("") }
        let joined = resolved.joined(separator: "/")
        r.path = joined.isEmpty ? "/" : joined
        return r.text
    }

    /// `urldefrag`: the URI without its fragment, and the fragment (both without `#`).
    static func defragment(_ uri: String) -> (uri: String, fragment: String) {
        guard let hash = uri.firstIndex(of: "#") else { return (uri, "") }
        return (String(uri[..<hash]), String(uri[uri.index(after: hash)...]))
    }

    /// `urllib.parse.unquote`: `%XX` runs decoded as UTF-8 (invalid bytes become U+FFFD).
    static func percentDecode(_ s: String) -> String {
        guard s.contains("%") else { return s }
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2]) {
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
