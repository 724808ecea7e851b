public import Foundation
public import TensorIO

/// A Hugging Face model folder: validated safetensors plus config.json and the files beside it.
public final class ModelFolder: @unchecked Sendable {
    // Sendable: immutable after init.
    /// The validated tensors.
    public let tensors: SafetensorsCheckpoint
    /// Parsed config.json.
    public let config: ModelConfig
    /// generation_config.json, when present.
    public let generationConfig: JSONValue?
    /// The checkpoint's classification.
    public let kind: CheckpointKind

    /// Files a complete K2 model folder carries besides weights (tokenizer and chat template).
    public static let companionFiles = [
        "generation_config.json", "tokenizer_config.json", "tiktoken.model", "chat_template.jinja",
        "tokenization_kimi.py", "configuration_deepseek.py", "modeling_deepseek.py", "LICENSE",
    ]

    /// Opens `path` (file, folder or cache repository), validating every header and the index first.
    ///
    /// - Throws: ``SafetensorsError``, ``CheckpointError`` or ``FileError``.
    public init(path: String) throws {
        tensors = try SafetensorsCheckpoint(path: path)
        config = try ModelConfig(path: tensors.location.file("config.json"))
        let generation = tensors.location.file("generation_config.json")
        if FileManager.default.fileExists(atPath: generation) {
            let mapping = try MappedFile(path: generation)
            do {
                generationConfig = try JSONValue.parse(mapping.bytes)
            } catch {
                throw CheckpointError.invalidJSON(file: generation, reason: error.description)
            }
        } else {
            generationConfig = nil
        }
        var parts = Set<TensorAddress.Part>()
        for file in tensors.files {
            for t in file.tensors { if let a = TensorAddress(name: t.name) { parts.insert(a.part) } }
        }
        kind = CheckpointKind.classify(config) { parts.contains($0) }
    }

    /// The folder holding config.json.
    public var folder: String { tensors.location.folder }

    /// Which companion files are present.
    public var presentCompanionFiles: [String] {
        Self.companionFiles.filter { FileManager.default.fileExists(atPath: tensors.location.file($0)) }
    }
}
