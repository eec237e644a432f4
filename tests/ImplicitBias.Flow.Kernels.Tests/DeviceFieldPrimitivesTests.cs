using ILGPU;
using ILGPU.Runtime;
using ImplicitBias.Flow.Core.Parameters;
using ImplicitBias.Flow.Flows.Field;
using ImplicitBias.Flow.Flows.Optimizers;
using ImplicitBias.Flow.Flows.Schedules;

namespace ImplicitBias.Flow.Kernels.Tests;

/// <summary>The device primitives of the vector field against the host's: the same operators, reductions and polar factor.</summary>
[Collection(SharedAccelerator.Name)]
public sealed class DeviceFieldPrimitivesTests(AcceleratorFixture fixture)
{
    private const int N = 37;

    private static double[] Values(int seed, bool specials = true)
    {
        var rng = new Random(seed);
        double[] special = [0.0, -0.0, double.NaN, double.PositiveInfinity, 1e-310, -3.0];
        return Enumerable.Range(0, N).Select(i => specials && i % 6 == 0 ? special[(i / 6) % special.Length] : (rng.NextDouble() - 0.5) * Math.Exp(4 * (rng.NextDouble() - 0.5))).ToArray();
    }

    private DeviceFieldPrimitives Primitives(ParameterLayout? layout = null, int definedLength = N) =>
        new(fixture.Accelerator, N, layout ?? ParameterLayout.FullyConnected(N, []), [], definedLength);

    private double[] Run(Action<DeviceFieldPrimitives, ArrayView<double>, ArrayView<double>, ArrayView<double>> map, double[] x, double[] y)
    {
        using DeviceFieldPrimitives primitives = Primitives();
        using MemoryBuffer1D<double, Stride1D.Dense> dx = fixture.Accelerator.Allocate1D(x), dy = fixture.Accelerator.Allocate1D(y);
        using MemoryBuffer1D<double, Stride1D.Dense> dd = fixture.Accelerator.Allocate1D<double>(N);
        map(primitives, dx.View, dy.View, dd.View);
        var result = new double[N];
        ((ArrayView<double>)dd.View).CopyToCPU(result.AsSpan());
        return result;
    }

    private static void AssertSameBits(double[] expected, double[] actual, string what)
    {
        for (int i = 0; i < N; i++)
        {
            Assert.True(
                BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(actual[i]) || (double.IsNaN(expected[i]) && double.IsNaN(actual[i])),
                $"{what}[{i}]: device {actual[i]:R}, host {expected[i]:R}");
        }
    }

    private void CheckMap<TOp>(TOp op)
        where TOp : struct, IElementwise
    {
        double[] x = Values(1), expected = new double[N];
        HostFieldPrimitives.Elementwise.Map(x, expected, op);
        AssertSameBits(expected, Run((p, a, _, d) => p.Map(a, d, op), x, x), typeof(TOp).Name);
    }

    private void CheckMap2<TOp>(TOp op)
        where TOp : struct, IElementwise2
    {
        double[] x = Values(2), y = Values(3).Select(v => -v).ToArray(), expected = new double[N];
        HostFieldPrimitives.Elementwise.Map(x, y, expected, op);
        AssertSameBits(expected, Run((p, a, b, d) => p.Map(a, b, d, op), x, y), typeof(TOp).Name);
    }

    /// <summary>Every operator gives the host's bits on the device (the kernels call the same scalar form).</summary>
    [Fact]
    public void Maps_GiveTheHostsBits()
    {
        CheckMap(new ScaleOperator(0.37, -1.9));
        CheckMap(new SignOperator(-0.4));
        CheckMap(new SmoothSignOperator(1 / 0.3, -0.7));
        CheckMap2(new AdamRatioOperator(1.7, 3.1, 1e-3, -0.5));
        CheckMap2(new MomentumSourceOperator(0.2, 0.15));
        CheckMap2(new SecondMomentSourceOperator(0.05, -0.3));
    }

