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

    /// Opens and maps `path` (following symlinks).
    ///
    /// - Throws: ``FileError`` when the file cannot be opened, is not a regular file, or cannot be mapped.
    public init(path: String) throws(FileError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, operation: "stat") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FileError(path: path, operation: "open", errno: EISDIR) }
        length = Int(info.st_size)
        if length == 0 {
            base = nil
            return
        }
        let p = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else { throw FileError(path: path, operation: "mmap") }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), length) }
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
