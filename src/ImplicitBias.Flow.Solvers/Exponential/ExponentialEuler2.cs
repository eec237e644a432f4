namespace ImplicitBias.Flow.Solvers.Exponential;

/// <summary>
/// ETD2RK of Cox &amp; Matthews (J. Comput. Phys. 176 (2002) 430–455, eq. 22), second order, two stages, with the
/// exponential Euler method as embedded first-order estimate ("etd2"). Continuous output replaces h φ_k(z) by
/// θ^k h φ_k(θz), which interpolates N linearly between the stages (second order in θ).
/// </summary>
public sealed class ExponentialEuler2 : ExponentialRungeKuttaMethod
{
    private static readonly double[] C = [0.0, 1.0];

    /// <inheritdoc />
    public override string Name => "etd2";

    /// <inheritdoc />
    public override int Order => 2;

    /// <inheritdoc />
    public override int ErrorExponentOrder => 2;

    /// <inheritdoc />
    public override int Stages => 2;

    /// <inheritdoc />
    public override IReadOnlyList<double> Nodes => C;

    /// <inheritdoc />
    public override void StageCoefficients(int stage, double z, Span<double> row)
    {
        Span<double> phi = stackalloc double[2];
        Phi.Evaluate(z, phi);
        row[0] = phi[1];
    }

    /// <inheritdoc />
    public override void Weights(double theta, double z, Span<double> weights, Span<double> embedded)
    {
        Span<double> phi = stackalloc double[3];
        Phi.Evaluate(theta * z, phi);
        double p1 = theta * phi[1];
        double p2 = theta * theta * phi[2];
        weights[0] = p1 - p2;
        weights[1] = p2;
        if (!embedded.IsEmpty)
        {
            embedded[0] = p1;
            embedded[1] = 0.0;
        }
    }
}
