public import BundleFormat
import Checkpoint
public import Foundation
public import TensorIO
import Tokenizer

/// What `ingot export hf` did.
public struct HFExportReport: Sendable {
    public var source: String
    public var output: String
    /// "checkpoint" or "bundle".
    public var sourceKind: String
    /// Weight files (shards, index) hard-linked to the source's.
    public var linkedFiles: [String]
    /// Weight files copied (another filesystem, or `--copy`), or written by unpacking a bundle.
    public var writtenFiles: [String]
    public var weightBytes: Int
    /// Ordinary tokens, added (special-slot) tokens and merges in tokenizer.json; all 0 without a tokenizer.
    public var vocabularyTokens: Int
    public var addedTokens: Int
    public var merges: Int
    public var chatTemplate: Bool
    /// config.json's `model_type` before the export.
    public var sourceModelType: String
}

/// `ingot export hf` (docs/hf-export.md): a Hugging Face model folder that transformers and mlx-lm load without
/// remote code — the weights exactly as the source holds them, config.json as `deepseek_v3`, and the tokenizer as
/// `tokenizers` files beside the original ones.
public enum HFExporter {
    public struct Options: Sendable {
        /// Copy weight files even where a hard link is possible.
        public var copy: Bool
        /// Check free space before writing (bundle sources, and copies).
        public var checkSpace: Bool

        public init(copy: Bool = false, checkSpace: Bool = true) {
            self.copy = copy
            self.checkSpace = checkSpace
        }
    }

    /// Moonshot's remote-code files: the export does not need them, and leaving them out shows that.
    static let remoteCode: Set<String> = ["tokenization_kimi.py", "configuration_deepseek.py", "modeling_deepseek.py"]

