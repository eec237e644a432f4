using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Models.Tests;

/// <summary>
/// The fused single pass of narrow networks (LossEvaluator.Fused.cs) against the evaluator it must equal
/// (<see cref="LegacyLossEvaluator"/>, 1e-12 relative) and against the two-pass path, at the widths the flows use
/// (10, 20), odd widths and sizes (feature groups and sample blocks cut short, more sample blocks than chunks),
/// with the online reference moving (margins hundreds apart), and with non-finite margins (two-pass fallback).
/// </summary>
[Collection(RunsAlone.Name)]
public class FusedPassTests
{
    public static TheoryData<string, int, string, int, int> Cases()
    {
        var data = new TheoryData<string, int, string, int, int>();
        foreach (var act in new[] { "relu", "squared-relu", "relu^3", "quadratic", "identity" })
        {
            foreach (var loss in new[] { "exponential", "logistic" })
            {
                data.Add(act, 2, loss, 10, 10);
                data.Add(act, 2, loss, 20, 20);
                data.Add(act, 3, loss, 10, 10);
                data.Add(act, 3, loss, 20, 20);
                data.Add(act, 3, loss, 9, 17);
                data.Add(act, 2, loss, 13, 13);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradient_EqualsLegacyEvaluator(string act, int depth, string loss, int width1, int width2)
    {
        // m = 301: 19 sample blocks (more than the 8 chunks, the last one partial); d = 53: not a multiple of the
        // 12- or 8-feature groups.
        PackedEvaluatorTests.CompareWithLegacy(act, depth, loss, 301, 53, [width1, width2], threads: -1);
        Assert.Equal(PackedGemm.HardwarePath == GemmKernelPath.Vector512, PackedEvaluatorTests.LastFused);
    }

    [Theory]
    [InlineData("exponential", 2)]
    [InlineData("logistic", 2)]
    [InlineData("exponential", 3)]
    [InlineData("logistic", 3)]
    public void Gradient_EqualsLegacyEvaluator_WhenTheReferenceMoves(string loss, int depth)
    {
        // Labels y_i = sign f(x_i), outputs scaled so that the 17th largest |f| is 300: margins positive and hundreds
        // apart from the first sample block to the next ones, so
        // later blocks of a chunk bring log|ℓ'| more than the slack above the earlier blocks' and the chunk's sums
        // are rescaled (for the logistic loss too, whose log|ℓ'| saturates at 0 for negative margins).
        var gaussian = SyntheticData.Gaussian(1000, 40, 7);
        var net = new FullyConnectedNetwork(40, depth == 2 ? [10] : [10, 20], Activation.Parse("squared-relu"));
        var theta = Initialization.KaimingNormal(net.Layout, 9, 1.0);
        var outputs = new double[gaussian.Count];
        var forward = new LossEvaluator(net, gaussian, Loss.Parse(loss));
        forward.ForwardOutputs(theta, outputs);
        double seventeenth = outputs.Select(Math.Abs).OrderDescending().ElementAt(16);
        double scale = Math.Pow(300 / seventeenth, 1.0 / net.HomogeneityDegree);
        for (int k = 0; k < theta.Length; k++)
        {
            theta[k] *= scale;
        }

        forward.ForwardOutputs(theta, outputs);
        // Samples in order of decreasing margin: each block brings a larger log|ℓ'| than the blocks before it.
        int[] order = [.. Enumerable.Range(0, gaussian.Count).OrderByDescending(i => Math.Abs(outputs[i]))];
        var x = order.SelectMany(i => gaussian.Input(i).ToArray()).ToArray();
        var labels = order.Select(i => outputs[i] >= 0 ? 1.0 : -1.0).ToArray();
        var data = new Dataset(x, labels, gaussian.Dimension);
        var legacy = new LegacyLossEvaluator(net, data, Loss.Parse(loss), 1);
        var packed = new LossEvaluator(net, data, Loss.Parse(loss), -1);
        var g0 = new double[theta.Length];
        var g1 = new double[theta.Length];
        double l0 = legacy.Evaluate(theta, g0);
        double l1 = packed.Evaluate(theta, g1);
        Assert.Equal(l0, l1, 1e-12 * Math.Abs(l0));
        PackedEvaluatorTests.AssertClose(legacy.RelativeWeights, packed.RelativeWeights, 1e-12, "weights");
        for (int b = 0; b < depth; b++)
        {
            int offset = net.Layout.Offset(b), length = (b + 1 < depth ? net.Layout.Offset(b + 1) : theta.Length) - offset;
            PackedEvaluatorTests.AssertClose(g0.AsSpan(offset, length), g1.AsSpan(offset, length), 1e-12, $"gradient block {b}");
        }

        if (PackedGemm.HardwarePath == GemmKernelPath.Vector512)
        {
            Assert.True(packed.LastEvaluateFused);
            Assert.True(packed.LastRescales > 0, "no chunk rescaled: the test does not reach the rescale path");
        }
    }

    [Fact]
    public void FusedAndTwoPass_GiveTheSameResults_AndTheSameNonFiniteOnes()
    {
        var data = SyntheticData.Gaussian(500, 61, 2);
        var net = new FullyConnectedNetwork(61, [20, 20], Activation.SquaredRelu);
        var theta = Initialization.KaimingNormal(net.Layout, 3, 1.0);
        var evaluator = new LossEvaluator(net, data, Loss.Logistic, -1);
        foreach (double poison in new[] { 0.0, double.NaN, double.PositiveInfinity })
        {
            // The output row's last weight: every margin becomes non-finite.
            theta[^1] = poison == 0.0 ? theta[^1] : poison;
            var fused = new double[theta.Length];
            var twoPass = new double[theta.Length];
            evaluator.UseFusedPass = true;
            double l1 = evaluator.Evaluate(theta, fused);
            Assert.Equal(poison == 0.0 && PackedGemm.HardwarePath == GemmKernelPath.Vector512, evaluator.LastEvaluateFused);
            evaluator.UseFusedPass = false;
            double l2 = evaluator.Evaluate(theta, twoPass);
            Assert.False(evaluator.LastEvaluateFused);
            if (poison == 0.0)
            {
                Assert.Equal(l2, l1, 1e-12 * Math.Abs(l2));
                PackedEvaluatorTests.AssertClose(twoPass, fused, 1e-12, "gradient");
            }
            else
            {
                // Non-finite margins: the fused pass hands over to the two-pass path, bit for bit.
                Assert.Equal(BitConverter.DoubleToInt64Bits(l2), BitConverter.DoubleToInt64Bits(l1));
                Assert.Equal(twoPass.Select(BitConverter.DoubleToInt64Bits), fused.Select(BitConverter.DoubleToInt64Bits));
                Assert.Contains(fused, double.IsNaN);
            }
        }
    }

    [Fact]
    public void Results_AreBitIdentical_WhateverTheThreadCount()
    {
        var data = SyntheticData.Xor(700, 45, 3);
        var net = new FullyConnectedNetwork(45, [20, 12], Activation.SquaredRelu);
        var theta = Initialization.KaimingNormal(net.Layout, 4, 1.0);
        var serial = new double[theta.Length];
        var one = new LossEvaluator(net, data, Loss.Exponential, 1);
        double l1 = one.Evaluate(theta, serial);
        var threaded = new LossEvaluator(net, data, Loss.Exponential, -1);
        for (int run = 0; run < 3; run++)
        {
            var g = new double[theta.Length];
            double l2 = threaded.Evaluate(theta, g);
            Assert.Equal(BitConverter.DoubleToInt64Bits(l1), BitConverter.DoubleToInt64Bits(l2));
            Assert.Equal(serial, g);
            Assert.Equal(one.RelativeWeights.ToArray(), threaded.RelativeWeights.ToArray());
        }
    }
}