    /// <summary>Dot, norm, Σx² and max|x| agree with the host to round-off; an input that is not finite gives a result that is not.</summary>
    [Fact]
    public void Reductions_MatchTheHost_AndFlagInputsThatAreNotFinite()
    {
        double[] a = Values(4, specials: false), b = Values(5, specials: false);
        using DeviceFieldPrimitives p = Primitives();
        using MemoryBuffer1D<double, Stride1D.Dense> da = fixture.Accelerator.Allocate1D(a), db = fixture.Accelerator.Allocate1D(b);
        HostFieldPrimitives host = HostFieldPrimitives.Elementwise;
        Assert.Equal(host.Dot(a, b), p.Dot(da.View, db.View), 1e-14 * a.Zip(b, (x, y) => Math.Abs(x * y)).Sum());
        Assert.Equal(host.Norm(a), p.Norm(da.View), 1e-14 * host.Norm(a));
        Assert.Equal(host.SumOfSquares(a), p.SumOfSquares(da.View), 1e-14 * host.SumOfSquares(a));
        Assert.Equal(host.MaxAbs(a), p.MaxAbs(da.View));

        a[7] = double.NaN;
        b[3] = double.PositiveInfinity;
        da.View.CopyFromCPU(a);
        db.View.CopyFromCPU(b);
        Assert.False(double.IsFinite(p.MaxAbs(da.View)));
        Assert.False(double.IsFinite(p.SumOfSquares(da.View)));
        Assert.True(double.IsNaN(p.Dot(db.View, db.View)));
        Assert.Equal(double.PositiveInfinity, p.Read(db.View, 3));
    }

    /// <summary>The device polar factor (Newton–Schulz) equals the host's exact one to 1e-12; a NaN matrix gives NaN.</summary>
    [Fact]
    public void Polar_MatchesTheHostsExactFactor_AndNaNGivesNaN()
    {
        ParameterLayout layout = ParameterLayout.FullyConnected(6, [4]); // block 0: 4 × 6, block 1: 1 × 4
        var rng = new Random(8);
        double[] s = Enumerable.Range(0, 24).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var expected = new double[24];
        new HostFieldPrimitives(layout).Polar(0, s, expected);

        using var p = new DeviceFieldPrimitives(fixture.Accelerator, layout.Length, layout, [0, 1]);
        using MemoryBuffer1D<double, Stride1D.Dense> ds = fixture.Accelerator.Allocate1D(s), dd = fixture.Accelerator.Allocate1D<double>(24);
        p.Polar(0, ds.View, dd.View);
        var actual = new double[24];
        ((ArrayView<double>)dd.View).CopyToCPU(actual.AsSpan());
        for (int i = 0; i < 24; i++)
        {
            Assert.Equal(expected[i], actual[i], 1e-12);
        }

        s[5] = double.NaN;
        ds.View.CopyFromCPU(s);
        p.Polar(0, ds.View, dd.View);
        ((ArrayView<double>)dd.View).CopyToCPU(actual.AsSpan());
        Assert.All(actual, v => Assert.True(double.IsNaN(v)));
    }

    /// <summary>A definition's own direction runs on host copies of the part's vectors and comes back unchanged.</summary>
    [Fact]
    public void DefinedDirection_RoundTripsThroughTheHost()
    {
        var definition = new OptimizerDefinition
        {
            Name = "scaled-sign-test",
            Summary = "d = sign(g) · (1 + ṽ) · e^{λ_v}, a test direction reading the gradient and the second moment.",
            Geometry = UpdateGeometry.Defined,
            Direction = new SignTimesSecondMoment(),
            Moments = FlowMoments.Second,
            OwnNorm = OwnNormKind.LInf,
            Family = OptimizerFamily.GradientFlow,
            Schedule = ScheduleAssumption.Adam,
            DefaultEta0 = 0.1,
        };
        var part = new OptimizerPart(definition, 0, 1, 0.1, C2: 0.05);
        double[] g = Values(6, specials: false), v = Values(7, specials: false), expected = new double[N];
        HostFieldPrimitives.Elementwise.DefinedDirection(part, 0.5, -2.0, g, default, double.NaN, v, 0.25, expected);
        double[] actual = Run((p, a, b, d) => p.DefinedDirection(part, 0.5, -2.0, a, default, double.NaN, b, 0.25, d), g, v);
        AssertSameBits(expected, actual, "defined");
        Assert.Contains(actual, x => x != 0);
    }

    private sealed class SignTimesSecondMoment : IDefinedDirection
    {
        public void Write(in DirectionInputs inputs, Span<double> direction)
        {
            Assert.True(inputs.Momentum.IsEmpty);
            for (int i = 0; i < direction.Length; i++)
            {
                direction[i] = Math.Sign(inputs.RelativeGradient[i]) * (1 + inputs.SecondMoment[i]) * Math.Exp(inputs.SecondMomentLogScale);
            }
        }
    }
}
