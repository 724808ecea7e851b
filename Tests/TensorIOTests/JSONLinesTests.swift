import Foundation
import TensorIO
import TestSupport
import Testing

/// docs/evaluation.md, "Input files".
@Suite("JSON Lines input")
struct JSONLinesTests {
    @Test("CRLF and LF lines, a byte-order mark and blank lines read alike; a bad line is FILE:LINE and the rest still read")
    func forgivingReader() throws {
        let text = "\u{FEFF}{\"a\": 1}\r\n\r\n  \n{\"b\": [1, 2]}\r\nnot json\r\n{\"c\": \"x\\r\\n\"}"
        let file = JSONLines(path: "f.jsonl", data: Data(text.utf8))
        #expect(file.lines.map(\.number) == [1, 4, 6])
        #expect(file.lines.map { $0.value.compactText } == [#"{"a":1}"#, #"{"b":[1,2]}"#, #"{"c":"x\r\n"}"#])
        #expect(file.bad.count == 1)
        #expect(file.bad.first?.line == 5)
        #expect(file.bad.first?.description.hasPrefix("f.jsonl:5: not JSON") == true)
    }

    @Test("an unreadable file names the system's reason, not an invented one")
    func unreadable() throws {
        let folder = temporaryFolder()
        #expect(throws: FileError(path: folder + "/missing.jsonl", operation: "open", errno: ENOENT)) {
            try JSONLines(path: folder + "/missing.jsonl")
        }
        #expect(throws: FileError(path: folder, operation: "open", errno: EISDIR)) { try FileContents.read(folder) }
    }
}
