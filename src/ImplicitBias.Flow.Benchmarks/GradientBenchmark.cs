using BenchmarkDotNet.Attributes;
using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Benchmarks;

/// <summary>
/// One full-batch loss-and-gradient evaluation at the paper's size: m = 2048, d = 784, widths 10, 20 and 100,
/// depth 2 and 3 (widths ≤ 20 take the evaluator's fused single pass on AVX-512), squared ReLU, exponential loss (synthetic Gaussian inputs of the same shape as the MNIST subset).
/// Products: ≈ 2·m·d·k flops forward plus 2·m·d·k for ∇W (0.64 GFLOP at k = 100). <see cref="SquareGemmBenchmark"/>
/// measures the same kernel's peak; <c>ibflow bench</c> prints both side by side.
/// </summary>
[MemoryDiagnoser]
public class GradientBenchmark
{
    private LossEvaluator _evaluator = null!;
    private double[] _theta = null!;
    private double[] _gradient = null!;

    /// <summary>Threads (−1: all cores).</summary>
    [Params(1, -1)]
    public int Threads { get; set; }

    /// <summary>Hidden width k.</summary>
    [Params(10, 20, 100)]
    public int Width { get; set; }

    /// <summary>Depth D (D − 1 hidden layers of the same width).</summary>
    [Params(2, 3)]
    public int Depth { get; set; }

    /// <summary>Builds the data, network and evaluator.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var data = SyntheticData.Gaussian(2048, 784, 1);
        var network = new FullyConnectedNetwork(784, [.. Enumerable.Repeat(Width, Depth - 1)], Activation.SquaredRelu);
        _theta = Initialization.KaimingNormal(network.Layout, 1, 1.0);
        _gradient = new double[_theta.Length];
        _evaluator = new LossEvaluator(network, data, Loss.Exponential, Threads);
    }

    /// <summary>log L and g/L.</summary>
    [Benchmark]
    public double Gradient() => _evaluator.Evaluate(_theta, _gradient);

    /// <summary>log L only (forward pass).</summary>
    [Benchmark]
    public double Forward() => _evaluator.EvaluateLoss(_theta);
}