    /// Exports `source` (a checkpoint or a bundle) into the new folder `output`. The folder is built under a
    /// temporary name beside `output` and renamed when complete, so a failure leaves no folder that looks finished.
    ///
    /// - Throws: ``HFExportError``, ``BundleError``, ``SafetensorsError``, ``CheckpointError``, ``TokenizerError``,
    ///   ``InsufficientSpaceError`` or ``FileError``.
    public static func run(
        source: String, output: String, options: Options = .init(), progress: ((Int, Int) -> Void)? = nil
    ) throws -> HFExportReport {
        let fm = FileManager.default
        try AtomicFile.requireNewOrEmptyFolder(output)
        let staging = output.hasSuffix("/") ? String(output.dropLast()) + ".export-hf-partial" : output + ".export-hf-partial"
        // A folder of this name can only be an interrupted export's: start again.
        if fm.fileExists(atPath: staging) { try fm.removeItem(atPath: staging) }
        do {
            var report = try writeFolder(source: source, staging: staging, options: options, progress: progress)
            if fm.fileExists(atPath: output) { try fm.removeItem(atPath: output) }  // empty (checked above)
            guard rename(staging, output) == 0 else { throw FileError(path: output, operation: "rename \(staging) to") }
            report.output = output
            return report
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
    }

    static func writeFolder(
        source: String, staging: String, options: Options, progress: ((Int, Int) -> Void)?
    ) throws -> HFExportReport {
        let fm = FileManager.default
        var linked: [String] = [], written: [String] = [], weightBytes = 0
        let kind = ModelStoreKind(path: source)
        switch kind {
        case .bundle:
            try BundleUnpacker.unpack(bundle: source, output: staging, checkSpace: options.checkSpace, progress: progress)
            for name in try fm.contentsOfDirectory(atPath: staging).sorted() where isWeightFile(name) {
                written.append(name)
                weightBytes += (try? fm.attributesOfItem(atPath: staging + "/" + name)[.size] as? Int).flatMap { $0 } ?? 0
            }
        case .checkpoint:
            // Opening validates every header and the index before anything is written.
            let checkpoint = try SafetensorsCheckpoint(path: source)
            let location = checkpoint.location
            var files = checkpoint.files.map(\.path)
            if let index = location.indexFile { files.append(index) }
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
            var toCopy: [String] = []
            for path in files {
                let name = (path as NSString).lastPathComponent
                if !options.copy && link(ModelLocation.realPath(path), staging + "/" + name) == 0 {
                    linked.append(name)
                } else {
                    toCopy.append(path)
                }
            }
            let copyBytes = toCopy.reduce(0) { $0 + ((try? fm.attributesOfItem(atPath: $1)[.size] as? Int).flatMap { $0 } ?? 0) }
            if options.checkSpace && copyBytes > 0 { try DiskSpace.require(copyBytes, at: staging, for: "the copied weight files") }
            var done = 0
            for path in toCopy {
                let name = (path as NSString).lastPathComponent
                try AtomicFile.linkOrCopy(path, to: staging + "/" + name, copy: true)
                written.append(name)
                done += (try? fm.attributesOfItem(atPath: path)[.size] as? Int).flatMap { $0 } ?? 0
                progress?(done, copyBytes)
            }
            weightBytes = checkpoint.fileBytes + (location.indexFile.flatMap { try? fm.attributesOfItem(atPath: $0)[.size] as? Int } ?? 0)
            for name in ["config.json"] + ModelFolder.companionFiles where !remoteCode.contains(name) {
                let path = location.file(name)
                if fm.fileExists(atPath: path) { try AtomicFile.linkOrCopy(path, to: staging + "/" + name, copy: true) }
            }
        }
        for name in remoteCode where fm.fileExists(atPath: staging + "/" + name) { try fm.removeItem(atPath: staging + "/" + name) }

        // Messages name the source's files: the staging folder disappears on failure.
        let sourceFiles = try modelFilesFolder(source)
        let configPath = staging + "/config.json"
        guard let configData = fm.contents(atPath: configPath) else { throw FileError(path: configPath, operation: "read") }
        let (config, sourceModelType) = try Self.deepseekConfig(configData, file: sourceFiles + "/config.json")
        try AtomicFile.write(config.prettyText + "\n", to: configPath)
        let model = try ModelConfig(path: configPath)

        var report = HFExportReport(
            source: source, output: staging, sourceKind: kind == .bundle ? "bundle" : "checkpoint", linkedFiles: linked,
            writtenFiles: written, weightBytes: weightBytes, vocabularyTokens: 0, addedTokens: 0, merges: 0, chatTemplate: false,
            sourceModelType: sourceModelType)
        guard
            let input = try TokenizerInput.load(
                folder: staging, vocabSize: model.vocabSize, bos: model.bosTokenId, eos: model.eosTokenIds.first, pad: model.padTokenId)
        else { return report }
        let tokenizer = HFTokenizerFiles.tokenizerJSON(input)
        try AtomicFile.write(tokenizer.compactText + "\n", to: staging + "/tokenizer.json")
        let tokenizerConfigPath = staging + "/tokenizer_config.json"
        let sourceTokenizerConfig = try fm.contents(atPath: tokenizerConfigPath).map { data in
            do {
                return try data.withUnsafeBytes { try JSONValue.parse($0) }
            } catch {
                throw HFExportError.invalidJSON(file: sourceFiles + "/tokenizer_config.json", reason: "\(error)")
            }
        }
        let tokenizerConfig = HFTokenizerFiles.tokenizerConfig(
            source: sourceTokenizerConfig, chatTemplate: input.chatTemplate, maxLength: model.maxPositionEmbeddings)
        try AtomicFile.write(tokenizerConfig.prettyText + "\n", to: tokenizerConfigPath)
        report.vocabularyTokens = input.kinds.filter { $0 == .normal }.count
        report.addedTokens = input.kinds.filter { $0 == .control || $0 == .userDefined }.count
        report.merges = tokenizer["model"]?["merges"]?.elements?.count ?? 0
        report.chatTemplate = input.chatTemplate != nil
        return report
    }

    /// config.json as `deepseek_v3` (the architecture transformers, vLLM and mlx-lm ship): `model_type` and
    /// `architectures` set, `auto_map` (remote code) dropped, every other key kept in its place. Returns the new
    /// config and the source's `model_type`.
    ///
    /// - Throws: ``HFExportError`` for a config.json (named `file` in messages) that is not a JSON object.
    public static func deepseekConfig(_ data: Data, file: String) throws(HFExportError) -> (JSONValue, String) {
        let json: JSONValue
        do {
            json = try data.withUnsafeBytes { try JSONValue.parse($0) }
        } catch {
            throw .invalidJSON(file: file, reason: "\(error)")
        }
        guard var members = json.members else { throw .invalidJSON(file: file, reason: "not a JSON object") }
        let sourceType = json["model_type"]?.stringValue ?? ""
        members.removeAll { $0.key == "auto_map" }
        for (key, value) in [
            ("model_type", JSONValue.string("deepseek_v3")), ("architectures", .array([.string("DeepseekV3ForCausalLM")])),
        ] {
            if let i = members.firstIndex(where: { $0.key == key }) { members[i].value = value } else { members.append((key, value)) }
        }
        return (.object(members), sourceType)
    }

    static func isWeightFile(_ name: String) -> Bool {
        name.hasSuffix(".safetensors") || name == ModelLocation.indexFileName
    }
}

/// Why `export hf` cannot use a source file.
public enum HFExportError: Error, Equatable, Sendable, LocalizedError {
    /// config.json or tokenizer_config.json is not a JSON object.
    case invalidJSON(file: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .invalidJSON(let file, let reason): "\(file): \(reason)"
        }
    }
}
