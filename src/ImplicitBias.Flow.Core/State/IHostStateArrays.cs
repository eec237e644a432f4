namespace ImplicitBias.Flow.Core.State;

/// <summary>
/// An algebra whose states are host arrays that a caller may read and write in place. Code that is generic over where
/// states live (<see cref="IStateAlgebra{TState}"/>) asks for this to skip copies and to run its own loops over the
/// states, e.g. the Rosenbrock-W method's projections onto its Krylov basis, which then keep a single copy of the
/// basis instead of a host copy beside the states.
/// </summary>
/// <typeparam name="TState">The state type.</typeparam>
public interface IHostStateArrays<TState>
{
    /// <summary>The array that holds <paramref name="state"/>'s components (no copy: writes change the state).</summary>
    double[] Values(TState state);
}
