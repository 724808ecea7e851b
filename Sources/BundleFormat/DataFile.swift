import CKernels
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

    /// Appends `count` bytes of the file open as `source` from `offset` with copy_file_range (an in-kernel page cache
    /// copy, as `cp` does). Returns the bytes copied, fewer than `count` only when the kernel cannot copy between
    /// these files (another file system, no support): the caller writes the rest itself.
    func copy(from source: Int32, sourcePath: String, offset: Int, count: Int) throws -> Int {
        var position = Int64(offset)
        var done = 0
        while done < count {
            let n = ingot_copy_file_range(source, &position, fd, count - done)
            if n == -Int64(EINTR) { continue }
            if done == 0 && [EXDEV, ENOSYS, EINVAL, EOPNOTSUPP, EBADF].contains(Int32(-n)) { return 0 }
            guard n > 0 else {
                throw FileError(
                    path: n == 0 ? sourcePath : path, operation: n == 0 ? "read (file ends early)" : "copy_file_range",
                    errno: n == 0 ? EIO : Int32(-n))
            }
            done += Int(n)
        }
        return done
    }

    func writeZeros(_ count: Int) throws {
        guard count > 0 else { return }
        let zeros = [UInt8](repeating: 0, count: count)
        try zeros.withUnsafeBytes { try write($0) }
    }

    func sync() throws {
        guard fsync(fd) == 0 else { throw FileError(path: path, operation: "fsync") }
    }

    func close() throws {
        try sync()
        closed = true
        guard Foundation.close(fd) == 0 else { throw FileError(path: path, operation: "close") }
    }
}
