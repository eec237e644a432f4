using System.Runtime.Intrinsics;
using ImplicitBias.Flow.Flows.Field;
using ImplicitBias.Flow.Flows.Optimizers;

namespace ImplicitBias.Flow.Flows.Tests.Field;

/// <summary>The host primitives of the vector field, and the field they serve: same bits on every path, no allocation.</summary>
public class HostFieldPrimitivesTests
{
    // Lengths that leave tails after 8- and 4-lane blocks; values with every special case the operators branch on.
    private static double[] Values(int n, int seed)
    {
        var rng = new Random(seed);
        double[] specials = [0.0, -0.0, double.NaN, double.PositiveInfinity, double.NegativeInfinity, 1e-310, -1e300, 3.0];
        return Enumerable.Range(0, n).Select(i => i % 5 == 0 ? specials[(i / 5) % specials.Length] : (rng.NextDouble() - 0.5) * Math.Exp(6 * (rng.NextDouble() - 0.5))).ToArray();
    }

    private static void AssertSameBits(double[] expected, double[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(
                BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(actual[i]) || (double.IsNaN(expected[i]) && double.IsNaN(actual[i])),
                $"{what}[{i}]: vectorized {actual[i]:R}, scalar {expected[i]:R}");
        }
    }

    private static void Check<TOp>(TOp op, int n)
        where TOp : struct, IElementwise
    {
        double[] x = Values(n, n);
        double[] actual = new double[n];
        HostFieldPrimitives.Elementwise.Map(x, actual, op);
        AssertSameBits(x.Select(op.Invoke).ToArray(), actual, typeof(TOp).Name);
    }

    private static void Check2<TOp>(TOp op, int n)
        where TOp : struct, IElementwise2
    {
        double[] x = Values(n, n), y = Values(n, n + 1).Select(v => -v).ToArray();
        double[] actual = new double[n];
        HostFieldPrimitives.Elementwise.Map(x, y, actual, op);
        AssertSameBits(x.Zip(y, op.Invoke).ToArray(), actual, typeof(TOp).Name);
    }

    /// <summary>The Vector512/256 forms of every operator give the scalar form's bits (±0, NaN, ∞, subnormals, tails).</summary>
    [Theory]
    [InlineData(3)]
    [InlineData(37)]
    [InlineData(64)]
    public void Map_VectorizedGivesTheScalarFormsBits(int n)
    {
        Assert.True(Vector256.IsHardwareAccelerated || Vector512.IsHardwareAccelerated, "this test needs a vectorized path to compare");
        Check(new ScaleOperator(0.37, -1.9), n);
        Check(new SignOperator(-0.4), n);
        Check(new SignOperator(1.0), n);
        Check(new SmoothSignOperator(1 / 0.3, -0.7), n);
        Check2(new AdamRatioOperator(1.7, 3.1, 0.0, -0.5), n);
        Check2(new AdamRatioOperator(1.7, 3.1, 1e-3, -0.5), n);
        Check2(new MomentumSourceOperator(0.2, 0.15), n);
        Check2(new SecondMomentSourceOperator(0.05, -0.3), n);
    }

    /// <summary>The bare directions: sign is −1/0/1 and NaN for NaN; the smoothed sign and ℓ2 direction have their norms.</summary>
    [Fact]
    public void Directions_AreTheFieldsWithFactorOne()
    {
        double[] s = [3, -4, 0, -0.0, double.NaN];
        var d = new double[5];
        Directions.Sign(s, 0, SignMode.Exact, d);
        Assert.Equal([1, -1, 0, 0], d[..4]);
        Assert.True(double.IsNaN(d[4]));
        Assert.Equal(0, BitConverter.DoubleToInt64Bits(d[3])); // +0, not −0

        d = new double[2];
        Directions.NormalizedL2([3, -4], d);
        Assert.Equal(0.6, d[0], 15);
        Assert.Equal(-0.8, d[1], 15);
        Directions.Sign([2, -1], 0.5, SignMode.Smooth, d); // δ = 1: x/√(x² + 1)
        Assert.Equal(2 / Math.Sqrt(5), d[0], 15);
        Assert.Equal(-1 / Math.Sqrt(2), d[1], 15);
    }

    /// <summary>
    /// One evaluation of the host flow allocates nothing, at t = 0 and t &gt; 0, even before the JIT optimizes it. The
    /// polar optimizers are left out: MathNet's thin QR inside the exact polar factor allocates its own work copies
    /// (see PolarFactorWorkspace's remarks).
    /// </summary>
    [Theory]
    [InlineData("gd")]
    [InlineData("ngd")]
    [InlineData("signgd")]
    [InlineData("momentum")]
    [InlineData("nmomentum")]
    [InlineData("signum")]
    [InlineData("adam")]
    public void Evaluate_AllocatesNothing(string name)
    {
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(12, 4, 5, 3);
        var flow = new OptimizerFlow(oracle, OptimizerCatalog.Parts(new OptimizerSpec(name, 0.5, C1: 0.2, C2: 0.05), oracle.Layout), power: 0.8);
        var rng = new Random(5);
        var y = new double[flow.Layout.Length];
        flow.InitialState(Enumerable.Range(0, oracle.Layout.Length).Select(_ => rng.NextDouble() - 0.5).ToArray(), y);
        for (int j = flow.Parameters.Length + 1; j < y.Length; j++)
        {
            y[j] = Math.Abs(y[j]) > 0 ? y[j] : rng.NextDouble();
        }

        var dy = new double[y.Length];
        flow.Evaluate(0.0, y, dy);
        flow.Evaluate(0.5, y, dy);
        long before = GC.GetAllocatedBytesForCurrentThread();
        flow.Evaluate(0.0, y, dy);
        flow.Evaluate(0.5, y, dy);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.All(dy, v => Assert.True(double.IsFinite(v)));
    }
}
