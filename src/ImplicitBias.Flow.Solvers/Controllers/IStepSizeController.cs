using ImplicitBias.Flow.Core.State;

namespace ImplicitBias.Flow.Solvers.Controllers;

/// <summary>
/// Step-size control in the spirit of diffrax's <c>AbstractStepSizeController</c>: the controller owns the
/// tolerances (and with them the block scale κ of the error norm), proposes the first step and the end of each step,
/// and decides from a step's scaled error whether to keep it and how long the next one is. The solver loop only
/// carries out those decisions; the steppers measure their error estimates with the controller's
/// <see cref="ScaledErrorNorm{TState}"/>. Implementations: <see cref="PiController"/> (the default),
/// <see cref="IController"/>, <see cref="ConstantStepSize"/> (fixed steps, no error control).
/// </summary>
public interface IStepSizeController
{
    /// <summary>Whether steps are judged by an error estimate (false: every finite step is kept).</summary>
    bool IsAdaptive { get; }

    /// <summary>The per-block tolerances this controller judges errors by, for states of <paramref name="layout"/>.</summary>
    ErrorTolerances Tolerances(StateLayout layout);

    /// <summary>The first step size tried from <paramref name="t0"/>.</summary>
    /// <param name="t0">Initial time.</param>
    /// <param name="t1">Final time.</param>
    /// <param name="requested">The caller's first step (<see cref="OdeOptions{TState}.InitialStep"/>), or null.</param>
    /// <param name="maxStep">Largest step allowed.</param>
    /// <param name="probe">Norms of the problem at t0 for a starting-step algorithm (evaluated only when asked).</param>
    double FirstStep(double t0, double t1, double? requested, double maxStep, IInitialStepProbe probe);

    /// <summary>The step to try from <paramref name="t"/>, given the current step size and the steps kept so far.</summary>
    StepProposal Propose(double t0, double t1, double t, double step, long acceptedSteps);

    /// <summary>Keeps or rejects an attempted step and sizes the next one; updates <paramref name="memory"/>.</summary>
    StepDecision Decide(in StepAttempt attempt, ref ControllerMemory memory);
}

/// <summary>The step the controller proposes.</summary>
/// <param name="Size">Its length (t_end − t).</param>
/// <param name="End">Its end time (exactly t1 on the last step).</param>
/// <param name="Last">Whether it ends the interval.</param>
public readonly record struct StepProposal(double Size, double End, bool Last);

/// <summary>What the controller is told about an attempted step.</summary>
/// <param name="Step">The current step size before <see cref="IStepSizeController.Propose"/> adjusted it.</param>
/// <param name="Size">The length of the step attempted.</param>
/// <param name="Error">Its scaled error norm (1 is the tolerance; NaN when non-finite; 0 without error control).</param>
/// <param name="ErrorOrder">q of the method's error estimate (<see cref="Methods.OdeMethod.ErrorExponentOrder"/>).</param>
/// <param name="MaxStep">Largest step allowed.</param>
public readonly record struct StepAttempt(double Step, double Size, double Error, int ErrorOrder, double MaxStep);

/// <summary>The controller's verdict on an attempted step.</summary>
/// <param name="Accept">Whether the step is kept.</param>
/// <param name="NextStep">The step size to go on with (from the step's end when kept, else from its start).</param>
public readonly record struct StepDecision(bool Accept, double NextStep);

/// <summary>What a controller remembers between steps (a checkpoint keeps it, so a resumed solve goes on bit for bit).</summary>
/// <param name="PreviousError">The last kept step's error, at least 1e-4 (the PI controller's err_old).</param>
/// <param name="RejectedLast">Whether the last attempt was rejected (no growth right after a rejection).</param>
/// <param name="LastWasNonFinite">Whether the last attempt was rejected for a non-finite state.</param>
public record struct ControllerMemory(double PreviousError, bool RejectedLast, bool LastWasNonFinite)
{
    /// <summary>The memory at the start of a solve (Hairer's err_old = 1e-4).</summary>
    public static ControllerMemory Initial => new(1e-4, false, false);
}
