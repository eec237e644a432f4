using ImplicitBias.Flow.Core.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Core.Tests.LinearAlgebra;

/// <summary>The shared Arnoldi iteration on small matrices whose Krylov spaces and spectra are known.</summary>
public sealed class ArnoldiTests
{
    private static Matrix<double> NonSymmetric(int n, int seed)
    {
        var random = new Random(seed);
        return Matrix<double>.Build.Dense(n, n, (r, c) => (r == c ? 3.0 : 0.0) + random.NextDouble() - 0.5);
    }

    private static ArnoldiProduct Product(Matrix<double> a) => (_, x, y) =>
    {
        Vector<double> r = a * Vector<double>.Build.DenseOfArray(x.ToArray());
        r.AsArray().CopyTo(y);
    };

    private static double[][] Basis(int n, int k, double[] start, ReadOnlySpan<double> weights)
    {
        var basis = new double[k][];
        for (int j = 0; j < k; j++)
        {
            basis[j] = new double[n];
        }

        double norm = Arnoldi.Norm(start, weights);
        for (int i = 0; i < n; i++)
        {
            basis[0][i] = start[i] / norm;
        }

        return basis;
    }

    /// <summary>A V_m = V_m H_m + w e_mᵀ (w the returned residual = h_{m+1,m} v_{m+1}) and V_m orthonormal, w ⟂ V_m.</summary>
    private static void AssertArnoldiRelation(Matrix<double> a, double[][] basis, double[] h, double[] w, int m, double[] weights)
    {
        int n = a.RowCount, k = basis.Length;
        Matrix<double> v = Matrix<double>.Build.Dense(n, m, (r, c) => basis[c][r]);
        Matrix<double> hm = Matrix<double>.Build.Dense(m, m, (r, c) => h[(c * (k + 1)) + r]);
        Matrix<double> residual = (a * v) - (v * hm);
        for (int r = 0; r < n; r++)
        {
            residual[r, m - 1] -= w[r];
        }

        Assert.True(residual.InfinityNorm() < 1e-12, $"‖A V − V H − w eᵀ‖∞ = {residual.InfinityNorm()}");
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < m; j++)
            {
                Assert.Equal(i == j ? 1.0 : 0.0, Arnoldi.Dot(basis[i], basis[j], weights), 1e-14);
            }

