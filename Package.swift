// swift-tools-version: 6.0
import PackageDescription

// The engine's numeric loops run 30-100x slower unoptimised, which would make `swift test` (a debug
// build) spend minutes in training fixtures; these targets are optimised in debug builds too.
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

// The engine's own kernels (Tensor, Model) for x86-64 CPUs with AVX2 and FMA (Intel Haswell, AMD
// Zen and later; a binary built this way stops with SIGILL on older x86-64). Plain arithmetic
// compiles to the same operations in 8-lane AVX2 instead of SSE2 (no contraction into FMAs: the
// results are bit-identical); TENSOR_FMA turns on explicit fused multiply-adds and makes the tiled
// attention kernels the preferred path (Tensor/Attention/). Without these settings everything
// builds for baseline x86-64 and attention prefers per-block OpenBLAS calls. Other architectures:
// unchanged.
#if arch(x86_64)
let avx2FMA: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"]), .define("TENSOR_FMA")]
#else
let avx2FMA: [SwiftSetting] = []
#endif

let package = Package(
    name: "PruneScale",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "prunescale", targets: ["prunescale"]),
        .library(name: "ScalingLaw", targets: ["ScalingLaw"]),
        .library(name: "Reports", targets: ["Reports"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "TextData", targets: ["TextData"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Pruning", targets: ["Pruning"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // Native shims. GSL deliberately has no pkgConfig: its .pc file adds -lgslcblas ahead of
        // OpenBLAS and every cblas_* call would bind to GSL's slow reference BLAS (native-libs.md).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CGSL", providers: [.apt(["libgsl-dev"])]),

        // A seeded generator shared by the fitter (starts, bootstrap) and the engine (init, batches).
        .target(name: "Randomness"),
        // OpenBLAS as a runtime: its thread count and its kernel family, for every module that calls it.
        .target(name: "OpenBLASRuntime", dependencies: ["COpenBLAS"]),
        // A seeded mutation fuzzer the reader tests share (not part of the tool).
        .target(name: "Fuzzing", dependencies: ["Randomness"]),
        // Temporary folders, seeded bytes and small corpora the test targets share (not part of the tool).
        .target(name: "TestSupport", path: "Tests/Support"),
        // Files that survive crashes: the atomic writer, units of files committed together,
        // output folders that replace only what PruneScale wrote, folder locks, file errors in words.
        .target(name: "Persistence"),
        // The one strict JSON parser and writer (duplicate keys, exact numbers, byte positions).
        .target(name: "JSON"),
        // The YAML specs' shared reader (Yams): nodes with their places, typed scalars, one-line errors.
        .target(name: "YAMLSpec", dependencies: [.product(name: "Yams", package: "Yams")]),
        // The planner's data: loss records (schema, CSV and JSON Lines readers and writers) and the
        // input checks they share with the fitter; no GSL, so the trainer can write records.
        .target(name: "LossRecords", dependencies: ["JSON"]),
        // Optimised in debug too: the coverage tests refit tens of thousands of times (8x slower unoptimised).
        .target(name: "ScalingLaw", dependencies: ["CGSL", "COpenBLAS", "OpenBLASRuntime", "Randomness", "Persistence", "LossRecords"],
                swiftSettings: optimizedInDebug),
        // The model engine: float32 buffers and BLAS (Tensor), the Llama model with its
        // hand-written backward (Model), corpus, batches and the training loop (Training).
        .target(name: "Tensor", dependencies: ["COpenBLAS", "OpenBLASRuntime", "Randomness"], swiftSettings: optimizedInDebug + avx2FMA),
        .target(name: "Model", dependencies: ["Tensor", "OpenBLASRuntime", "Randomness", "Persistence", "JSON"], swiftSettings: optimizedInDebug + avx2FMA),
        // Text in, tokens out, and a model measured on them: corpora and their checksummed fetch,
        // tokenizers (bytes, BPE), token files and splits, model sources (--model) with their
        // tokenizers, evaluation and generation. Training and pruning both stand on it.
        .target(name: "TextData", dependencies: ["Model", "Tensor", "Randomness", "Persistence",
                                                 .product(name: "Crypto", package: "swift-crypto")]),
        // The training loop (AdamW over sampled batches, evaluations, save/resume) and the ladder's
        // pre-training. LossRecords: the trainer emits loss records in the planner's schema; Yams: the ladder spec.
        .target(name: "Training", dependencies: ["Model", "Tensor", "Randomness", "TextData", "LossRecords", "Persistence", "YAMLSpec",
                                                 .product(name: "Yams", package: "Yams")]),
        // Pruning: calibration, unit scores, surgery (depth, width) and N:M masks.
        .target(name: "Pruning", dependencies: ["Model", "Tensor", "Randomness", "TextData", "COpenBLAS", "Persistence"], swiftSettings: optimizedInDebug),
        .target(name: "Reports", dependencies: ["ScalingLaw", "LossRecords", "Persistence"]),
        // The experiment runner: specs, the grid of cells, the SQLite result store (GRDB), the
        // base → pruned → post-trained → evaluated pipeline, export and report.
        .target(name: "Experiments", dependencies: ["Model", "OpenBLASRuntime", "LossRecords", "YAMLSpec", "TextData", "Training", "Pruning", "ScalingLaw", "Reports", "Persistence", "Tensor",
                                                    .product(name: "Yams", package: "Yams"), .product(name: "GRDB", package: "GRDB.swift")]),
        .executableTarget(
            name: "prunescale",
            dependencies: [
                "ScalingLaw", "LossRecords", "Reports", "Model", "TextData", "Training", "Pruning", "Persistence", "Experiments", "OpenBLASRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "fit-bench", dependencies: ["ScalingLaw", "LossRecords"], path: "benchmarks/fit-vs-scipy/swift"),
        .executableTarget(name: "coverage-bench", dependencies: ["ScalingLaw"], path: "benchmarks/coverage/swift"),
        .executableTarget(name: "train-bench", dependencies: ["Model", "Tensor", "OpenBLASRuntime"], path: "benchmarks/train-throughput/swift"),
        .executableTarget(name: "eval-bench", dependencies: ["Model", "Tensor", "OpenBLASRuntime"], path: "benchmarks/eval-throughput/swift"),

        .testTarget(name: "NativeLinkTests", dependencies: ["LossRecords", "COpenBLAS", "CGSL", "ScalingLaw"]),
        .testTarget(name: "PersistenceTests", dependencies: ["Persistence", "TestSupport"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "LossRecordsTests", dependencies: ["LossRecords", "TestSupport"]),
        .testTarget(name: "ScalingLawTests", dependencies: ["LossRecords", "ScalingLaw", "Randomness", "Fuzzing"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "Randomness", "OpenBLASRuntime"]),
        // Fixtures/ holds Python scripts the interop tests run (found through #filePath).
        .testTarget(name: "ModelTests", dependencies: ["Model", "Tensor", "Randomness", "Fuzzing", "TextData"], exclude: ["Fixtures"]),
        .testTarget(name: "TextDataTests", dependencies: ["TextData", "Model", "Tensor", "Fuzzing", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainingTests", dependencies: ["LossRecords", "Training", "OpenBLASRuntime", "TextData", "Model", "Tensor", "ScalingLaw", "Fuzzing", "TestSupport"]),
        .testTarget(name: "PruningTests", dependencies: ["Pruning", "Model", "Tensor", "Randomness", "TextData"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["LossRecords", "Experiments", "TextData", "Training", "Model", "Persistence", "ScalingLaw"]),
        .testTarget(name: "ReportsTests", dependencies: ["LossRecords", "Reports", "ScalingLaw", "TestSupport"]),
        // Runs the built `prunescale` binary: exit codes, one-line errors, output files.
        .testTarget(name: "CLITests", dependencies: ["LossRecords", "prunescale", "OpenBLASRuntime", "ScalingLaw", "Model", "TextData", "Training", "Persistence", "Tensor", "TestSupport"]),
    ]
)
