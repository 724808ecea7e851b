internal import Crypto
public import Foundation
public import TensorIO

/// A `SHA256SUMS`-style list ("HEX  NAME" or "HEX *NAME" per line) and SHA-256 of files.
public struct ChecksumList: Sendable {
    /// File name → lowercase hex digest, in file order.
    public let entries: [(name: String, sha256: String)]

    /// Parses a list; blank lines and `#` comments are skipped.
    ///
    /// - Throws: ``CheckpointError/invalidField(file:field:found:expected:)`` naming the bad line.
    public init(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CheckpointError.missingFile(path: path) }
        var entries: [(String, String)] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
            let hex = parts.first.map { String($0).lowercased() } ?? ""
            var name = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : ""
            if name.hasPrefix("*") { name.removeFirst() }
            guard hex.count == 64, hex.allSatisfy(\.isHexDigit), !name.isEmpty else {
                throw CheckpointError.invalidField(
                    file: path, field: "line \(number + 1)", found: String(line.prefix(80)),
                    expected: "64 hex digits, spaces, a file name")
            }
            entries.append((name, hex))
        }
        self.entries = entries
    }

    /// SHA-256 of a whole file, read in 8 MiB pieces.
    ///
    /// - Throws: ``FileError``.
    public static func sha256(path: String, progress: (Int) -> Void = { _ in }) throws -> String {
        let mapping = try MappedFile(path: path)
        var hasher = SHA256()
        var offset = 0
        let bytes = mapping.bytes
        while offset < bytes.count {
            let end = min(bytes.count, offset + (8 << 20))
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
            progress(end - offset)
            offset = end
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
