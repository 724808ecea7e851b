public import Checkpoint
public import Foundation
public import TensorIO

/// `ingot quantize`: a BF16 (or FP8-block) checkpoint → compressed-tensors pack-quantized, shard by shard.
///
/// Each source shard becomes an output shard of the same name; tensors are produced one at a time in the
/// writer's layout order, quantized modules in row blocks, so memory stays independent of model size.
/// Targeted linear weights (the recipe's targets minus its ignore list) become `weight_packed` (I32),
/// `weight_scale` (the model dtype) and `weight_shape` (I64), plus `weight_zero_point` when asymmetric.
/// FP8 sources are dequantized exactly (E4M3 × weight_scale_inv in f32) first: targeted weights are then
/// quantized from those f32 values, the others are written as BF16. Everything else is copied byte for
/// byte. config.json gets the scheme's quantization_config; other files are copied; the index comes last.
public enum CheckpointQuantizer {
    /// What to produce.
    public struct Options: Sendable {
        public var scheme: CompressedTensorsConfig
        public var grid: GroupQuantizer.Grid
        public var threads: Int
        /// Refuse at once when the output will not fit (docs/operations.md, "Space").
        public var checkSpace = true
        /// Write only the output shards of slice `index` of `count` (1-based; shard k belongs to slice k mod count + 1)
        /// into a folder the slices share; the slice that finds every shard written writes the index
        /// (docs/operations.md, "Scale-out").
        public var shard: (index: Int, count: Int)?
        /// Called with (bytes of source done, total) after each tensor.
        public var progress: (@Sendable (Int, Int) -> Void)?

        /// Creates options.
        public init(
            scheme: CompressedTensorsConfig, grid: GroupQuantizer.Grid, threads: Int = 2,
            progress: (@Sendable (Int, Int) -> Void)? = nil
        ) {
            self.scheme = scheme
            self.grid = grid
            self.threads = max(1, threads)
            self.progress = progress
        }
    }

    /// What was written.
    public struct Summary: Sendable {
        public let quantizedModules: Int
        public let copiedTensors: Int
        public let outputBytes: Int
    }

    /// One output tensor and how to produce it.
    enum Source {
        case copy(TensorInfo)
        case fp8ToBF16(weight: TensorInfo, scaleInv: TensorInfo)
        case packed(Module)
        case scale(Module)
        case zeroPoint(Module)
        case shape([Int])
    }

    /// A module being quantized: its weight (and FP8 block scales) and arguments.
    struct Module {
        let weight: TensorInfo
        let scaleInv: TensorInfo?
        let args: QuantizationArgs
    }

