using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Solvers.Controllers;

/// <summary>
/// What the error-controlled controllers share (Hairer, Nørsett, Wanner, Solving ODEs I, §II.4; the PI controller
/// of Gustafsson as in DOPRI5/DOP853, Hairer &amp; Wanner II §IV.2): a kept step sizes the next as
/// h_new = h · clamp(safety · err^(−α) · err_old^β, minFactor, maxFactor), with no growth right after a rejection;
/// a rejected one retries with h · min(1, max(minFactor, safety · err^(−α))) (minFactor when non-finite). The last
/// step is stretched or shortened to land on t1 within 1 % (as in Hairer's codes). The first step is
/// <see cref="HairerInitialStep"/> unless the options give one.
/// </summary>
public abstract record AdaptiveStepSizeController : IStepSizeController
{
    /// <summary>Safety factor (0.9).</summary>
    public double Safety { get; init; } = 0.9;

    /// <summary>Smallest factor h_new/h (0.2).</summary>
    public double MinFactor { get; init; } = 0.2;

    /// <summary>Largest factor h_new/h (10).</summary>
    public double MaxFactor { get; init; } = 10.0;

    /// <summary>α; null uses 1/q − 0.75 β with q the order of the error estimator plus one.</summary>
    public double? Alpha { get; init; }

    /// <summary>When set, every block's relative tolerance (else the layout's).</summary>
    public double? RelTol { get; init; }

    /// <summary>When set, every block's absolute tolerance (else the layout's).</summary>
    public double? AbsTol { get; init; }

    /// <summary>When set, κ of the blocks that declare a block scale (else the layout's).</summary>
    public double? BlockScale { get; init; }

    /// <inheritdoc />
    public bool IsAdaptive => true;

    /// <summary>β, the exponent of the previous error (0 for the I controller).</summary>
    protected abstract double PreviousErrorExponent { get; }

    /// <inheritdoc />
    public ErrorTolerances Tolerances(StateLayout layout) => ErrorTolerances.Of(layout, RelTol, AbsTol, BlockScale);

    /// <inheritdoc />
    public double FirstStep(double t0, double t1, double? requested, double maxStep, IInitialStepProbe probe) =>
        Math.Min(requested ?? HairerInitialStep.Propose(probe, maxStep), maxStep);

    /// <inheritdoc />
    public StepProposal Propose(double t0, double t1, double t, double step, long acceptedSteps)
    {
        // Stretch or shorten the last step to land exactly on t1 (Hairer's codes use the same 1 % slack).
        return t + (1.01 * step) >= t1 ? new StepProposal(t1 - t, t1, true) : new StepProposal(step, t + step, false);
    }

    /// <inheritdoc />
    public StepDecision Decide(in StepAttempt attempt, ref ControllerMemory memory)
    {
        double beta = PreviousErrorExponent;
        double alpha = Alpha ?? ((1.0 / attempt.ErrorOrder) - (0.75 * beta));
        double error = attempt.Error;
        if (error <= 1.0)
        {
            double factor = Math.Pow(error, -alpha) * Math.Pow(memory.PreviousError, beta) * Safety;
            factor = Math.Clamp(factor, MinFactor, MaxFactor);
            if (memory.RejectedLast)
            {
                // No growth right after a rejection (Hairer §II.4).
                factor = Math.Min(factor, 1.0);
            }

            memory = new ControllerMemory(Math.Max(error, 1e-4), false, false);
            return new StepDecision(true, Math.Min(attempt.Size * factor, attempt.MaxStep));
        }

        bool nonFinite = double.IsNaN(error);
        double shrink = nonFinite ? MinFactor : Math.Max(MinFactor, Safety * Math.Pow(error, -alpha));
        memory = memory with { RejectedLast = true, LastWasNonFinite = nonFinite };
        return new StepDecision(false, attempt.Size * Math.Min(shrink, 1.0));
    }
}
