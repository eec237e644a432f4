using MathNet.Numerics.LinearAlgebra;

namespace ImplicitBias.Flow.Analysis.Kkt;

/// <summary>The solution of a non-negative (optionally simplex-constrained) least-squares problem.</summary>
/// <param name="X">The minimizer x ≥ 0.</param>
/// <param name="Objective">½ xᵀHx − cᵀx at <paramref name="X"/> (for least squares: ½‖Ax − b‖² − ½‖b‖²).</param>
/// <param name="Iterations">Number of outer (add-a-variable) iterations.</param>
/// <param name="Converged">True when the KKT conditions of the problem hold to the tolerance.</param>
public sealed record NnlsResult(double[] X, double Objective, int Iterations, bool Converged);

/// <summary>
/// Lawson–Hanson active-set solver for min ½ xᵀHx − cᵀx over x ≥ 0 (H = AᵀA, c = Aᵀb gives
/// min ‖Ax − b‖₂ over x ≥ 0), optionally with one equality aᵀx = 1, which the KKT certificate uses for the
/// convex weights μ of the subdifferential of ½‖θ‖² (Definition C.4). The equality is kept exactly: the
/// start is a feasible vertex, each passive-set subproblem is solved with the equality through a bordered
/// (Lagrange) system, and the back-tracking step interpolates between feasible points.
/// </summary>
/// <remarks>
/// Works on the Gram matrix H, so its cost per iteration is O(n·|F| + |F|³) for n variables and a passive set
/// F; the condition number is that of AᵀA. It allocates the passive-set systems (|F|+1)² per iteration.
/// </remarks>
public static class ActiveSetNnls
{
    /// <summary>min ‖A x − b‖₂ over x ≥ 0 (and aᵀx = 1 when <paramref name="equality"/> is given).</summary>
    public static NnlsResult SolveLeastSquares(Matrix<double> a, Vector<double> b, Vector<double>? equality = null, double relativeTolerance = 1e-12)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return SolveQuadratic(a.TransposeThisAndMultiply(a), a.TransposeThisAndMultiply(b), equality, relativeTolerance);
    }

    /// <summary>
    /// min ½ xᵀHx − cᵀx over x ≥ 0 (and aᵀx = 1 when <paramref name="equality"/> is given; then some
    /// a_j must be positive). H must be symmetric positive semidefinite; when c is not in the range of H
    /// (a linear term along a null direction of H) make H positive definite, e.g. with a small ridge, since
    /// the passive-set subproblems are then unbounded and solved only in the least-norm sense.
    /// </summary>
    public static NnlsResult SolveQuadratic(Matrix<double> h, Vector<double> c, Vector<double>? equality = null, double relativeTolerance = 1e-12)
    {
        ArgumentNullException.ThrowIfNull(h);
        ArgumentNullException.ThrowIfNull(c);
        int n = c.Count;
        if (h.RowCount != n || h.ColumnCount != n || (equality is not null && equality.Count != n))
        {
            throw new ArgumentException($"H is {h.RowCount}×{h.ColumnCount}, c has {n} entries, a has {equality?.Count} entries.");
        }

        double scale = 0;
        for (int j = 0; j < n; j++)
        {
            scale = Math.Max(scale, Math.Max(Math.Abs(h[j, j]), Math.Abs(c[j])));
        }

        double tol = relativeTolerance * Math.Max(scale, double.Epsilon);
        var x = new double[n];
        var passive = new List<int>();
        var blocked = new bool[n];

        if (equality is not null)
        {
            // Feasible start: the cheapest vertex x = e_j / a_j of {x ≥ 0, aᵀx = 1}.
            int start = -1;
            double best = double.PositiveInfinity;
            for (int j = 0; j < n; j++)
            {
                if (equality[j] > 0)
                {
                    double t = 1.0 / equality[j];
                    double f = (0.5 * h[j, j] * t * t) - (c[j] * t);
                    if (f < best)
                    {
                        best = f;
                        start = j;
                    }
                }
            }

            if (start < 0)
            {
                throw new ArgumentException("The equality aᵀx = 1 has no non-negative solution (no positive a_j).", nameof(equality));
            }

            x[start] = 1.0 / equality[start];
            passive.Add(start);
        }

        int maxIterations = (3 * n) + 10, iterations = 0;
        bool converged = false;
        var grad = new double[n];
        double[] hd = h.ToColumnMajorArray();
        while (iterations < maxIterations)
        {
            iterations++;
            // ω = Hx − c − ν a: the multipliers of x ≥ 0 (Lawson–Hanson's dual vector, negated).
            for (int i = 0; i < n; i++)
            {
                grad[i] = -c[i];
            }

            foreach (int k in passive)
            {
                // Column k of the symmetric H, read from the raw column-major copy.
                ReadOnlySpan<double> column = hd.AsSpan(k * n, n);
                double xk = x[k];
                for (int i = 0; i < n; i++)
                {
                    grad[i] += column[i] * xk;
                }
            }

            double nu = 0;
            if (equality is not null)
            {
                double num = 0, den = 0;
                foreach (int k in passive)
                {
                    num += equality[k] * grad[k];
                    den += equality[k] * equality[k];
                }

                nu = den > 0 ? num / den : 0;
            }

            int enter = -1;
            bool anyBlockedCandidate = false;
            double most = -tol;
            for (int j = 0; j < n; j++)
            {
                double omega = grad[j] - (equality is null ? 0 : nu * equality[j]);
                if (omega < -tol && !passive.Contains(j))
                {
                    anyBlockedCandidate |= blocked[j];
                    if (!blocked[j] && omega < most)
                    {
                        most = omega;
                        enter = j;
                    }
                }
            }

            if (enter < 0)
            {
                // Optimal only if no variable with a negative multiplier was set aside as stuck.
                converged = !anyBlockedCandidate;
                break;
            }

            passive.Add(enter);
            while (true)
            {
                double[] s = SolveSubproblem(hd, n, c, equality, passive);
                bool allPositive = true;
                for (int p = 0; p < passive.Count; p++)
                {
                    allPositive &= s[p] > 0;
                }

                if (allPositive)
                {
                    for (int p = 0; p < passive.Count; p++)
                    {
                        x[passive[p]] = s[p];
                    }

                    Array.Clear(blocked);
                    break;
                }

                // Step from x towards s until the first passive variable reaches 0.
                double alpha = 1;
                for (int p = 0; p < passive.Count; p++)
                {
                    if (s[p] <= 0)
                    {
                        int k = passive[p];
                        alpha = Math.Min(alpha, x[k] / (x[k] - s[p]));
                    }
                }

                if (alpha <= 0 && x[enter] == 0 && passive.Contains(enter))
                {
                    // The entering variable cannot move (a numerically flat direction): keep x, block it
                    // until x changes, so the outer loop cannot cycle on it.
                    passive.Remove(enter);
                    blocked[enter] = true;
                    break;
                }

                for (int p = 0; p < passive.Count; p++)
                {
                    int k = passive[p];
                    x[k] += alpha * (s[p] - x[k]);
                }

                for (int p = passive.Count - 1; p >= 0; p--)
                {
                    int k = passive[p];
                    if (x[k] <= 0 || (s[p] <= 0 && Math.Abs(x[k]) <= 1e-15 * Math.Max(1, Math.Abs(s[p]))))
                    {
                        x[k] = 0;
                        passive.RemoveAt(p);
                    }
                }

                if (passive.Count == 0)
                {
                    break;
                }
            }
        }

        double objective = 0;
        for (int i = 0; i < n; i++)
        {
            if (x[i] == 0)
            {
                continue;
            }

            double hx = 0;
            for (int k = 0; k < n; k++)
            {
                hx += hd[i + (k * n)] * x[k];
            }

            objective += x[i] * ((0.5 * hx) - c[i]);
        }

        return new NnlsResult(x, objective, iterations, converged);
    }

    /// <summary>
    /// Minimizes the objective over the passive set F with the other variables at 0 (and the equality if
    /// given): H_FF s = c_F, or the bordered system [[H_FF, a_F], [a_Fᵀ, 0]] [s; −ν] = [c_F; 1], by Cholesky
    /// when H_FF is positive definite. A singular system (dependent columns) falls back to the least-norm
    /// solution through a thresholded SVD.
    /// </summary>
    private static double[] SolveSubproblem(double[] h, int n, Vector<double> c, Vector<double>? equality, List<int> passive)
    {
        return SolveByCholesky(h, n, c, equality, passive) ?? SolveBySvd(h, n, c, equality, passive);
    }

    /// <summary>
    /// Fast path for positive definite H_FF: Cholesky solves H_FF y₁ = c_F and H_FF y₂ = a_F, then
    /// s = y₁ + t y₂ with t = (1 − a_Fᵀy₁)/(a_Fᵀy₂) meets the equality. Returns null when H_FF is not
    /// numerically positive definite.
    /// </summary>
    private static double[]? SolveByCholesky(double[] h, int n, Vector<double> c, Vector<double>? equality, List<int> passive)
    {
        int f = passive.Count;
        Matrix<double> m = Matrix<double>.Build.Dense(f, f);
        Matrix<double> rhs = Matrix<double>.Build.Dense(f, equality is null ? 1 : 2);
        double maxDiagonal = 0;
        for (int p = 0; p < f; p++)
        {
            for (int q = 0; q < f; q++)
            {
                m[p, q] = h[passive[p] + (passive[q] * n)];
            }

            maxDiagonal = Math.Max(maxDiagonal, m[p, p]);
            rhs[p, 0] = c[passive[p]];
            if (equality is not null)
            {
                rhs[p, 1] = equality[passive[p]];
            }
        }

        Matrix<double> y;
        try
        {
            var chol = m.Cholesky();
            // Reject factors whose pivots collapse relative to the diagonal: the SVD path handles those.
            double minPivot = double.PositiveInfinity;
            for (int p = 0; p < f; p++)
            {
                minPivot = Math.Min(minPivot, chol.Factor[p, p]);
            }

            if (!(minPivot * minPivot > 1e-13 * maxDiagonal))
            {
                return null;
            }

            y = chol.Solve(rhs);
        }
        catch (ArgumentException)
        {
            return null;
        }

        var s = new double[f];
        double t = 0;
        if (equality is not null)
        {
            double ay1 = 0, ay2 = 0;
            for (int p = 0; p < f; p++)
            {
                ay1 += equality[passive[p]] * y[p, 0];
                ay2 += equality[passive[p]] * y[p, 1];
            }

            if (!(Math.Abs(ay2) > 0))
            {
                return null;
            }

            t = (1 - ay1) / ay2;
        }

        for (int p = 0; p < f; p++)
        {
            s[p] = y[p, 0] + (equality is null ? 0 : t * y[p, 1]);
            if (!double.IsFinite(s[p]))
            {
                return null;
            }
        }

        return s;
    }

    private static double[] SolveBySvd(double[] h, int n, Vector<double> c, Vector<double>? equality, List<int> passive)
    {
        int f = passive.Count;
        int size = equality is null ? f : f + 1;
        Matrix<double> m = Matrix<double>.Build.Dense(size, size);
        Vector<double> rhs = Vector<double>.Build.Dense(size);
        for (int p = 0; p < f; p++)
        {
            for (int q = 0; q < f; q++)
            {
                m[p, q] = h[passive[p] + (passive[q] * n)];
            }

            rhs[p] = c[passive[p]];
            if (equality is not null)
            {
                m[p, f] = equality[passive[p]];
                m[f, p] = equality[passive[p]];
            }
        }

        if (equality is not null)
        {
            rhs[f] = 1;
        }

        var svd = m.Svd(computeVectors: true);
        double cutoff = size * 2.220446049250313e-16 * svd.S[0];
        Vector<double> utb = svd.U.TransposeThisAndMultiply(rhs);
        Vector<double> y = Vector<double>.Build.Dense(size);
        for (int k = 0; k < size; k++)
        {
            if (svd.S[k] > cutoff)
            {
                y[k] = utb[k] / svd.S[k];
            }
        }

        Vector<double> sol = svd.VT.TransposeThisAndMultiply(y);
        var s = new double[f];
        for (int p = 0; p < f; p++)
        {
            s[p] = sol[p];
        }

        return s;
    }
}
