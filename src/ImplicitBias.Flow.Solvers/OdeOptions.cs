using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;

namespace ImplicitBias.Flow.Solvers;

/// <summary>Which sign changes of an event function count.</summary>
public enum EventDirection
{
    /// <summary>Any sign change.</summary>
    Any,

    /// <summary>g goes from negative to positive.</summary>
    Rising,

    /// <summary>g goes from positive to negative.</summary>
    Falling,
}

/// <summary>
/// A terminal event: the solve stops at the first root of <see cref="Condition"/> crossed in
/// <see cref="Direction"/>, located on the dense output to 1e-10 relative in t.
/// </summary>
/// <typeparam name="TState">The storage of one state vector.</typeparam>
/// <param name="Condition">g(t, y); must not allocate or keep the state.</param>
/// <param name="Direction">Which crossings end the solve.</param>
public sealed record OdeEvent<TState>(Func<double, TState, double> Condition, EventDirection Direction = EventDirection.Any)
    where TState : class
{
    /// <summary>
    /// When true, a condition already on the far side of the crossing at t0 (g(t0) ≤ 0 for
    /// <see cref="EventDirection.Falling"/>, ≥ 0 for <see cref="EventDirection.Rising"/>) ends the solve at t0:
    /// a target met before the first step is met.
    /// </summary>
    public bool FiresAtStart { get; init; }

    /// <summary>
    /// The exact value of a condition that <see cref="Condition"/> only tracks (e.g. a quantity recomputed from the
    /// state at a cost, where the condition reads an integrated copy that may drift). When set, a crossing seen by
    /// <see cref="Condition"/> counts only if the exact condition has crossed by the end of the step, and the event is
    /// then located on the exact condition, so the solve ends at a state where it holds; otherwise the solve goes on
    /// from the end of the step. Also checked at t0 with <see cref="FiresAtStart"/>. Null: the condition is exact.
    /// </summary>
    public Func<double, TState, double>? ExactCondition { get; init; }
}

/// <summary>What one step reports to <see cref="OdeOptions{TState}.StepCallback"/>.</summary>
/// <param name="Time">Time at the end of the step (after acceptance) or at its start (rejected).</param>
/// <param name="StepSize">The step size tried.</param>
/// <param name="ErrorNorm">The scaled error norm (1 is the tolerance; NaN for non-finite; 0 for fixed steps).</param>
/// <param name="Accepted">Whether the step was accepted.</param>
/// <param name="AcceptedSteps">Accepted steps so far.</param>
/// <param name="RejectedSteps">Rejected steps so far.</param>
/// <param name="RhsEvaluations">Right-hand-side evaluations so far.</param>
public readonly record struct StepInfo(double Time, double StepSize, double ErrorNorm, bool Accepted, long AcceptedSteps, long RejectedSteps, long RhsEvaluations);

/// <summary>Kinds of <see cref="SaveAt"/>.</summary>
public enum SaveAtKind
{
    /// <summary>Save nothing but the final state.</summary>
    None,

    /// <summary>Save at given times (through the dense output, steps are not shortened).</summary>
    Times,

    /// <summary>Save at t0 and at the end of every n-th accepted step.</summary>
    EveryNthStep,
}

/// <summary>Where the solver records the solution.</summary>
public sealed class SaveAt
{
    private SaveAt(SaveAtKind kind, double[] times, int stride)
    {
        Kind = kind;
        RequestedTimes = times;
        Stride = stride;
    }

    /// <summary>The kind of saving.</summary>
    public SaveAtKind Kind { get; }

    /// <summary>Requested times, increasing (for <see cref="SaveAtKind.Times"/>).</summary>
    public IReadOnlyList<double> RequestedTimes { get; }

    /// <summary>Save every <see cref="Stride"/>-th accepted step (for <see cref="SaveAtKind.EveryNthStep"/>).</summary>
    public int Stride { get; }

    /// <summary>Save nothing but the final state.</summary>
    public static SaveAt Nothing { get; } = new(SaveAtKind.None, [], 0);

    /// <summary>Save at the given increasing times.</summary>
    public static SaveAt Times(params double[] times)
    {
        ArgumentNullException.ThrowIfNull(times);
        for (int i = 1; i < times.Length; i++)
        {
            if (!(times[i] > times[i - 1]))
            {
                throw new ArgumentException("Save times must be strictly increasing.", nameof(times));
            }
        }

        return new(SaveAtKind.Times, (double[])times.Clone(), 0);
    }

    /// <summary>Save at t0 and after every accepted step.</summary>
    public static SaveAt EveryStep() => new(SaveAtKind.EveryNthStep, [], 1);

    /// <summary>Save at t0 and after every <paramref name="n"/>-th accepted step.</summary>
    public static SaveAt EveryNthStep(int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        return new(SaveAtKind.EveryNthStep, [], n);
    }

