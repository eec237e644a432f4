namespace ImplicitBias.Flow.Solvers.Controllers;

/// <summary>
/// The classical integral (I) controller (Hairer, Nørsett, Wanner I, §II.4, eq. (4.13)): h_new = h · safety ·
/// err^(−1/q), clamped to [minFactor, maxFactor] — the PI controller with β = 0.
/// </summary>
public sealed record IController : AdaptiveStepSizeController
{
    /// <summary>The same limits as the PI default (safety 0.9, factors 0.2 and 10).</summary>
    public static IController Default { get; } = new();

    /// <summary>Hairer's DOP853 defaults: safety 0.9, factors 0.333 and 6.</summary>
    public static IController Dop853 { get; } = new() { MinFactor = 0.333, MaxFactor = 6.0 };

    /// <inheritdoc />
    protected override double PreviousErrorExponent => 0.0;
}
