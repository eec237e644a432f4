using ImplicitBias.Flow.Core.Geometry;
using ImplicitBias.Flow.Core.Parameters;
using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Analysis.Kkt;

/// <summary>The norm whose max-margin problem min ½‖θ‖² s.t. q_min(θ) ≥ 1 (Problem 11) is certified.</summary>
public enum KktNorm
{
    /// <summary>ℓ2: ∂(½‖θ‖₂²) = {θ}.</summary>
    L2,

    /// <summary>ℓ∞: ∂(½‖θ‖∞²) = ‖θ‖∞ · conv{sign(θ_j) e_j : |θ_j| = ‖θ‖∞}.</summary>
    LInf,

    /// <summary>msp (Definition C.25): ‖θ‖msp · conv of the top singular directions of the attaining blocks.</summary>
    Msp,
}

/// <summary>
/// An (ε, δ)-approximate KKT certificate (Definition C.4) of θ̃ (scaled so that q_min(θ̃) = 1).
/// </summary>
/// <param name="Norm">Name of the norm of the margin problem ("l2", "linf", "msp", or a block norm's name).</param>
/// <param name="Epsilon">ε = ‖Σ_i λ_i J_i − k‖₂ at the minimizing λ ≥ 0 and k ∈ ∂(½‖θ̃‖²).</param>
/// <param name="Delta">δ = Σ_i λ_i (q_i − 1) at that λ (complementary slackness; ≥ 0 when θ̃ is feasible).</param>
/// <param name="Lambda">The multipliers λ ≥ 0, one per sample.</param>
/// <param name="Mu">The convex weights of k over the generators of the subdifferential (sum 1).</param>
/// <param name="NormValue">‖θ̃‖ in <paramref name="Norm"/>.</param>
/// <param name="ActiveTolerance">Relative tolerance: a coordinate / singular value within
/// (1 − tol)‖θ̃‖ of the norm counts as attaining it.</param>
/// <param name="ActiveCount">Number of generators of the subdifferential: 1 for ℓ2, the attaining coordinates
/// for ℓ∞, the attaining top singular directions (over all attaining blocks) for msp, and for a block max
/// norm the union of those over its attaining blocks.</param>
/// <param name="Converged">Whether the NNLS solve met its optimality conditions.</param>
public sealed record KktResult(
    string Norm,
    double Epsilon,
    double Delta,
    double[] Lambda,
    double[] Mu,
    double NormValue,
    double ActiveTolerance,
    int ActiveCount,
    bool Converged);

/// <summary>
/// Measures how close a trained direction is to a KKT point of the max-margin problem in a given norm
/// (Definition C.4; docs/mathematics.md §6). Given θ̃ with q_min(θ̃) = 1, the per-sample vectors J_i = y_i ∇_θ f(x_i; θ̃) and
/// the margins q_i = y_i f(x_i; θ̃), it finds the smallest ε = min over λ ≥ 0 and k ∈ ∂(½‖θ̃‖²) of
/// ‖Σ_i λ_i J_i − k‖₂ and reports δ = Σ_i λ_i (q_i − 1) at the minimizing λ.
/// </summary>
/// <remarks>
/// ∂(½‖θ‖²) = ‖θ‖ · ∂‖θ‖, and k is parametrized as ‖θ̃‖ Σ_j μ_j k_j with μ in the simplex over generators
/// k_j: θ̃/‖θ̃‖₂ for ℓ2; sign(θ̃_j) e_j for the attaining coordinates of ℓ∞; for msp the rank-one u_a v_aᵀ
/// (embedded in block b) for every singular value of every block within the tolerance of ‖θ̃‖msp (the
/// output row counts as a 1×k matrix: its direction is u/‖u‖₂). For a block whose top singular value has
/// multiplicity r the true subdifferential is {U_r S V_rᵀ : S ⪰ 0, tr S = 1}; restricting S to be diagonal
/// in the SVD basis gives a subset, so ε is an upper bound there (exact when singular values are simple).
/// The problem in z = (λ, μ) is min ‖[Jᵀ, −K] z‖₂ over z ≥ 0, Σμ = 1, solved by
/// <see cref="ActiveSetNnls"/>. It allocates the m×m Gram J Jᵀ, the m×n_k and n_k×n_k cross Grams, and
/// (for msp) one full SVD per block. The optional slackness weight ρ ≥ 0 minimizes ½ε² + ρδ instead of ε
/// alone (ε-minimizing λ are not unique when the J_i are linearly dependent, and δ depends on the choice);
/// the default ρ = 0 is the pure smallest ε of the brief, with δ reported at the λ the solver returns.
/// </remarks>
public static class KktCertificate
{
    /// <summary>The default relative tolerance for which coordinates / singular values attain the norm.</summary>
    public const double DefaultActiveTolerance = 1e-3;

