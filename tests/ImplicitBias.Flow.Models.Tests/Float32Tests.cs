using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Models.Tests;

/// <summary>
/// The float32 option of the fused pass (<see cref="LossEvaluator.Float32"/>): its gradient, log L and margins agree
/// with the float64 evaluator's to float32 rounding of the two products with the data (stated tolerance: 1e-5
/// relative in the gradient's norm, 1e-5 relative in each margin), they are finite, and they do not depend on the
/// number of threads; where the fused pass does not apply, asking for float32 is refused.
/// </summary>
[Collection(RunsAlone.Name)]
public class Float32Tests
{
    private const double Tolerance = 1e-5;

    public static TheoryData<string, int, string, int> Cases()
    {
        var data = new TheoryData<string, int, string, int>();
        foreach (var act in new[] { "relu", "squared-relu", "relu^3", "quadratic", "identity" })
        {
            foreach (var loss in new[] { "exponential", "logistic" })
            {
                foreach (int depth in new[] { 2, 3 })
                {
                    data.Add(act, depth, loss, 10);
                    data.Add(act, depth, loss, 20);
                }
            }
        }

        data.Add("relu", 3, "logistic", 13);
        return data;
    }

    private static (FullyConnectedNetwork Net, Dataset Data, double[] Theta) Problem(string act, int depth, int width)
    {
        // m = 301 (a partial last block, more blocks than chunks), d = 53 (feature groups cut short).
        var data = SyntheticData.Gaussian(301, 53, 3);
        var net = new FullyConnectedNetwork(53, depth == 2 ? [width] : [width, 10], Activation.Parse(act));
        return (net, data, Initialization.KaimingNormal(net.Layout, 5, 1.0));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradient_AgreesWithFloat64_ToFloat32Rounding(string act, int depth, string loss, int width)
    {
        if (PackedGemm.HardwarePath != GemmKernelPath.Vector512)
        {
            Assert.Throws<NotSupportedException>(() => new LossEvaluator(Problem(act, depth, width).Net, Problem(act, depth, width).Data, Loss.Parse(loss)).Float32 = true);
            return;
        }

        var (net, data, theta) = Problem(act, depth, width);
        var reference = new LossEvaluator(net, data, Loss.Parse(loss));
        var single = new LossEvaluator(net, data, Loss.Parse(loss)) { Float32 = true };
        Assert.True(single.Float32);
        Assert.True(LossEvaluator.SupportsFloat32(net));
        var g64 = new double[theta.Length];
        var g32 = new double[theta.Length];
        double l64 = reference.Evaluate(theta, g64);
        double l32 = single.Evaluate(theta, g32);
        Assert.True(single.LastEvaluateFused);
        Assert.All(g32, v => Assert.True(double.IsFinite(v)));
        double error = Math.Sqrt(g32.Zip(g64, (a, b) => (a - b) * (a - b)).Sum()), norm = Math.Sqrt(g64.Sum(v => v * v));
        Assert.InRange(error / norm, 0, Tolerance);
        Assert.InRange(Math.Abs(l32 - l64), 0, Tolerance * Math.Max(1, Math.Abs(l64)));
        double scale = reference.Margins.ToArray().Max(Math.Abs);
        for (int i = 0; i < data.Count; i++)
        {
            Assert.InRange(Math.Abs(single.Margins[i] - reference.Margins[i]), 0, Tolerance * scale);
        }

        // Not bit-equal: the option does change the arithmetic.
        Assert.True(error > 0);
    }

    [Theory]
    [InlineData(2, 20)]
    [InlineData(3, 10)]
    public void Gradient_DoesNotDependOnThreads(int depth, int width)
    {
        if (PackedGemm.HardwarePath != GemmKernelPath.Vector512)
        {
            return;
        }

        var (net, data, theta) = Problem("squared-relu", depth, width);
        var serial = new LossEvaluator(net, data, Loss.Logistic, 1) { Float32 = true };
        var parallel = new LossEvaluator(net, data, Loss.Logistic, -1) { Float32 = true };
        var g1 = new double[theta.Length];
        var g2 = new double[theta.Length];
        Assert.Equal(serial.Evaluate(theta, g1), parallel.Evaluate(theta, g2));
        Assert.Equal(g1, g2);
    }

    [Fact]
    public void Float32_IsRefused_WhereTheFusedPassDoesNotApply()
    {
        var data = SyntheticData.Gaussian(50, 8, 1);
        var wide = new FullyConnectedNetwork(8, [30], Activation.Relu);
        var shallow = new FullyConnectedNetwork(8, [], Activation.Relu);
        Assert.False(LossEvaluator.SupportsFloat32(wide));
        Assert.False(LossEvaluator.SupportsFloat32(shallow));
        var e = Assert.Throws<NotSupportedException>(() => new LossEvaluator(wide, data, Loss.Logistic).Float32 = true);
        Assert.Contains("widths ≤ 20", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Float32_CanBeSwitchedOff_AndThenEqualsFloat64()
    {
        if (PackedGemm.HardwarePath != GemmKernelPath.Vector512)
        {
            return;
        }

        var (net, data, theta) = Problem("relu", 2, 10);
        var reference = new LossEvaluator(net, data, Loss.Logistic);
        var toggled = new LossEvaluator(net, data, Loss.Logistic) { Float32 = true };
        toggled.Float32 = false;
        var g1 = new double[theta.Length];
        var g2 = new double[theta.Length];
        reference.Evaluate(theta, g1);
        toggled.Evaluate(theta, g2);
        Assert.Equal(g1, g2);
    }
}
