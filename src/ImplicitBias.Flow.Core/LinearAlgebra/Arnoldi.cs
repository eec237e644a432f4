using System.Numerics.Tensors;

namespace ImplicitBias.Flow.Core.LinearAlgebra;

/// <summary>One operator product of an Arnoldi iteration: writes A v_j into <paramref name="av"/>.</summary>
/// <param name="column">j, the index of v_j in the basis; lets a caller keep per-vector state beside the basis
/// (the Rosenbrock-W stepper keeps a copy of each v_j where its states live).</param>
/// <param name="v">v_j, unit length in the iteration's inner product.</param>
/// <param name="av">Receives A v_j.</param>
public delegate void ArnoldiProduct(int column, ReadOnlySpan<double> v, Span<double> av);

/// <summary>
/// The Arnoldi iteration, shared by the Krylov eigenvalue diagnostics and the Krylov W matrix of the Rosenbrock-W
/// stepper: an orthonormal basis V_k of K_k(A, v_1) and the Hessenberg matrix H̄ with A V_k = V_{k+1} H̄, from k
/// products with A, orthogonalized by modified Gram–Schmidt run twice ("twice is enough": Giraud et al., Numer.
/// Math. 101 (2005) 87), in the Euclidean inner product or a diagonally weighted one ⟨x, y⟩ = Σ w_i x_i y_i.
/// </summary>
/// <remarks>
/// The arithmetic is fixed so that results are reproducible bit for bit: the Euclidean inner product and norm are
/// <see cref="TensorPrimitives.Dot{T}(ReadOnlySpan{T}, ReadOnlySpan{T})"/> and
/// <see cref="TensorPrimitives.Norm{T}(ReadOnlySpan{T})"/>; the weighted ones are sequential sums of (w_i x_i) y_i
/// (TensorPrimitives has no weighted dot, and a vectorized one would sum in another order); the updates are
/// element-wise multiplies and adds, not fused, so they round the same vectorized or not.
/// </remarks>
public static class Arnoldi
{
    /// <summary>
    /// The relative size of the part of A v_j left after orthogonalization, ‖w‖ / ‖A v_j‖, at or below which the
    /// Krylov space is taken as invariant (its Ritz values are then eigenvalues of A) and the iteration stops.
    /// </summary>
    public const double BreakdownTolerance = 1e-12;

    /// <summary>
    /// Up to k = <c>basis.Length</c> Arnoldi steps from the unit start vector in <c>basis[0]</c>: step j multiplies
    /// v_j by A, orthogonalizes the product against v_0 … v_j (the coefficients are column j of H̄), and, unless the
    /// space is invariant, stores h_{j+1,j} = ‖w‖ and (while there is room) v_{j+1} = w / h_{j+1,j}.
    /// </summary>
    /// <param name="product">The operator; called once per step, with j = 0, 1, … in order.</param>
    /// <param name="basis">k vectors of length n: <c>basis[0]</c> holds v_0 (unit length in the inner product
    /// used); the others receive v_1 … v_{m−1} and are scratch beyond.</param>
    /// <param name="hessenberg">Receives H̄, (k + 1) × k column-major (entry (r, c) at c (k + 1) + r), at least
    /// (k + 1) k long; cleared first. The last row holds h_{k,k−1}, the size of the residual A V_k − V_k H_k (zero
    /// when the space is invariant), whose product with the last component of a Ritz vector estimates its residual.</param>
    /// <param name="work">Scratch of length n; on return, the residual w of the last step (h_{m,m−1} v_m unnormalized).</param>
    /// <param name="weights">The weights w_i of the inner product (n non-negative values), or empty for the Euclidean one.</param>
    /// <returns>m, the dimension reached (1 ≤ m ≤ k): m &lt; k when the space became invariant (or a product was
    /// not finite) at step m − 1; H_m, the leading m × m block of H̄, is the projection of A.</returns>
    public static int Iterate(ArnoldiProduct product, ReadOnlySpan<double[]> basis, Span<double> hessenberg, Span<double> work, ReadOnlySpan<double> weights = default)
    {
        ArgumentNullException.ThrowIfNull(product);
        int k = basis.Length;
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        int n = work.Length;
        for (int j = 0; j < k; j++)
        {
            ArgumentNullException.ThrowIfNull(basis[j]);
            if (basis[j].Length != n)
            {
                throw new ArgumentException($"basis[{j}] has {basis[j].Length} values; work has {n}.", nameof(basis));
            }
        }

        CheckWeights(weights, n);
        int rows = k + 1;
        ArgumentOutOfRangeException.ThrowIfLessThan(hessenberg.Length, rows * k);
        hessenberg = hessenberg[..(rows * k)];
        hessenberg.Clear();
        for (int j = 0; j < k; j++)
        {
            product(j, basis[j], work);
            double scale = Norm(work, weights);
            Span<double> column = hessenberg.Slice(j * rows, j + 2);
            Orthogonalize(basis[..(j + 1)], work, column[..(j + 1)], weights);
            double beta = Norm(work, weights);

            // An invariant subspace (H_{j+1} holds eigenvalues of A exactly), or a non-finite product: NaN fails the
            // comparison, so a NaN norm stops here too. h_{j+1,j} stays zero.
            if (!double.IsFinite(beta) || !(beta > BreakdownTolerance * scale))
            {
                return j + 1;
            }

            column[j + 1] = beta;
            if (j + 1 < k)
            {
                TensorPrimitives.Multiply(work, 1 / beta, basis[j + 1]);
            }
        }

        return k;
    }

