using System.Numerics.Tensors;
using ImplicitBias.Flow.Flows.Discrete;
using ImplicitBias.Flow.Flows.Optimizers;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Flows.Tests.Discrete;

/// <summary>
/// Newton–Schulz against the exact U Vᵀ. The quintic p(s) = 3.4445 s − 4.7750 s³ + 2.0315 s⁵ iterated 5 times maps
/// every s ∈ [2e-3, 1] into [0.6818, 1.2024] (found by iterating p on a grid of 10⁵ points in Python), so when every
/// nonzero singular value of M is at least 2e-3 ‖M‖_F, ‖NS(M) − U Vᵀ‖_F/‖U Vᵀ‖_F ≤ max |p⁵(s) − 1| ≤ 0.32.
/// </summary>
public class NewtonSchulzTests
{
    private const double LowerSingular = 0.6818, UpperSingular = 1.2024, Bound = 0.32;

    private static double[] Gaussian(int length, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())).ToArray();
    }

    [Fact]
    public void Identity_GoesThroughTheScalarQuintic()
    {
        // I/‖I‖_F has both singular values 1/√2; p applied 5 times: 1.1065337, 0.7120849, 1.1005941, 0.7057639, 1.1081111.
        var output = new double[4];
        new NewtonSchulz(2, 2).Orthogonalize([1.0, 0.0, 0.0, 1.0], output);
        Assert.Equal(1.1081111156829304, output[0], 14);
        Assert.Equal(0.0, output[1], 15);
        Assert.Equal(0.0, output[2], 15);
        Assert.Equal(1.1081111156829304, output[3], 14);
    }

    [Fact]
    public void Row_ComesOutAsAShortenedUnitVector()
    {
        // A 1 × k row scaled by its norm has the single singular value 1, and p⁵(1) = 0.6964364 (p(1) = 0.701).
        double[] u = [3.0, -4.0];
        var output = new double[2];
        new NewtonSchulz(1, 2).Orthogonalize(u, output);
        Assert.Equal(0.6964364094697522 * 0.6, output[0], 14);
        Assert.Equal(0.6964364094697522 * -0.8, output[1], 14);
    }

    [Theory]
    [InlineData(5, 3, 1)]
    [InlineData(3, 5, 2)]
    [InlineData(8, 8, 3)]
    [InlineData(20, 4, 4)]
    [InlineData(16, 64, 5)]
    public void OneUpdate_DiffersFromExact_WithinTheDocumentedBound(int rows, int cols, int seed)
    {
        double[] m = Gaussian(rows * cols, seed);
        Vector<double> s = Matrix<double>.Build.Dense(cols, rows, m).Svd(false).S;
        Assert.True(s[^1] >= 2e-3 * s.L2Norm(), "precondition of the bound: no tiny singular value");

        PolarDifference d = PolarComparison.Compare(m, rows, cols);
        Assert.InRange(d.RelativeDifference, 1e-3, Bound);
        Assert.InRange(d.MinSingularValue, LowerSingular, UpperSingular);
        Assert.InRange(d.MaxSingularValue, LowerSingular, UpperSingular);
    }

    [Fact]
    public void TallMatrix_IsTheTransposeOfItsWideTranspose()
    {
        const int rows = 6, cols = 3;
        double[] m = Gaussian(rows * cols, 7);
        double[] mt = new double[m.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                mt[(c * rows) + r] = m[(r * cols) + c];
            }
        }

        var tall = new double[m.Length];
        var wide = new double[m.Length];
        new NewtonSchulz(rows, cols).Orthogonalize(m, tall);
        new NewtonSchulz(cols, rows).Orthogonalize(mt, wide);
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                Assert.Equal(wide[(c * rows) + r], tall[(r * cols) + c], 14);
            }
        }
    }

    [Fact]
    public void Orthogonalize_IsScaleFree_AndZeroForZero()
    {
        double[] m = Gaussian(12, 9);
        var a = new double[12];
        var b = new double[12];
        var ns = new NewtonSchulz(3, 4);
        ns.Orthogonalize(m, a);
        ns.Orthogonalize(m.Select(x => x * 1e-200).ToArray(), b);
        Assert.True(TensorPrimitives.Distance(a, b) < 1e-13);
        ns.Orthogonalize(new double[12], b);
        Assert.All(b, x => Assert.Equal(0.0, x));
    }

    [Fact]
    public void MuonTrajectories_ExactAndNewtonSchulz_StayClose()
    {
        // 10 Muon steps, η_n = 0.05 n^{−0.8}. Each update differs by at most 0.32 ‖U Vᵀ‖_F per block; the
        // iterates differ by a few percent of ‖θ‖ (measured 0.045 here, the largest single-update difference 0.24; asserted below 0.1).
        SmallNetworkOracle oracle = SmallNetworkOracle.Random(16, 4, 6, seed: 12);
        var rng = new Random(12);
        double[] theta0 = Enumerable.Range(0, oracle.Layout.Length).Select(_ => rng.NextDouble() - 0.5).ToArray();
        IReadOnlyList<OptimizerPart> parts = OptimizerCatalog.Parts(new OptimizerSpec("muon", 0.05), oracle.Layout);
        var exact = new DiscreteOptimizer(oracle, parts, 0.8, 1.0, theta0, 1.0, PolarMethod.Exact);
        var practical = new DiscreteOptimizer(oracle, parts, 0.8, 1.0, theta0, 1.0, PolarMethod.NewtonSchulz);
        double largestStep = 0;
        for (int n = 0; n < 10; n++)
        {
            exact.Step();
            practical.Step();
            largestStep = Math.Max(largestStep, practical.LastPolarDifference());
        }

        double relative = TensorPrimitives.Distance(practical.Theta, exact.Theta) / TensorPrimitives.Norm(exact.Theta);
        Assert.InRange(relative, 1e-4, 0.1);
        Assert.InRange(largestStep, 1e-3, Bound);
        Assert.Equal(exact.LogLoss, practical.LogLoss, 1);
    }
}
