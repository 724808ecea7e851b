public import Foundation

/// What a tensor will be before its bytes exist: enough to lay out a header.
public struct TensorSpec: Sendable, Equatable {
    /// The tensor's name.
    public let name: String
    /// Element type.
    public let dtype: DType
    /// Dimensions, row-major.
    public let shape: [Int]

    /// Creates a spec.
    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    /// Data bytes for this shape and dtype.
    ///
    /// - Precondition: the size does not overflow and is a whole number of bytes.
    public var byteCount: Int {
        guard let n = try? SafetensorsHeader.byteCount(dtype: dtype, shape: shape, file: "", tensor: name) else {
            preconditionFailure("tensor \(name) \(shape) \(dtype.rawValue) has no whole byte size")
        }
        return n
    }
}

/// Writes one safetensors file tensor by tensor, with memory independent of the tensors' sizes.
///
/// The layout is the reference writer's (`prepare()` in safetensors' tensor.rs): tensors sorted by
/// descending dtype alignment then name, back to back from offset 0; `__metadata__` first; the
/// header serialized without spaces and padded with 0x20 to a multiple of 8. The same inputs give
/// the same bytes. Data goes to `NAME.partial-PID`; ``finish()`` checks every byte arrived, fsyncs
/// and renames, so an interrupted write never leaves a file that looks valid.
public final class SafetensorsWriter {
    /// The final path.
    public let path: String
    /// Tensors in the order their bytes must be written.
    public let order: [TensorSpec]
    /// The header bytes (length prefix included).
    public let headerBytes: [UInt8]
    private let temporaryPath: String
    private let output: BufferedOutput
    private var tensorIndex = 0
    private var writtenInTensor = 0
    private var finished = false

    /// The tensor order the reference writer uses.
    public static func layoutOrder(_ tensors: [TensorSpec]) -> [TensorSpec] {
        tensors.sorted { a, b in
            a.dtype.alignmentRank != b.dtype.alignmentRank ? a.dtype.alignmentRank > b.dtype.alignmentRank : a.name < b.name
        }
    }

    /// The complete header (length prefix, JSON, padding) for `tensors` laid out in ``layoutOrder(_:)``.
    ///
    /// - Throws: ``SafetensorsError/headerTooLargeToWrite(file:headerLength:)`` or `duplicateTensor`.
    public static func header(for tensors: [TensorSpec], metadata: [String: String], file: String) throws(SafetensorsError) -> [UInt8] {
        var seen = Set<String>()
        for t in tensors where !seen.insert(t.name).inserted || t.name == "__metadata__" {
            throw .duplicateTensor(file: file, tensor: t.name)
        }
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.sorted { $0.key < $1.key }.map { JSONValue.quote($0.key) + ":" + JSONValue.quote($0.value) }
                .joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for t in layoutOrder(tensors) {
            let n = t.byteCount
            if !first { json += "," }
            first = false
            json +=
                JSONValue.quote(t.name) + ":{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":["
                + t.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(offset + n)]}"
            offset += n
        }
        json += "}"
        var bytes = Array(json.utf8)
        while bytes.count % 8 != 0 { bytes.append(0x20) }
        guard bytes.count <= SafetensorsHeader.maxHeaderLength else {
            throw .headerTooLargeToWrite(file: file, headerLength: bytes.count)
        }
        var length = UInt64(bytes.count).littleEndian
        return withUnsafeBytes(of: &length) { Array($0) } + bytes
    }

    /// Creates the temporary file and writes the header.
    ///
    /// - Parameters:
    ///   - path: the final file name.
    ///   - tensors: every tensor the file will hold, in any order.
    ///   - metadata: `__metadata__` entries (written sorted by key).
    /// - Throws: ``SafetensorsError`` for a bad plan, ``FileError`` when the file cannot be created.
    public init(path: String, tensors: [TensorSpec], metadata: [String: String] = [:]) throws {
        self.path = path
        order = Self.layoutOrder(tensors)
        headerBytes = try Self.header(for: tensors, metadata: metadata, file: path)
        temporaryPath = path + ".partial-\(getpid())"
        output = try BufferedOutput(path: temporaryPath)
        try headerBytes.withUnsafeBytes { try output.write($0) }
        try skipEmptyTensors()
    }

    deinit {
        if !finished { unlink(temporaryPath) }
    }

    /// The tensor whose bytes come next, or nil when all are written.
    public var nextTensor: TensorSpec? { tensorIndex < order.count ? order[tensorIndex] : nil }

    /// Appends bytes to the current tensor; a call may span into the following tensors.
    ///
    /// - Throws: ``SafetensorsError/wrongByteCount(file:tensor:expectedBytes:actualBytes:)`` when more
    ///   bytes arrive than the plan holds; ``FileError`` on a failed write.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var remaining = bytes
        while !remaining.isEmpty {
            guard tensorIndex < order.count else {
                throw SafetensorsError.wrongByteCount(
                    file: path, tensor: order.last?.name ?? "", expectedBytes: 0,
                    actualBytes: remaining.count)
            }
            let need = order[tensorIndex].byteCount - writtenInTensor
            let take = min(need, remaining.count)
            try output.write(UnsafeRawBufferPointer(rebasing: remaining[0..<take]))
            writtenInTensor += take
            remaining = UnsafeRawBufferPointer(rebasing: remaining[take...])
            if writtenInTensor == order[tensorIndex].byteCount {
                tensorIndex += 1
                writtenInTensor = 0
                try skipEmptyTensors()
            }
        }
    }

    private func skipEmptyTensors() throws {
        while tensorIndex < order.count && order[tensorIndex].byteCount == 0 { tensorIndex += 1 }
    }

    /// Checks that every tensor is complete, then flushes, fsyncs and renames into place.
    ///
    /// - Throws: ``SafetensorsError/wrongByteCount(file:tensor:expectedBytes:actualBytes:)`` for a short
    ///   tensor; ``FileError`` when syncing or renaming fails.
    public func finish() throws {
        if tensorIndex < order.count {
            throw SafetensorsError.wrongByteCount(
                file: path, tensor: order[tensorIndex].name,
                expectedBytes: order[tensorIndex].byteCount, actualBytes: writtenInTensor)
        }
        try output.close()
        try AtomicFile.commit(temporary: temporaryPath, to: path)
        finished = true
    }
}

