namespace ImplicitBias.Flow.Core.State;

/// <summary>
/// The right-hand side of y' = −c_b y + N(t, y), where the decay rates c_b come from the blocks of the
/// state layout (all zero for a general system y' = N(t, y)). The term evaluates N only; explicit
/// steppers add the linear part themselves, exponential steppers integrate it exactly.
/// </summary>
/// <typeparam name="TState">The storage of one state vector.</typeparam>
public interface IOdeTerm<TState>
    where TState : class
{
    /// <summary>dydt ← N(t, y). Must not allocate.</summary>
    void Evaluate(double t, TState y, TState dydt);
}
