public import Foundation

/// Inputs an evaluation cannot use: a text too short for the context, a saved reference that does not match the run,
/// a file that is not what it claims to be. Each names the file or flag and the value.
public enum EvaluationError: Error, LocalizedError, Equatable, Sendable {
    /// The text has fewer tokens than one chunk of the context.
    case textTooShort(tokens: Int, ctx: Int)
    /// A saved reference was made with another context length.
    case referenceContextMismatch(saved: Int, requested: Int)
    /// Reference and candidate have different vocabularies.
    case vocabularyMismatch(reference: Int, candidate: Int)
    /// A file is not an ingot reference log-prob file, or is truncated.
    case notReferenceFile(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .textTooShort(let tokens, let ctx): "the text has \(tokens) tokens, fewer than one chunk of --ctx \(ctx)"
        case .referenceContextMismatch(let saved, let requested):
            "the saved reference was made with --ctx \(saved), not \(requested)"
        case .vocabularyMismatch(let reference, let candidate): "vocabularies differ: reference \(reference), candidate \(candidate)"
        case .notReferenceFile(let path, let reason): "\(path): \(reason)"
        }
    }
}
