public import Foundation

/// A whole small file read into memory, with the real `errno` on failure (a missing file, a folder, a permission).
public enum FileContents {
    /// The file's bytes.
    ///
    /// - Throws: ``FileError`` naming the path, the operation and the system's reason.
    public static func read(_ path: String) throws(FileError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: path, operation: "open") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FileError(path: path, operation: "stat") }
        guard (info.st_mode & S_IFMT) != S_IFDIR else { throw FileError(path: path, operation: "open", errno: EISDIR) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "read")
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }
}

/// A JSON Lines file read the way real files need (docs/evaluation.md, "Input files"): LF or CRLF line ends, a
/// UTF-8 byte-order mark, blank lines skipped; each line parsed on its own, so a bad line is reported as
/// `FILE:LINE: reason` and the others are still read.
public struct JSONLines: Sendable {
    /// One parsed line and its 1-based number in the file.
    public struct Line: Sendable {
        public let number: Int
        public let value: JSONValue
    }

    /// A line that is not JSON (or that a reader refused), located.
    public struct BadLine: Error, Sendable, Equatable, CustomStringConvertible {
        public let file: String
        public let line: Int
        public let reason: String

        public init(file: String, line: Int, reason: String) {
            self.file = file
            self.line = line
            self.reason = reason
        }

        public var description: String { "\(file):\(line): \(reason)" }
    }

    /// The file as given.
    public let path: String
    /// The lines that parsed, in file order.
    public let lines: [Line]
    /// The lines that did not, in file order.
    public let bad: [BadLine]

    /// Reads and parses `path`.
    ///
    /// - Throws: ``FileError`` when the file cannot be read (bad lines are not errors: see ``bad``).
    public init(path: String) throws(FileError) {
        self.init(path: path, data: try FileContents.read(path))
    }

    /// Parses `data` as the contents of `path`.
    public init(path: String, data: Data) {
        self.path = path
        var lines: [Line] = [], bad: [BadLine] = []
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        // Split on the LF byte: as Swift Characters "\r\n" is one grapheme, so splitting a String on "\n" misses CRLF.
        for (i, raw) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            var line = raw[...]
            if line.last == 0x0D { line = line.dropLast() }
            let text = String(decoding: line, as: UTF8.self)
            if text.allSatisfy(\.isWhitespace) { continue }
            do {
                lines.append(Line(number: i + 1, value: try JSONValue.parse(text)))
            } catch {
                bad.append(BadLine(file: path, line: i + 1, reason: "not JSON (\(error.description))"))
            }
        }
        self.lines = lines
        self.bad = bad
    }
}
