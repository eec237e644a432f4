using ImplicitBias.Flow.Core.State;
using ImplicitBias.Flow.Solvers.Controllers;

namespace ImplicitBias.Flow.Solvers.Methods;

/// <summary>
/// An integration method: its coefficients and options only. The per-solve work space (stages, scratch
/// states) lives in a stepper the solver creates for each solve.
/// </summary>
public abstract class OdeMethod
{
    /// <summary>Short name used by the CLI, e.g. "dopri5".</summary>
    public abstract string Name { get; }

    /// <summary>Classical order of the propagated solution.</summary>
    public abstract int Order { get; }

    /// <summary>
    /// q in the controller exponent α = 1/q − 0.75β: the order of the error estimate plus one
    /// (5 for DOPRI5, 8 for DOP853 as in Hairer's codes). 0 for fixed-step methods.
    /// </summary>
    public abstract int ErrorExponentOrder { get; }

    /// <summary>Whether the method has an embedded error estimate (can adapt its step).</summary>
    public bool IsAdaptive => ErrorExponentOrder > 0;

    /// <summary>
    /// The controller used when the options name none: the PI controller for an adaptive method, constant steps
    /// (of <see cref="OdeOptions{TState}.InitialStep"/>) for a fixed-step one.
    /// </summary>
    public virtual IStepSizeController DefaultController => IsAdaptive ? PiController.Default : new ConstantStepSize();

    /// <summary>
    /// The per-solve stepper; it measures its error estimates (if any) with <paramref name="norm"/>, the
    /// controller's norm, and never computes a norm of its own.
    /// </summary>
    internal abstract IStepper<TState> CreateStepper<TState>(IStateAlgebra<TState> algebra, IOdeTerm<TState> term, ScaledErrorNorm<TState> norm)
        where TState : class;
}

/// <summary>The per-solve work of a method; allocated once per solve, allocation-free per step.</summary>
internal interface IStepper<TState>
    where TState : class
{
    /// <summary>Right-hand-side evaluations so far.</summary>
    long Evaluations { get; }

    /// <summary>The derivative at the current point after <see cref="Start"/> (f, or N for exponential methods).</summary>
    TState FirstStage { get; }

    /// <summary>Prepares a solve from (t0, y0): evaluates the derivative there.</summary>
    void Start(double t, TState y);

    /// <summary>
    /// The derivative cached for the next step (at the last accepted point, or at the start), which a checkpoint
    /// keeps so that a resumed solve does not re-evaluate it.
    /// </summary>
    TState CachedDerivative { get; }

    /// <summary>
    /// Prepares a solve from (t, y) with the cached derivative of a checkpoint (no evaluation): the continuation
    /// of a solve that was stopped between two steps, bit for bit.
    /// </summary>
    void Resume(double t, TState y, TState derivative, long evaluations);

    /// <summary>
    /// What else a checkpoint must keep for the stepper to go on bit for bit (a W matrix built at an earlier point,
    /// a history); empty for steppers whose only memory is <see cref="CachedDerivative"/>.
    /// </summary>
    double[] Memory => [];

    /// <summary>Restores <see cref="Memory"/> after <see cref="Resume"/> (no counted evaluations).</summary>
    void RestoreMemory(double[] memory)
    {
    }

    /// <summary>
    /// The scaled size of the derivative for Hairer's initial step selection: writes f(t, y) (for explicit methods) or
    /// N(t, y) (for exponential methods, whose linear part is exact) into <paramref name="destination"/>.
    /// </summary>
    void Derivative(double t, TState y, TState destination);

    /// <summary>Tries a step from (t, y) with step h into <paramref name="yNew"/>; returns the error norm (NaN if non-finite).</summary>
    double Attempt(double t, TState y, double h, TState yNew);

    /// <summary>Accepts the last attempt; <paramref name="y"/> and <paramref name="yNew"/> stay untouched until the next attempt.</summary>
    void Accept(double t, double h, TState y, TState yNew);

    /// <summary>
    /// Whether <see cref="Interpolate"/> gives states inside a step. False for a discrete map
    /// (<see cref="DiscreteMap"/>): its events are located at the end of the step in which they are met.
    /// </summary>
    bool HasDenseOutput => true;

    /// <summary>Dense output on the last accepted step at t + θh, θ ∈ [0, 1].</summary>
    void Interpolate(double theta, TState destination);

    /// <summary>
    /// The controller's q for the next step when it is not the method's (a stepper that changes method during the
    /// solve, <see cref="ExplicitThenExponential"/>); null: <see cref="OdeMethod.ErrorExponentOrder"/>.
    /// </summary>
    int? ErrorExponentOrder => null;

    /// <summary>What the stepper did that the result should tell (which method ran when); null for nothing.</summary>
    string? Note => null;
}
