using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Models.Tests;

/// <summary>
/// The packed-GEMM evaluator against the evaluator it replaced (<see cref="LegacyLossEvaluator"/>): same log L,
/// outputs, weights and gradient to 1e-12 relative, on every activation, depth 1–3, both losses, on shapes whose
/// sizes are not multiples of the kernel's 5 × 32 tiles.
/// </summary>
[Collection(RunsAlone.Name)]
public class PackedEvaluatorTests
{
    public static TheoryData<string, int, string> Cases()
    {
        var data = new TheoryData<string, int, string>();
        foreach (var act in new[] { "relu", "squared-relu", "relu^3", "quadratic", "identity" })
        {
            for (int depth = 1; depth <= 3; depth++)
            {
                foreach (var loss in new[] { "exponential", "logistic" })
                {
                    data.Add(act, depth, loss);
                }
            }
        }

        return data;
    }

    internal static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 0, error = 0;
        for (int k = 0; k < expected.Length; k++)
        {
            scale = Math.Max(scale, Math.Abs(expected[k]));
            error = Math.Max(error, Math.Abs(expected[k] - actual[k]));
        }

        Assert.True(scale > 0, $"{what}: all zero");
        Assert.True(error <= tolerance * scale, $"{what}: max error {error:G3} vs max |value| {scale:G3}");
    }

    /// <summary>Whether the packed evaluator of the last comparison took the fused pass, and how often it rescaled.</summary>
    internal static bool LastFused { get; private set; }

    internal static int LastRescales { get; private set; }

    internal static void CompareWithLegacy(string act, int depth, string loss, int m, int d, int[] widths, int threads, double thetaScale = 1.0)
    {
        var data = SyntheticData.Gaussian(m, d, 5);
        var net = new FullyConnectedNetwork(d, widths[..(depth - 1)], Activation.Parse(act));
        // Scale so that outputs are O(1) whatever the degree (quadratic at depth 3 has degree 7).
        double scale = thetaScale * Math.Pow(1.0 / Math.Sqrt(d), 1.0 / net.HomogeneityDegree);
        var theta = Initialization.KaimingNormal(net.Layout, 17, 1.0);
        for (int k = 0; k < theta.Length; k++)
        {
            theta[k] *= scale;
        }

        var legacy = new LegacyLossEvaluator(net, data, Loss.Parse(loss), 1);
        var packed = new LossEvaluator(net, data, Loss.Parse(loss), threads);
        var g0 = new double[theta.Length];
        var g1 = new double[theta.Length];
        double l0 = legacy.Evaluate(theta, g0);
        double l1 = packed.Evaluate(theta, g1);
        LastFused = packed.LastEvaluateFused;
        LastRescales = packed.LastRescales;
        Assert.True(Math.Abs(l0 - l1) <= 1e-12 * Math.Max(1, Math.Abs(l0)), $"log L {l0} vs {l1}");
        Assert.Equal(legacy.MinMargin, packed.MinMargin, 1e-12 * Math.Max(1, Math.Abs(legacy.MinMargin)));
        AssertClose(legacy.Outputs, packed.Outputs, 1e-12, "outputs");
        AssertClose(legacy.RelativeWeights, packed.RelativeWeights, 1e-12, "weights");
        // Each weight block on its own scale: blocks can differ by orders of magnitude.
        for (int b = 0; b < depth; b++)
        {
            int offset = net.Layout.Offset(b), length = (b + 1 < depth ? net.Layout.Offset(b + 1) : theta.Length) - offset;
            AssertClose(g0.AsSpan(offset, length), g1.AsSpan(offset, length), 1e-12, $"gradient block {b}");
        }

        for (int l = 1; l < depth; l++)
        {
            AssertClose(legacy.Preactivations(l), packed.Preactivations(l), 1e-12, $"z_{l}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradient_EqualsLegacyEvaluator(string act, int depth, string loss)
    {
        // m = 77 (four full sample blocks and a partial one), d = 37, widths 13 and 7 (partial ten-row panels).
        CompareWithLegacy(act, depth, loss, 77, 37, [13, 7], threads: -1);
    }

    [Fact]
    public void EveryKernelPathOfThisMachine_EqualsLegacyEvaluator()
    {
        try
        {
            for (var path = GemmKernelPath.Scalar; path <= PackedGemm.HardwarePath; path++)
            {
                PackedGemm.Force(path);
                Assert.Equal(path, PackedGemm.Path);
                CompareWithLegacy("squared-relu", 3, "logistic", 100, 50, [20, 10], threads: 2);
                CompareWithLegacy("relu", 2, "exponential", 64, 33, [11], threads: 1);
            }
        }
        finally
        {
            PackedGemm.Force(null);
        }
    }

    [Fact]
    public void Results_AreBitIdentical_WhateverTheThreadCount()
    {
        var data = SyntheticData.Xor(700, 45, 3);
        var net = new FullyConnectedNetwork(45, [23, 12], Activation.SquaredRelu);
        var theta = Initialization.KaimingNormal(net.Layout, 4, 1.0);
        var serial = new double[theta.Length];
        double l1 = new LossEvaluator(net, data, Loss.Logistic, 1).Evaluate(theta, serial);
        var threaded = new LossEvaluator(net, data, Loss.Logistic, -1);
        for (int run = 0; run < 5; run++)
        {
            var g = new double[theta.Length];
            double l2 = threaded.Evaluate(theta, g);
            Assert.Equal(BitConverter.DoubleToInt64Bits(l1), BitConverter.DoubleToInt64Bits(l2));
            Assert.Equal(serial, g);
        }
    }

    [Fact]
    public void SquareGemm_MatchesNaiveProduct()
    {
        // 37 is not a multiple of 10 or 16; 600 spans three inner slices.
        foreach (int n in new[] { 37, 600 })
        {
            var gemm = new SquareGemm(n);
            gemm.Run();
            ReadOnlySpan<double> a = gemm.Left, b = gemm.Right;
            for (int i = 0; i < n; i += 7)
            {
                for (int j = 0; j < n; j += 3)
                {
                    double s = 0;
                    for (int p = 0; p < n; p++)
                    {
                        s += a[(i * n) + p] * b[(p * n) + j];
                    }

                    Assert.True(Math.Abs(s - gemm.Product(i, j)) <= 1e-12 * n, $"n={n} ({i},{j}): {s} vs {gemm.Product(i, j)}");
                }
            }
        }
    }
}

/// <summary>Tests that force a kernel path or measure process-wide allocation run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    public const string Name = "Kernel path (not parallel)";
}
