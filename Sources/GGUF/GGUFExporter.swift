import BundleFormat
import Checkpoint
import Foundation
import TensorIO
public import Tokenizer

/// What an export wrote and how exact it is.
public struct GGUFExportReport: Sendable {
    /// One routed-expert group whose BF16 scale F16 does not hold exactly.
    public struct InexactGroup: Sendable, Equatable {
        /// The GGUF tensor (`blk.1.ffn_up_exps.weight`).
        public let tensor: String
        /// The source scale tensor.
        public let source: String
        public let expert: Int
        public let row: Int
        public let group: Int
        /// The BF16 scale's bits and value, and the value the F16 scale holds.
        public let scaleBF16: UInt16
        public let scale: Float
        public let scaleF16: Float
    }

    /// One written tensor.
    public struct Tensor: Sendable {
        public let name: String
        public let type: GGMLType
        public let dims: [Int]
        /// The file (shard) it is in.
        public let file: String
        /// Q4_0 groups and how many have an inexact scale (0 for other types).
        public let groups: Int
        public let inexactGroups: Int
    }

    /// The files written, first shard first.
    public let files: [String]
    public let tensors: [Tensor]
    /// Source tensors left out (MTP layers, a tied lm_head).
    public let skipped: [String]
    /// Type fallbacks and other decisions.
    public let notes: [String]
    /// Whether tokenizer keys were written.
    public let tokenizer: Bool
    /// Total bytes of the files.
    public let bytes: Int
    /// The first inexact groups (up to the export's listing limit).
    public let inexactExamples: [InexactGroup]

    /// Q4_0 groups written.
    public var groups: Int { tensors.reduce(0) { $0 + $1.groups } }
    /// Groups whose scale changed in BF16 → F16.
    public var inexactGroups: Int { tensors.reduce(0) { $0 + $1.inexactGroups } }
    /// True when every Q4_0 block dequantizes to exactly q × scale of the source.
    public var isLossless: Bool { inexactGroups == 0 }
}

/// `ingot export gguf`: streams a checkpoint or bundle into one GGUF file or a set of `-0000i-of-0000N.gguf` splits.
///
/// Two passes: the plan (tensor names, types and shapes, all known from the safetensors headers) fixes the
/// header of every file before any data is read; then the data is converted tensor by tensor, row by row,
/// through fixed buffers, so memory does not grow with the model. Files are written under temporary names,
/// synced, and renamed only when all are complete (the first split last).
public enum GGUFExporter {
    /// Export settings.
    public struct Options: Sendable {
        public var denseType: ExportPlan.DenseType
        /// Maximum tensor-data bytes per split (llama-gguf-split's rule); nil writes one file.
        public var splitMaxBytes: Int?
        /// Where the tokenizer keys come from.
        public var tokenizer: TokenizerSource
        /// `general.name`.
        public var name: String
        /// How many inexact groups the report lists by position.
        public var inexactListLimit: Int
        /// Called with (bytes written, total bytes).
        public var progress: @Sendable (Int, Int) -> Void
        /// Refuse at once when the GGUF will not fit (docs/operations.md, "Space").
        public var checkSpace = true
        /// Write only the split files of slice `index` of `count` (1-based; split k belongs to slice k mod count + 1),
        /// so several machines export one model's splits at once (docs/operations.md, "Scale-out"). Needs
        /// ``splitMaxBytes``.
        public var shard: (index: Int, count: Int)?

