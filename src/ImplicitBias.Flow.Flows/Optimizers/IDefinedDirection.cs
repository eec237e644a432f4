namespace ImplicitBias.Flow.Flows.Optimizers;

/// <summary>
/// What a direction may read for one part, the same for the flow and the discrete optimizer: both hold each moment as
/// a mantissa and a log scale (m = e^{λ_m} m̃, v = e^{λ_v} ṽ) and the gradient as log L and ∇ log L = g/L, so that
/// nothing underflows as L → 0 (docs/mathematics.md §2, §4).
/// </summary>
/// <param name="Part">The part (its η0, rates c1, c2, ε and sign settings).</param>
/// <param name="Time">t for the flow; t_n = n h for discrete step n, whose bias corrections are the flow's 1 − e^{−c t_n}.</param>
/// <param name="Discrete">True in the discrete optimizer (the flow takes its t → 0⁺ limit at t = 0 instead).</param>
/// <param name="LogLoss">ℓ = log L(θ), where the gradient was evaluated.</param>
/// <param name="RelativeGradient">∇ log L = g/L on the part's coordinates.</param>
/// <param name="Momentum">m̃ on the part's coordinates (empty without <see cref="FlowMoments.First"/>).</param>
/// <param name="MomentumLogScale">λ_m.</param>
/// <param name="SecondMoment">ṽ on the part's coordinates (empty without <see cref="FlowMoments.Second"/>).</param>
/// <param name="SecondMomentLogScale">λ_v.</param>
public readonly ref struct DirectionInputs(
    OptimizerPart Part,
    double Time,
    bool Discrete,
    double LogLoss,
    ReadOnlySpan<double> RelativeGradient,
    ReadOnlySpan<double> Momentum,
    double MomentumLogScale,
    ReadOnlySpan<double> SecondMoment,
    double SecondMomentLogScale)
{
    /// <summary>The part.</summary>
    public OptimizerPart Part { get; } = Part;

    /// <summary>t (flow) or t_n (discrete).</summary>
    public double Time { get; } = Time;

    /// <summary>True in the discrete optimizer.</summary>
    public bool Discrete { get; } = Discrete;

    /// <summary>ℓ = log L(θ).</summary>
    public double LogLoss { get; } = LogLoss;

    /// <summary>∇ log L on the part.</summary>
    public ReadOnlySpan<double> RelativeGradient { get; } = RelativeGradient;

    /// <summary>m̃ on the part.</summary>
    public ReadOnlySpan<double> Momentum { get; } = Momentum;

    /// <summary>λ_m.</summary>
    public double MomentumLogScale { get; } = MomentumLogScale;

    /// <summary>ṽ on the part.</summary>
    public ReadOnlySpan<double> SecondMoment { get; } = SecondMoment;

    /// <summary>λ_v.</summary>
    public double SecondMomentLogScale { get; } = SecondMomentLogScale;
}

/// <summary>
/// The direction of an optimizer whose geometry is not one of the built-in ones (<see cref="UpdateGeometry.Defined"/>):
/// written once, used by the host flow (dθ/dt = −η(t) d) and by the discrete optimizer (θ_n = θ_{n−1} − h η(t_{n−1}) d_n).
/// The device flow runs it too, on host copies of the part's vectors (one round trip per evaluation; the rest of the
/// state stays on the device).
/// </summary>
public interface IDefinedDirection
{
    /// <summary>Writes d for one part. It must not allocate, and must give NaN (not throw) for a non-finite input.</summary>
    void Write(in DirectionInputs inputs, Span<double> direction);
}
