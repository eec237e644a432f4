using Complex = System.Numerics.Complex;
using System.Numerics.Tensors;
using ImplicitBias.Flow.Core.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Analysis.Diagnostics;

/// <summary>A linear operator known only by its action: writes A x into <c>y</c>.</summary>
/// <param name="x">The vector to multiply (unit length when called from <see cref="Krylov"/>).</param>
/// <param name="y">Receives A x.</param>
public delegate void LinearOperator(ReadOnlySpan<double> x, Span<double> y);

/// <summary>An approximate eigenpair from a Krylov subspace.</summary>
/// <param name="Value">The Ritz value λ.</param>
/// <param name="Vector">The Ritz vector x (unit ℓ2 norm; complex for a complex λ).</param>
/// <param name="Residual">‖A x − λ x‖₂, estimated from the Krylov recurrence (|h_{k+1,k}| |s_k|).</param>
public sealed record RitzPair(Complex Value, Complex[] Vector, double Residual);

/// <summary>
/// Arnoldi and Lanczos iterations: the extreme eigenvalues of a large operator from k products with it, the small
/// dense eigenproblem (Hessenberg or tridiagonal) solved by MathNet.Numerics.
/// </summary>
public static class Krylov
{
    /// <summary>
    /// The <paramref name="count"/> eigenvalues of largest |λ| of an n × n operator by <paramref name="dimension"/>
    /// steps of Arnoldi (<see cref="Arnoldi.Iterate"/>: modified Gram–Schmidt, twice, from a seeded random start; no
    /// restarts: the extreme eigenvalues converge first, and <see cref="RitzPair.Residual"/> says how far each one has).
    /// </summary>
    /// <param name="a">The operator.</param>
    /// <param name="n">Its dimension.</param>
    /// <param name="count">How many eigenvalues to return.</param>
    /// <param name="dimension">The Krylov dimension k (k products with A); at most n.</param>
    /// <param name="seed">Seed of the random start vector.</param>
    public static IReadOnlyList<RitzPair> LargestMagnitude(LinearOperator a, int n, int count, int dimension, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        int k = Math.Min(dimension, n);
        double[][] basis = StartBasis(n, k, seed);
        var h = new double[(k + 1) * k];
        int m = Arnoldi.Iterate((_, x, y) => a(x, y), basis, h, new double[n]);
        double H(int r, int c) => h[(c * (k + 1)) + r];

        var hm = Matrix<Complex>.Build.Dense(m, m, (r, c) => new Complex(H(r, c), 0));
        var evd = hm.Evd();
        double last = m < k || m == n ? 0 : H(m, m - 1);
        var pairs = new List<RitzPair>(m);
        for (int i = 0; i < m; i++)
        {
            Vector<Complex> s = evd.EigenVectors.Column(i);
            s = s / s.L2Norm();
            var x = new Complex[n];
            for (int j = 0; j < m; j++)
            {
                Complex sj = s[j];
                double[] v = basis[j];
                for (int r = 0; r < n; r++)
                {
                    x[r] += sj * v[r];
                }
            }

            double norm = Math.Sqrt(x.Sum(z => (z.Real * z.Real) + (z.Imaginary * z.Imaginary)));
            for (int r = 0; r < n; r++)
            {
                x[r] /= norm;
            }

            pairs.Add(new RitzPair(evd.EigenValues[i], x, Math.Abs(last) * s[m - 1].Magnitude));
        }

        return pairs.OrderByDescending(p => p.Value.Magnitude).Take(count).ToArray();
    }

    /// <summary>
    /// The largest and smallest eigenvalues of a symmetric n × n operator by <paramref name="dimension"/> steps of
    /// Lanczos with full reorthogonalization (so no spurious copies), the tridiagonal eigenproblem solved densely.
    /// Full reorthogonalization makes Lanczos the Arnoldi iteration on a symmetric operator, so it runs
    /// <see cref="Arnoldi.Iterate"/> and keeps only the tridiagonal part of H.
    /// </summary>
    /// <returns>(largest, smallest, residual bound of the largest).</returns>
    public static (double Largest, double Smallest, double Residual) SymmetricExtremes(LinearOperator a, int n, int dimension, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        int k = Math.Min(dimension, n);
        double[][] basis = StartBasis(n, k, seed);
        var h = new double[(k + 1) * k];
        int m = Arnoldi.Iterate((_, x, y) => a(x, y), basis, h, new double[n]);
        double H(int r, int c) => h[(c * (k + 1)) + r];

        // T = tridiag(β, α, β); the Gram–Schmidt coefficients above the first off-diagonal are round-off.
        var t = Matrix<double>.Build.Dense(m, m, (r, c) => r == c ? H(r, c) : Math.Abs(r - c) == 1 ? H(Math.Max(r, c), Math.Min(r, c)) : 0);
        var evd = t.Evd(Symmetricity.Symmetric);
        int top = 0, bottom = 0;
        for (int i = 1; i < m; i++)
        {
            top = evd.EigenValues[i].Real > evd.EigenValues[top].Real ? i : top;
            bottom = evd.EigenValues[i].Real < evd.EigenValues[bottom].Real ? i : bottom;
        }

        double residual = m < k || m == n ? 0 : Math.Abs(H(m, m - 1) * evd.EigenVectors[m - 1, top]);
        return (evd.EigenValues[top].Real, evd.EigenValues[bottom].Real, residual);
    }

    /// <summary>k vectors of length n: the seeded random unit start vector, then room for the rest of the basis.</summary>
    private static double[][] StartBasis(int n, int k, int seed)
    {
        var basis = new double[k][];
        basis[0] = RandomUnit(n, seed);
        for (int j = 1; j < k; j++)
        {
            basis[j] = new double[n];
        }

        return basis;
    }

    private static double[] RandomUnit(int n, int seed)
    {
        var random = new Random(seed);
        var v = new double[n];
        for (int i = 0; i < n; i++)
        {
            v[i] = random.NextDouble() - 0.5;
        }

        TensorPrimitives.Multiply(v, 1 / TensorPrimitives.Norm(v), v);
        return v;
    }
}
