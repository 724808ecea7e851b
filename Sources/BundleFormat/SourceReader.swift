import Foundation
import TensorIO

/// Read-only descriptors of a repack's source shards, opened once, read with `pread`.
///
/// Why not the mapping: copying from the mapping makes every cold page a synchronous page fault on the thread that
/// copies, a small window at a time; measured on a K2-shaped source, repack read 0.1–0.4 GB/s that way while `cp` read
/// the same files at 2 GB/s. `pread` of large pieces gets the kernel's full read-ahead.
final class SourceFiles: @unchecked Sendable {
    // Sendable: `descriptors` is guarded by `lock`; pread on a shared descriptor is thread-safe.
    private let lock = NSLock()
    private var descriptors: [String: Int32] = [:]

    deinit {
        for fd in descriptors.values { Foundation.close(fd) }
    }

    /// The descriptor of `path` (opened on first use, hinted sequential).
    func descriptor(_ path: String) throws -> Int32 {
        try lock.withLock {
            if let fd = descriptors[path] { return fd }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileError(path: path, operation: "open") }
            _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
            descriptors[path] = fd
            return fd
        }
    }

    /// Reads exactly `buffer.count` bytes at `offset` of `path`.
    func read(_ path: String, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        try Self.readFully(try descriptor(path), path: path, offset: offset, into: buffer)
    }

    /// Bytes [offset, offset + count) of `path` as a new array.
    func bytes(_ path: String, offset: Int, count: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(path, offset: offset, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    static func readFully(_ fd: Int32, path: String, offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw FileError(path: path, operation: n == 0 ? "read (file ends early)" : "read", errno: n == 0 ? EIO : errno)
            }
            done += n
        }
    }
}

/// Reads one byte range of a file in order, `chunkBytes` at a time, on its own thread, at most `depth` chunks ahead
/// of the consumer: the disk reads while the writer writes and the hashing queues hash, as in `cp`.
package final class RangeReader: @unchecked Sendable {
    // Sendable: all mutable state is guarded by `condition`.

    /// One piece of the range; owns its memory, so a hashing queue that still holds it keeps it valid.
    package final class Chunk: @unchecked Sendable {
        // Sendable: written by the reader thread before it is handed over, read-only afterwards.
        let storage: UnsafeMutableRawBufferPointer
        package var count = 0
        init(capacity: Int) {
            storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 4096)
        }
        deinit { storage.deallocate() }
        package var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[0..<count]) }
    }

    private let condition = NSCondition()
    private var free: [Chunk]
    private var ready: [Chunk] = []
    private var finished = false
    private var cancelled = false
    private var failure: (any Error)?
    private let done = DispatchSemaphore(value: 0)

    /// Starts reading `count` bytes at `offset` of the file open as `fd`.
    package init(fd: Int32, path: String, offset: Int, count: Int, chunkBytes: Int = 16 << 20, depth: Int = 4) {
        let chunk = max(1, min(chunkBytes, count))
        free = (0..<max(1, min(depth, (count + chunk - 1) / chunk))).map { _ in Chunk(capacity: chunk) }
        _ = posix_fadvise(fd, off_t(offset), off_t(count), Int32(POSIX_FADV_SEQUENTIAL))
        let thread = Thread { [self] in
            defer { done.signal() }
            var position = 0
            while position < count {
                condition.lock()
                while free.isEmpty && !cancelled { condition.wait() }
                if cancelled {
                    condition.unlock()
                    return
                }
                let c = free.removeLast()
                condition.unlock()
                c.count = min(chunk, count - position)
                do {
                    try SourceFiles.readFully(
                        fd, path: path, offset: offset + position, into: UnsafeMutableRawBufferPointer(rebasing: c.storage[0..<c.count]))
                } catch {
                    condition.withLock {
                        failure = error
                        condition.broadcast()
                    }
                    return
                }
                position += c.count
                condition.withLock {
                    ready.append(c)
                    condition.broadcast()
                }
            }
            condition.withLock {
                finished = true
                condition.broadcast()
            }
        }
        thread.start()
    }

    /// The next chunk in order, nil after the last; rethrows a read error.
    package func next() throws -> Chunk? {
        condition.lock()
        defer { condition.unlock() }
        while ready.isEmpty && !finished && failure == nil { condition.wait() }
        if let failure { throw failure }
        return ready.isEmpty ? nil : ready.removeFirst()
    }

    /// Gives a consumed chunk back for reuse.
    package func recycle(_ chunk: Chunk) {
        condition.withLock {
            free.append(chunk)
            condition.broadcast()
        }
    }

    /// Stops the reader thread and waits for it.
    package func stop() {
        condition.withLock {
            cancelled = true
            condition.broadcast()
        }
        done.wait()
    }
}
