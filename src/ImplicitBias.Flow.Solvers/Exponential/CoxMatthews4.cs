namespace ImplicitBias.Flow.Solvers.Exponential;

/// <summary>
/// ETDRK4 of Cox &amp; Matthews (J. Comput. Phys. 176 (2002) 430–455, eqs. 26–29), fourth order in the classical
/// sense (stiff order 3, Hochbruck &amp; Ostermann 2005), with the embedded second-order estimate
/// b̂ = (φ1 − φ2, 0, 0, φ2) built from stages 1 and 4 (it satisfies the stiff order conditions up to order 2),
/// so the controller uses q = 3 ("etdrk4"). Continuous output replaces h φ_k(z) by θ^k h φ_k(θz) in the weights.
/// </summary>
public sealed class CoxMatthews4 : ExponentialRungeKuttaMethod
{
    private static readonly double[] C = [0.0, 0.5, 0.5, 1.0];

    /// <inheritdoc />
    public override string Name => "etdrk4";

    /// <inheritdoc />
    public override int Order => 4;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 3;

    /// <inheritdoc />
    public override int Stages => 4;

    /// <inheritdoc />
    public override IReadOnlyList<double> Nodes => C;

    /// <inheritdoc />
    public override void StageCoefficients(int stage, double z, Span<double> row)
    {
        Span<double> half = stackalloc double[2];
        Phi.Evaluate(z / 2, half);
        switch (stage)
        {
            case 1:
                row[0] = half[1] / 2;
                break;
            case 2:
                row[0] = 0.0;
                row[1] = half[1] / 2;
                break;
            default:
                // c = e^{z/2} a + (h/2) φ1(z/2) (2 N(b) − N(u)), written in terms of u = y0.
                row[0] = half[1] / 2 * (half[0] - 1.0);
                row[1] = 0.0;
                row[2] = half[1];
                break;
        }
    }

    /// <inheritdoc />
    public override void Weights(double theta, double z, Span<double> weights, Span<double> embedded)
    {
        Span<double> phi = stackalloc double[4];
        Phi.Evaluate(theta * z, phi);
        double p1 = theta * phi[1];
        double p2 = theta * theta * phi[2];
        double p3 = theta * theta * theta * phi[3];
        weights[0] = p1 - (3 * p2) + (4 * p3);
        weights[1] = (2 * p2) - (4 * p3);
        weights[2] = (2 * p2) - (4 * p3);
        weights[3] = (4 * p3) - p2;
        if (!embedded.IsEmpty)
        {
            embedded[0] = p1 - p2;
            embedded[1] = 0.0;
            embedded[2] = 0.0;
            embedded[3] = p2;
        }
    }
}