    /// <summary>
    /// θ̃ = θ · q_min^{−1/L}: by L-homogeneity (Assumption M2) q_min(θ̃) = 1. Requires q_min &gt; 0.
    /// </summary>
    public static void RescaleToUnitMargin(ReadOnlySpan<double> theta, double qMin, double homogeneity, Span<double> output)
    {
        if (!(qMin > 0) || !(homogeneity > 0))
        {
            throw new ArgumentException($"Rescaling needs q_min > 0 and L > 0; got q_min = {qMin}, L = {homogeneity}.");
        }

        if (output.Length != theta.Length)
        {
            throw new ArgumentException("Output and θ differ in length.", nameof(output));
        }

        double s = Math.Pow(qMin, -1.0 / homogeneity);
        for (int j = 0; j < theta.Length; j++)
        {
            output[j] = theta[j] * s;
        }
    }

    /// <summary>Certificates in ℓ2, ℓ∞ and msp side by side (in that order).</summary>
    public static IReadOnlyList<KktResult> ComputeAll(
        ReadOnlySpan<double> thetaTilde,
        ParameterLayout layout,
        Matrix<double> jacobian,
        ReadOnlySpan<double> margins,
        double activeTolerance = DefaultActiveTolerance,
        double slacknessWeight = 0)
    {
        Matrix<double> gram = CheckAndGram(thetaTilde, layout, jacobian, margins);
        return
        [
            Compute(KktNorm.L2, thetaTilde, layout, jacobian, gram, margins, activeTolerance, slacknessWeight),
            Compute(KktNorm.LInf, thetaTilde, layout, jacobian, gram, margins, activeTolerance, slacknessWeight),
            Compute(KktNorm.Msp, thetaTilde, layout, jacobian, gram, margins, activeTolerance, slacknessWeight),
        ];
    }

    /// <summary>
    /// The (ε, δ) certificate of θ̃ in <paramref name="norm"/>. <paramref name="jacobian"/> is m × P with row i
    /// J_i = y_i ∇_θ f(x_i; θ̃); <paramref name="margins"/> are q_i = y_i f(x_i; θ̃); <paramref name="layout"/>
    /// splits θ into blocks (used by msp).
    /// </summary>
    public static KktResult Compute(
        KktNorm norm,
        ReadOnlySpan<double> thetaTilde,
        ParameterLayout layout,
        Matrix<double> jacobian,
        ReadOnlySpan<double> margins,
        double activeTolerance = DefaultActiveTolerance,
        double slacknessWeight = 0)
    {
        Matrix<double> gram = CheckAndGram(thetaTilde, layout, jacobian, margins);
        return Compute(norm, thetaTilde, layout, jacobian, gram, margins, activeTolerance, slacknessWeight);
    }

    /// <summary>
    /// The (ε, δ) certificate of θ̃ in a weighted block max norm max_b r_b ‖θ_b‖_(b) (Lemma C.22), such as
    /// the composite norms of Muon-Signum and Muon-Adam (<see cref="Norms.MuonSignum"/>,
    /// <see cref="Norms.MuonAdam"/>). ∂ max_b r_b ‖θ_b‖_(b) is the convex hull of r_b ∂‖θ_b‖_(b) over the
    /// attaining blocks; block norms may be spectral (a 1×k block counts as its ℓ2 norm), ℓ2 or ℓ∞.
    /// </summary>
    public static KktResult Compute(
        BlockMaxNorm norm,
        ReadOnlySpan<double> thetaTilde,
        Matrix<double> jacobian,
        ReadOnlySpan<double> margins,
        double activeTolerance = DefaultActiveTolerance,
        double slacknessWeight = 0)
    {
        ArgumentNullException.ThrowIfNull(norm);
        Matrix<double> gram = CheckAndGram(thetaTilde, norm.Layout, jacobian, margins);
        CheckTolerance(activeTolerance);
        (double v, List<Generator> generators) = BlockSubdifferential(norm, thetaTilde, activeTolerance);
        return Solve(norm.Name, v, generators, jacobian, gram, margins, activeTolerance, slacknessWeight);
    }

    private static void CheckTolerance(double activeTolerance)
    {
        if (!(activeTolerance >= 0 && activeTolerance < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(activeTolerance), activeTolerance, "Must be in [0, 1).");
        }
    }

    private static Matrix<double> CheckAndGram(ReadOnlySpan<double> thetaTilde, ParameterLayout layout, Matrix<double> jacobian, ReadOnlySpan<double> margins)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(jacobian);
        if (thetaTilde.Length != layout.Length || jacobian.ColumnCount != layout.Length || jacobian.RowCount != margins.Length)
        {
            throw new ArgumentException(
                $"θ has {thetaTilde.Length} entries, the layout {layout.Length}, J is {jacobian.RowCount}×{jacobian.ColumnCount}, margins {margins.Length}.");
        }

