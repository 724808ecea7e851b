public import ArgumentParser
public import Chat
public import GGUF
public import Quantization

// Conversion and chat choices as typed options: ArgumentParser parses and lists their values, no string is checked later.
extension ExportPlan.DenseType: ExpressibleByArgument {}
extension GroupQuantizer.Grid: ExpressibleByArgument {}
extension ChatRenderer.Variant: ExpressibleByArgument {}
