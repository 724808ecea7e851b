public import ArgumentParser
public import Inference

// The engine's choices as typed options: ArgumentParser parses and lists their values, no string is checked later.
extension Int4Activations: ExpressibleByArgument {}
extension EngineConfig.LatentNormEps: ExpressibleByArgument {}

extension KernelISA: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public var defaultValueDescription: String { name }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}
