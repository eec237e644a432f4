using ImplicitBias.Flow.Core.Geometry;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Core.Tests.Geometry;

public class PolarFactorTests
{
    private static Matrix<double> Random(Random rng, int r, int c) =>
        Matrix<double>.Build.Dense(r, c, (_, _) => (2 * rng.NextDouble()) - 1);

    private static double[] RowMajor(Matrix<double> a) => a.ToRowMajorArray();

    [Theory]
    [InlineData(3, 3)]
    [InlineData(3, 7)]
    [InlineData(7, 3)]
    [InlineData(1, 5)]
    [InlineData(5, 1)]
    [InlineData(16, 40)]
    public void PolarFactor_IsPartialIsometry_PairsToNuclearNorm_HasSpectralNormOne(int r, int c)
    {
        var rng = new Random(r * 31 + c);
        Matrix<double> g = Random(rng, r, c);
        var p = new double[r * c];
        MatrixGeometry.PolarFactor(r, c, RowMajor(g), p);
        Matrix<double> pm = Matrix<double>.Build.DenseOfRowMajor(r, c, p);

        // Full rank: P Pᵀ = I (wide) or Pᵀ P = I (tall), i.e. orthogonal on its row/column space.
        Matrix<double> gram = r <= c ? pm.TransposeAndMultiply(pm) : pm.TransposeThisAndMultiply(pm);
        Assert.True((gram - Matrix<double>.Build.DenseIdentity(Math.Min(r, c))).InfinityNorm() < 1e-12);

        var svd = g.Svd(true);
        Assert.Equal(svd.S.Sum(), pm.PointwiseMultiply(g).Enumerate().Sum(), 11);
        Assert.Equal(1.0, pm.L2Norm(), 12);

        // Independent reference: U_k V_kᵀ from MathNet's full SVD.
        int k = Math.Min(r, c);
        Matrix<double> reference = svd.U.SubMatrix(0, r, 0, k) * svd.VT.SubMatrix(0, k, 0, c);
        Assert.True((reference - pm).InfinityNorm() < 1e-11);
    }

    [Fact]
    public void PolarFactor_OfRankDeficientMatrix_UsesOnlyNonzeroSingularValues()
    {
        // G = a bᵀ + c dᵀ with rank 2 in a 4×5 matrix: the polar factor is U₂V₂ᵀ (nuclear norm 2).
        var rng = new Random(8);
        Matrix<double> g = Random(rng, 4, 1).TransposeAndMultiply(Random(rng, 5, 1)) + Random(rng, 4, 1).TransposeAndMultiply(Random(rng, 5, 1));
        var p = new double[20];
        MatrixGeometry.PolarFactor(4, 5, RowMajor(g), p);
        Matrix<double> pm = Matrix<double>.Build.DenseOfRowMajor(4, 5, p);
        var s = pm.Svd(false).S;
        Assert.Equal(1.0, s[0], 10);
        Assert.Equal(1.0, s[1], 10);
        Assert.True(s[2] < 1e-8);
        Assert.Equal(g.Svd(false).S.Sum(), pm.PointwiseMultiply(g).Enumerate().Sum(), 10);
    }

    [Fact]
    public void PolarFactor_OfRow_IsNormalizedRow_AndOfZeroIsZero()
    {
        var p = new double[3];
        MatrixGeometry.PolarFactor(1, 3, [3, 0, -4], p);
        Assert.Equal([0.6, 0, -0.8], p, (a, b) => Math.Abs(a - b) < 1e-15);
        var q = new double[6];
        MatrixGeometry.PolarFactor(2, 3, new double[6], q);
        Assert.All(q, v => Assert.Equal(0.0, v));
        Assert.Throws<ArgumentException>(() => MatrixGeometry.PolarFactor(2, 3, new double[5], q));
    }

    [Fact]
    public void Workspace_RunsMathNetSingleThreaded_SoTinyFactorizationsDoNotUseThePool()
    {
        // MathNet's managed QR split a 10×20 factorization over the thread pool (29 context switches per polar factor).
        var ws = new PolarFactorWorkspace(10, 20);
        var g = Enumerable.Range(0, 200).Select(i => Math.Sin(i)).ToArray();
        var output = new double[200];
        ws.Compute(g, output);
        Assert.Equal(1, MathNet.Numerics.Control.MaxDegreeOfParallelism);
    }

