internal import Crypto
public import Foundation

/// SHA-256 helpers over raw buffers (swift-crypto).
public enum SHA256Hex {
    /// Hex digest of a buffer.
    public static func of(_ bytes: UnsafeRawBufferPointer) -> String {
        var h = SHA256()
        h.update(bufferPointer: bytes)
        return hex(h.finalize())
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// An incremental SHA-256.
public struct SHA256Stream {
    private var hasher = SHA256()

    /// Creates an empty hasher.
    public init() {}

    /// Adds bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    /// The hex digest (the hasher is consumed).
    public func finalize() -> String { SHA256Hex.hex(hasher.finalize()) }
}
