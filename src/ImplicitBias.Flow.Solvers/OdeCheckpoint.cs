namespace ImplicitBias.Flow.Solvers;

/// <summary>
/// The engine's whole state between two steps: what a solve needs to go on bit for bit as if it had never
/// stopped (the state, the derivative the stepper cached there, the step-size controller's memory, the counters,
/// the save cursor and the event functions' last values). Host copies; written by
/// <see cref="OdeOptions{TState}.Checkpoint"/> and read back through <see cref="OdeOptions{TState}.ResumeFrom"/>.
/// </summary>
public sealed record OdeCheckpoint
{
    /// <summary>The time of the state.</summary>
    public required double Time { get; init; }

    /// <summary>The state y(t).</summary>
    public required double[] State { get; init; }

    /// <summary>The derivative the stepper cached at (t, y) for its next step.</summary>
    public required double[] Derivative { get; init; }

    /// <summary>The next step size to try.</summary>
    public required double StepSize { get; init; }

    /// <summary>The PI controller's memory: the last accepted error norm.</summary>
    public required double PreviousError { get; init; }

    /// <summary>Whether the last attempt was rejected (no growth right after a rejection).</summary>
    public required bool RejectedLast { get; init; }

    /// <summary>Whether the last rejection was for a non-finite state.</summary>
    public required bool LastWasNonFinite { get; init; }

    /// <summary>Steps attempted so far (the step limit counts these).</summary>
    public required long Steps { get; init; }

    /// <summary>Accepted steps so far.</summary>
    public required long AcceptedSteps { get; init; }

    /// <summary>Rejected steps so far.</summary>
    public required long RejectedSteps { get; init; }

    /// <summary>Right-hand-side evaluations so far.</summary>
    public required long RhsEvaluations { get; init; }

    /// <summary>Index of the next requested save time.</summary>
    public required int NextSave { get; init; }

    /// <summary>The event functions' values at (t, y).</summary>
    public required double[] EventValues { get; init; }

    /// <summary>The stepper's own memory beyond the cached derivative (e.g. the Rosenbrock–Krylov W); often empty.</summary>
    public double[] StepperMemory { get; init; } = [];

    /// <summary><see cref="OdeResult.RejectedByBlock"/> so far (empty in checkpoints written before it existed).</summary>
    public long[] RejectedByBlock { get; init; } = [];

    /// <summary><see cref="OdeResult.RejectedByCoordinate"/> so far, as pairs [index, count, index, count, …] by index.</summary>
    public long[] RejectedByCoordinate { get; init; } = [];
}