    /// Quantizes `sourcePath` into the new folder `outputPath`.
    ///
    /// - Throws: ``CheckpointError``/``SafetensorsError`` for unusable input, ``QuantizationError`` when a
    ///   targeted weight cannot take the scheme, ``FileError`` on I/O failure.
    public static func run(source sourcePath: String, output outputPath: String, options: Options) throws -> Summary {
        let model = try ModelFolder(path: sourcePath)
        let scheme = options.scheme
        if case .compressedTensors = model.config.quantization {
            throw CheckpointError.invalidField(
                file: model.config.file, field: "quantization_config", found: "compressed-tensors",
                expected: "an unquantized (BF16) or FP8-block checkpoint")
        }
        let scaleDType = TensorInventory.denseDType(model.config)
        // Plan every shard first, so a scheme that does not fit fails before anything is written.
        var plans: [(name: String, outputs: [(TensorSpec, Source)])] = []
        var quantized = 0, copied = 0
        for file in model.tensors.files {
            var outputs: [(TensorSpec, Source)] = []
            for t in file.tensors {
                let address = TensorAddress(name: t.name)
                if address?.part == .weightScaleInv { continue }  // consumed with its weight
                let scaleInv = address.flatMap { a -> TensorInfo? in
                    guard a.part == .weight else { return nil }
                    return model.tensors.info(
                        TensorAddress(layer: a.layer, component: a.component, expert: a.expert, part: .weightScaleInv).name)
                }
                if let a = address, a.part == .weight, a.component.isLinear, t.shape.count == 2,
                    let args = scheme.weightArgs(module: a.moduleName, className: a.component.className)
                {
                    let (rows, cols) = (t.shape[0], t.shape[1])
                    guard let group = args.groupSize, cols % group == 0, args.strategy == "group" else {
                        throw QuantizationError.groupSizeDoesNotDivide(tensor: t.name, columns: cols, groupSize: args.groupSize ?? 0)
                    }
                    guard args.numBits == 4 || args.numBits == 8 else {
                        throw QuantizationError.unsupportedBits(tensor: t.name, bits: args.numBits)
                    }
                    guard [.bf16, .f16, .f32].contains(t.dtype) || (t.dtype == .f8E4M3 && scaleInv != nil) else {
                        throw QuantizationError.unsupportedSourceDType(tensor: t.name, dtype: t.dtype.rawValue)
                    }
                    let module = Module(weight: t, scaleInv: scaleInv, args: args)
                    func name(_ p: TensorAddress.Part) -> String {
                        TensorAddress(layer: a.layer, component: a.component, expert: a.expert, part: p).name
                    }
                    outputs.append(
                        (
                            TensorSpec(
                                name: name(.weightPacked), dtype: .i32,
                                shape: [rows, PackQuantized.wordsPerRow(columns: cols, bits: args.numBits)]), .packed(module)
                        ))
                    outputs.append((TensorSpec(name: name(.weightScale), dtype: scaleDType, shape: [rows, cols / group]), .scale(module)))
                    outputs.append((TensorSpec(name: name(.weightShape), dtype: .i64, shape: [2]), .shape([rows, cols])))
                    if !args.symmetric {
                        outputs.append(
                            (
                                TensorSpec(
                                    name: name(.weightZeroPoint), dtype: .i32,
                                    shape: [PackQuantized.wordsPerRow(columns: rows, bits: args.numBits), cols / group]),
                                .zeroPoint(module)
                            ))
                    }
                    quantized += 1
                } else if t.dtype == .f8E4M3, let scaleInv {
                    outputs.append((TensorSpec(name: t.name, dtype: .bf16, shape: t.shape), .fp8ToBF16(weight: t, scaleInv: scaleInv)))
                    copied += 1
                } else {
                    outputs.append((TensorSpec(name: t.name, dtype: t.dtype, shape: t.shape), .copy(t)))
                    copied += 1
                }
            }
            plans.append((String(file.path.dropFirst(model.folder.count).drop { $0 == "/" }), outputs))
        }

        let fm = FileManager.default
        func output(_ name: String) -> String { (outputPath as NSString).appendingPathComponent(name) }
        // Which output shards this run writes: all, or a slice's that are not already complete.
        let mine: [Bool]
        if let shard = options.shard {
            guard shard.count >= 1, (1...shard.count).contains(shard.index) else {
                throw CheckpointError.invalidField(
                    file: outputPath, field: "--shard", found: "\(shard.index)/\(shard.count)", expected: "i/n with 1 ≤ i ≤ n")
            }
            mine = plans.indices.map { $0 % shard.count == shard.index - 1 && !fm.fileExists(atPath: output(plans[$0].name)) }
        } else {
            try AtomicFile.requireNewOrEmptyFolder(outputPath)
            mine = plans.map { _ in true }
        }
        if options.checkSpace {
            try DiskSpace.require(
                plans.indices.filter { mine[$0] }.reduce(
                    DiskSpace.smallFilesAllowance + DiskSpace.companionBytes(in: model.tensors.location.folder)
                ) { $0 + DiskSpace.safetensorsBound(plans[$1].outputs.map(\.0)) }, at: outputPath,
                for: "the quantized checkpoint")
        }
        try fm.createDirectory(atPath: outputPath, withIntermediateDirectories: true)
        if options.shard != nil { try claimSharedFolder(outputPath, model: model, options: options) }
        try writeConfig(model, scheme: scheme, to: (outputPath as NSString).appendingPathComponent("config.json"))
        for name in try fm.contentsOfDirectory(atPath: model.folder).sorted()
        where !name.hasSuffix(".safetensors") && name != ModelLocation.indexFileName && name != "config.json" && !name.hasPrefix(".") {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: model.tensors.location.file(name), isDirectory: &isDirectory), !isDirectory.boolValue else {
                continue
            }
            try AtomicFile.write(
                Array(try Data(contentsOf: URL(fileURLWithPath: model.tensors.location.file(name)))),
                to: (outputPath as NSString).appendingPathComponent(name))
        }
        let total = model.tensors.dataBytes
        var done = 0
        let quantizer = { (args: QuantizationArgs) in
            GroupQuantizer(
                bits: args.numBits, groupSize: args.groupSize ?? 32, symmetric: args.symmetric,
                grid: args.symmetric ? options.grid : .compressedTensors, scaleDType: scaleDType)
        }
        var written = 0
        for (f, plan) in plans.enumerated() where mine[f] {
            let file = model.tensors.files[f]
            let writer = try SafetensorsWriter(
                path: (outputPath as NSString).appendingPathComponent(plan.name), tensors: plan.outputs.map(\.0))
            let byName = Dictionary(uniqueKeysWithValues: plan.outputs.map { ($0.0.name, $0.1) })
            for spec in writer.order {
                guard let source = byName[spec.name] else { continue }
                switch source {
                case .copy(let t):
                    // 64 MiB at a time, each piece released after it is written: resident memory stays flat.
                    let bytes = file.bytes(of: t)
                    var offset = 0
                    repeat {
                        let end = min(bytes.count, offset + (64 << 20))
                        try writer.write(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
                        file.mapping.release(offset: file.header.dataStart + t.begin + offset, count: end - offset)
                        offset = end
                    } while offset < bytes.count
                    done += t.byteCount
                case .shape(let values):
                    try values.map { Int64($0).littleEndian }.withUnsafeBytes { try writer.write($0) }
                case .fp8ToBF16(let w, let s):
                    try forEachRowBlock(file: file, model: model, weight: w, scaleInv: s, threads: options.threads) { rows, block in
                        let bits = block.map { FloatConversion.bf16($0) }
                        precondition(bits.count == rows * w.shape[1])
                        try bits.withUnsafeBytes { try writer.write($0) }
                    }
                    done += w.byteCount
                    file.mapping.release(offset: file.header.dataStart + w.begin, count: w.byteCount)
                case .packed(let m), .scale(let m), .zeroPoint(let m):
                    let q = quantizer(m.args)
                    let cols = m.weight.shape[1]
                    try forEachRowBlock(file: file, model: model, weight: m.weight, scaleInv: m.scaleInv, threads: options.threads) {
                        rows, block in
                        let sourceDType: DType = m.weight.dtype == .f8E4M3 ? .f32 : m.weight.dtype
                        let out = try q.quantizeParallel(
                            block, rows: rows, columns: cols, sourceDType: sourceDType, tensor: m.weight.name,
                            threads: options.threads)
                        switch source {
                        case .packed:
                            try PackQuantized.pack(out.q, rows: rows, columns: cols, bits: m.args.numBits).map(\.littleEndian)
                                .withUnsafeBytes { try writer.write($0) }
                        case .scale:
                            try Self.encode(out.scales, as: scaleDType).withUnsafeBytes { try writer.write($0) }
                        default:
                            // Zero points pack along dim 0: a row block must be whole words of rows.
                            try PackQuantized.packZeroPoints(
                                out.zeroPoints ?? [], rows: rows, groups: cols / (m.args.groupSize ?? 32),
                                bits: m.args.numBits
                            ).map(\.littleEndian).withUnsafeBytes { try writer.write($0) }
                        }
                    }
                    if case .packed = source { done += m.weight.byteCount }
                    file.mapping.release(offset: file.header.dataStart + m.weight.begin, count: m.weight.byteCount)
                }
                options.progress?(min(done, total), total)
            }
            try writer.finish()
            written += writer.headerBytes.count + plan.outputs.reduce(0) { $0 + $1.0.byteCount }
        }
        // The index comes last: it is what makes the folder a model. Sliced, the slice that finds every shard
        // written writes it (two finishing together write the same bytes) and retires the job record.
        let complete = plans.allSatisfy { fm.fileExists(atPath: output($0.name)) }
        if complete && model.tensors.location.indexFile != nil {
            try AtomicFile.write(
                ShardedWriter.indexText(shards: plans.map { ($0.name, $0.outputs.map(\.0)) }), to: output(ModelLocation.indexFileName))
        }
        if complete && options.shard != nil { try? fm.removeItem(atPath: output(ModelLocation.quantizeJobFileName)) }
        return Summary(quantizedModules: quantized, copiedTensors: copied, outputBytes: written)
    }