    /// <summary><paramref name="count"/> logarithmically spaced times from <paramref name="first"/> to <paramref name="last"/> (both &gt; 0).</summary>
    public static SaveAt LogSpaced(double first, double last, int count)
    {
        if (!(first > 0) || !(last > first) || count < 2)
        {
            throw new ArgumentException("Log-spaced saving needs 0 < first < last and at least two times.");
        }

        var times = new double[count];
        double ratio = Math.Log(last / first) / (count - 1);
        for (int i = 0; i < count; i++)
        {
            times[i] = first * Math.Exp(ratio * i);
        }

        times[^1] = last;
        return new(SaveAtKind.Times, times, 0);
    }
}

/// <summary>Options of <see cref="OdeSolver.Solve{TState}"/>.</summary>
/// <typeparam name="TState">The storage of one state vector.</typeparam>
public sealed class OdeOptions<TState>
    where TState : class
{
    /// <summary>
    /// Step-size controller (<see cref="PiController"/>, <see cref="IController"/>, <see cref="ConstantStepSize"/>);
    /// null uses the method's default. <see cref="FixedStep"/> and <see cref="FixedStepCount"/> select a
    /// <see cref="ConstantStepSize"/> over it.
    /// </summary>
    public IStepSizeController? Controller { get; init; }

    /// <summary>Where to save the solution (default: nothing but the final state).</summary>
    public SaveAt SaveAt { get; init; } = SaveAt.Nothing;

    /// <summary>Terminal events.</summary>
    public IReadOnlyList<OdeEvent<TState>> Events { get; init; } = [];

    /// <summary>Called after every attempted step. Must not keep the info beyond the call.</summary>
    public Action<StepInfo>? StepCallback { get; init; }

    /// <summary>Largest number of steps (accepted and rejected) before <see cref="OdeStatus.MaxStepsReached"/>.</summary>
    public long MaxSteps { get; init; } = 1_000_000;

    /// <summary>
    /// First step size; null lets the controller propose it (Hairer's algorithm, §II.4, for the adaptive ones).
    /// With a <see cref="ConstantStepSize"/> that names neither step nor count, the fixed step.
    /// </summary>
    public double? InitialStep { get; init; }

    /// <summary>Largest step size (default: the whole interval).</summary>
    public double MaxStep { get; init; } = double.PositiveInfinity;

    /// <summary>
    /// When set, take exactly this many equal steps over [t0, t1] with no error control (e.g. to measure the
    /// order of a method): a <see cref="ConstantStepSize"/> with this <see cref="ConstantStepSize.Count"/>.
    /// </summary>
    public int? FixedStepCount { get; init; }

    /// <summary>
    /// When set, take steps of this size with no error control until t1 (the last one shortened to land on t1),
    /// the step limit or an event: a <see cref="ConstantStepSize"/> with this <see cref="ConstantStepSize.Step"/>. A
    /// fixed-step method needs this, <see cref="FixedStepCount"/> or a <see cref="ConstantStepSize"/> controller.
    /// </summary>
    public double? FixedStep { get; init; }

    /// <summary>
    /// Called with each accepted (t, y) once its events and saves are handled, before it becomes the start of the
    /// next step; it may correct the state in place (e.g. re-anchor a tracked quantity to its exact value) and
    /// returns whether it did. The stepper keeps its cached derivative, so a correction must leave the derivative
    /// unchanged or change it well below the tolerance.
    /// </summary>
    public Func<double, TState, bool>? AfterStep { get; init; }

    /// <summary>
    /// Asked at the start and after every accepted step: a factor on every block's rtol and atol from the next step
    /// on (1 when unset). A caller that finds the steps leaving the solution they should follow (e.g. a tracked
    /// integral drifting from its exact value in one direction) tightens the tolerances for the rest of the solve.
    /// A resumed solve must be given the factor it had at the checkpoint.
    /// </summary>
    public Func<double>? ToleranceScale { get; init; }

    /// <summary>Asked between two steps whether a checkpoint is due (e.g. every minute of wall time).</summary>
    public Func<bool>? CheckpointDue { get; init; }

    /// <summary>
    /// Receives a checkpoint between two steps when <see cref="CheckpointDue"/> says so, and when the solve is
    /// cancelled (the state it stopped in).
    /// </summary>
    public Action<OdeCheckpoint>? Checkpoint { get; init; }

    /// <summary>Continues a solve from this checkpoint instead of starting from the initial state.</summary>
    public OdeCheckpoint? ResumeFrom { get; init; }

    /// <summary>Checked before every step; when cancelled the solve ends with <see cref="OdeStatus.Cancelled"/>.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Called with (t, host copy of y) at every save, e.g. for observers that run during the solve.</summary>
    public Action<double, double[]>? SaveCallback { get; init; }

    /// <summary>Whether saved states are also kept in <see cref="OdeResult.SavedStates"/> (default true).</summary>
    public bool KeepSavedStates { get; init; } = true;
}
