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
}