            Assert.Equal(0.0, Arnoldi.Dot(basis[i], w, weights), 1e-13);
        }

        // H̄ is upper Hessenberg with the norm of the residual below the diagonal.
        Assert.Equal(Arnoldi.Norm(w, weights), h[((m - 1) * (k + 1)) + m], 1e-14);
        for (int c = 0; c < k; c++)
        {
            for (int r = c + 2; r <= k; r++)
            {
                Assert.Equal(0.0, h[(c * (k + 1)) + r]);
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ArnoldiRelationAndOrthonormality(bool weighted)
    {
        const int n = 8, k = 5;
        Matrix<double> a = NonSymmetric(n, seed: 2);
        double[] weights = weighted ? Enumerable.Range(0, n).Select(i => Math.Pow(10, i - 4)).ToArray() : [];
        double[][] basis = Basis(n, k, Enumerable.Range(0, n).Select(i => 1.0 + (0.1 * i)).ToArray(), weights);
        var h = new double[(k + 1) * k];
        var w = new double[n];

        int m = Arnoldi.Iterate(Product(a), basis, h, w, weights);

        Assert.Equal(k, m);
        AssertArnoldiRelation(a, basis, h, w, m, weights);
    }

    [Fact]
    public void FullDimensionRecoversTheEigenvaluesOfASymmetricMatrix()
    {
        // The 1-D Laplacian tridiag(−1, 2, −1): eigenvalues 2 − 2 cos(iπ/(n + 1)).
        const int n = 7;
        Matrix<double> a = Matrix<double>.Build.Dense(n, n, (r, c) => r == c ? 2.0 : Math.Abs(r - c) == 1 ? -1.0 : 0.0);
        double[][] basis = Basis(n, n, Enumerable.Range(0, n).Select(i => Math.Sin(i + 1.0) + 1.5).ToArray(), default);
        var h = new double[(n + 1) * n];
        var w = new double[n];

        int m = Arnoldi.Iterate(Product(a), basis, h, w);

        // K_n is the whole space: the last residual is round-off, so the step ends as invariant and h_{n+1,n} = 0.
        Assert.Equal(n, m);
        Assert.Equal(0.0, h[((n - 1) * (n + 1)) + n]);
        double[] ritz = Matrix<double>.Build.Dense(n, n, (r, c) => h[(c * (n + 1)) + r]).Evd().EigenValues
            .Select(z => z.Real).Order().ToArray();
        double[] exact = Enumerable.Range(1, n).Select(i => 2 - (2 * Math.Cos(i * Math.PI / (n + 1)))).Order().ToArray();
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(exact[i], ritz[i], 1e-12);
        }

        // H is symmetric tridiagonal (the Lanczos matrix): the entries above the first superdiagonal are round-off.
        for (int c = 0; c < n; c++)
        {
            for (int r = 0; r + 1 < c; r++)
            {
                Assert.True(Math.Abs(h[(c * (n + 1)) + r]) < 1e-12, $"h[{r},{c}] = {h[(c * (n + 1)) + r]}");
            }
        }
    }

    [Fact]
    public void StopsAtAnInvariantSubspace()
    {
        // A start vector in the span of two eigenvectors of diag(1 … 6): K_2 is invariant, m = 2, H_2 holds 2 and 5.
        const int n = 6, k = 5;
        Matrix<double> a = Matrix<double>.Build.DenseOfDiagonalArray([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        double[][] basis = Basis(n, k, [0.0, 0.6, 0.0, 0.0, 0.8, 0.0], default);
        var h = new double[(k + 1) * k];
        var w = new double[n];
        int calls = 0;
        ArnoldiProduct product = Product(a);

        int m = Arnoldi.Iterate((j, x, y) => { Assert.Equal(calls++, j); product(j, x, y); }, basis, h, w);

        Assert.Equal(2, m);
        Assert.Equal(2, calls);
        Assert.Equal(0.0, h[(1 * (k + 1)) + 2]);
        double[] ritz = Matrix<double>.Build.Dense(m, m, (r, c) => h[(c * (k + 1)) + r]).Evd().EigenValues
            .Select(z => z.Real).Order().ToArray();
        Assert.Equal(2.0, ritz[0], 1e-13);
        Assert.Equal(5.0, ritz[1], 1e-13);
    }

    [Fact]
    public void OrthogonalizeReturnsTheProjectionCoefficients()
    {
        double[][] basis = [[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]];
        double[] w = [3.0, 1.0, 2.0];
        var coefficients = new double[2];

        Arnoldi.Orthogonalize(basis, w, coefficients);

        Assert.Equal(3.0, coefficients[0], 1e-15);
        Assert.Equal(2.2, coefficients[1], 1e-15);
        Assert.Equal(0.0, w[0], 1e-15);
        Assert.Equal(1.0 - (2.2 * 0.6), w[1], 1e-15);
        Assert.Equal(2.0 - (2.2 * 0.8), w[2], 1e-15);
    }

    [Fact]
    public void WeightedDotIsTheSequentialSum()
    {
        double[] x = [1.0, 2.0, 3.0], y = [4.0, -5.0, 6.0], weights = [0.5, 2.0, 0.25];
        Assert.Equal((0.5 * 1 * 4) + (2.0 * 2 * -5) + (0.25 * 3 * 6), Arnoldi.Dot(x, y, weights));
        Assert.Equal(4.0 - 10.0 + 18.0, Arnoldi.Dot(x, y));
        Assert.Equal(Math.Sqrt((0.5 * 1) + (2.0 * 4) + (0.25 * 9)), Arnoldi.Norm(x, weights));
        Assert.Throws<ArgumentException>(() => Arnoldi.Dot(x, y, [1.0]));
    }
}
