namespace ImplicitBias.Flow.Solvers;

/// <summary>How a solve ended.</summary>
public enum OdeStatus
{
    /// <summary>Reached t1.</summary>
    Success,

    /// <summary>Stopped at a terminal event.</summary>
    EventReached,

    /// <summary>Took <see cref="OdeOptions{TState}.MaxSteps"/> steps before reaching t1.</summary>
    MaxStepsReached,

    /// <summary>The controller asked for a step below 10 ulp of t.</summary>
    StepSizeUnderflow,

    /// <summary>The state or its derivative became NaN or infinite and shrinking the step did not help.</summary>
    NonFiniteState,

    /// <summary>The caller cancelled the solve (e.g. Ctrl-C); everything up to the last accepted step is kept.</summary>
    Cancelled,
}

/// <summary>The outcome of a solve: status, the solution computed so far and statistics. Never thrown.</summary>
public sealed class OdeResult
{
    internal OdeResult(int capacity)
    {
        SavedTimes = new List<double>(capacity);
        SavedStates = new List<double[]>(capacity);
    }

    /// <summary>How the solve ended.</summary>
    public OdeStatus Status { get; internal set; }

    /// <summary>A human-readable explanation of <see cref="Status"/>.</summary>
    public string Message { get; internal set; } = string.Empty;

    /// <summary>True for <see cref="OdeStatus.Success"/> and <see cref="OdeStatus.EventReached"/>.</summary>
    public bool Succeeded => Status is OdeStatus.Success or OdeStatus.EventReached;

    /// <summary>The time the solve reached (t1, the event time, or where it stopped).</summary>
    public double FinalTime { get; internal set; }

    /// <summary>The state at <see cref="FinalTime"/> (host copy).</summary>
    public double[] FinalState { get; internal set; } = [];

    /// <summary>Index of the event that ended the solve, or −1.</summary>
    public int EventIndex { get; internal set; } = -1;

    /// <summary>Saved times.</summary>
    public List<double> SavedTimes { get; }

    /// <summary>Saved states (host copies), one per saved time.</summary>
    public List<double[]> SavedStates { get; }

    /// <summary>Right-hand-side evaluations (of N, for semilinear terms).</summary>
    public long RhsEvaluations { get; internal set; }

    /// <summary>Accepted steps.</summary>
    public long AcceptedSteps { get; internal set; }

    /// <summary>Rejected steps.</summary>
    public long RejectedSteps { get; internal set; }

    /// <summary>
    /// The rejected steps with a finite error estimate, by the state block (of the layout, in its order) with the
    /// largest share of the error norm: what holds the step when a quarter of the steps are rejected. Their sum
    /// is <see cref="RejectedSteps"/> less the rejections for non-finite states. Empty for fixed steps.
    /// </summary>
    public long[] RejectedByBlock { get; internal set; } = [];

    /// <summary>
    /// The same rejections by the coordinate (index into the state) with the largest scaled error: which parameters
    /// (an input pixel's weights, one neuron) hold the step. Only coordinates that were charged at least once.
    /// </summary>
    public IReadOnlyDictionary<int, long> RejectedByCoordinate => ByCoordinate;

    internal Dictionary<int, long> ByCoordinate { get; } = [];

    /// <summary>
    /// What the stepper tells about the solve beyond the counts, e.g. when <see cref="Methods.ExplicitThenExponential"/>
    /// changed method; null when it has nothing to tell.
    /// </summary>
    public string? StepperNote { get; internal set; }
}
