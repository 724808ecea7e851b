import Foundation
public import TensorIO

/// What `ingot inspect` reports: architecture, files, tensor counts and bytes, scheme, warnings.
public struct InspectionReport: Sendable {
    /// Counts and bytes of one group of tensors.
    public struct Tally: Sendable, Equatable {
        public var tensors = 0
        public var bytes = 0

        /// Creates a tally.
        public init(tensors: Int = 0, bytes: Int = 0) {
            self.tensors = tensors
            self.bytes = bytes
        }
    }

    public let folder: String
    public let kind: CheckpointKind
    public let modelType: String
    public let architectures: [String]
    public let layers: Int
    public let denseLayers: [Int]
    public let moeLayers: [Int]
    public let routedExperts: Int
    public let expertsPerToken: Int
    public let sharedExperts: Int
    public let hiddenSize: Int
    public let vocabSize: Int
    /// `(name, bytes)` of each safetensors file.
    public let files: [(name: String, bytes: Int)]
    public let tensorCount: Int
    public let dataBytes: Int
    public let fileBytes: Int
    /// By report kind (embedding, attention, …, plus "unrecognized").
    public let byKind: [String: Tally]
    /// By dtype name.
    public let byDType: [String: Tally]
    /// INT4 projections found per MoE layer: layer → count of (expert, projection) with weight_packed.
    public let packedProjectionsPerLayer: [Int: Int]
    /// Logical parameters: packed INT4 counted per weight, scales and shapes not counted.
    public let parameterCount: Int
    /// One line describing the quantization scheme.
    public let quantizationScheme: String
    public let companionFiles: [String]
    /// In a Hugging Face cache: each safetensors file's digest as its blob name records it (docs/model-store.md,
    /// "Hugging Face cache"); nil outside a cache. `ingot verify` checks them.
    public let hubDigests: [String: String]?
    /// Anything suspicious, one line each.
    public let warnings: [String]

    /// Inspects an opened model folder against what its config implies.
    public init(_ model: ModelFolder) {
        let c = model.config
        folder = model.folder
        kind = model.kind
        modelType = c.modelType
        architectures = c.architectures
        layers = c.numHiddenLayers
        denseLayers = (0..<c.numHiddenLayers).filter { !c.isMoELayer($0) }
        moeLayers = (0..<c.numHiddenLayers).filter(c.isMoELayer)
        routedExperts = c.nRoutedExperts
        expertsPerToken = c.numExpertsPerTok
        sharedExperts = c.nSharedExperts
        hiddenSize = c.hiddenSize
        vocabSize = c.vocabSize
        files = model.tensors.files.map { (($0.path as NSString).lastPathComponent, $0.mapping.length) }
        tensorCount = model.tensors.tensorCount
        dataBytes = model.tensors.dataBytes
        fileBytes = model.tensors.fileBytes
        companionFiles = model.presentCompanionFiles
        hubDigests = ChecksumList.hub(model.tensors.location).map { list in
            Dictionary(
                zip(list.entries, list.digests).filter { $0.1 == .sha256 }.map { ($0.0.name, $0.0.sha256) }, uniquingKeysWith: { a, _ in a }
            )
        }
        quantizationScheme = Self.describe(c.quantization)

        var byKind: [String: Tally] = [:]
        var byDType: [String: Tally] = [:]
        var packed: [Int: Int] = [:]
        var parameters = 0
        var present: [String: TensorInfo] = [:]
        for file in model.tensors.files {
            for t in file.tensors {
                present[t.name] = t
                let address = TensorAddress(name: t.name)
                let kindName = address?.component.kind.rawValue ?? "unrecognized"
                byKind[kindName, default: Tally()].tensors += 1
                byKind[kindName, default: Tally()].bytes += t.byteCount
                byDType[t.dtype.rawValue, default: Tally()].tensors += 1
                byDType[t.dtype.rawValue, default: Tally()].bytes += t.byteCount
                switch address?.part {
                case .weightPacked?:
                    parameters += t.byteCount * 2  // two INT4 weights per byte
                    if let l = address?.layer, address?.component.isRoutedExpert == true { packed[l, default: 0] += 1 }
                case .weightScale?, .weightShape?, .weightZeroPoint?, .weightGIdx?, .weightScaleInv?:
                    break
                default:
                    parameters += t.elementCount
                }
            }
        }
        self.byKind = byKind
        self.byDType = byDType
        packedProjectionsPerLayer = packed
        parameterCount = parameters
        warnings = Self.findings(model, present: present)
    }

    private static func describe(_ q: QuantizationConfig?) -> String {
        switch q {
        case .compressedTensors(let ct):
            let groups = ct.groups.map { g in
                guard let w = g.weights else { return "\(g.name): activations only" }
                let sym = w.symmetric ? "symmetric" : "asymmetric"
                let gs = w.groupSize.map { " size \($0)" } ?? ""
                return "\(g.name): \(w.type)\(w.numBits) \(sym) \(w.strategy)\(gs) on \(g.targets.joined(separator: ","))"
            }
            return "compressed-tensors \(ct.format) [\(groups.joined(separator: "; "))], ignore \(ct.ignore.count) patterns"
        case .fp8Block(let f): return "fp8 \(f.format) blocks \(f.blockSize[0])×\(f.blockSize[1]), activations \(f.activationScheme)"
        case .other(let m): return "\(m) (not read by ingot)"
        case .none: return "none"
        }
    }

    /// Compares the tensors present with the config's inventory.
    private static func findings(_ model: ModelFolder, present: [String: TensorInfo]) -> [String] {
        var warnings: [String] = []
        if case .unknown(let reason) = model.kind { warnings.append("checkpoint form not recognized: \(reason)") }
        for name in model.tensors.unindexedFiles {
            warnings.append("\(name) is in the folder but model.safetensors.index.json never names it: not read (a stale shard?)")
        }
        let c = model.config
        let issues = InventoryCheck.compare(model)
        var missing: [String] = []
        var unexpected: [String] = []
        var wrong: [String] = []
        for issue in issues {
            switch issue {
            case .missing: missing.append(issue.name)
            case .unexpected: unexpected.append(issue.name)
            case .shape, .dtype: wrong.append(issue.message)
            }
        }
        if !missing.isEmpty {
            var modules: [String] = []
            for name in missing {
                let module = TensorAddress(name: name)?.moduleName ?? name
                if modules.last != module { modules.append(module) }
            }
            let listed = modules.prefix(6).joined(separator: ", ") + (modules.count > 6 ? ", …" : "")
            warnings.append("\(missing.count) tensors the config implies are missing, in \(modules.count) modules: \(listed)")
        }
        if !unexpected.isEmpty {
            warnings.append(
                "\(unexpected.count) tensors the config does not account for, e.g. \(unexpected.prefix(3).joined(separator: ", "))")
        }
        warnings += wrong.prefix(10)
        if wrong.count > 10 { warnings.append("… and \(wrong.count - 10) more shape/dtype mismatches") }
        if c.numNextnPredictLayers > 0 {
            warnings.append("num_nextn_predict_layers = \(c.numNextnPredictLayers): MTP layer tensors are not checked")
        }
        for t in c.eosTokenIds where t >= c.vocabSize { warnings.append("eos_token_id \(t) is outside vocab_size \(c.vocabSize)") }
        if let b = c.bosTokenId, b >= c.vocabSize { warnings.append("bos_token_id \(b) is outside vocab_size \(c.vocabSize)") }
        return warnings
    }
}
