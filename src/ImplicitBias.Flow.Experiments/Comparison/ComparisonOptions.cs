using System.Globalization;
using ImplicitBias.Flow.Experiments.Configuration;
using ImplicitBias.Flow.Flows.Discrete;

namespace ImplicitBias.Flow.Experiments.Comparison;

/// <summary>What <see cref="DiscretizationComparison.Run"/> compares: the time steps h, the common flow time T and the polar method.</summary>
/// <remarks>
/// The comparison time T is <see cref="Time"/> when given, else Stop:MaxTime when that is at most
/// <see cref="DefaultTime"/>, else <see cref="DefaultTime"/>: the experiment's own stop (10¹² by default, or a loss
/// target) is far beyond what T/h discrete steps per h can cover, and the first-order error constant grows with T,
/// so a moderate horizon shows the order cleanly. Every h must divide T, so that each discrete run ends exactly at
/// t_N = N h = T and the errors at T of different h are comparable.
/// </remarks>
public sealed record ComparisonOptions
{
    /// <summary>The comparison time T used when neither <see cref="Time"/> nor a smaller Stop:MaxTime is given.</summary>
    public const double DefaultTime = 100;

    /// <summary>Default time steps: three halvings from h = 1 (the classic discrete optimizer).</summary>
    public static IReadOnlyList<double> DefaultSteps { get; } = [1, 0.5, 0.25, 0.125];

    /// <summary>The time steps h of the discrete runs (any order; reported from coarsest to finest).</summary>
    public IReadOnlyList<double> Steps { get; init; } = DefaultSteps;

    /// <summary>The common flow time T; null chooses it from the experiment (see the remarks).</summary>
    public double? Time { get; init; }

    /// <summary>How the discrete runs compute U Vᵀ for polar (Muon, SpectralGD) parts; the flow is always exact.</summary>
    public PolarMethod Polar { get; init; } = PolarMethod.Exact;

    /// <summary>
    /// Relative tolerance of the reference flow. 1e-10 keeps the flow's own error some six orders below the
    /// discretization error O(h) of the discrete runs, so the measured error is the discrete scheme's alone.
    /// </summary>
    public double RelTol { get; init; } = 1e-10;

    /// <summary>Absolute tolerance of the reference flow.</summary>
    public double AbsTol { get; init; } = 1e-12;

    /// <summary>
    /// How many times the finest h may be halved when the observed orders of the finest steps do not yet agree (see
    /// <see cref="DiscretizationComparison.AsymptoticStart"/>); 0 compares exactly <see cref="Steps"/>.
    /// </summary>
    public int MaxRefinements { get; init; } = DefaultMaxRefinements;

    /// <summary>The default of <see cref="MaxRefinements"/>: h down to 1/16 of the finest given.</summary>
    public const int DefaultMaxRefinements = 4;

    /// <summary>
    /// The refinement budget in discrete steps: an h is added only while T/h stays at most this (each discrete step costs
    /// one gradient, and the flow is saved at every t_n).
    /// </summary>
    public long MaxRefinedSteps { get; init; } = 100_000;

    /// <summary>The comparison time T for an experiment (see the remarks).</summary>
    public double ResolveTime(ExperimentSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return Time ?? Math.Min(settings.Stop.MaxTime, DefaultTime);
    }

    /// <summary>
    /// Why <paramref name="steps"/> cannot be compared up to <paramref name="time"/>, or null when they can: each h must
    /// be positive, finite, listed once, at most T, and divide T.
    /// </summary>
    public static string? CheckSteps(IReadOnlyList<double> steps, double time)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (!(time > 0) || !double.IsFinite(time))
        {
            return string.Create(CultureInfo.InvariantCulture, $"the comparison time T = {time} must be positive and finite");
        }

        if (steps.Count == 0)
        {
            return "give at least one step size h";
        }

        foreach (double h in steps)
        {
            if (!(h > 0) || !double.IsFinite(h))
            {
                return string.Create(CultureInfo.InvariantCulture, $"h = {h} is not a positive step size");
            }

            if (h > time)
            {
                return string.Create(CultureInfo.InvariantCulture, $"h = {h} is larger than the comparison time T = {time}");
            }

            if (StepCount(h, time) is null)
            {
                return string.Create(CultureInfo.InvariantCulture, $"h = {h} does not divide the comparison time T = {time} (T/h must be a whole number of steps)");
            }
        }

        if (steps.Distinct().Count() != steps.Count)
        {
            return "each h may be given once";
        }

        return null;
    }

    /// <summary>N = T/h when h divides T (to a relative 1e-9), else null.</summary>
    public static long? StepCount(double h, double time)
    {
        double ratio = time / h;
        double n = Math.Round(ratio);
        return n >= 1 && n <= 1e9 && Math.Abs(ratio - n) <= 1e-9 * n ? (long)n : null;
    }
}
