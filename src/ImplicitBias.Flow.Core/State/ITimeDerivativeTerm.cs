namespace ImplicitBias.Flow.Core.State;

/// <summary>
/// An optional capability of an <see cref="IOdeTerm{TState}"/>: the explicit time derivative ∂N/∂t at (t, y),
/// computed from the state and the evaluation N(t, y) already made there, with no further evaluation. A
/// Rosenbrock-W step needs it as the time column of W for the autonomous form; without it the step spends one
/// evaluation on a difference in t. The optimizer flows have it in closed form: their explicit time dependence is
/// η(t), Adam's bias corrections and, through σ′, the moments' log-scale rates (docs/mathematics.md §2).
/// </summary>
/// <typeparam name="TState">The storage of one state vector.</typeparam>
public interface ITimeDerivativeTerm<TState>
    where TState : class
{
    /// <summary>True when <see cref="TimeDerivative"/> may be called (a wrapper may forward a term that has none).</summary>
    bool HasTimeDerivative { get; }

    /// <summary>destination ← ∂N/∂t at (t, y), given <paramref name="n"/> = N(t, y); y and n are not changed.</summary>
    void TimeDerivative(double t, TState y, TState n, TState destination);
}
