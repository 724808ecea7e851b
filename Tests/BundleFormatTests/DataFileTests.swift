import BundleFormat
import Foundation
import TestSupport
import Testing

/// The data file writer's O_DIRECT path (aligned extents padded to 4 KiB, padding reused as the next gap, cut at close)
/// must give exactly the bytes the page-cache path gives.
@Suite("bundle: data file writer")
struct DataFileTests {
    /// Writes a dense piece, a gap, two aligned extents (the second after a gap that the first one's padding covers)
    /// and closes; returns the file's bytes.
    func write(direct: Bool, keepingAfterFirst: Bool = false) throws -> ([UInt8], Bool) {
        let path = temporaryFolder() + "/data.bin"
        let dense = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        let first = (0..<5_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 3) }
        let second = (0..<8_192).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ 5) }
        var file = try DataFile(path: path, keeping: 0, direct: direct)
        try dense.withUnsafeBytes { try file.write($0) }
        try file.writeZeros(4096 - 100)
        try first.withUnsafeBytes { try file.writeAligned($0) }
        let directly = file.writesDirectly
        if keepingAfterFirst {
            // A resumed run: the file is reopened at the journal's end (the padding past it is cut).
            try file.sync()
            file = try DataFile(path: path, keeping: 4096 + 5_000, direct: direct)
        }
        try file.writeZeros(8192 - 5_000)
        try second.withUnsafeBytes { try file.writeAligned($0) }
        try file.close()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var expected = dense + [UInt8](repeating: 0, count: 4096 - 100) + first
        expected += [UInt8](repeating: 0, count: 8192 - 5_000) + second
        #expect(bytes == expected)
        return (bytes, directly)
    }

    /// The type of the file system holding `path` (the longest mount point of /proc/mounts that contains it).
    static func fileSystemType(of path: String) -> String? {
        guard let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return nil }
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var best: (point: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 3 else { continue }
            let point = String(f[1])
            let inside = point == "/" || resolved == point || resolved.hasPrefix(point + "/")
            if inside && point.count >= (best?.point.count ?? -1) { best = (point, String(f[2])) }
        }
        return best?.type
    }

    @Test("aligned extents written with O_DIRECT give the page-cache path's bytes, also after a reopen")
    func directEqualsBuffered() throws {
        let (direct, directly) = try write(direct: true)
        let (buffered, bufferedDirectly) = try write(direct: false)
        #expect(direct == buffered)
        #expect(!bufferedDirectly)
        // Where the temporary folder is on a disk (ext4 here and in CI), O_DIRECT must have been used; tmpfs has none.
        if let type = Self.fileSystemType(of: NSTemporaryDirectory()), type != "tmpfs" {
            #expect(directly, "O_DIRECT not used on \(type)")
        }
        let (resumed, _) = try write(direct: true, keepingAfterFirst: true)
        #expect(resumed == buffered)
    }
}
