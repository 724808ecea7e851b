import ArgumentParser
import BundleFormat
import Chat
import Checkpoint
import Evaluation
import Foundation
import GGUF
import HFExport
import Inference
import Quantization
import TensorIO
import Tokenizer

/// A subcommand whose failures become the exit codes documented in the README:
/// 0 clean, 1 findings, 2 unusable input, 3 could not finish, 64 bad flags.
protocol IngotCommand: ParsableCommand {
    /// The command's work; throw `ExitCode(1)` for findings.
    func execute() throws
}

extension IngotCommand {
    func run() throws {
        do {
            try execute()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError(error)
            throw ExitCode(exitStatus(for: error))
        }
    }
}

/// 2 for bad input (the file is wrong: fix it, fetch it again), 3 for failures worth retrying.
func exitStatus(for error: any Error) -> Int32 {
    switch error {
    case is ValidationError: 64
    case let endpoint as EndpointError: endpoint.isRetryable ? 3 : 2
    case is SafetensorsError, is CheckpointError, is JSONParseError, is QuantizationError, is BundleError, is InferenceError,
        is GGUFError:
        2
    case is TokenizerError, is ChatError, is JSONLines.BadLine, is EvaluationError, is ToolCallEvaluationError, is HFExportError: 2
    case let file as FileError where [ENOENT, EISDIR, ENOTDIR, EACCES].contains(file.errno) && file.operation == "open": 2
    default: 3
    }
}

/// Prints `error: <description>` on stderr, one line.
func printError(_ error: any Error) {
    let message = (error as? LocalizedError)?.errorDescription ?? "\(error)"
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
}

/// Prints a line on stderr (progress and notes, kept out of --json output).
func printNote(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