    /// Rows per block: whole zero-point words (multiples of 8 rows) and about 4 M values.
    static func rowsPerBlock(columns: Int) -> Int { max(8, (4 << 20) / max(columns, 1) / 8 * 8) }

    /// Calls `body` with consecutive row blocks of a weight as f32 (FP8 blocks dequantized exactly).
    static func forEachRowBlock(
        file: SafetensorsFile, model: ModelFolder, weight: TensorInfo, scaleInv: TensorInfo?, threads: Int,
        _ body: (Int, [Float]) throws -> Void
    ) throws {
        let (rows, cols) = (weight.shape[0], weight.shape[1])
        let raw = file.bytes(of: weight)
        let scales: [Float]? = try scaleInv.map { s in
            guard let owner = model.tensors.lookup(s.name) else { throw SafetensorsError.missingTensor(file: file.path, tensor: s.name) }
            return try owner.file.floats(named: s.name)
        }
        let blockColumns = scaleInv.map { (cols + $0.shape[1] - 1) / $0.shape[1] } ?? 1
        let blockRows = scaleInv.map { (rows + $0.shape[0] - 1) / $0.shape[0] } ?? 1
        let step = rowsPerBlock(columns: cols)
        var r0 = 0
        while r0 < rows {
            let n = min(step, rows - r0)
            var block = [Float](repeating: 0, count: n * cols)
            block.withUnsafeMutableBufferPointer { out in
                guard let base = raw.baseAddress, let dst = out.baseAddress else { return }
                let width = weight.dtype.byteSize ?? 1
                FloatConversion.convert(base + r0 * cols * width, dtype: weight.dtype, count: n * cols, into: dst)
                if let scales, let s = scaleInv {
                    for r in 0..<n {
                        let sr = (r0 + r) / blockRows
                        for c in 0..<cols { dst[r * cols + c] *= scales[sr * s.shape[1] + c / blockColumns] }
                    }
                }
            }
            try body(n, block)
            file.mapping.release(
                offset: file.header.dataStart + weight.begin + r0 * cols * (weight.dtype.byteSize ?? 1),
                count: n * cols * (weight.dtype.byteSize ?? 1))
            r0 += n
        }
    }

