using ImplicitBias.Flow.Analysis.Kkt;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Analysis.Tests.Kkt;

public class ActiveSetNnlsTests
{
    private static Matrix<double> RandomMatrix(Random rng, int r, int c) =>
        Matrix<double>.Build.Dense(r, c, (_, _) => (2 * rng.NextDouble()) - 1);

    private static double Residual(Matrix<double> a, Vector<double> b, double[] x) =>
        (a * Vector<double>.Build.DenseOfArray(x) - b).L2Norm();

    /// <summary>
    /// Brute force: the optimum is the unconstrained (or equality-constrained) least-squares solution on some
    /// support S that happens to be non-negative; try every S and keep the best feasible one.
    /// </summary>
    private static double BruteForce(Matrix<double> a, Vector<double> b, bool simplex)
    {
        int n = a.ColumnCount;
        double best = double.PositiveInfinity;
        for (int mask = simplex ? 1 : 0; mask < (1 << n); mask++)
        {
            int[] s = Enumerable.Range(0, n).Where(j => (mask & (1 << j)) != 0).ToArray();
            var x = new double[n];
            if (s.Length > 0)
            {
                Matrix<double> sub = Matrix<double>.Build.Dense(a.RowCount, s.Length, (i, j) => a[i, s[j]]);
                Vector<double> z;
                if (simplex)
                {
                    // [[AᵀA, 1], [1ᵀ, 0]] [z; ν] = [Aᵀb; 1]
                    int k = s.Length;
                    Matrix<double> m = Matrix<double>.Build.Dense(k + 1, k + 1);
                    m.SetSubMatrix(0, 0, sub.TransposeThisAndMultiply(sub));
                    for (int j = 0; j < k; j++)
                    {
                        m[j, k] = 1;
                        m[k, j] = 1;
                    }

                    Vector<double> rhs = Vector<double>.Build.Dense(k + 1);
                    rhs.SetSubVector(0, k, sub.TransposeThisAndMultiply(b));
                    rhs[k] = 1;
                    z = m.Solve(rhs).SubVector(0, k);
                }
                else
                {
                    z = sub.Solve(b);
                }

                if (z.Any(v => v < -1e-12 || double.IsNaN(v)))
                {
                    continue;
                }

                for (int j = 0; j < s.Length; j++)
                {
                    x[s[j]] = Math.Max(0, z[j]);
                }
            }

            best = Math.Min(best, Residual(a, b, x));
        }

        return best;
    }

    [Fact]
    public void Identity_ClipsNegativeEntries()
    {
        Matrix<double> a = Matrix<double>.Build.DenseIdentity(3);
        NnlsResult r = ActiveSetNnls.SolveLeastSquares(a, Vector<double>.Build.DenseOfArray([1, -2, 3]));
        Assert.True(r.Converged);
        Assert.Equal([1, 0, 3], r.X, (p, q) => Math.Abs(p - q) < 1e-14);
        Assert.Equal((0.5 * 4) - 7, r.Objective, 12); // ½‖x − b‖² − ½‖b‖² = 2 − 7
    }

    [Fact]
    public void KnownSolution_FromLawsonHansonStyleExample()
    {
        // A = [[1, 0], [1, 1], [0, 1]], b = (2, 1, −1): unconstrained x = (5/3, −4/3);
        // with x ≥ 0 the optimum is x = (1.5, 0) (residual ‖(0.5, −0.5, −1)‖).
        Matrix<double> a = Matrix<double>.Build.DenseOfArray(new double[,] { { 1, 0 }, { 1, 1 }, { 0, 1 } });
        Vector<double> b = Vector<double>.Build.DenseOfArray([2, 1, -1]);
        NnlsResult r = ActiveSetNnls.SolveLeastSquares(a, b);
        Assert.Equal(1.5, r.X[0], 12);
        Assert.Equal(0.0, r.X[1], 12);
    }