/// A POSIX file written through a 4 MiB buffer, fsynced on close.
package final class BufferedOutput {
    let path: String
    private let fd: Int32
    private var buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    private var closed = false

    package init(path: String) throws(FileError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, operation: "create") }
        buffer = .allocate(byteCount: 4 << 20, alignment: 4096)
    }

    deinit {
        if !closed { Foundation.close(fd) }
        buffer.deallocate()
    }

    package func write(_ bytes: UnsafeRawBufferPointer) throws(FileError) {
        if used + bytes.count > buffer.count { try flush() }
        if bytes.count >= buffer.count {
            try Self.writeAll(fd: fd, bytes, path: path)
            return
        }
        UnsafeMutableRawBufferPointer(rebasing: buffer[used..<(used + bytes.count)]).copyMemory(from: bytes)
        used += bytes.count
    }

    package func flush() throws(FileError) {
        guard used > 0 else { return }
        try Self.writeAll(fd: fd, UnsafeRawBufferPointer(rebasing: buffer[0..<used]), path: path)
        used = 0
    }

    package func close() throws(FileError) {
        try flush()
        guard fsync(fd) == 0 else { throw FileError(path: path, operation: "fsync") }
        closed = true
        guard Foundation.close(fd) == 0 else { throw FileError(path: path, operation: "close") }
    }

    /// write(2) until every byte is written, retrying on EINTR.
    package static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileError) {
        var offset = 0
        while offset < bytes.count {
            guard let base = bytes.baseAddress else { return }
            let n = Foundation.write(fd, base + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "write")
            }
            offset += n
        }
    }
}

/// Whole-file writes that never leave a half-written file under the final name.
public enum AtomicFile {
    /// Writes `data` to `path` through a temporary file, fsync and rename.
    ///
    /// - Throws: ``FileError``.
    public static func write(_ data: [UInt8], to path: String) throws {
        let temporary = path + ".partial-\(getpid())"
        do {
            let out = try BufferedOutput(path: temporary)
            try data.withUnsafeBytes { try out.write($0) }
            try out.close()
            try commit(temporary: temporary, to: path)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Refuses an output folder that exists and is not empty (outputs go into new or empty folders only).
    ///
    /// - Throws: ``FileError`` with EEXIST.
    public static func requireNewOrEmptyFolder(_ path: String) throws {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: path), !entries.isEmpty {
            throw FileError(path: path, operation: "create (the folder is not empty)", errno: EEXIST)
        }
    }

    /// Writes UTF-8 `text` to `path` atomically.
    public static func write(_ text: String, to path: String) throws {
        try write(Array(text.utf8), to: path)
    }

    /// Puts `from`'s bytes at `to` (a new name): a hard link when the filesystem allows one and `copy` is false (free,
    /// and the same inode), else a streamed copy in 8 MiB pieces through a temporary file, fsync and rename.
    /// Symbolic links (a Hugging Face cache's snapshot entries) are followed. Returns true for a hard link.
    ///
    /// - Throws: ``FileError``; no file exists at `to` after a failure.
    @discardableResult
    public static func linkOrCopy(_ from: String, to: String, copy: Bool = false) throws -> Bool {
        let source = ModelLocation.realPath(from)
        if !copy && link(source, to) == 0 { return true }
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw FileError(path: source, operation: "open") }
        defer { close(input) }
        let temporary = to + ".partial-\(getpid())"
        let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 << 20, alignment: 4096)
        defer { piece.deallocate() }
        do {
            let out = try BufferedOutput(path: temporary)
            while true {
                let n = read(input, piece.baseAddress, piece.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError(path: source, operation: "read")
                }
                if n == 0 { break }
                try out.write(UnsafeRawBufferPointer(rebasing: piece[0..<n]))
            }
            try out.close()
            try commit(temporary: temporary, to: to)
        } catch {
            unlink(temporary)
            throw error
        }
        return false
    }

    /// Renames a complete, synced temporary file to its final name and syncs the folder.
    ///
    /// - Throws: ``FileError``.
    public static func commit(temporary: String, to path: String) throws(FileError) {
        guard rename(temporary, path) == 0 else {
            let error = FileError(path: path, operation: "rename")
            unlink(temporary)
            throw error
        }
        let folder = (path as NSString).deletingLastPathComponent
        let dfd = open(folder.isEmpty ? "." : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
