public import Foundation

/// Why a chat request cannot be rendered.
public enum ChatError: Error, Equatable, Sendable {
    /// The request is not a JSON object with a `messages` array.
    case invalidRequest(file: String, reason: String)
    /// A message lacks a usable field.
    case invalidMessage(index: Int, reason: String)
}

extension ChatError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .invalidRequest(let file, let reason): "\(file): \(reason)"
        case .invalidMessage(let index, let reason): "messages[\(index)]: \(reason)"
        }
    }
}
