import Foundation
import TensorIO

/// A data file opened for appending after a kept prefix.
final class DataFile {
    let path: String
    private let fd: Int32
    private var closed = false

    /// Opens (creating) `path` and truncates it to `keeping` bytes (Int.max: keep everything, append).
    init(path: String, keeping: Int) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, operation: "open") }
        if keeping != Int.max {
            guard ftruncate(fd, off_t(keeping)) == 0 else { throw FileError(path: path, operation: "truncate") }
        }
        guard lseek(fd, 0, SEEK_END) >= 0 else { throw FileError(path: path, operation: "seek") }
    }

    deinit { if !closed { Foundation.close(fd) } }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try BufferedOutput.writeAll(fd: fd, bytes, path: path)
    }

    func writeZeros(_ count: Int) throws {
        guard count > 0 else { return }
        let zeros = [UInt8](repeating: 0, count: count)
        try zeros.withUnsafeBytes { try write($0) }
    }

    func sync() throws {
        guard fsync(fd) == 0 else { throw FileError(path: path, operation: "fsync") }
    }

    /// Hashes the first `count` bytes (a resumed file's kept prefix).
    func hashPrefix(_ count: Int, into hash: inout SHA256Stream) throws {
        var buffer = [UInt8](repeating: 0, count: 8 << 20)
        var offset = 0
        while offset < count {
            let want = min(buffer.count, count - offset)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
            guard n > 0 else { throw FileError(path: path, operation: "read") }
            buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += n
        }
    }

    func close() throws {
        try sync()
        closed = true
        guard Foundation.close(fd) == 0 else { throw FileError(path: path, operation: "close") }
    }
}
