using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Solvers.Controllers;

/// <summary>
/// Fixed steps with no error control (diffrax's <c>ConstantStepSize</c>): either <see cref="Count"/> equal steps
/// over [t0, t1], or steps of <see cref="Step"/> until t1 (the last one shortened to land on t1), or, with neither,
/// steps of <see cref="OdeOptions{TState}.InitialStep"/>. Step ends are computed from the step index on the grid
/// t0 + i h, so rounding does not accumulate. Every finite step is kept; the solver ends a non-finite one with
/// <see cref="OdeStatus.NonFiniteState"/> (a smaller step is the user's choice, not the controller's).
/// <see cref="OdeOptions{TState}.FixedStep"/> and <see cref="OdeOptions{TState}.FixedStepCount"/> select it.
/// </summary>
public sealed record ConstantStepSize : IStepSizeController
{
    private readonly double? _step;
    private readonly int? _count;

    /// <summary>The step size (positive, finite), or null.</summary>
    public double? Step
    {
        get => _step;
        init => _step = value is double h && !(h > 0 && double.IsFinite(h)) ? throw new ArgumentException($"FixedStep must be positive and finite, got {h}.") : value;
    }

    /// <summary>The number of equal steps over [t0, t1] (positive), or null; takes precedence over <see cref="Step"/>.</summary>
    public int? Count
    {
        get => _count;
        init => _count = value is < 1 ? throw new ArgumentException("FixedStepCount must be positive.") : value;
    }

    /// <inheritdoc />
    public bool IsAdaptive => false;

    /// <inheritdoc />
    /// <remarks>The layout's: a stepper still measures its embedded estimate (unused but for finiteness).</remarks>
    public ErrorTolerances Tolerances(StateLayout layout) => ErrorTolerances.Of(layout);

    /// <inheritdoc />
    public double FirstStep(double t0, double t1, double? requested, double maxStep, IInitialStepProbe probe) =>
        Count is int n ? (t1 - t0) / n
        : Step ?? requested ?? throw new ArgumentException("ConstantStepSize needs a Step, a Count or OdeOptions.InitialStep.");

    /// <inheritdoc />
    public StepProposal Propose(double t0, double t1, double t, double step, long acceptedSteps)
    {
        long i = acceptedSteps;
        double end;
        bool last;
        if (Count is int count)
        {
            // Equal steps on the grid t0 + i (t1 − t0)/n, computed from i so that rounding does not accumulate.
            last = i + 1 >= count;
            end = last ? t1 : t0 + ((i + 1) * step);
        }
        else
        {
            double grid = t0 + ((i + 1) * step);
            last = t1 - grid <= 1e-9 * step; // land on t1 rather than leave a sliver
            end = last ? t1 : grid;
        }

        return new StepProposal(end - t, end, last);
    }

    /// <inheritdoc />
    public StepDecision Decide(in StepAttempt attempt, ref ControllerMemory memory) =>
        new(!double.IsNaN(attempt.Error), attempt.Step);
}
