internal import Crypto
public import Foundation
public import TensorIO

/// Expected digests of a model's files: a `SHA256SUMS`-style list ("HEX  NAME" or "HEX *NAME" per line), or the
/// digests a Hugging Face cache records in its blob names (docs/model-store.md, "Hugging Face cache").
public struct ChecksumList: Sendable {
    /// How a digest is computed.
    public enum Digest: String, Sendable {
        /// SHA-256 of the file's bytes (checksum lists; the cache's LFS blobs).
        case sha256
        /// Git's blob id: SHA-1 of "blob <size>\0" followed by the bytes (the cache's small, non-LFS files).
        case gitBlob = "git-blob-sha1"
    }

    /// File name → lowercase hex digest, in file order.
    public let entries: [(name: String, sha256: String)]
    /// How every entry's digest is computed (per entry for a cache; SHA-256 for a list).
    public let digests: [Digest]
    /// Where the expectations come from: the list's path, or "hub" for a cache's blob names.
    public let source: String

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
        digests = Array(repeating: .sha256, count: entries.count)
        source = path
    }

    /// The digests a Hugging Face cache snapshot records: each file of `location`'s snapshot folder that links to
    /// `blobs/<64 hex digits>` (an LFS file, named by its SHA-256) or `blobs/<40 hex digits>` (a small file, named
    /// by its git blob id). Nil when `location` is not a cache snapshot; files that are not such links are left out.
    public static func hub(_ location: ModelLocation) -> ChecksumList? {
        guard let blobs = location.hubBlobs else { return nil }
        let fm = FileManager.default
        var entries: [(String, String)] = []
        var digests: [Digest] = []
        for name in ((try? fm.contentsOfDirectory(atPath: location.folder)) ?? []).sorted() where !name.hasPrefix(".") {
            let path = location.file(name)
            guard (try? fm.destinationOfSymbolicLink(atPath: path)) != nil else { continue }
            let real = ModelLocation.realPath(path)
            guard (real as NSString).deletingLastPathComponent == blobs else { continue }
            let blob = (real as NSString).lastPathComponent.lowercased()
            guard blob.allSatisfy(\.isHexDigit) else { continue }
            switch blob.count {
            case 64: digests.append(.sha256)
            case 40: digests.append(.gitBlob)
            default: continue
            }
            entries.append((name, blob))
        }
        return ChecksumList(entries: entries, digests: digests, source: "hub")
    }

    private init(entries: [(name: String, sha256: String)], digests: [Digest], source: String) {
        self.entries = entries
        self.digests = digests
        self.source = source
    }

    /// The digest of the file at `path` as entry `i` expects it.
    public func digest(_ i: Int, path: String, progress: (Int) -> Void = { _ in }) throws -> String {
        switch digests[i] {
        case .sha256: try Self.sha256(path: path, progress: progress)
        case .gitBlob: try Self.gitBlobID(path: path, progress: progress)
        }
    }

    /// SHA-256 of a whole file, read in 8 MiB pieces.
    ///
    /// - Throws: ``FileError``.
    public static func sha256(path: String, progress: (Int) -> Void = { _ in }) throws -> String {
        var hasher = SHA256()
        return try hex(&hasher, path: path, prefix: { _ in [] }, progress: progress)
    }

    /// Git's blob id of a whole file: SHA-1 of "blob <size>\0" and the bytes.
    ///
    /// - Throws: ``FileError``.
    public static func gitBlobID(path: String, progress: (Int) -> Void = { _ in }) throws -> String {
        var hasher = Insecure.SHA1()
        return try hex(&hasher, path: path, prefix: { Array("blob \($0)\u{0}".utf8) }, progress: progress)
    }

    /// The hex digest of `prefix(file length)` followed by the file's bytes, read in 8 MiB pieces.
    private static func hex<H: HashFunction>(
        _ hasher: inout H, path: String, prefix: (Int) -> [UInt8], progress: (Int) -> Void
    ) throws -> String {
        let mapping = try MappedFile(path: path)
        hasher.update(data: prefix(mapping.length))
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
