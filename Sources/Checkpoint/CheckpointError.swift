public import Foundation

/// A checkpoint's configuration or recipe is unusable; each case names the file and the bad value.
public enum CheckpointError: Error, Equatable, Sendable {
    /// A required file (config.json) is missing.
    case missingFile(path: String)
    /// A JSON file does not parse.
    case invalidJSON(file: String, reason: String)
    /// A required config field is absent.
    case missingField(file: String, field: String)
    /// A config field has the wrong type or an impossible value.
    case invalidField(file: String, field: String, found: String, expected: String)
    /// A recipe YAML file does not parse.
    case invalidRecipe(file: String, reason: String)
    /// A recipe contains a key ingot does not know (a typo would otherwise be ignored).
    case unknownRecipeKey(file: String, key: String)
    /// No built-in recipe matches the checkpoint.
    case noMatchingRecipe(modelType: String, quantMethod: String)
    /// A recipe or tensor name pattern is not a valid regular expression.
    case invalidPattern(file: String, pattern: String)
}

extension CheckpointError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .missingFile(let p): "\(p): missing; a Hugging Face model folder needs it"
        case .invalidJSON(let f, let r): "\(f): not valid JSON: \(r)"
        case .missingField(let f, let field): "\(f): required field '\(field)' is missing"
        case .invalidField(let f, let field, let found, let expected):
            "\(f): field '\(field)' is \(found), expected \(expected)"
        case .invalidRecipe(let f, let r): "\(f): \(r)"
        case .unknownRecipeKey(let f, let k): "\(f): unknown key '\(k)'; check its spelling against recipes/README.md"
        case .noMatchingRecipe(let t, let q):
            "no built-in recipe for model_type '\(t)' with quantization '\(q)'; pass --recipe FILE"
        case .invalidPattern(let f, let p): "\(f): '\(p)' is not a valid regular expression"
        }
    }
}
