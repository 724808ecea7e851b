// swift-tools-version: 6.0
import PackageDescription

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let crypto: Target.Dependency = .product(name: "Crypto", package: "swift-crypto")
let yams: Target.Dependency = .product(name: "Yams", package: "Yams")

let package = Package(
    name: "ingot",
    products: [.executable(name: "ingot", targets: ["ingot"])],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // SHA-256 for checksums and pinned fixture hashes.
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        // Recipes are YAML (llm-compressor's shape).
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
    ],
    targets: [
        // Debian: libzstd-dev, libopenblas-dev, libhdf5-dev. One Swift module imports each.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        // Libraries, lowest first: a target names only targets above it.
        .target(name: "TensorIO"),
        .target(name: "Checkpoint", dependencies: ["TensorIO", yams, crypto]),
        // verify's hot loops in C with AVX2 (see Sources/CKernels/include/ckernels.h for why).
        .target(name: "CKernels", path: "Sources/CKernels", publicHeadersPath: "include"),
        .target(name: "Quantization", dependencies: ["TensorIO", "Checkpoint", "CKernels"]),
        .target(name: "BundleFormat", dependencies: ["TensorIO", "Checkpoint", "Quantization", "CKernels", "CZstd", crypto]),
        // Kimi K2 tokenizer (tiktoken BPE, K2 pat_str) and the chat renderer / tool-call parser above it.
        .target(name: "Tokenizer", dependencies: ["TensorIO"]),
        .target(name: "GGUF", dependencies: ["TensorIO", "Checkpoint", "Quantization", "BundleFormat", "Tokenizer"]),
        .target(name: "HFExport", dependencies: ["TensorIO", "Checkpoint", "BundleFormat", "Tokenizer"]),
        .target(name: "Inference", dependencies: ["TensorIO", "Checkpoint", "BundleFormat", "COpenBLAS", "CKernels"]),
        .target(name: "Chat", dependencies: ["Tokenizer", "TensorIO"]),
        .target(name: "Evaluation", dependencies: ["TensorIO", "Checkpoint", "Quantization", "Inference", "Tokenizer", "Chat", "CHDF5"]),
        .executableTarget(name: "ingot", dependencies: [
            "TensorIO", "Checkpoint", "Quantization", "BundleFormat", "Inference", "Evaluation", "GGUF", "HFExport", "Tokenizer", "Chat",
            argumentParser,
        ]),
        // libFuzzer targets; a fuzzer only when `make fuzz` builds it with -DFUZZING -sanitize=fuzzer.
        .executableTarget(name: "ingot-fuzz", dependencies: ["TensorIO", "BundleFormat"], path: "Fuzz"),
        // Tests: one target per library, the C libraries, and the CLI.
        .target(name: "TestSupport", dependencies: ["TensorIO", "Checkpoint", "Quantization"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorIOTests", dependencies: ["TensorIO", "TestSupport"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "TensorIO", "TestSupport", crypto]),
        .testTarget(name: "BundleFormatTests", dependencies: ["BundleFormat", "Quantization", "Checkpoint", "TensorIO", "TestSupport"]),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization", "Checkpoint", "TensorIO", "TestSupport"]),
        .testTarget(
            name: "InferenceTests", dependencies: ["Inference", "CKernels", "Quantization", "BundleFormat", "Checkpoint", "TensorIO", "TestSupport"]),
        .testTarget(
            name: "GGUFTests", dependencies: ["GGUF", "Tokenizer", "BundleFormat", "Quantization", "Checkpoint", "TensorIO", "TestSupport", crypto]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "Checkpoint", "TensorIO", "TestSupport"]),
        .testTarget(name: "ChatTests", dependencies: ["Chat", "Tokenizer", "TensorIO", "Checkpoint", "TestSupport"]),
        .testTarget(
            name: "EvaluationTests", dependencies: ["Evaluation", "Inference", "BundleFormat", "Checkpoint", "TensorIO", "TestSupport"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["BundleFormat", "Inference", "Evaluation"]),
        .testTarget(
            name: "ingotTests",
            dependencies: [
                "ingot", "TensorIO", "Checkpoint", "Quantization", "BundleFormat", "Evaluation", "GGUF", "HFExport", "Tokenizer", "TestSupport",
                argumentParser, crypto,
            ]),
    ]
)

// Same upcoming features everywhere.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ]
}
