namespace ImplicitBias.Flow.Core.State;

/// <summary>
/// One named block of an ODE state (θ, m, v, log L, …) with its own error tolerances and, for
/// semilinear systems y' = −c_b y + N(t, y), its linear decay rate c_b.
/// </summary>
/// <param name="Name">Block name, e.g. "theta", "m", "v".</param>
/// <param name="Length">Number of scalar components.</param>
/// <param name="RelTol">Relative tolerance of the block.</param>
/// <param name="AbsTol">Absolute tolerance of the block.</param>
/// <param name="ScaledAbsTol">
/// κ_b ≥ 0: when positive the block's absolute tolerance becomes max(AbsTol, κ_b · max_i |y_b,i|) (applied by the
/// step-size controllers' error norm, which may replace κ_b), so that
/// coordinates born from zero are judged against the block's own scale rather than componentwise.
/// </param>
/// <param name="DecayRate">c_b ≥ 0, the rate of the exactly treated linear part −c_b y (0 for none).</param>
public sealed record StateBlock(
    string Name,
    int Length,
    double RelTol = 1e-6,
    double AbsTol = 1e-6,
    double ScaledAbsTol = 0.0,
    double DecayRate = 0.0);
