namespace ImplicitBias.Flow.Solvers.Exponential;

/// <summary>
/// ETDRK4 of Cox &amp; Matthews (the same stages, solution and continuous output as <see cref="CoxMatthews4"/>) with a
/// third-order error estimate instead of the second-order one ("etdrk4h"). Its nodes 0, ½, ½, 1 carry no third-order
/// quadrature other than Simpson's rule, which ETDRK4 already is, so the embedded rule borrows one more node from the
/// past: N at the previous step's start t − r h, which costs no evaluation (it was that step's first stage). The
/// embedded solution is the exponential quadrature of the quadratic through N at t − r h, t and the last stage
/// (t + h): b̂(z) = ((2φ3 − φ2)/(r(r+1)), −(2φ3 + (r−1)φ2 − rφ1)/r, 0, 0, (2φ3 + rφ2)/(1+r)), exact for the
/// quadrature of quadratics for every z and so of order 3 on y' = −c y + N(t) (Hochbruck &amp; Ostermann, Acta
/// Numerica 2010, §2.2, the conditions Σ b_i c_i^k = k! φ_{k+1}(z), k ≤ 2). On y-dependent N the difference
/// b − b̂ also meets the classical third-order tree condition: stages 2 and 3 keep equal weights, so their
/// second-order stage errors cancel as in ETDRK4 itself. The estimate is therefore O(h⁴) against the O(h³) of the
/// second-order pair, and the controller uses q = 4: where the step was held by the second-order estimate (the slow
/// late phase of Adam flows), it may grow by about tol^(−1/12).
/// </summary>
public sealed class CoxMatthews4History : ExponentialRungeKuttaMethod
{
    private static readonly CoxMatthews4 Tableau = new();

    /// <inheritdoc />
    public override string Name => "etdrk4h";

    /// <inheritdoc />
    public override int Order => 4;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 4;

    /// <inheritdoc />
    public override int Stages => 4;

    /// <inheritdoc />
    public override IReadOnlyList<double> Nodes => Tableau.Nodes;

    /// <inheritdoc />
    public override bool HasHistoryEstimate => true;

    /// <inheritdoc />
    public override void StageCoefficients(int stage, double z, Span<double> row) => Tableau.StageCoefficients(stage, z, row);

    /// <inheritdoc />
    public override void Weights(double theta, double z, Span<double> weights, Span<double> embedded) =>
        Tableau.Weights(theta, z, weights, embedded);

    /// <inheritdoc />
    public override void HistoryEmbeddedWeights(double r, double z, Span<double> embedded)
    {
        Span<double> phi = stackalloc double[4];
        Phi.Evaluate(z, phi);
        double p1 = phi[1];
        double p2 = phi[2];
        double p3 = phi[3];

        // ∫₀¹ e^{z(1−s)} ℓ_j(s) ds for the Lagrange basis on the nodes −r, 0, 1, with ∫₀¹ e^{z(1−s)} s^k ds = k! φ_{k+1}(z).
        embedded[0] = ((2 * p3) - p2) / (r * (r + 1));
        embedded[1] = -((2 * p3) + ((r - 1) * p2) - (r * p1)) / r;
        embedded[2] = 0.0;
        embedded[3] = 0.0;
        embedded[4] = ((2 * p3) + (r * p2)) / (1 + r);
    }
}
