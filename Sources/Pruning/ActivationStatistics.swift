import Foundation
import Model

/// Per-channel statistics of one activation tap over all calibration tokens, in Double:
/// sums for the mean, the second moment (Wanda's `||X_j||_2`, FLAP's variance) and, per window,
/// the mean absolute value (Minitron's `sqrt(sum_batch (mean_seq |a_j|)^2)`).
public struct ChannelStatistics: Sendable {
    public let width: Int
    public private(set) var tokens = 0
    public private(set) var sum: [Double]
    public private(set) var sumSquares: [Double]
    /// `sum over windows of (mean over the window's tokens of |x_j|)^2`.
    public private(set) var windowMeanAbsSquares: [Double]

    public init(width: Int) {
        self.width = width
        sum = Array(repeating: 0, count: width)
        sumSquares = Array(repeating: 0, count: width)
        windowMeanAbsSquares = Array(repeating: 0, count: width)
    }

    /// Adds `windows` windows of `sequenceLength` rows each (`x` is `[windows * T, width]`).
    public mutating func add(_ x: UnsafeBufferPointer<Float>, windows: Int, sequenceLength T: Int) {
        precondition(x.count >= windows * T * width)
        var meanAbs = [Double](repeating: 0, count: width)
        for w in 0..<windows {
            for j in 0..<width { meanAbs[j] = 0 }
            for t in 0..<T {
                let row = (w * T + t) * width
                for j in 0..<width {
                    let v = Double(x[row + j])
                    sum[j] += v
                    sumSquares[j] += v * v
                    meanAbs[j] += abs(v)
                }
            }
            for j in 0..<width {
                let m = meanAbs[j] / Double(T)
                windowMeanAbsSquares[j] += m * m
            }
        }
        tokens += windows * T
    }

    public func mean(_ j: Int) -> Double { sum[j] / Double(max(1, tokens)) }
    /// `||X_j||_2` over all tokens.
    public func norm(_ j: Int) -> Double { sumSquares[j].squareRoot() }
    /// Population variance over tokens.
    public func variance(_ j: Int) -> Double {
        let n = Double(max(1, tokens)), m = sum[j] / n
        return max(0, sumSquares[j] / n - m * m)
    }
    /// Minitron's activation importance.
    public func minitron(_ j: Int) -> Double { windowMeanAbsSquares[j].squareRoot() }
}

/// Everything the activation-based width and depth scores need, gathered in one sweep of forward
/// passes over the calibration set.
public struct CalibrationStatistics: Sendable {
    /// Inputs of o_proj (`[heads * headDim]` channels) and of down_proj (`[mlpHidden]`), per block.
    public var attentionOutput: [ChannelStatistics]
    public var downInput: [ChannelStatistics]
    /// Minitron head importance per block: `sqrt(sum_windows (mean_seq ||head output||_2)^2)`.
    public var headActivation: [[Double]]
    /// ShortGPT block influence: mean over tokens of `1 - cos(block input, block output)`.
    public var blockInfluence: [Double]
    /// Mean calibration loss (nats per token) of the model as it is.
    public var loss: Double
    public var tokens: Int

    public static func collect(_ model: LlamaModel, calibration cal: CalibrationSet, batchSize: Int) -> CalibrationStatistics {
        let c = model.config, D = c.headDim, T = cal.sequenceLength
        var attn = c.blocks.map { ChannelStatistics(width: $0.heads * D) }
        var down = c.blocks.map { ChannelStatistics(width: $0.mlpHidden) }
        var head = c.blocks.map { [Double](repeating: 0, count: $0.heads) }
        var influence = [Double](repeating: 0, count: c.blocks.count)
        var lossSum = 0.0
        for s in cal.batches(of: batchSize) {
            lossSum += Double(model.forward(cal, s)) * Double(s.count)
            for l in c.blocks.indices {
                let att = model.activations(.attentionOutputInput, block: l)
                attn[l].add(att, windows: s.count, sequenceLength: T)
                down[l].add(model.activations(.downInput, block: l), windows: s.count, sequenceLength: T)
                let H = c.blocks[l].heads
                for w in 0..<s.count {
                    var meanNorm = [Double](repeating: 0, count: H)
                    for t in 0..<T {
                        let row = (w * T + t) * H * D
                        for h in 0..<H {
                            var ss = 0.0
                            for d in 0..<D { let v = Double(att[row + h * D + d]); ss += v * v }
                            meanNorm[h] += ss.squareRoot()
                        }
                    }
                    for h in 0..<H { let m = meanNorm[h] / Double(T); head[l][h] += m * m }
                }
                let x = model.activations(.blockInput, block: l), y = model.activations(.blockOutput, block: l)
                let C = c.hidden
                for i in 0..<(s.count * T) {
                    var xy = 0.0, xx = 0.0, yy = 0.0
                    for j in 0..<C {
                        let a = Double(x[i * C + j]), b = Double(y[i * C + j])
                        xy += a * b; xx += a * a; yy += b * b
                    }
                    let cos = xx > 0 && yy > 0 ? xy / (xx * yy).squareRoot() : 1
                    influence[l] += 1 - cos
                }
            }
        }
        let n = Double(cal.tokenCount)
        return CalibrationStatistics(attentionOutput: attn, downInput: down, headActivation: head.map { $0.map { $0.squareRoot() } },
                                     blockInfluence: influence.map { $0 / n }, loss: lossSum / Double(cal.windows), tokens: cal.tokenCount)
    }
}

/// First-order Taylor terms `w * dL/dw` over the calibration loss (LLM-Pruner, Taylor+): the
/// gradient of the mean calibration loss, summed over batches, next to the weights.
public struct CalibrationGradients: Sendable {
    public let parameters: [Float]
    public let gradients: [Float]
    public let loss: Double

    public static func collect(_ model: LlamaModel, calibration cal: CalibrationSet, batchSize: Int) -> CalibrationGradients {
        model.zeroGrad()
        var lossSum = 0.0
        for s in cal.batches(of: batchSize) {
            lossSum += Double(model.forward(cal, s)) * Double(s.count)
            // Weighted by the batch's share of windows: the gradient of the mean over all windows.
            model.backward(lossScale: Float(s.count) / Float(cal.windows))
        }
        let p = Array(UnsafeBufferPointer(start: model.params.pointer, count: model.layout.totalCount))
        let g = Array(UnsafeBufferPointer(start: model.grads.pointer, count: model.layout.totalCount))
        model.zeroGrad()
        return CalibrationGradients(parameters: p, gradients: g, loss: lossSum / Double(cal.windows))
    }
}