        return jacobian.TransposeAndMultiply(jacobian);
    }

    private static KktResult Compute(
        KktNorm norm,
        ReadOnlySpan<double> theta,
        ParameterLayout layout,
        Matrix<double> jacobian,
        Matrix<double> gram,
        ReadOnlySpan<double> margins,
        double activeTolerance,
        double slacknessWeight)
    {
        CheckTolerance(activeTolerance);
        (double normValue, List<Generator> generators) = Subdifferential(norm, theta, layout, activeTolerance);
        string name = norm switch
        {
            KktNorm.L2 => "l2",
            KktNorm.LInf => "linf",
            _ => "msp",
        };
        return Solve(name, normValue, generators, jacobian, gram, margins, activeTolerance, slacknessWeight);
    }

    private static KktResult Solve(
        string name,
        double normValue,
        List<Generator> generators,
        Matrix<double> jacobian,
        Matrix<double> gram,
        ReadOnlySpan<double> margins,
        double activeTolerance,
        double slacknessWeight)
    {
        if (!(slacknessWeight >= 0) || double.IsInfinity(slacknessWeight))
        {
            throw new ArgumentOutOfRangeException(nameof(slacknessWeight), slacknessWeight, "Must be finite and non-negative.");
        }

        int m = jacobian.RowCount, nk = generators.Count, n = m + nk;
        if (nk == 0)
        {
            throw new ArgumentException("θ̃ is zero, so it is not a feasible point (q_min(θ̃) = 1) of the margin problem.");
        }

        // Gram of the columns of [Jᵀ, −K]: [[J Jᵀ, −J K], [−Kᵀ Jᵀ, Kᵀ K]].
        Matrix<double> h = Matrix<double>.Build.Dense(n, n);
        h.SetSubMatrix(0, 0, gram);
        for (int j = 0; j < nk; j++)
        {
            Generator gj = generators[j];
            for (int i = 0; i < m; i++)
            {
                double s = 0;
                for (int t = 0; t < gj.Values.Length; t++)
                {
                    s += jacobian[i, gj.Offset + t] * gj.Values[t];
                }

                h[i, m + j] = -s;
                h[m + j, i] = -s;
            }

            for (int l = 0; l <= j; l++)
            {
                double s = Overlap(gj, generators[l]);
                h[m + j, m + l] = s;
                h[m + l, m + j] = s;
            }
        }

        // A ridge on the λ block, 1e-10 of each ‖J_i‖² (plus 1e-14 of the largest, for J_i = 0), makes H
        // positive definite when the J_i are dependent (more samples than directions), so that every
        // passive-set subproblem has a unique solution and the δ term (ρ > 0) is never taken along a null
        // direction of H. It is relative per sample so that samples of very different scale do not inflate
        // it; it moves ε by O(1e-10 ‖J_i‖ λ_i) at most.
        double maxDiagonal = 0;
        for (int i = 0; i < n; i++)
        {
            maxDiagonal = Math.Max(maxDiagonal, h[i, i]);
        }

        for (int i = 0; i < m; i++)
        {
            h[i, i] += (1e-10 * h[i, i]) + (1e-14 * maxDiagonal);
        }

        Vector<double> equality = Vector<double>.Build.Dense(n, i => i >= m ? 1.0 : 0.0);
        // Objective ½‖Σλ_i J_i − k‖² + ρ Σλ_i (q_i − 1): ρ = 0 is the smallest ε; ρ > 0 picks, among λ that
        // (nearly) attain it, ones with small δ — the ε-minimizing λ is not unique once the J_i are dependent.
        Vector<double> c = Vector<double>.Build.Dense(n);
        for (int i = 0; i < m; i++)
        {
            c[i] = -slacknessWeight * (margins[i] - 1);
        }

        NnlsResult solved = ActiveSetNnls.SolveQuadratic(h, c, equality);

        var lambda = solved.X[..m];
        var mu = solved.X[m..];
        double muSum = mu.Sum();
        for (int j = 0; j < nk; j++)
        {
            mu[j] /= muSum;
        }

        // ε evaluated directly at the feasible (λ, μ), not from the Gram objective, to keep its accuracy.
        Vector<double> r = jacobian.TransposeThisAndMultiply(Vector<double>.Build.DenseOfArray(lambda));
        for (int j = 0; j < nk; j++)
        {
            Generator gj = generators[j];
            for (int t = 0; t < gj.Values.Length; t++)
            {
                r[gj.Offset + t] -= mu[j] * gj.Values[t];
            }
        }

        double delta = 0;
        for (int i = 0; i < m; i++)
        {
            delta += lambda[i] * (margins[i] - 1);
        }

        return new KktResult(name, r.L2Norm(), delta, lambda, mu, normValue, activeTolerance, nk, solved.Converged);
    }

    /// <summary>The generators k_j (already multiplied by ‖θ̃‖) of ∂(½‖θ̃‖²), each a contiguous segment of θ.</summary>
    private static (double NormValue, List<Generator> Generators) Subdifferential(KktNorm norm, ReadOnlySpan<double> theta, ParameterLayout layout, double tol)
    {
        var generators = new List<Generator>();
        switch (norm)
        {
            case KktNorm.L2:
            {
                generators.Add(new Generator(0, theta.ToArray()));
                return (L2Norm.Euclidean(theta), generators);
            }

            case KktNorm.LInf:
            {
                double v = LInfNorm.Instance.Value(theta);
                for (int j = 0; j < theta.Length && v > 0; j++)
                {
                    if (Math.Abs(theta[j]) >= (1 - tol) * v)
                    {
                        generators.Add(new Generator(j, [Math.Sign(theta[j]) * v]));
                    }
                }

                return (v, generators);
            }

            case KktNorm.Msp:
                return BlockSubdifferential(Norms.Msp(layout), theta, tol);

            default:
                throw new ArgumentOutOfRangeException(nameof(norm), norm, null);
        }
    }

    /// <summary>
    /// Generators of ∂(½‖θ‖²) = ‖θ‖ · conv{r_b ∂‖θ_b‖_(b) : block b attains the max}: for a spectral block the
    /// rank-one r_b u_a v_aᵀ of each singular value with r_b σ_a within the tolerance of ‖θ‖ (S diagonal in
    /// the SVD basis, see the class remarks); for a vector (1×k spectral or ℓ2) block r_b θ_b/‖θ_b‖₂; for an
    /// ℓ∞ block r_b sign(θ_j) e_j on coordinates with r_b |θ_j| within the tolerance.
    /// </summary>
    private static (double NormValue, List<Generator> Generators) BlockSubdifferential(BlockMaxNorm norm, ReadOnlySpan<double> theta, double tol)
    {
        var generators = new List<Generator>();
        ParameterLayout layout = norm.Layout;
        double v = norm.Value(theta);
        if (v == 0)
        {
            return (v, generators);
        }

        double threshold = (1 - tol) * v;
        for (int b = 0; b < layout.Blocks.Count; b++)
        {
            ParameterBlock block = layout.Blocks[b];
            Norm nb = norm.BlockNorms[b];
            double r = norm.Weights[b];
            ReadOnlySpan<double> wb = layout.Slice(theta, b);
            int offset = layout.Offset(b);
            if (nb is LInfNorm)
            {
                for (int t = 0; t < wb.Length; t++)
                {
                    if (r * Math.Abs(wb[t]) >= threshold)
                    {
                        generators.Add(new Generator(offset + t, [v * r * Math.Sign(wb[t])]));
                    }
                }
            }
            else if (nb is L2Norm || (nb is SpectralNorm && (block.Rows == 1 || block.Cols == 1)))
            {
                double n2 = L2Norm.Euclidean(wb);
                if (r * n2 >= threshold)
                {
                    var values = new double[wb.Length];
                    for (int t = 0; t < wb.Length; t++)
                    {
                        values[t] = v * r * wb[t] / n2;
                    }

                    generators.Add(new Generator(offset, values));
                }
            }
            else if (nb is SpectralNorm)
            {
                var svd = MatrixGeometry.Svd(block.Rows, block.Cols, wb);
                for (int a = 0; a < svd.S.Count && r * svd.S[a] >= threshold; a++)
                {
                    var values = new double[block.Length];
                    for (int i = 0; i < block.Rows; i++)
                    {
                        for (int c = 0; c < block.Cols; c++)
                        {
                            values[(i * block.Cols) + c] = v * r * svd.U[i, a] * svd.VT[a, c];
                        }
                    }

                    generators.Add(new Generator(offset, values));
                }
            }
            else
            {
                throw new NotSupportedException($"KKT subdifferential of block norm '{nb.Name}' (block '{block.Name}') is not implemented; use spectral, l2 or linf blocks.");
            }
        }

        return (v, generators);
    }

    private static double Overlap(Generator a, Generator b)
    {
        int start = Math.Max(a.Offset, b.Offset);
        int end = Math.Min(a.Offset + a.Values.Length, b.Offset + b.Values.Length);
        double s = 0;
        for (int t = start; t < end; t++)
        {
            s += a.Values[t - a.Offset] * b.Values[t - b.Offset];
        }

        return s;
    }

    private sealed record Generator(int Offset, double[] Values);
}
