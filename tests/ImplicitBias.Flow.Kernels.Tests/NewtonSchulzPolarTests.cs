using ILGPU;
using ILGPU.Runtime;
using ImplicitBias.Flow.Core.Geometry;

namespace ImplicitBias.Flow.Kernels.Tests;

[Collection(SharedAccelerator.Name)]
/// <summary>The device's one polar factor, <see cref="NewtonSchulzPolar"/>: a polar decomposition, equal to the host's exact one to round-off.</summary>
public sealed class NewtonSchulzPolarTests(AcceleratorFixture fixture)
{
    [Theory]
    [InlineData(7, 5)]
    [InlineData(3, 8)]
    public void Compute_GivesThePolarFactor(int rows, int cols)
    {
        var random = new Random(rows * 31 + cols);
        double[] a = Enumerable.Range(0, rows * cols).Select(_ => (2 * random.NextDouble()) - 1).ToArray();
        using MemoryBuffer1D<double, Stride1D.Dense> source = fixture.Accelerator.Allocate1D(a);
        using MemoryBuffer1D<double, Stride1D.Dense> destination = fixture.Accelerator.Allocate1D<double>(a.Length);
        using var polar = new NewtonSchulzPolar(fixture.Accelerator, rows, cols);

        polar.Compute(source.View, destination.View);
        var q = new double[a.Length];
        ((ArrayView<double>)destination.View).CopyToCPU(q.AsSpan());

        // Q has orthonormal columns (rows ≥ cols) or rows (rows < cols) ...
        int n = Math.Min(rows, cols);
        for (int p = 0; p < n; p++)
        {
            for (int s = 0; s < n; s++)
            {
                double dot = 0;
                for (int t = 0; t < Math.Max(rows, cols); t++)
                {
                    dot += rows >= cols ? q[(t * cols) + p] * q[(t * cols) + s] : q[(p * cols) + t] * q[(s * cols) + t];
                }

                Assert.Equal(p == s ? 1.0 : 0.0, dot, 1e-12);
            }
        }

        // ... and QᵀA (rows ≥ cols) or A Qᵀ (rows < cols) is symmetric positive semi-definite: A = Q P.
        var sym = new double[n, n];
        for (int p = 0; p < n; p++)
        {
            for (int s = 0; s < n; s++)
            {
                double dot = 0;
                for (int t = 0; t < Math.Max(rows, cols); t++)
                {
                    dot += rows >= cols ? q[(t * cols) + p] * a[(t * cols) + s] : a[(p * cols) + t] * q[(s * cols) + t];
                }

                sym[p, s] = dot;
            }
        }

        for (int p = 0; p < n; p++)
        {
            Assert.True(sym[p, p] > 0);
            for (int s = 0; s < n; s++)
            {
                Assert.Equal(sym[p, s], sym[s, p], 1e-12);
            }
        }
    }

    [Theory]
    [InlineData(7, 5)]
    [InlineData(3, 8)]
    [InlineData(2, 6)]
    public void NewtonSchulz_ReachesTheExactPolarFactorToMachinePrecision(int rows, int cols)
    {
        var random = new Random(rows * 17 + cols);
        double[] a = Enumerable.Range(0, rows * cols).Select(_ => (2 * random.NextDouble()) - 1).ToArray();
        var exact = new double[a.Length];
        new PolarFactorWorkspace(rows, cols).Compute(a, exact); // the host flow's exact SVD
        using MemoryBuffer1D<double, Stride1D.Dense> source = fixture.Accelerator.Allocate1D(a);
        using MemoryBuffer1D<double, Stride1D.Dense> destination = fixture.Accelerator.Allocate1D<double>(a.Length);
        using var polar = new NewtonSchulzPolar(fixture.Accelerator, rows, cols);

        polar.Compute(source.View, destination.View);
        var q = new double[a.Length];
        ((ArrayView<double>)destination.View).CopyToCPU(q.AsSpan());

        Assert.InRange(polar.LastIterations, 1, polar.MaxIterations - 1);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.Equal(exact[i], q[i], 1e-12);
        }
    }

    [Fact]
    public void NewtonSchulz_ZeroMatrixGivesZero()
    {
        using MemoryBuffer1D<double, Stride1D.Dense> source = fixture.Accelerator.Allocate1D<double>(6);
        source.MemSetToZero();
        using MemoryBuffer1D<double, Stride1D.Dense> destination = fixture.Accelerator.Allocate1D([1.0, 2, 3, 4, 5, 6]);
        using var polar = new NewtonSchulzPolar(fixture.Accelerator, 2, 3);
        polar.Compute(source.View, destination.View);
        var q = new double[6];
        ((ArrayView<double>)destination.View).CopyToCPU(q.AsSpan());
        Assert.All(q, v => Assert.Equal(0.0, v));
        Assert.Equal(0, polar.LastIterations);
    }

    [Fact]
    public void NewtonSchulz_RowVectorIsNormalized()
    {
        using MemoryBuffer1D<double, Stride1D.Dense> source = fixture.Accelerator.Allocate1D([3.0, 0, -4, 0]);
        using MemoryBuffer1D<double, Stride1D.Dense> destination = fixture.Accelerator.Allocate1D<double>(4);
        using var polar = new NewtonSchulzPolar(fixture.Accelerator, 1, 4);
        polar.Compute(source.View, destination.View);
        var output = new double[4];
        ((ArrayView<double>)destination.View).CopyToCPU(output.AsSpan());
        double[] expected = [0.6, 0, -0.8, 0];
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(expected[i], output[i], 1e-15);
        }
    }
}
