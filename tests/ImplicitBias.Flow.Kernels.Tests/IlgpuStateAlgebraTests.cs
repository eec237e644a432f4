using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;

namespace ImplicitBias.Flow.Kernels.Tests;

[Collection(SharedAccelerator.Name)]
public sealed class IlgpuStateAlgebraTests(AcceleratorFixture fixture)
{
    // Block lengths not multiples of a warp; one block with a scaled absolute tolerance.
    private static readonly StateLayout Layout = new(
    [
        new StateBlock("theta", 37, RelTol: 1e-6, AbsTol: 1e-8),
        new StateBlock("m", 5, RelTol: 1e-5, AbsTol: 1e-9, ScaledAbsTol: 1e-3, DecayRate: 0.1),
        new StateBlock("v", 11, RelTol: 1e-4, AbsTol: 1e-7),
    ]);

    private static double[] Random(int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, Layout.Length).Select(_ => (2 * random.NextDouble()) - 1).ToArray();
    }

    private DeviceState Upload(IlgpuStateAlgebra algebra, double[] values)
    {
        DeviceState state = algebra.Allocate();
        algebra.Write(values, state);
        return state;
    }

    private static double[] Download(IlgpuStateAlgebra algebra, DeviceState state)
    {
        var values = new double[algebra.Layout.Length];
        algebra.Read(state, values);
        return values;
    }

    private static int BlockOf(int i)
    {
        for (int b = Layout.BlockCount - 1; b >= 0; b--)
        {
            if (i >= Layout.Offset(b))
            {
                return b;
            }
        }

        return 0;
    }

    [Fact]
    public void AllocateWriteReadCopy_RoundTrip()
    {
        using var algebra = new IlgpuStateAlgebra(fixture.Accelerator, Layout);
        using DeviceState zero = algebra.Allocate();
        Assert.All(Download(algebra, zero), v => Assert.Equal(0.0, v));

        double[] values = Random(1);
        using DeviceState a = Upload(algebra, values);
        using DeviceState b = algebra.Allocate();
        algebra.Copy(a, b);
        Assert.Equal(values, Download(algebra, b));
    }

    [Fact]
    public void Combine_UniformCoefficients_MatchesHostArithmetic()
    {
        using var algebra = new IlgpuStateAlgebra(fixture.Accelerator, Layout);
        double[] y = Random(2);
        double[][] k = [Random(3), Random(4), Random(5)];
        using DeviceState dy = Upload(algebra, y);
        using DeviceState k0 = Upload(algebra, k[0]);
        using DeviceState k1 = Upload(algebra, k[1]);
        using DeviceState k2 = Upload(algebra, k[2]);
        using DeviceState destination = algebra.Allocate();
        double[] a = [0.25, -1.5, 0.125];

        algebra.Combine(dy, [1.0], a, [k0, k1, k2], perBlock: false, destination);

        double[] actual = Download(algebra, destination);
        for (int i = 0; i < y.Length; i++)
        {
            double expected = (1.0 * y[i]) + (a[0] * k[0][i]) + (a[1] * k[1][i]) + (a[2] * k[2][i]);
            Assert.Equal(expected, actual[i], 1e-15);
        }
    }

    [Fact]
    public void Combine_PerBlockCoefficientsIntoY_MatchesHostArithmetic()
    {
        using var algebra = new IlgpuStateAlgebra(fixture.Accelerator, Layout);
        double[] y = Random(6);
        double[][] k = [Random(7), Random(8)];
        using DeviceState dy = Upload(algebra, y);
        using DeviceState k0 = Upload(algebra, k[0]);
        using DeviceState k1 = Upload(algebra, k[1]);
        double[] yScale = [1.0, Math.Exp(-0.1), 0.5];
        double[] a = [0.5, 0.25, -2.0, 0.0, 3.0, 1.0]; // row per block: (a_b0, a_b1)

        algebra.Combine(dy, yScale, a, [k0, k1], perBlock: true, dy); // destination aliases y

        double[] actual = Download(algebra, dy);
        for (int i = 0; i < y.Length; i++)
        {
            int b = BlockOf(i);
            double expected = (yScale[b] * y[i]) + (a[2 * b] * k[0][i]) + (a[(2 * b) + 1] * k[1][i]);
            Assert.Equal(expected, actual[i], 1e-15);
        }
    }

    [Fact]
    public void Combine_SkipsStagesWithZeroCoefficients()
    {
        using var algebra = new IlgpuStateAlgebra(fixture.Accelerator, Layout);
        double[] y = Random(9);
        double[] k1 = Random(10);
        double[] poisoned = Enumerable.Repeat(double.NaN, Layout.Length).ToArray();
        using DeviceState dy = Upload(algebra, y);
        using DeviceState stage0 = Upload(algebra, poisoned);
        using DeviceState stage1 = Upload(algebra, k1);
        using DeviceState destination = algebra.Allocate();

        algebra.Combine(dy, [0.0], [0.0, 2.0], [stage0, stage1], perBlock: false, destination);
        double[] errorEstimate = Download(algebra, destination);
        algebra.Combine(dy, [3.0], [0.0, 0.0], [stage0, stage1], perBlock: false, destination);
        double[] scaled = Download(algebra, destination);
        // Per block: the poisoned stage is used by block "m" only.
        algebra.Combine(dy, [1.0, 1.0, 1.0], [0.0, 1.0, 0.5, 1.0, 0.0, 1.0], [stage0, stage1], perBlock: true, destination);
        double[] mixed = Download(algebra, destination);

        for (int i = 0; i < y.Length; i++)
        {
            Assert.Equal((0.0 * y[i]) + (2.0 * k1[i]), errorEstimate[i]);
            Assert.Equal(3.0 * y[i], scaled[i]);
            Assert.Equal(BlockOf(i) == 1, double.IsNaN(mixed[i]));
            if (BlockOf(i) != 1)
            {
                Assert.Equal(y[i] + k1[i], mixed[i]);
            }
        }
    }

    [Fact]
    public void ErrorNorm_MatchesHostFormulaWithScaledAbsoluteTolerance()
    {
        // The controllers' norm over the device reductions.
        using var algebra = new IlgpuStateAlgebra(fixture.Accelerator, Layout);
        var norm = new ScaledErrorNorm<DeviceState>(algebra, ErrorTolerances.Of(Layout));
        double[] y0 = Random(11);
        double[] y1 = Random(12);
        double[] e = Random(13).Select(v => v * 1e-6).ToArray();
        using DeviceState d0 = Upload(algebra, y0);
        using DeviceState d1 = Upload(algebra, y1);
        using DeviceState de = Upload(algebra, e);

        double actual = norm.Measure(d0, d1, de);

        double sum = 0;
        for (int b = 0; b < Layout.BlockCount; b++)
        {
            StateBlock block = Layout.Blocks[b];
            int offset = Layout.Offset(b);
            double atol = block.AbsTol;
            if (block.ScaledAbsTol > 0)
            {
                double max = 0;
                for (int i = offset; i < offset + block.Length; i++)
                {
                    max = Math.Max(max, Math.Abs(y1[i]));
                }

                atol = Math.Max(atol, block.ScaledAbsTol * max);
            }

            for (int i = offset; i < offset + block.Length; i++)
            {
                double sc = atol + (block.RelTol * Math.Max(Math.Abs(y0[i]), Math.Abs(y1[i])));
                sum += (e[i] / sc) * (e[i] / sc);
            }
        }

        double expected = Math.Sqrt(sum / Layout.Length);
        Assert.True(expected > 0.01, "the scaled tolerance block must matter for this check");
        Assert.Equal(expected, actual, expected * 1e-13);

        // The same reductions on the host: the maxima exactly, the sums to rounding.
        var host = new HostStateAlgebra(Layout);
        double[] deviceMax = new double[Layout.BlockCount];
        double[] hostMax = new double[Layout.BlockCount];
        algebra.BlockMaxAbs(d1, [true, true, true], deviceMax);
        host.BlockMaxAbs(new HostState(y1), [true, true, true], hostMax);
        Assert.Equal(hostMax, deviceMax);
        double hostNorm = new ScaledErrorNorm<HostState>(host, ErrorTolerances.Of(Layout)).Measure(new HostState(y0), new HostState(y1), new HostState(e));
        Assert.Equal(hostNorm, actual, hostNorm * 1e-14);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void ErrorNormAndAllFinite_DetectNonFiniteValues(double bad)
    {
        using var algebra = new IlgpuStateAlgebra(fixture.Accelerator, Layout);
        var norm = new ScaledErrorNorm<DeviceState>(algebra, ErrorTolerances.Of(Layout));
        double[] values = Random(14);
        using DeviceState good = Upload(algebra, values);
        Assert.True(algebra.AllFinite(good));
        Assert.True(double.IsFinite(norm.Measure(good, good, good)));

        values[Layout.Offset(2) + 3] = bad;
        using DeviceState broken = Upload(algebra, values);
        Assert.False(algebra.AllFinite(broken));
        Assert.True(double.IsNaN(norm.Measure(good, good, broken)));
        Assert.True(double.IsNaN(norm.Measure(broken, good, good)));
        Assert.True(double.IsNaN(norm.Measure(good, broken, good)));
    }

    [Fact]
    public void Combine_RejectsStageAliasingDestinationAndWrongCoefficientCount()
    {
        using var algebra = new IlgpuStateAlgebra(fixture.Accelerator, Layout);
        using DeviceState y = algebra.Allocate();
        using DeviceState k = algebra.Allocate();
        Assert.Throws<ArgumentException>(() => algebra.Combine(y, [1.0], [1.0], [k], perBlock: false, k));
        Assert.Throws<ArgumentException>(() => algebra.Combine(y, [1.0], [1.0, 2.0], [k], perBlock: false, y));
    }
}
