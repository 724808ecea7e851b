public import Foundation

/// A whole file mapped read-only into memory; unmapped when the object goes away.
///
/// Views handed out by ``bytes`` are valid only while the `MappedFile` is alive; owners keep it.
public final class MappedFile: @unchecked Sendable {
    // Sendable: the mapping is read-only and never changes after init.
    /// The path as opened.
    public let path: String
    /// The file's length in bytes.
    public let length: Int
    private let base: UnsafeRawPointer?
    /// Kept open for page-cache advice (``evict(offset:count:)``).
    private let fd: Int32

    /// Opens and maps `path` (following symlinks).
    ///
    /// - Throws: ``FileError`` when the file cannot be opened, is not a regular file, or cannot be mapped.
    public init(path: String) throws(FileError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = FileError(path: path, operation: "stat")
            close(fd)
            throw error
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FileError(path: path, operation: "open", errno: EISDIR)
        }
        self.fd = fd
        length = Int(info.st_size)
        if length == 0 {
            base = nil
            return
        }
        let p = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else {
            let error = FileError(path: path, operation: "mmap")
            close(fd)
            throw error
        }
        base = UnsafeRawPointer(p)
        // Ask for huge folios: a fault then reads and maps 2 MiB at once, which keeps page walks and TLB misses out
        // of the kernels that stream weights (docs/engine.md, "Layer streaming"). Advice only; ignored where the
        // kernel or filesystem cannot.
        madvise(p, length, MADV_HUGEPAGE)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), length) }
        close(fd)
    }

    /// The whole file.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: length) }

    /// Drops this process's mapping of the whole pages inside a range it is done with (`madvise(MADV_DONTNEED)`;
    /// the page cache keeps the data, a later access faults it back in). Keeps resident memory flat while
    /// streaming through files larger than RAM.
    public func release(offset: Int, count: Int) {
        guard let base, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page
        let end = min(length, offset + count) / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// Reads a range into the page cache now without keeping it mapped: the range, widened to whole 2 MiB blocks, is
    /// faulted in 32 MiB at a time (`madvise(MADV_POPULATE_READ)`, which reads huge folios) and each piece unmapped
    /// again (`MADV_DONTNEED`), so resident memory stays flat while a background thread reads ahead of the
    /// computation. Whole blocks matter: unmapping part of a huge mapping splits it into 4 KiB entries for good, and
    /// the computation then pays a fault and TLB misses every 4 KiB (docs/engine.md, "Layer streaming"). Falls back
    /// to ``adviseWillNeed(offset:count:)`` on kernels without `MADV_POPULATE_READ` (before Linux 5.14).
    ///
    /// - Parameter room: pages done with; before each piece is read, as many bytes of them are evicted, so the new
    ///   data lands in memory freed a moment earlier, and with a budget the read waits for room
    ///   (``RetiredPages/admit(_:offset:count:)``).
    @discardableResult
    public func readAhead(offset: Int, count: Int, room: RetiredPages? = nil) -> UInt8 {
        var fold: UInt8 = 0
        guard let base, count > 0 else { return fold }
        let piece = 32 << 20, block = 2 << 20, page = 4096
        var start = offset / block * block
        let end = min(length, (offset + count + block - 1) / block * block)
        while start < end {
            let n = min(piece, end - start)
            let p = UnsafeMutableRawPointer(mutating: base + start)
            room?.admit(self, offset: start, count: n)
            if madvise(p, n, Self.populateRead) != 0 {
                adviseWillNeed(offset: start, count: end - start)
                return fold
            }
            // One load per 4 KiB page: on a virtual machine that hands freed memory back to its host, the first
            // access to a page is what costs, and it belongs here rather than in the computation (docs/engine.md,
            // "Layer streaming").
            for i in stride(from: 0, to: n, by: page) { fold ^= UnsafeRawPointer(p).load(fromByteOffset: i, as: UInt8.self) }
            madvise(p, n, MADV_DONTNEED)
            start += n
        }
        return fold
    }

    /// `MADV_POPULATE_READ` (Linux 5.14, `<linux/mman.h>`; not in every libc's headers).
    private static let populateRead: Int32 = 22

    /// Unmaps a range (``release(offset:count:)``) and drops its pages from the page cache too
    /// (`posix_fadvise(POSIX_FADV_DONTNEED)`; pages another mapping still uses stay). For layer-streamed evaluation of
    /// a model larger than memory: a computed layer's pages would only make the kernel reclaim memory while the next
    /// layer is read (docs/engine.md, "Layer streaming").
    public func evict(offset: Int, count: Int) {
        release(offset: offset, count: count)
        guard count > 0 else { return }
        _ = posix_fadvise(fd, off_t(offset), off_t(count), POSIX_FADV_DONTNEED)
    }

    /// Tells the kernel a range will be read sequentially soon (`madvise(MADV_WILLNEED)`).
    public func adviseWillNeed(offset: Int, count: Int) {
        guard let base, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        madvise(
            UnsafeMutableRawPointer(mutating: base + start), min(length - start, count + offset - start),
            MADV_WILLNEED)
    }
}
