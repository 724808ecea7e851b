import CKernels
import Foundation
import TensorIO

/// A data file opened for appending after a kept prefix.
///
/// Extents that start on a 4 KiB boundary can be written with ``writeAligned(_:)``: through a second descriptor
/// opened with O_DIRECT, zero-padded to the next 4 KiB boundary, so gigabytes of expert tiles never sit in the page
/// cache as dirty pages (on this project's machines buffered writes of the experts made the kernel's writeback
/// stall the source reads; bench/RESULTS.md). The padding is the bundle's own zero padding before the next extent;
/// past the last extent it is cut off again by ``close()``. Where the file system refuses O_DIRECT the same bytes go
/// through the page cache.
package final class DataFile {
    package let path: String
    private let fd: Int32
    private var directFD: Int32 = -1
    private var closed = false
    /// The logical end: where the next byte goes (also `fd`'s file position).
    private var position: Int
    /// Bytes in [position, zeroedTo) are zeros on disk already (an aligned write's padding).
    private var zeroedTo = 0
    private var staging: UnsafeMutableRawBufferPointer?

    static let directAlignment = 4096

    /// Opens (creating) `path` and truncates it to `keeping` bytes (Int.max: keep everything, append). `direct`:
    /// aligned extents bypass the page cache where the file system allows it.
    package init(path: String, keeping: Int, direct: Bool = false) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, operation: "open") }
        if keeping != Int.max {
            guard ftruncate(fd, off_t(keeping)) == 0 else { throw FileError(path: path, operation: "truncate") }
        }
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { throw FileError(path: path, operation: "seek") }
        position = Int(end)
        if direct {
            let d = ingot_open_direct(path)
            if d >= 0 { directFD = d }
        }
    }

    deinit {
        if !closed { Foundation.close(fd) }
        if directFD >= 0 { Foundation.close(directFD) }
        staging?.deallocate()
    }

    /// True when aligned extents bypass the page cache.
    package var writesDirectly: Bool { directFD >= 0 }

    package func write(_ bytes: UnsafeRawBufferPointer) throws {
        try BufferedOutput.writeAll(fd: fd, bytes, path: path)
        position += bytes.count
    }

    /// Appends `count` bytes of the file open as `source` from `offset` with copy_file_range (an in-kernel page cache
    /// copy, as `cp` does). Returns the bytes copied, fewer than `count` only when the kernel cannot copy between
    /// these files (another file system, no support): the caller writes the rest itself.
    package func copy(from source: Int32, sourcePath: String, offset: Int, count: Int) throws -> Int {
        var sourcePosition = Int64(offset)
        var done = 0
        defer { position += done }
        while done < count {
            let n = ingot_copy_file_range(source, &sourcePosition, fd, count - done)
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

    package func writeZeros(_ count: Int) throws {
        guard count > 0 else { return }
        if position + count <= zeroedTo {
            // An aligned write's padding already holds these zeros.
            position += count
            guard lseek(fd, off_t(position), SEEK_SET) >= 0 else { throw FileError(path: path, operation: "seek") }
            return
        }
        let zeros = [UInt8](repeating: 0, count: count)
        try zeros.withUnsafeBytes { try write($0) }
    }

    /// Appends an extent that starts on a 4 KiB boundary: with O_DIRECT (bytes and zero padding to the next 4 KiB
    /// boundary in one aligned write) where possible, else through the page cache.
    package func writeAligned(_ bytes: UnsafeRawBufferPointer) throws {
        guard directFD >= 0, position % Self.directAlignment == 0, bytes.count > 0 else { return try write(bytes) }
        let padded = (bytes.count + Self.directAlignment - 1) / Self.directAlignment * Self.directAlignment
        if (staging?.count ?? 0) < padded {
            staging?.deallocate()
            staging = UnsafeMutableRawBufferPointer.allocate(byteCount: padded, alignment: Self.directAlignment)
        }
        guard let buffer = staging, let base = buffer.baseAddress, let source = bytes.baseAddress else { return }
        base.copyMemory(from: source, byteCount: bytes.count)
        (base + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: padded - bytes.count)
        var done = 0
        while done < padded {
            let n = pwrite(directFD, base + done, padded - done, off_t(position + done))
            if n < 0 && errno == EINTR { continue }
            if n < 0 && done == 0 && errno == EINVAL {
                // The device wants another alignment after all: the page cache from here on.
                Foundation.close(directFD)
                directFD = -1
                return try write(bytes)
            }
            guard n > 0 else { throw FileError(path: path, operation: "write (O_DIRECT)") }
            done += n
        }
        zeroedTo = position + padded
        position += bytes.count
        guard lseek(fd, off_t(position), SEEK_SET) >= 0 else { throw FileError(path: path, operation: "seek") }
    }

    package func sync() throws {
        guard fsync(fd) == 0 else { throw FileError(path: path, operation: "fsync") }
    }

    /// Cuts an aligned write's padding past the last byte, syncs and closes.
    package func close() throws {
        if zeroedTo > position {
            guard ftruncate(fd, off_t(position)) == 0 else { throw FileError(path: path, operation: "truncate") }
        }
        try sync()
        closed = true
        if directFD >= 0 {
            Foundation.close(directFD)
            directFD = -1
        }
        guard Foundation.close(fd) == 0 else { throw FileError(path: path, operation: "close") }
    }
}
