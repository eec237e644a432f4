namespace ImplicitBias.Flow.Solvers.Controllers;

/// <summary>
/// The PI controller (Gustafsson; Hairer &amp; Wanner II §IV.2, DOPRI5's code): h_new = h · safety · err^(−α) ·
/// err_old^β, clamped to [minFactor, maxFactor]. The defaults are Hairer's DOPRI5 ones (β = 0.04) and the default
/// of every method but DOP853.
/// </summary>
public sealed record PiController : AdaptiveStepSizeController
{
    /// <summary>Hairer's DOPRI5 defaults: safety 0.9, factors 0.2 and 10, β = 0.04.</summary>
    public static PiController Default { get; } = new();

    /// <summary>β, the exponent of the previous step's error (0.04).</summary>
    public double Beta { get; init; } = 0.04;

    /// <inheritdoc />
    protected override double PreviousErrorExponent => Beta;
}