    /// Scale values (exact in `dtype`) as little-endian raw bytes.
    static func encode(_ values: [Float], as dtype: DType) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 4)
        for v in values {
            switch dtype {
            case .f32: withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 }
            case .f16: withUnsafeBytes(of: FloatConversion.f16(v).littleEndian) { out += $0 }
            default: withUnsafeBytes(of: FloatConversion.bf16(v).littleEndian) { out += $0 }
            }
        }
        return out
    }

    /// The source config.json with quantization_config replaced by the scheme's.
    /// A sliced run shares its output folder with the other slices: the first writes a job record (source, scheme,
    /// grid) and every other must find the same one, so slices of different jobs never mix.
    static func claimSharedFolder(_ outputPath: String, model: ModelFolder, options: Options) throws {
        let path = (outputPath as NSString).appendingPathComponent(ModelLocation.quantizeJobFileName)
        let record =
            JSONValue.object([
                ("source", .string(ModelLocation.realPath(model.folder))), ("scheme", options.scheme.json),
                ("grid", .string(options.grid.rawValue)), ("slices", .int(options.shard?.count ?? 1)),
            ]).prettyText + "\n"
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            let others = ((try? fm.contentsOfDirectory(atPath: outputPath)) ?? []).filter { !$0.hasPrefix(".") }
            guard others.isEmpty else {
                throw FileError(
                    path: outputPath, operation: "create (the folder holds files but no \(ModelLocation.quantizeJobFileName))",
                    errno: EEXIST)
            }
            try AtomicFile.write(record, to: path)
        }
        guard let found = try? String(contentsOfFile: path, encoding: .utf8), found == record else {
            throw CheckpointError.invalidField(
                file: path, field: "job", found: "another source, scheme, grid or slice count",
                expected: "the job this slice belongs to (run every slice with the same arguments)")
        }
    }

    static func writeConfig(_ model: ModelFolder, scheme: CompressedTensorsConfig, to path: String) throws {
        guard let members = model.config.raw.members else { return }
        var out = members.filter { $0.key != "quantization_config" }
        out.append(("quantization_config", scheme.json))
        try AtomicFile.write(JSONValue.object(out).prettyText + "\n", to: path)
    }
}
