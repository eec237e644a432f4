using ImplicitBias.Flow.Models.Data;
using ImplicitBias.Flow.Models.Evaluation;
using ImplicitBias.Flow.Models.Losses;
using ImplicitBias.Flow.Models.Networks;

namespace ImplicitBias.Flow.Models.Tests;

/// <summary>
/// The float32 option (<see cref="LossEvaluator.Float32"/>), on the fused pass (depth 2–3, widths ≤ 20, AVX-512) and
/// on the two-pass path's float32 tiles (every other network, every kernel path): its gradient, log L and margins
/// agree with the float64 evaluator's to float32 rounding of the two products with the data (stated tolerance:
/// 1e-5 relative in the gradient's norm, 1e-5 relative in each margin; measured at most 3.4e-6, relu^3 at width
/// 100), they are finite, and they do not depend on the number of threads; switched off, the evaluator gives the
/// float64 results bit for bit.
/// </summary>
[Collection(RunsAlone.Name)]
public class Float32Tests
{
    private const double Tolerance = 1e-5;

    private static readonly string[] Activations = ["relu", "squared-relu", "relu^3", "quadratic", "identity"];

    public static TheoryData<string, int, string, int> Cases()
    {
        var data = new TheoryData<string, int, string, int>();
        foreach (var act in Activations)
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

    // The two-pass path's float32 tiles: widths 30 and 100, depth 1–3 (depth 1 has no hidden width; 0 below).
    public static TheoryData<string, int, string, int> WideCases()
    {
        var data = new TheoryData<string, int, string, int>();
        foreach (var act in Activations)
        {
            foreach (var loss in new[] { "exponential", "logistic" })
            {
                data.Add(act, 1, loss, 0);
                foreach (int depth in new[] { 2, 3 })
                {
                    data.Add(act, depth, loss, 30);
                    data.Add(act, depth, loss, 100);
                }
            }
        }

        return data;
    }

    private static (FullyConnectedNetwork Net, Dataset Data, double[] Theta) Problem(string act, int depth, int width)
    {
        // m = 301 (a partial last block, more blocks than chunks, an odd number of blocks: the float32 forward tiles
        // take them in pairs), d = 53 (feature groups and the float32 32-feature blocks cut short).
        var data = SyntheticData.Gaussian(301, 53, 3);
        int[] widths = depth switch
        {
            1 => [],
            2 => [width],
            _ => width <= 20 ? [width, 10] : [width, width],
        };
        var net = new FullyConnectedNetwork(53, widths, Activation.Parse(act));
        return (net, data, Initialization.KaimingNormal(net.Layout, 5, 1.0));
    }

    // Whether the fused pass takes this network here.
    private static bool Fused(int depth, int width) => PackedGemm.HardwarePath == GemmKernelPath.Vector512 && depth is 2 or 3 && width <= 20;

    [Theory]
    [MemberData(nameof(Cases))]
    [MemberData(nameof(WideCases))]
    public void Gradient_AgreesWithFloat64_ToFloat32Rounding(string act, int depth, string loss, int width)
    {
        var (net, data, theta) = Problem(act, depth, width);
        var reference = new LossEvaluator(net, data, Loss.Parse(loss));
        var single = new LossEvaluator(net, data, Loss.Parse(loss)) { Float32 = true };
        Assert.True(single.Float32);
        AssertAgrees(reference, single, theta, Fused(depth, width));
    }

    // The float32 gradient of `single` against the float64 one of `reference` (and which pass it took).
    private static void AssertAgrees(LossEvaluator reference, LossEvaluator single, double[] theta, bool fused)
    {
        var g64 = new double[theta.Length];
        var g32 = new double[theta.Length];
        double l64 = reference.Evaluate(theta, g64);
        double l32 = single.Evaluate(theta, g32);
        Assert.Equal(fused, single.LastEvaluateFused);
        Assert.All(g32, v => Assert.True(double.IsFinite(v)));
        double error = Math.Sqrt(g32.Zip(g64, (a, b) => (a - b) * (a - b)).Sum()), norm = Math.Sqrt(g64.Sum(v => v * v));
        Assert.InRange(error / norm, 0, Tolerance);
        Assert.InRange(Math.Abs(l32 - l64), 0, Tolerance * Math.Max(1, Math.Abs(l64)));
        double scale = reference.Margins.ToArray().Max(Math.Abs);
        for (int i = 0; i < reference.Margins.Length; i++)
        {
            Assert.InRange(Math.Abs(single.Margins[i] - reference.Margins[i]), 0, Tolerance * scale);
        }

        // Not bit-equal: the option does change the arithmetic.
        Assert.True(error > 0);

        // The forward pass alone (EvaluateLoss) is the same float32 forward pass.
        if (!fused)
        {
            Assert.Equal(l32, single.EvaluateLoss(theta));
        }
    }

    [Fact]
    public void TwoPassFloat32_OnEveryKernelPathOfThisMachine_AgreesWithFloat64()
    {
        try
        {
            for (var path = GemmKernelPath.Scalar; path <= PackedGemm.HardwarePath; path++)
            {
                PackedGemm.Force(path);
                foreach (var (depth, width) in new[] { (1, 0), (2, 10), (3, 30) })
                {
                    var (net, data, theta) = Problem("squared-relu", depth, width);
                    var reference = new LossEvaluator(net, data, Loss.Logistic);
                    var single = new LossEvaluator(net, data, Loss.Logistic, 2) { Float32 = true };

                    // The fused pass runs on AVX-512 only: at width 10 a forced narrower path takes the two-pass tiles.
                    AssertAgrees(reference, single, theta, fused: path == GemmKernelPath.Vector512 && Fused(depth, width));
                }
            }
        }
        finally
        {
            PackedGemm.Force(null);
        }
    }

    [Theory]
    [InlineData(2, 10)]
    [InlineData(3, 20)]
    public void TwoPassFloat32_AtNarrowWidths_AgreesWithFloat64(int depth, int width)
    {
        var (net, data, theta) = Problem("relu", depth, width);
        var reference = new LossEvaluator(net, data, Loss.Exponential);
        var single = new LossEvaluator(net, data, Loss.Exponential) { Float32 = true, UseFusedPass = false };
        AssertAgrees(reference, single, theta, fused: false);
    }

    [Theory]
    [InlineData(2, 20)]
    [InlineData(3, 10)]
    [InlineData(1, 0)]
    [InlineData(2, 100)]
    [InlineData(3, 30)]
    public void Gradient_DoesNotDependOnThreads(int depth, int width)
    {
        var (net, data, theta) = Problem("squared-relu", depth, width);
        var serial = new LossEvaluator(net, data, Loss.Logistic, 1) { Float32 = true };
        var parallel = new LossEvaluator(net, data, Loss.Logistic, -1) { Float32 = true };
        var g1 = new double[theta.Length];
        var g2 = new double[theta.Length];
        Assert.Equal(serial.Evaluate(theta, g1), parallel.Evaluate(theta, g2));
        Assert.Equal(g1, g2);
    }

    [Theory]
    [InlineData(2, 10)]
    [InlineData(3, 30)]
    [InlineData(1, 0)]
    public void Float32_CanBeSwitchedOff_AndThenEqualsFloat64(int depth, int width)
    {
        var (net, data, theta) = Problem("relu", depth, width);
        var reference = new LossEvaluator(net, data, Loss.Logistic);
        var fresh = new LossEvaluator(net, data, Loss.Logistic) { Float32 = true };
        var toggled = new LossEvaluator(net, data, Loss.Logistic) { Float32 = true };
        var g1 = new double[theta.Length];
        var g2 = new double[theta.Length];
        var g3 = new double[theta.Length];
        fresh.Evaluate(theta, g3);
        toggled.Evaluate(theta, g2);
        toggled.Float32 = false;
        reference.Evaluate(theta, g1);
        toggled.Evaluate(theta, g2);
        Assert.Equal(g1, g2);

        // And on again: the float32 result of a fresh evaluator.
        toggled.Float32 = true;
        toggled.Evaluate(theta, g2);
        Assert.Equal(g3, g2);
    }
}
