public import Checkpoint

/// One thing wrong with a checkpoint, located as precisely as possible.
public struct Finding: Sendable, Equatable {
    /// Errors make the checkpoint unusable as is; warnings are suspicious; notes are facts worth knowing.
    public enum Severity: String, Sendable, Comparable {
        case error, warning, note
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
        var rank: Int { self == .error ? 0 : self == .warning ? 1 : 2 }
    }

    public let severity: Severity
    /// Layer, expert and tensor or file, where known.
    public let layer: Int?
    public let expert: Int?
    public let subject: String
    public let message: String

    /// Creates a finding.
    public init(_ severity: Severity, layer: Int? = nil, expert: Int? = nil, subject: String, _ message: String) {
        self.severity = severity
        self.layer = layer
        self.expert = expert
        self.subject = subject
        self.message = message
    }

    /// "error: layer 3 expert 17 model.layers.3…: message".
    public var line: String {
        var where_ = ""
        if let layer { where_ += "layer \(layer) " }
        if let expert { where_ += "expert \(expert) " }
        return "\(severity.rawValue): \(where_)\(subject): \(message)"
    }
}

/// Statistics of one INT4 projection (gate, up or down of one expert, or any packed module).
public struct ProjectionStats: Sendable {
    public let address: TensorAddress
    /// Counts of stored nibbles u = q + 8 (index 0 = level −8).
    public var histogram = [Int](repeating: 0, count: 16)
    public var scales = ScaleStatistics()
    /// Content hash of the packed bytes and of the scales (for duplicate detection).
    public var packedHash: UInt64 = 0
    public var scaleHash: UInt64 = 0

    /// Creates empty statistics for a module (the address's part is ignored).
    public init(address: TensorAddress) { self.address = address }

    /// True when every level is 0 (the weights are all zero whatever the scales).
    public var allZero: Bool { histogram.enumerated().allSatisfy { $0.offset == 8 || $0.element == 0 } && histogram[8] > 0 }
}

/// Per-layer roll-up of the projection statistics.
public struct LayerSummary: Sendable {
    public let layer: Int
    public var projections = 0
    public var scales = ScaleStatistics()
    public var histogram = [Int](repeating: 0, count: 16)
    public var nonFiniteDense = 0
}

/// What `ingot verify` found.
public struct VerifyReport: Sendable {
    public let model: String
    public let kind: CheckpointKind
    public let findings: [Finding]
    public let projections: [ProjectionStats]
    public let layers: [LayerSummary]
    /// Files hashed against the checksum list: (name, expected, actual).
    public let checksums: [(file: String, expected: String, actual: String)]
    /// Where the expected digests came from: a list's path, "hub" (a cache's blob names), or nil (not checked).
    public let checksumSource: String?
    public let bytesRead: Int
    public let seconds: Double

    /// True when there is an error or a warning.
    public var hasFindings: Bool { findings.contains { $0.severity != .note } }
}
