public import TensorIO

/// Compares the tensors a checkpoint holds with what its config.json implies (``TensorInventory``).
public enum InventoryCheck {
    /// One disagreement.
    public enum Issue: Sendable, Equatable {
        /// The config implies this tensor; the checkpoint lacks it.
        case missing(TensorAddress)
        /// A tensor the config does not account for (raw name; parsed address when it has one).
        case unexpected(name: String, address: TensorAddress?)
        /// Present with another shape.
        case shape(TensorAddress, found: [Int], expected: [Int])
        /// Present with another dtype.
        case dtype(TensorAddress, found: DType, expected: DType)

        /// The tensor's name.
        public var name: String {
            switch self {
            case .missing(let a), .shape(let a, _, _), .dtype(let a, _, _): a.name
            case .unexpected(let n, _): n
            }
        }

        /// The parsed address, when the name has one.
        public var address: TensorAddress? {
            switch self {
            case .missing(let a), .shape(let a, _, _), .dtype(let a, _, _): a
            case .unexpected(_, let a): a
            }
        }

        /// One line naming the tensor and what is wrong.
        public var message: String {
            switch self {
            case .missing(let a): "\(a.name): missing (config.json implies it)"
            case .unexpected(let n, _): "\(n): not accounted for by config.json and its quantization_config"
            case .shape(let a, let f, let e): "\(a.name): shape \(f), config implies \(e)"
            case .dtype(let a, let f, let e): "\(a.name): dtype \(f.rawValue), expected \(e.rawValue)"
            }
        }
    }

    /// All disagreements, in inventory order then name order for unexpected tensors.
    ///
    /// MTP layers (`num_nextn_predict_layers`, stored after the last layer) are not checked.
    public static func compare(_ model: ModelFolder) -> [Issue] {
        let c = model.config
        var present: [String: TensorInfo] = [:]
        for file in model.tensors.files { for t in file.tensors { present[t.name] = t } }
        var options = TensorInventory.Options()
        if let shape = present.first(where: { TensorAddress(name: $0.key)?.part == .weightShape })?.value {
            options.weightShapeDType = shape.dtype
        }
        var issues: [Issue] = []
        var expectedNames = Set<String>()
        for e in TensorInventory.expected(c, options: options) {
            let name = e.address.name
            expectedNames.insert(name)
            guard let t = present[name] else {
                issues.append(.missing(e.address))
                continue
            }
            if t.shape != e.shape { issues.append(.shape(e.address, found: t.shape, expected: e.shape)) }
            if t.dtype != e.dtype && !e.alsoAccepted.contains(t.dtype) {
                issues.append(.dtype(e.address, found: t.dtype, expected: e.dtype))
            }
        }
        let limit = c.numHiddenLayers + c.numNextnPredictLayers
        for name in present.keys.sorted() where !expectedNames.contains(name) {
            if let l = layerIndex(name), l >= c.numHiddenLayers, l < limit { continue }
            issues.append(.unexpected(name: name, address: TensorAddress(name: name)))
        }
        return issues
    }

    /// The layer number of a `model.layers.N.…` name, parsed loosely (MTP layers have parts TensorAddress does not know).
    static func layerIndex(_ name: String) -> Int? { TensorAddress.layer(ofName: name) }
}