    /// <summary>
    /// w ← w − Σ_i ⟨v_i, w⟩ v_i over the given basis vectors (orthonormal in the inner product used), by modified
    /// Gram–Schmidt run twice: the second pass removes what round-off left of the v_i after the first, so w stays
    /// orthogonal to working precision even when most of it cancels.
    /// </summary>
    /// <param name="basis">v_0 … v_{j}.</param>
    /// <param name="w">The vector to orthogonalize, in place.</param>
    /// <param name="coefficients">Receives the coefficients ⟨v_i, w⟩ of both passes summed (one per basis vector):
    /// the column of the Hessenberg matrix.</param>
    /// <param name="weights">The weights of the inner product, or empty for the Euclidean one.</param>
    public static void Orthogonalize(ReadOnlySpan<double[]> basis, Span<double> w, Span<double> coefficients, ReadOnlySpan<double> weights = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(coefficients.Length, basis.Length);
        CheckWeights(weights, w.Length);

        // Summed from zero over both passes, not assigned then updated, so the rounding (down to the sign of a zero)
        // is that of the iterations this replaced.
        coefficients[..basis.Length].Clear();
        for (int pass = 0; pass < 2; pass++)
        {
            for (int i = 0; i < basis.Length; i++)
            {
                double[] v = basis[i];
                double c = Dot(v, w, weights);
                coefficients[i] += c;

                // (v_q · −c) + w_q: multiply then add, the same rounding as the scalar w_q += −c v_q.
                TensorPrimitives.MultiplyAdd(v, -c, w, w);
            }
        }
    }

    /// <summary>⟨x, y⟩ = Σ w_i x_i y_i, or x · y when <paramref name="weights"/> is empty.</summary>
    /// <remarks>The weighted sum runs in index order, each term (w_i x_i) y_i: bit-reproducible, not vectorized.</remarks>
    public static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> weights = default)
    {
        if (x.Length != y.Length)
        {
            throw new ArgumentException($"x has {x.Length} values; y has {y.Length}.", nameof(y));
        }

        if (weights.IsEmpty)
        {
            return TensorPrimitives.Dot(x, y);
        }

        CheckWeights(weights, x.Length);
        return WeightedDot.Compute(x, y, weights);
    }

    /// <summary>√⟨x, x⟩ in the weighted inner product, or ‖x‖₂ when <paramref name="weights"/> is empty.</summary>
    public static double Norm(ReadOnlySpan<double> x, ReadOnlySpan<double> weights = default) =>
        weights.IsEmpty ? TensorPrimitives.Norm(x) : Math.Sqrt(Dot(x, x, weights));

    private static void CheckWeights(ReadOnlySpan<double> weights, int n)
    {
        if (!weights.IsEmpty && weights.Length != n)
        {
            throw new ArgumentException($"weights has {weights.Length} values; the vectors have {n}.", nameof(weights));
        }
    }
}