        /// Creates options.
        public init(
            denseType: ExportPlan.DenseType = .bf16, splitMaxBytes: Int? = nil, tokenizer: TokenizerSource = .modelFiles,
            name: String = "model", inexactListLimit: Int = 20, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }
        ) {
            self.denseType = denseType
            self.splitMaxBytes = splitMaxBytes
            self.tokenizer = tokenizer
            self.name = name
            self.inexactListLimit = inexactListLimit
            self.progress = progress
        }
    }

    /// Where an export's tokenizer keys come from.
    public enum TokenizerSource: Sendable {
        /// `tiktoken.model` and `tokenizer_config.json` beside config.json (``ModelStore/filesFolder``); no keys when the
        /// folder has no `tiktoken.model`.
        case modelFiles
        /// These keys.
        case given(TokenizerInput)
        /// No tokenizer keys.
        case none
    }

    /// The split file names llama.cpp expects: `BASE-00001-of-00003.gguf` (`llama_split_path`, "%s-%05d-of-%05d.gguf").
    public static func splitPath(_ output: String, index: Int, count: Int) -> String {
        let base = output.hasSuffix(".gguf") ? String(output.dropLast(5)) : output
        return base + "-" + pad(index + 1) + "-of-" + pad(count) + ".gguf"
    }

    private static func pad(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 5 - s.count)) + s
    }

    /// Groups tensors into splits: a new split starts when the next tensor's padded bytes would push the current
    /// one past `maxBytes` (every split holds at least one tensor), as llama-gguf-split `--split-max-size` does.
    public static func splits(_ tensors: [GGUFTensorInfo], maxBytes: Int, alignment: Int = GGUFHeader.defaultAlignment)
        -> [[GGUFTensorInfo]]
    {
        var out: [[GGUFTensorInfo]] = [[]]
        var size = 0
        for t in tensors {
            let n = GGUFHeader.align(t.byteCount, alignment)
            if let last = out.last, !last.isEmpty, size + n > maxBytes {
                out.append([])
                size = 0
            }
            out[out.count - 1].append(t)
            size += n
        }
        return out
    }

    /// Exports the checkpoint or bundle at `source` to `output`. A bundle gives the same bytes as the checkpoint it
    /// was repacked from (with the same `name`).
    ///
    /// - Throws: ``GGUFError``, ``SafetensorsError``, ``CheckpointError``, ``BundleError`` or ``FileError``; no
    ///   output file exists after a failure.
    public static func run(source path: String, output: String, options: Options) throws -> GGUFExportReport {
        let source = try ExportSource(path: path)
        let config = source.store.config
        let plan = try ExportPlan(tensors: try source.store.inventory(), config: config, denseType: options.denseType)
        let hasQ4 = plan.tensors.contains { $0.info.type == .q4_0 }
        var metadata = try DeepSeek2Metadata.keys(
            config, name: options.name, fileType: hasQ4 ? GGMLType.q4_0.fileType : options.denseType.ggml.fileType)
        let tokenizer: TokenizerInput?
        switch options.tokenizer {
        case .modelFiles:
            do {
                tokenizer = try TokenizerInput.load(
                    folder: source.filesFolder, vocabSize: config.vocabSize, bos: config.bosTokenId, eos: config.eosTokenIds.first,
                    pad: config.padTokenId)
            } catch {
                throw GGUFError.tokenizer(error)
            }
        case .given(let input): tokenizer = input
        case .none: tokenizer = nil
        }
        if let tokenizer {
            guard tokenizer.tokens.count == config.vocabSize else {
                throw GGUFError.invalidTokenizer(
                    file: source.filesFolder,
                    reason: "\(tokenizer.tokens.count) tokens, config.json vocab_size is \(config.vocabSize)")
            }
            metadata += TokenizerMetadata.keys(tokenizer)
        }
        let infos = plan.tensors.map(\.info)
        let groups: [[GGUFTensorInfo]]
        let paths: [String]
        if let maxBytes = options.splitMaxBytes {
            groups = splits(infos, maxBytes: maxBytes)
            paths = groups.indices.map { splitPath(output, index: $0, count: groups.count) }
        } else {
            groups = [infos]
            paths = [output]
        }
        var headers: [GGUFHeader] = []
        for (i, g) in groups.enumerated() {
            var kv: [(key: String, value: GGUFValue)] = i == 0 ? metadata : []
            if options.splitMaxBytes != nil {
                kv += [
                    ("split.no", .uint16(UInt16(i))), ("split.count", .uint16(UInt16(groups.count))),
                    ("split.tensors.count", .int32(Int32(infos.count))),
                ]
            }
            headers.append(try GGUFHeader(metadata: kv, tensors: g, file: paths[i]))
        }
        if let shard = options.shard, options.splitMaxBytes == nil || shard.count < 1 || !(1...shard.count).contains(shard.index) {
            throw GGUFError.invalidShard(
                reason: options.splitMaxBytes == nil
                    ? "slices of an export are sets of split files: give a split size" : "slice \(shard.index) of \(shard.count)")
        }
        func mine(_ split: Int) -> Bool { options.shard.map { split % $0.count == $0.index - 1 } ?? true }
        let total = headers.indices.filter(mine).reduce(0) { $0 + headers[$1].fileBytes }
        if options.checkSpace { try DiskSpace.require(total, at: output, for: "the GGUF export") }
        let emitter = TensorEmitter(
            source: source, maxRow: plan.tensors.map { max($0.info.dims[0], rowSourceElements($0)) }.max() ?? 1)
        var writers: [GGUFFileWriter] = []
        var reports: [GGUFExportReport.Tensor] = []
        var examples: [GGUFExportReport.InexactGroup] = []
        var done = 0
        var planIndex = 0
        for (i, header) in headers.enumerated() {
            guard mine(i) else {
                planIndex += header.tensors.count
                continue
            }
            let writer = try GGUFFileWriter(path: paths[i], header: header)
            writers.append(writer)
            done += header.encodedCount
            for t in header.tensors {
                let p = plan.tensors[planIndex]
                planIndex += 1
                precondition(p.info == t)
                let (groupCount, inexact) = try emitter.emit(
                    p, to: writer, listLimit: options.inexactListLimit, examples: &examples
                ) { n in
                    done += n
                    options.progress(done, total)
                }
                done += GGUFHeader.align(t.byteCount, header.alignment) - t.byteCount
                reports.append(
                    .init(name: t.name, type: t.type, dims: t.dims, file: paths[i], groups: groupCount, inexactGroups: inexact))
            }
            try writer.close()
        }
        for writer in writers.reversed() { try writer.commit() }
        options.progress(total, total)
        return GGUFExportReport(
            files: paths.indices.filter(mine).map { paths[$0] }, tensors: reports, skipped: plan.skipped, notes: plan.notes,
            tokenizer: tokenizer != nil,
            bytes: total, inexactExamples: examples)
    }

    private static func rowSourceElements(_ p: PlannedTensor) -> Int {
        switch p.source {
        case .keyB(_, _, _, _, let lora), .valueB(_, _, _, _, let lora): lora
        default: p.info.dims[0]
        }
    }
}