    [Fact]
    public void Workspace_IsReusable_AndAllocatesLittlePerCall()
    {
        var rng = new Random(99);
        var ws = new PolarFactorWorkspace(20, 300);
        var p1 = new double[6000];
        var p2 = new double[6000];
        for (int trial = 0; trial < 3; trial++)
        {
            double[] g = RowMajor(Random(rng, 20, 300));
            ws.Compute(g, p1);
            MatrixGeometry.PolarFactor(20, 300, g, p2);
            Assert.Equal(p2, p1);
            Assert.Equal(Matrix<double>.Build.DenseOfRowMajor(20, 300, g).Svd(false).S.Sum(),
                Matrix<double>.Build.DenseOfRowMajor(20, 300, p1).PointwiseMultiply(Matrix<double>.Build.DenseOfRowMajor(20, 300, g)).Enumerate().Sum(), 10);
        }

        double[] h = RowMajor(Random(rng, 20, 300));
        long before = GC.GetAllocatedBytesForCurrentThread();
        ws.Compute(h, p1);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // MathNet's managed thin QR keeps internal work copies (about twice the 48 kB input); the workspace
        // itself allocates nothing more, where the Matrix API path allocated the input copy, its transpose, Q,
        // and the SVD factors on every call.
        Assert.True(allocated < 3 * 8 * 6000, $"allocated {allocated} bytes");
    }

    [Theory]
    [InlineData(30, 256, 1.0)]
    [InlineData(256, 30, 1.0)]
    [InlineData(7, 5, 1e-200)]
    [InlineData(5, 7, 1e200)]
    public void SingularValues_MatchMathNetSvd_WellConditioned_AnyScale(int r, int c, double scale)
    {
        // The Gram fast path (λ_min ≥ 1e−4 λ_max here: random matrices of these shapes) against a direct SVD.
        var rng = new Random((r * 7) + c);
        Matrix<double> g = Random(rng, r, c);
        double[] expected = g.Svd(false).S.Select(v => v * scale).ToArray();
        double[] actual = MatrixGeometry.SingularValues(r, c, RowMajor(g * scale));
        Assert.Equal(expected.Length, actual.Length);
        for (int a = 0; a < expected.Length; a++)
        {
            Assert.True(Math.Abs(actual[a] - expected[a]) <= 1e-12 * expected[0], $"σ{a}: {actual[a]} vs {expected[a]}");
        }

        Assert.Equal(expected[0], new SpectralNorm(r, c).Value(RowMajor(g * scale)), expected[0] * 1e-13);
        Assert.Equal(expected.Sum(), new NuclearNorm(r, c).Value(RowMajor(g * scale)), expected.Sum() * 1e-12);
    }

    [Fact]
    public void SingularValues_OfRankDeficientMatrix_AreExactZerosBeyondTheRank()
    {
        // Rank 2 in 6×9 (dead units give zero rows of a gradient): squaring through the Gram matrix would turn
        // the zero singular values into ≈ √ε ≈ 1e−8; the QR + SVD fallback keeps them at round-off.
        var rng = new Random(3);
        Matrix<double> g = Random(rng, 6, 1).TransposeAndMultiply(Random(rng, 9, 1)) + Random(rng, 6, 1).TransposeAndMultiply(Random(rng, 9, 1));
        double[] actual = MatrixGeometry.SingularValues(6, 9, RowMajor(g));
        double[] expected = g.Svd(false).S.ToArray();
        for (int a = 0; a < 6; a++)
        {
            Assert.True(Math.Abs(actual[a] - expected[a]) <= 1e-13 * expected[0], $"σ{a}: {actual[a]} vs {expected[a]}");
        }

        Assert.True(actual[2] < 1e-14 * actual[0]);
        Assert.Equal(expected.Sum(), new NuclearNorm(6, 9).Value(RowMajor(g)), 1e-13 * expected.Sum());
    }

    [Fact]
    public void NonFiniteInput_GivesNaN_NotAnException()
    {
        // A wild trial stage of a Muon flow can hold NaN or ∞: the solver rejects NaN derivatives and retries
        // a smaller step, so the polar factor and the norms must return NaN rather than throw from the SVD.
        var g = new double[12];
        for (int i = 0; i < g.Length; i++)
        {
            g[i] = i - 5.5;
        }

        g[7] = double.NaN;
        var p = new double[12];
        MatrixGeometry.PolarFactor(3, 4, g, p);
        Assert.All(p, v => Assert.True(double.IsNaN(v)));
        Assert.True(double.IsNaN(new SpectralNorm(3, 4).Value(g)));
        g[7] = double.PositiveInfinity;
        MatrixGeometry.PolarFactor(4, 3, g, p);
        Assert.All(p, v => Assert.True(double.IsNaN(v)));
        Assert.True(double.IsNaN(new NuclearNorm(4, 3).Value(g)));
    }
}
