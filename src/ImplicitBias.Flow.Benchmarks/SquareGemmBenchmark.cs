using BenchmarkDotNet.Attributes;
using ImplicitBias.Flow.Models.Evaluation;

namespace ImplicitBias.Flow.Benchmarks;

/// <summary>
/// The evaluator's GEMM kernel on a square n = 2000 product (packing included): 16 GFLOP per operation, the
/// machine's peak against which the gradient's efficiency is judged.
/// </summary>
public class SquareGemmBenchmark
{
    private SquareGemm _gemm = null!;

    /// <summary>Threads (−1: all cores).</summary>
    [Params(1, -1)]
    public int Threads { get; set; }

    /// <summary>Builds the operands.</summary>
    [GlobalSetup]
    public void Setup() => _gemm = new SquareGemm(2000, Threads);

    /// <summary>C = A·B.</summary>
    [Benchmark]
    public void Multiply() => _gemm.Run();
}
