import Foundation
import TensorIO
import TestSupport
import Testing

/// A real serving stack in the loop: mlx_lm.server (PyPI `mlx[cpu]` and `mlx-lm`, installed by `make setup` into
/// .venv-mlx) serving `ingot export hf` of k2-mini, its INT4 experts loaded natively, against ingot's engine on the
/// same checkpoint (docs/evaluation.md, "Logits from a server").
@Suite("mlx_lm.server against the reference", .serialized)
struct MLXServerTests {
    static let k2mini = fixturesFolder() + "/k2-mini"

    /// The virtual environment's Python: INGOT_MLX_PYTHON, else .venv-mlx in the repository.
    static func python() throws -> String {
        let path =
            ProcessInfo.processInfo.environment["INGOT_MLX_PYTHON"]
            ?? ((fixturesFolder() as NSString).deletingLastPathComponent + "/.venv-mlx/bin/python")
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ServerError.notInstalled("no \(path): `make setup` installs mlx and mlx-lm there (or set INGOT_MLX_PYTHON)")
        }
        return path
    }

    enum ServerError: Error, CustomStringConvertible {
        case notInstalled(String)
        case notReady(String)
        var description: String {
            switch self {
            case .notInstalled(let s), .notReady(let s): s
            }
        }
    }

    /// A TCP port nobody listens on right now (bound to port 0, read back, closed).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A server started by ``startServer(_:options:log:)``.
    struct Server {
        let pid: Int32
        let base: String
        func stop() {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            for _ in 0..<100 where waitpid(pid, &status, WNOHANG) == 0 { Thread.sleep(forTimeInterval: 0.1) }
            if waitpid(pid, &status, WNOHANG) == 0 {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
            }
        }
    }

    /// Starts mlx_lm.server on `folder` with `options` (stdin /dev/null, output to `log`) and waits for /health; the
    /// caller stops it.
    static func startServer(_ folder: String, options: [String] = [], log: String) throws -> Server {
        let port = freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try python())
        process.arguments = ["-m", "mlx_lm", "server", "--model", folder, "--host", "127.0.0.1", "--port", String(port)] + options
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let server = Server(pid: process.processIdentifier, base: "http://127.0.0.1:\(port)")
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            if !process.isRunning { break }
            if (try? shell("curl -sf \(server.base)/health"))?.status == 0 { return server }
            Thread.sleep(forTimeInterval: 0.5)
        }
        server.stop()
        let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.suffix(2000) ?? ""
        throw ServerError.notReady("mlx_lm.server on \(server.base) did not become ready: \(tail)")
    }

    static func export(_ work: String) throws -> String {
        let export = work + "/k2-mini-hf"
        let r = try runIngot(["export", "hf", k2mini + "/int4", "-o", export, "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        return export
    }

    @Test("eval parity --endpoint --toolcalls, with and without --stream: trigger decisions and names as REF's")
    func toolCallsAgainstMLX() throws {
        let work = temporaryFolder("mlx-server")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let export = try Self.export(work)
        // Six held-out requests: four that call a tool and two that do not.
        let lines = try String(contentsOfFile: Self.k2mini + "/toolcalls.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
        let parsed = try lines.map { try JSONValue.parse($0) }
        let calling = parsed.indices.filter { !(parsed[$0]["expected"]?["tool_calls"]?.elements?.isEmpty ?? true) }
        let plain = parsed.indices.filter { parsed[$0]["expected"]?["tool_calls"]?.elements?.isEmpty ?? true }
        let requests = work + "/requests.jsonl"
        try (Array(calling.prefix(4)) + Array(plain.prefix(2))).map { lines[$0] }.joined(separator: "\n")
            .write(toFile: requests, atomically: true, encoding: .utf8)
        // A fresh server for each pass keeps the two passes independent. (A first version of this test shared one
        // server that inherited the test runner's stdin, and a request stalled; with stdin from /dev/null and a server
        // per pass it has not.)
        for stream in [false, true] {
            let server = try Self.startServer(export, log: work + "/server-\(stream).log")
            defer { server.stop() }
            let base = server.base
            var arguments = [
                "eval", "parity", Self.k2mini + "/int4", "--endpoint", base, "--toolcalls", requests, "--max-tokens", "160", "--json",
                "--quiet", "--no-thresholds", "--concurrency", "1", "--timeout", "60", "--retries", "1",
            ]
            if stream { arguments.append("--stream") }
            let r = try runIngot(arguments)
            #expect(r.status == 0, "\(r.err)")
            let tools = try #require(try JSONValue.parse(r.out)["tool_calls"])
            // Every trigger decision as REF's; where the calls differ, only in their arguments (bf16 arithmetic).
            #expect(
                tools["trigger_f1"]?.doubleValue == 1 && tools["false_positives"]?.intValue == 0, "stream \(stream): \(tools.compactText)")
            #expect(tools["failed"]?.elements?.isEmpty == true && tools["prompt_mismatches"]?.elements?.isEmpty == true)
            for row in tools["differing"]?.elements ?? [] {
                let name = { (s: String?) in s?.split(separator: " ").first.map(String.init) }
                #expect(name(row["reference"]?.stringValue) == name(row["candidate"]?.stringValue), "\(row.compactText)")
            }
        }
    }

    /// With the prompt cache on (one sequence): mlx-lm 0.32.2 kills its generation thread when a prompt equals a
    /// cached sequence, which teacher-forced prefixes asked in order hit whenever the model predicted the next token;
    /// ingot's two-pass order never sends one (docs/evaluation.md, "Logits from a server").
    @Test("eval parity --endpoint --text: the server's top-k log-probs against REF's distribution")
    func logitsAgainstMLX() throws {
        let work = temporaryFolder("mlx-server")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let server = try Self.startServer(try Self.export(work), options: ["--prompt-cache-size", "1"], log: work + "/server.log")
        defer { server.stop() }
        let base = server.base
        let r = try runIngot([
            "eval", "parity", Self.k2mini + "/int4", "--endpoint", base, "--text", Self.k2mini + "/eval.txt", "--ctx", "32", "--chunks",
            "2", "--concurrency", "1",
            "--json", "--quiet", "--no-thresholds", "--timeout", "60", "--retries", "1",
        ])
        #expect(r.status == 0, "\(r.err)")
        let logits = try #require(try JSONValue.parse(r.out)["server_logits"])
        #expect(logits["compared"]?.intValue == 30 && logits["tokenization_mismatch"] == nil, "\(logits.compactText)")
        #expect(
            (logits["same_top1"]?.doubleValue ?? 0) >= 0.9 && (logits["kld_topk_mean"]?.doubleValue ?? 1) < 0.01, "\(logits.compactText)")
        #expect(logits["method"]?.stringValue?.contains("top-k") == true && logits["k"]?.intValue == 10)
        #expect((logits["target_in_topk"]?.intValue ?? 0) > 0 && logits["ppl_cand_where_target_in_topk"]?.doubleValue != nil)
    }
}