    [Fact]
    public void SimplexEquality_WithIdentity_IsEuclideanProjectionOntoSimplex()
    {
        // Projection of p onto {x ≥ 0, Σx = 1}: x = max(p − τ, 0) with τ chosen so the sum is 1.
        double[] p = [0.9, 0.6, -0.2, 0.1];
        // τ: (0.9 − τ) + (0.6 − τ) = 1 → τ = 0.25 (0.1 − 0.25 < 0, so two entries stay).
        NnlsResult r = ActiveSetNnls.SolveLeastSquares(Matrix<double>.Build.DenseIdentity(4), Vector<double>.Build.DenseOfArray(p), Vector<double>.Build.Dense(4, 1.0));
        Assert.True(r.Converged);
        Assert.Equal([0.65, 0.35, 0, 0], r.X, (u, v) => Math.Abs(u - v) < 1e-12);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(4, true)]
    [InlineData(5, true)]
    [InlineData(6, true)]
    public void RandomProblems_MatchBruteForceOverSupports(int seed, bool simplex)
    {
        var rng = new Random(seed);
        for (int trial = 0; trial < 25; trial++)
        {
            int rows = 3 + rng.Next(6), cols = 2 + rng.Next(Math.Min(5, rows - 1)); // cols ≤ rows: supports solve uniquely
            Matrix<double> a = RandomMatrix(rng, rows, cols);
            Vector<double> b = Vector<double>.Build.Dense(rows, _ => (2 * rng.NextDouble()) - 1);
            Vector<double>? eq = simplex ? Vector<double>.Build.Dense(cols, 1.0) : null;
            NnlsResult r = ActiveSetNnls.SolveLeastSquares(a, b, eq);
            Assert.True(r.Converged);
            Assert.All(r.X, v => Assert.True(v >= 0));
            if (simplex)
            {
                Assert.Equal(1.0, r.X.Sum(), 12);
            }

            Assert.Equal(BruteForce(a, b, simplex), Residual(a, b, r.X), 9);
        }
    }

    [Fact]
    public void DependentColumns_StillReachTheOptimum()
    {
        // Column 2 = column 0 and column 3 = column 0 + column 1: the Gram matrix is singular.
        var rng = new Random(21);
        Matrix<double> basis = RandomMatrix(rng, 5, 2);
        Matrix<double> a = Matrix<double>.Build.Dense(5, 4);
        a.SetColumn(0, basis.Column(0));
        a.SetColumn(1, basis.Column(1));
        a.SetColumn(2, basis.Column(0));
        a.SetColumn(3, basis.Column(0) + basis.Column(1));
        Vector<double> b = (basis * Vector<double>.Build.DenseOfArray([0.7, 1.3])) + Vector<double>.Build.Dense(5, 0.01);

        // x ≥ 0: the cone of the columns is that of columns 0 and 1, and b's projection onto their span has
        // positive coefficients, so the optimum is the plain least-squares residual on the basis.
        NnlsResult cone = ActiveSetNnls.SolveLeastSquares(a, b);
        Assert.True(cone.Converged);
        Assert.Equal((basis * basis.Solve(b) - b).L2Norm(), Residual(a, b, cone.X), 10);

        // Simplex: never beaten by random points of the simplex.
        NnlsResult hull = ActiveSetNnls.SolveLeastSquares(a, b, Vector<double>.Build.Dense(4, 1.0));
        Assert.True(hull.Converged);
        Assert.Equal(1.0, hull.X.Sum(), 12);
        double eps = Residual(a, b, hull.X);
        for (int t = 0; t < 20000; t++)
        {
            var x = new double[4];
            for (int j = 0; j < 4; j++)
            {
                x[j] = -Math.Log(1 - rng.NextDouble());
            }

            double sum = x.Sum();
            Assert.True(eps <= Residual(a, b, x.Select(v => v / sum).ToArray()) + 1e-12);
        }
    }
}
