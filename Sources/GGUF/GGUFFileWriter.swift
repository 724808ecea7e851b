import Foundation
internal import TensorIO

/// Writes one GGUF file in a single streaming pass: the header (metadata and tensor infos, whose sizes are known
/// before any data exists) first, then each tensor's bytes in order, padded to the alignment.
///
/// Memory does not depend on the tensors' sizes: bytes go through a fixed 4 MiB buffer. The file is written
/// under a temporary name (`FILE.partial-PID`), synced by ``close()`` and renamed by ``commit()``; nothing with
/// the final name exists before it is complete, and a writer dropped before ``commit()`` deletes its file.
public final class GGUFFileWriter {
    /// The final path.
    public let path: String
    /// The layout being written.
    public let header: GGUFHeader
    private let temporaryPath: String
    private let output: BufferedOutput
    private var tensorIndex = 0
    private var writtenInTensor = 0
    private var closed = false
    private var committed = false
    private static let zeros = [UInt8](repeating: 0, count: 4096)

    /// Creates the temporary file and writes the header.
    ///
    /// - Throws: ``FileError``.
    public init(path: String, header: GGUFHeader) throws {
        self.path = path
        self.header = header
        temporaryPath = path + ".partial-\(getpid())"
        output = try BufferedOutput(path: temporaryPath)
        let bytes = header.encoded()
        try bytes.withUnsafeBytes { try output.write($0) }
    }

    deinit {
        if !committed { unlink(temporaryPath) }
    }

    /// The tensor whose bytes come next, or nil when all are written.
    public var nextTensor: GGUFTensorInfo? { tensorIndex < header.tensors.count ? header.tensors[tensorIndex] : nil }

    /// Appends bytes to the current tensor; a call may run into the following tensors.
    ///
    /// - Throws: ``GGUFError/wrongByteCount(file:tensor:expected:actual:)`` when more bytes arrive than the
    ///   tensors hold, ``FileError`` on a failed write.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var remaining = bytes
        while !remaining.isEmpty {
            guard tensorIndex < header.tensors.count else {
                let last = header.tensors.last
                throw GGUFError.wrongByteCount(
                    file: path, tensor: last?.name ?? "", expected: last?.byteCount ?? 0,
                    actual: (last?.byteCount ?? 0) + remaining.count)
            }
            let tensor = header.tensors[tensorIndex]
            let take = min(tensor.byteCount - writtenInTensor, remaining.count)
            try output.write(UnsafeRawBufferPointer(rebasing: remaining[0..<take]))
            writtenInTensor += take
            remaining = UnsafeRawBufferPointer(rebasing: remaining[take...])
            if writtenInTensor == tensor.byteCount { try endTensor() }
        }
    }

    private func endTensor() throws {
        let tensor = header.tensors[tensorIndex]
        var padding = GGUFHeader.align(tensor.byteCount, header.alignment) - tensor.byteCount
        while padding > 0 {
            let n = min(padding, Self.zeros.count)
            try Self.zeros.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            padding -= n
        }
        tensorIndex += 1
        writtenInTensor = 0
    }

    /// Flushes and fsyncs the temporary file.
    ///
    /// - Throws: ``GGUFError/wrongByteCount(file:tensor:expected:actual:)`` when a tensor is short,
    ///   ``FileError`` when syncing fails.
    public func close() throws {
        if let t = nextTensor { throw GGUFError.wrongByteCount(file: path, tensor: t.name, expected: t.byteCount, actual: writtenInTensor) }
        try output.close()
        closed = true
    }

    /// Renames the closed temporary file to ``path`` and syncs the folder.
    ///
    /// - Throws: ``FileError``.
    public func commit() throws {
        precondition(closed, "commit() before close()")
        try AtomicFile.commit(temporary: temporaryPath, to: path)
        committed = true
    }

    /// Writes a whole file whose tensor data is in memory (tests and small files).
    ///
    /// - Throws: ``GGUFError`` or ``FileError``.
    public static func write(path: String, header: GGUFHeader, data: [[UInt8]]) throws {
        let w = try GGUFFileWriter(path: path, header: header)
        for d in data { try d.withUnsafeBytes { try w.write($0) } }
        try w.close()
        try w.commit()
    }
}
