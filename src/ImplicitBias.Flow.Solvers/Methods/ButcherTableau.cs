namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// The Butcher tableau of an explicit Runge–Kutta method with an optional embedded error estimate,
/// checked at construction: row sums equal c, weights sum to 1, error weights sum to 0.
/// </summary>
public sealed class ButcherTableau
{
    private const double Tolerance = 1e-13;

    /// <summary>Creates and checks a tableau.</summary>
    /// <param name="a">Strictly lower-triangular rows; row i has i entries (row 0 is empty).</param>
    /// <param name="b">Weights of the propagated solution.</param>
    /// <param name="c">Nodes.</param>
    /// <param name="errorWeights">e = b − b̂ (null for a method without error estimate).</param>
    public ButcherTableau(double[][] a, double[] b, double[] c, double[]? errorWeights)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        int s = b.Length;
        if (a.Length != s || c.Length != s || (errorWeights is not null && errorWeights.Length != s))
        {
            throw new ArgumentException("Tableau arrays must all have one entry per stage.");
        }

        for (int i = 0; i < s; i++)
        {
            if (a[i].Length != i)
            {
                throw new ArgumentException($"Row {i} of A must have {i} entries (explicit method).");
            }

            double rowSum = a[i].Sum();
            if (Math.Abs(rowSum - c[i]) > Tolerance * Math.Max(1.0, Math.Abs(c[i])) * 10)
            {
                throw new ArgumentException($"Row {i} of A sums to {rowSum}, not c = {c[i]}.");
            }
        }

        if (Math.Abs(b.Sum() - 1.0) > 1e-12)
        {
            throw new ArgumentException($"Weights sum to {b.Sum()}, not 1.");
        }

        if (errorWeights is not null && Math.Abs(errorWeights.Sum()) > 1e-12)
        {
            throw new ArgumentException($"Error weights sum to {errorWeights.Sum()}, not 0.");
        }

        A = a;
        B = b;
        C = c;
        ErrorWeights = errorWeights;

        // First same as last (Hairer §II.4): the last stage is evaluated at the new solution, so it is the next
        // step's first stage.
        IsFsal = s > 1 && c[s - 1] == 1.0 && a[s - 1].Length == s - 1 && Enumerable.Range(0, s - 1).All(j => a[s - 1][j] == b[j]) && b[s - 1] == 0.0;
    }

    /// <summary>Coefficient rows.</summary>
    public double[][] A { get; }

    /// <summary>Weights.</summary>
    public double[] B { get; }

    /// <summary>Nodes.</summary>
    public double[] C { get; }

    /// <summary>Error weights b − b̂, or null.</summary>
    public double[]? ErrorWeights { get; }

    /// <summary>Number of stages.</summary>
    public int Stages => B.Length;

    /// <summary>Whether the last stage equals f at the new solution (first same as last).</summary>
    public bool IsFsal { get; }

    /// <summary>
    /// Whether a step gives Hairer's stiffness estimate for free: FSAL with its last internal stage also at c = 1, so
    /// that f at that stage Y and at the new solution y1 are two values of f at one time and ‖f(y1) − f(Y)‖/‖y1 − Y‖
    /// estimates the largest |λ| the step felt (DOPRI5, Tsitouras 5; not BS3 or DOP853).
    /// </summary>
    public bool CanEstimateStiffness => IsFsal && Stages >= 3 && C[Stages - 2] == 1.0;

    /// <summary>
    /// The extent r of the method's stability interval on the negative real axis, [−r, 0] (Hairer &amp; Wanner II,
    /// §IV.2): the largest hλ of a decay y′ = λy, λ &lt; 0, whose steps do not grow, |R(hλ)| ≤ 1 with the stability
    /// function R(z) = 1 + z bᵀ(I − zA)⁻¹𝟙 of the tableau. Euler 2, classical RK4 2.785, DOPRI5 3.307. Computed from
    /// the tableau once (a scan in steps of 1e-3, then bisection to 1e-12).
    /// </summary>
    public double RealStabilityBound => _realStabilityBound ??= ComputeRealStabilityBound();

    private double? _realStabilityBound;

    /// <summary>R(z) for real z: the step's amplification of y′ = λy with z = hλ.</summary>
    public double StabilityFunction(double z)
    {
        int s = Stages;
        Span<double> stage = stackalloc double[s];
        double sum = 0.0;
        for (int i = 0; i < s; i++)
        {
            // Explicit: Y_i = 1 + z Σ_{j<i} a_ij Y_j.
            double acc = 0.0;
            for (int j = 0; j < i; j++)
            {
                acc += A[i][j] * stage[j];
            }

            stage[i] = 1.0 + (z * acc);
            sum += B[i] * stage[i];
        }

        return 1.0 + (z * sum);
    }

    private double ComputeRealStabilityBound()
    {
        const double Step = 1e-3;
        const double Limit = 100.0;
        double inside = 0.0;
        for (double r = Step; r <= Limit; r += Step)
        {
            if (Math.Abs(StabilityFunction(-r)) > 1.0)
            {
                double outside = r;
                while (outside - inside > 1e-12)
                {
                    double middle = (inside + outside) / 2;
                    if (Math.Abs(StabilityFunction(-middle)) > 1.0)
                    {
                        outside = middle;
                    }
                    else
                    {
                        inside = middle;
                    }
                }

                return inside;
            }

            inside = r;
        }

        return Limit;
    }
}
